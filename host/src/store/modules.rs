//! Step modules: a name, a component (stored once by content hash) and its grants.

use super::{Store, StoreError, on_db};

/// A named step module.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleRow {
    pub name: String,
    pub hash: String,
    /// Granted capabilities, a JSON array of names.
    pub grants: String,
    /// What the component is (exports, imports), JSON.
    pub info: String,
    pub created_at: i64,
    /// Hosts the module may call with `http`, a JSON array.
    pub http_hosts: String,
}
from_row!(ModuleRow {
    name,
    hash,
    grants,
    info,
    created_at,
    http_hosts
});

/// A version a module name pointed at.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleVersionRow {
    pub name: String,
    pub hash: String,
    pub grants: String,
    pub http_hosts: String,
    pub info: String,
    pub created_at: i64,
}
from_row!(ModuleVersionRow {
    name,
    hash,
    grants,
    http_hosts,
    info,
    created_at
});

impl Store {
    /// Store a component's bytes (once per hash) and point `name` at it.
    pub async fn save_module(&self, row: &ModuleRow, bytes: &[u8]) -> Result<(), StoreError> {
        const BLOB: &str =
            "INSERT INTO module_blobs (hash, bytes) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING";
        const MODULE: &str = "INSERT INTO step_modules (name, hash, grants, info, created_at, http_hosts) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, grants = excluded.grants, info = excluded.info, \
             created_at = excluded.created_at, http_hosts = excluded.http_hosts";
        const VERSION: &str = "INSERT INTO module_versions (name, hash, grants, http_hosts, info, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name, hash) DO UPDATE SET grants = excluded.grants, \
             http_hosts = excluded.http_hosts";
        on_db!(&self.db, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            sqlx::query(BLOB).bind(&row.hash).bind(bytes).execute(&mut *tx).await?;
            sqlx::query(MODULE)
                .bind(&row.name)
                .bind(&row.hash)
                .bind(&row.grants)
                .bind(&row.info)
                .bind(row.created_at)
                .bind(&row.http_hosts)
                .execute(&mut *tx)
                .await?;
            sqlx::query(VERSION)
                .bind(&row.name)
                .bind(&row.hash)
                .bind(&row.grants)
                .bind(&row.http_hosts)
                .bind(&row.info)
                .bind(row.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Change what a module is granted. False if there is no such module.
    pub async fn set_module_grants(
        &self,
        name: &str,
        grants: &str,
        http_hosts: &str,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE step_modules SET grants = $1, http_hosts = $2 WHERE name = $3";
        Ok(
            on_db!(&self.db, p => sqlx::query(SQL).bind(grants).bind(http_hosts).bind(name)
            .execute(p).await?.rows_affected() > 0),
        )
    }

    /// Delete a module (its versions' history stays). False if there is no such module.
    pub async fn delete_module(&self, name: &str) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM step_modules WHERE name = $1";
        Ok(on_db!(&self.db, p => sqlx::query(SQL).bind(name).execute(p).await?.rows_affected() > 0))
    }

    /// The versions a module name has pointed at, oldest first.
    pub async fn module_versions(&self, name: &str) -> Result<Vec<ModuleVersionRow>, StoreError> {
        const SQL: &str = "SELECT * FROM module_versions WHERE name = $1 ORDER BY created_at, hash";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, ModuleVersionRow>(SQL).bind(name).fetch_all(p).await?),
        )
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
