//! `flowbox:step/files`, served by a [`FilesBackend`].

use super::super::StepContext;
use super::super::bindings::flowbox::step::files::{self as wit, Host};
use super::super::bindings::flowbox::step::types::HostError as WitHostError;
use super::super::state::StepState;
use super::{Capability, HostError, unavailable};

/// What a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The SHA-256 of its bytes, in hex.
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

/// Reads the files the host keeps, for a step.
#[async_trait::async_trait]
pub trait FilesBackend: Send + Sync {
    /// A file's metadata.
    async fn info(&self, ctx: &StepContext, id: &str) -> Result<FileInfo, HostError>;
    /// A file's bytes.
    async fn read(&self, ctx: &StepContext, id: &str) -> Result<Vec<u8>, HostError>;
}

impl Host for StepState {
    async fn info(&mut self, id: String) -> wasmtime::Result<Result<wit::FileInfo, WitHostError>> {
        let Some(backend) = self.backends.files.clone() else {
            return Ok(Err(unavailable(Capability::Files).into()));
        };
        Ok(backend
            .info(&self.context, &id)
            .await
            .map(|f| wit::FileInfo {
                id: f.id,
                name: f.name,
                content_type: f.content_type,
                size: f.size,
            })
            .map_err(Into::into))
    }

    async fn read(&mut self, id: String) -> wasmtime::Result<Result<Vec<u8>, WitHostError>> {
        let Some(backend) = self.backends.files.clone() else {
            return Ok(Err(unavailable(Capability::Files).into()));
        };
        Ok(backend.read(&self.context, &id).await.map_err(Into::into))
    }
}
