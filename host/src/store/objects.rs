//! Object types: a name and a definition (JSON), read by the engine's object cache.

use super::{Store, StoreError, on_db};

/// One object type as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRow {
    pub name: String,
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
}
from_row!(ObjectRow {
    name,
    definition,
    created_at,
    updated_at
});

impl Store {
    /// Create or replace an object type. Returns whether it is new.
    pub async fn save_object(
        &self,
        name: &str,
        definition: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        // Two statements, not one upsert: whether it was created cannot be told from the times
        // when two saves fall in the same millisecond.
        const INSERT: &str = "INSERT INTO objects (name, definition, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO NOTHING";
        const UPDATE: &str = "UPDATE objects SET definition = $2, updated_at = $3 WHERE name = $1";
        on_db!(&self.db, p => {
            // One transaction: a delete between the two cannot leave it unsaved.
            let mut tx = p.begin().await?;
            let inserted = sqlx::query(INSERT).bind(name).bind(definition).bind(now)
                .execute(&mut *tx).await?.rows_affected() == 1;
            if !inserted {
                sqlx::query(UPDATE).bind(name).bind(definition).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(inserted)
        })
    }

    /// One object type.
    pub async fn object(&self, name: &str) -> Result<Option<ObjectRow>, StoreError> {
        const SQL: &str = "SELECT * FROM objects WHERE name = $1";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, ObjectRow>(SQL).bind(name).fetch_optional(p).await?),
        )
    }

    /// Every object type, by name.
    pub async fn objects(&self) -> Result<Vec<ObjectRow>, StoreError> {
        const SQL: &str = "SELECT * FROM objects ORDER BY name";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, ObjectRow>(SQL).fetch_all(p).await?))
    }
}
