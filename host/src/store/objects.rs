//! Object types: a name and a definition (JSON), read by the engine's object cache.

use super::{Store, StoreError, on_db};

/// One object type as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ObjectRow {
    pub name: String,
    pub definition: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Store {
    /// Create or replace an object type. Returns whether it is new.
    pub async fn save_object(
        &self,
        name: &str,
        definition: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO objects (name, definition, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at \
             RETURNING created_at";
        let created_at = on_db!(&self.db, p => sqlx::query_scalar::<_, i64>(SQL)
            .bind(name).bind(definition).bind(now).fetch_one(p).await?);
        Ok(created_at == now)
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
