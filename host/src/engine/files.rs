//! Files through the API: upload, metadata, content (the `files` capability's backend is
//! [`crate::services::files`]).

use super::error::{Invalid, Thing};
use sha2::{Digest, Sha256};

use super::{Engine, EngineError};
use crate::services::files::{MAX_FILE_BYTES, valid_id};
use crate::store::FileRow;

impl Engine {
    /// Keep a file; the same bytes again give the same file (with its first name and type).
    pub async fn upload_file(
        &self,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<FileRow, EngineError> {
        if bytes.is_empty() {
            return Err(EngineError::invalid(Invalid::Value, "the file is empty"));
        }
        if bytes.len() > MAX_FILE_BYTES {
            return Err(EngineError::invalid(
                Invalid::Value,
                format!(
                    "the file is {} bytes: at most {MAX_FILE_BYTES}",
                    bytes.len()
                ),
            ));
        }
        if name.is_empty() || name.chars().count() > 255 || name.contains(['/', '\\', '\0']) {
            return Err(EngineError::invalid(
                Invalid::Name,
                format!("`{name}` is not a file name (1-255 characters, no slashes)"),
            ));
        }
        let id = hex::encode(Sha256::digest(bytes));
        let row = FileRow {
            id: id.clone(),
            name: name.to_string(),
            content_type: content_type.to_string(),
            size: bytes.len() as i64,
            created_at: self.now_ms(),
        };
        self.inner.store.put_file(&row, bytes).await?;
        self.file(&id).await
    }

    /// A file's metadata.
    pub async fn file(&self, id: &str) -> Result<FileRow, EngineError> {
        let not_found = || EngineError::NotFound {
            what: Thing::File,
            id: id.to_string(),
        };
        if !valid_id(id) {
            return Err(not_found());
        }
        self.inner.store.file(id).await?.ok_or_else(not_found)
    }

    /// A file's bytes.
    pub async fn file_bytes(&self, id: &str) -> Result<Vec<u8>, EngineError> {
        let not_found = || EngineError::NotFound {
            what: Thing::File,
            id: id.to_string(),
        };
        if !valid_id(id) {
            return Err(not_found());
        }
        self.inner.store.file_bytes(id).await?.ok_or_else(not_found)
    }
}
