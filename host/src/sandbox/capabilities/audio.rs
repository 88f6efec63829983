//! `flowbox:step/audio`, served by an [`AudioBackend`].

use super::super::StepContext;
use super::super::bindings::flowbox::step::audio::{self as wit, Host};
use super::super::bindings::flowbox::step::types::HostError as WitHostError;
use super::super::state::StepState;
use super::{Capability, HostError, unavailable};

/// What a step asks to transcribe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptionRequest {
    /// The provider, or `None` for `default`.
    pub provider: Option<String>,
    /// The model, or `None` for the provider's transcription model.
    pub model: Option<String>,
    /// The audio file's id.
    pub file_id: String,
    /// The spoken language, if known.
    pub language: Option<String>,
    /// Text to guide the model.
    pub prompt: Option<String>,
}

/// What was said.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcription {
    pub text: String,
    pub language: Option<String>,
    pub duration_seconds: Option<f64>,
    pub model: String,
}

/// Sends a step's audio to the configured provider; holds the credentials.
#[async_trait::async_trait]
pub trait AudioBackend: Send + Sync {
    /// Transcribe one file.
    async fn transcribe(
        &self,
        ctx: &StepContext,
        request: TranscriptionRequest,
    ) -> Result<Transcription, HostError>;
}

impl Host for StepState {
    async fn transcribe(
        &mut self,
        req: wit::TranscriptionRequest,
    ) -> wasmtime::Result<Result<wit::Transcription, WitHostError>> {
        let Some(backend) = self.backends.audio.clone() else {
            return Ok(Err(unavailable(Capability::Audio).into()));
        };
        let request = TranscriptionRequest {
            provider: req.provider,
            model: req.model,
            file_id: req.file_id,
            language: req.language,
            prompt: req.prompt,
        };
        Ok(backend
            .transcribe(&self.context, request)
            .await
            .map(|t| wit::Transcription {
                text: t.text,
                language: t.language,
                duration_seconds: t.duration_seconds,
                model: t.model,
            })
            .map_err(Into::into))
    }
}
