//! Files the host keeps (records' `file` fields hold their ids).

use crate::{HostError, wit::files as raw};

/// What a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The SHA-256 of its bytes, in hex.
    pub id: String,
    /// The name it was uploaded with.
    pub name: String,
    /// The `Content-Type` it was uploaded with.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A file's metadata.
pub fn info(id: &str) -> Result<FileInfo, HostError> {
    let f = raw::info(id)?;
    Ok(FileInfo {
        id: f.id,
        name: f.name,
        content_type: f.content_type,
        size: f.size,
    })
}

/// A file's bytes.
pub fn read(id: &str) -> Result<Vec<u8>, HostError> {
    Ok(raw::read(id)?)
}
