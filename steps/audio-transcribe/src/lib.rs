//! `audio_transcribe`: sends an audio file the host keeps (usually a record's `file` field) to
//! the provider's transcription endpoint. Needs `audio`, and `records` (for `field`).
//!
//! Input: `{"file": "<file id>", "language"?: "en", "prompt"?, "provider"?, "model"?,
//! "field"?: "transcript"}`. Output: `{"text", "language", "duration_seconds", "model"}`; with
//! `field`, the text is also written to that field of the record (with the step's result).

use flowbox_guest::{Context, StepError, Value, audio, export_step, json, records};

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let file = input["file"]
        .as_str()
        .filter(|f| !f.is_empty())
        .ok_or_else(|| StepError::invalid_input("`file` (a file id) is required"))?;
    let text = |k: &str| input[k].as_str();
    let t = audio::transcribe(
        file,
        text("provider"),
        text("model"),
        text("language"),
        text("prompt"),
    )
    .map_err(StepError::from_input)?;
    if let Some(field) = text("field") {
        let record = ctx
            .record
            .as_ref()
            .ok_or_else(|| StepError::invalid_input("`field` needs a record-scoped workflow"))?;
        records::update_fields(record, &json!({ field: t.text }))
            .map_err(StepError::from_input)?;
    }
    Ok(json!({
        "text": t.text,
        "language": t.language,
        "duration_seconds": t.duration_seconds,
        "model": t.model,
    }))
}

export_step!(run);
