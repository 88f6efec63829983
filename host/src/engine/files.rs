//! Files: uploaded through the API, named by the SHA-256 of their bytes, referenced by records'
//! `file` fields, and read by steps granted `files`.

use sha2::{Digest, Sha256};

use super::{Engine, EngineError};
use crate::sandbox::{FileInfo, FilesBackend, HostError, StepContext};
use crate::store::{FileRow, Store};

/// The largest file flowbox keeps.
pub const MAX_FILE_BYTES: usize = 25 << 20;

fn valid_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Engine {
    /// Keep a file; the same bytes again give the same file (with its first name and type).
    pub async fn upload_file(
        &self,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<FileRow, EngineError> {
        if bytes.is_empty() {
            return Err(EngineError::Invalid("the file is empty".into()));
        }
        if bytes.len() > MAX_FILE_BYTES {
            return Err(EngineError::Invalid(format!(
                "the file is {} bytes: at most {MAX_FILE_BYTES}",
                bytes.len()
            )));
        }
        if name.is_empty() || name.len() > 255 || name.contains(['/', '\\', '\0']) {
            return Err(EngineError::Invalid(format!(
                "`{name}` is not a file name (1-255 characters, no slashes)"
            )));
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
            what: "file",
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
            what: "file",
            id: id.to_string(),
        };
        if !valid_id(id) {
            return Err(not_found());
        }
        self.inner.store.file_bytes(id).await?.ok_or_else(not_found)
    }
}

/// One step run's view of the files.
pub(crate) struct StepFiles {
    store: Store,
}

impl StepFiles {
    pub(crate) fn new(store: Store) -> Self {
        StepFiles { store }
    }
}

fn missing(id: &str) -> HostError {
    HostError::NotFound(format!("file `{id}`"))
}

#[async_trait::async_trait]
impl FilesBackend for StepFiles {
    async fn info(&self, _ctx: &StepContext, id: &str) -> Result<FileInfo, HostError> {
        if !valid_id(id) {
            return Err(missing(id));
        }
        let f = self
            .store
            .file(id)
            .await
            .map_err(|e| HostError::Failed(e.to_string()))?
            .ok_or_else(|| missing(id))?;
        Ok(FileInfo {
            id: f.id,
            name: f.name,
            content_type: f.content_type,
            size: f.size as u64,
        })
    }

    async fn read(&self, _ctx: &StepContext, id: &str) -> Result<Vec<u8>, HostError> {
        if !valid_id(id) {
            return Err(missing(id));
        }
        self.store
            .file_bytes(id)
            .await
            .map_err(|e| HostError::Failed(e.to_string()))?
            .ok_or_else(|| missing(id))
    }
}
