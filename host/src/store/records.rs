//! Records: an object type, an id and a JSON object of fields.

use super::{Store, StoreError, on_db};

/// One record.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RecordRow {
    pub object: String,
    pub id: String,
    pub fields: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Store {
    /// Create or replace a record's fields.
    pub async fn put_record(
        &self,
        object: &str,
        id: &str,
        fields: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO records (object, id, fields, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (object, id) DO UPDATE SET fields = excluded.fields, updated_at = excluded.updated_at";
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(object).bind(id).bind(fields).bind(now).execute(p).await?;
        });
        Ok(())
    }

    /// One record.
    pub async fn record(&self, object: &str, id: &str) -> Result<Option<RecordRow>, StoreError> {
        const SQL: &str = "SELECT * FROM records WHERE object = $1 AND id = $2";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, RecordRow>(SQL).bind(object).bind(id).fetch_optional(p).await?),
        )
    }
}
