//! Speech to text through the provider the admin configured; the host reads the file and sends
//! it, and holds the key.

use crate::{HostError, wit::audio as raw};

/// What was said.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcription {
    /// The text.
    pub text: String,
    /// The language the provider detected or was told.
    pub language: Option<String>,
    /// The audio's length in seconds, if the provider says.
    pub duration_seconds: Option<f64>,
    /// The model that transcribed it.
    pub model: String,
}

/// Transcribe the audio file `file_id` (a file the host keeps). `provider`, `model`, `language`
/// (ISO 639-1) and `prompt` are optional.
pub fn transcribe(
    file_id: &str,
    provider: Option<&str>,
    model: Option<&str>,
    language: Option<&str>,
    prompt: Option<&str>,
) -> Result<Transcription, HostError> {
    let t = raw::transcribe(&raw::TranscriptionRequest {
        provider: provider.map(str::to_string),
        model: model.map(str::to_string),
        file_id: file_id.to_string(),
        language: language.map(str::to_string),
        prompt: prompt.map(str::to_string),
    })?;
    Ok(Transcription {
        text: t.text,
        language: t.language,
        duration_seconds: t.duration_seconds,
        model: t.model,
    })
}
