//! Files, content-addressed.

use super::{Store, StoreError, on_db};

/// A file without its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRow {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub created_at: i64,
}
from_row!(FileRow {
    id,
    name,
    content_type,
    size,
    created_at
});

impl Store {
    /// Keep a file unless one with its id (its bytes' hash) exists.
    pub async fn put_file(&self, row: &FileRow, bytes: &[u8]) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO files (id, name, content_type, size, bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING";
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(&row.id).bind(&row.name).bind(&row.content_type)
                .bind(row.size).bind(bytes).bind(row.created_at).execute(p).await?;
        });
        Ok(())
    }

    pub async fn file(&self, id: &str) -> Result<Option<FileRow>, StoreError> {
        const SQL: &str =
            "SELECT id, name, content_type, size, created_at FROM files WHERE id = $1";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, FileRow>(SQL).bind(id).fetch_optional(p).await?),
        )
    }

    pub async fn file_bytes(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        const SQL: &str = "SELECT bytes FROM files WHERE id = $1";
        Ok(on_db!(&self.db, p => sqlx::query_scalar(SQL).bind(id).fetch_optional(p).await?))
    }
}
