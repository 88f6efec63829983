//! Step modules: a name, a component (stored once by content hash) and its grants.

use super::{Store, StoreError, on_db};

/// A named step module.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ModuleRow {
    pub name: String,
    pub hash: String,
    /// Granted capabilities, a JSON array of names.
    pub grants: String,
    /// What the component is (exports, imports), JSON.
    pub info: String,
    pub created_at: i64,
}

impl Store {
    /// Store a component's bytes (once per hash) and point `name` at it.
    pub async fn save_module(&self, row: &ModuleRow, bytes: &[u8]) -> Result<(), StoreError> {
        const BLOB: &str =
            "INSERT INTO module_blobs (hash, bytes) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING";
        const MODULE: &str = "INSERT INTO step_modules (name, hash, grants, info, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, grants = excluded.grants, info = excluded.info, \
             created_at = excluded.created_at";
        on_db!(&self.db, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            sqlx::query(BLOB).bind(&row.hash).bind(bytes).execute(&mut *tx).await?;
            sqlx::query(MODULE)
                .bind(&row.name)
                .bind(&row.hash)
                .bind(&row.grants)
                .bind(&row.info)
                .bind(row.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every module, by name.
    pub async fn modules(&self) -> Result<Vec<ModuleRow>, StoreError> {
        const SQL: &str = "SELECT * FROM step_modules ORDER BY name";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, ModuleRow>(SQL).fetch_all(p).await?))
    }

    /// One module.
    pub async fn module(&self, name: &str) -> Result<Option<ModuleRow>, StoreError> {
        const SQL: &str = "SELECT * FROM step_modules WHERE name = $1";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, ModuleRow>(SQL).bind(name).fetch_optional(p).await?),
        )
    }

    /// A component's bytes.
    pub async fn module_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        const SQL: &str = "SELECT bytes FROM module_blobs WHERE hash = $1";
        Ok(
            on_db!(&self.db, p => sqlx::query_scalar::<_, Vec<u8>>(SQL).bind(hash).fetch_optional(p).await?),
        )
    }
}
