//! Files: uploaded through the API, named by the SHA-256 of their bytes, referenced by records'
//! `file` fields, and read by steps granted `files`.

use crate::sandbox::{FileInfo, FilesBackend, HostError, StepContext};
use crate::store::Store;

/// The largest file flowbox keeps.
pub const MAX_FILE_BYTES: usize = 25 << 20;

pub(crate) fn valid_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
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
