//! `llm_call`: asks a model. Needs `llm`, and `records` (for `fields`).
//!
//! Input (`prompt` and `system` are usually templates over variables and the record):
//! `{"prompt", "system"?, "schema"?: {JSON schema of the answer}, "confidence_threshold"?: 0.7,
//! "fields"?: {"record_field": "answer_key"}, "provider"?, "model"?, "temperature"?,
//! "max_tokens"?}`.
//!
//! With a `schema`, the model answers `{"answer": <fits the schema>, "confidence": 0..1}`; the
//! answer is checked inside this component, an answer that does not fit is sent back once with
//! its errors, and a second misfit fails the step with them. With a `confidence_threshold`, an
//! answer below it names the branch `low_confidence` (the step's `branches` say where that
//! goes) and writes no fields; otherwise `confident`, and `fields` are copied from the answer to
//! the record. Without a schema the answer is the model's text.
//!
//! Output: `{"answer", "confidence"?, "branch"?, "repaired", "model"}`; the tokens and latency
//! of each call are in the step history (`detail.llm`).

use flowbox_guest::{Context, StepError, Value, export_step, json, llm};
use llm_common::{ModelChoice, ask_json, threshold, with_confidence, write_fields};

const SYSTEM: &str = "You are a careful assistant inside an automated workflow.";

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let prompt = input["prompt"]
        .as_str()
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| StepError::invalid_input("`prompt` (text) is required"))?;
    let system = input["system"].as_str().unwrap_or(SYSTEM);
    let choice = ModelChoice::from_input(&input)?;
    let threshold = threshold(&input)?;
    let fields = input.get("fields").filter(|f| !f.is_null());
    let Some(schema) = input.get("schema").filter(|s| !s.is_null()) else {
        if threshold.is_some() || fields.is_some() {
            return Err(StepError::invalid_input(
                "`confidence_threshold` and `fields` need a `schema`",
            ));
        }
        let response = llm::chat(llm::ChatRequest {
            provider: choice.provider,
            model: choice.model,
            messages: vec![
                llm::Message::new("system", system),
                llm::Message::new("user", prompt),
            ],
            temperature: choice.temperature,
            max_tokens: choice.max_tokens,
            response_schema: None,
        })
        .map_err(StepError::from_input)?;
        return Ok(json!({"answer": response.content, "repaired": false, "model": response.model}));
    };
    let reply = ask_json(&choice, system, prompt, &with_confidence(schema))?;
    let answer = reply.value["answer"].clone();
    let confidence = reply.value["confidence"].as_f64().unwrap_or(0.0);
    let confident = threshold.is_none_or(|t| confidence >= t);
    if confident && let Some(fields) = fields {
        write_fields(ctx, fields, &answer)?;
    }
    Ok(json!({
        "answer": answer,
        "confidence": confidence,
        "branch": if confident { "confident" } else { "low_confidence" },
        "repaired": reply.repaired,
        "model": reply.model,
    }))
}

export_step!(run);
