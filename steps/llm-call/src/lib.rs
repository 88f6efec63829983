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

use flowbox_guest::{Context, StepError, Value, export_step, json, llm, records};
use llm_common::{ModelChoice, ask_json, step_error};

const SYSTEM: &str = "You are a careful assistant inside an automated workflow.";

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let prompt = input["prompt"]
        .as_str()
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| StepError::invalid_input("`prompt` (text) is required"))?;
    let system = input["system"].as_str().unwrap_or(SYSTEM);
    let choice = ModelChoice::from_input(&input)?;
    let threshold = match &input["confidence_threshold"] {
        Value::Null => None,
        v => Some(
            v.as_f64()
                .filter(|t| (0.0..=1.0).contains(t))
                .ok_or_else(|| {
                    StepError::invalid_input("`confidence_threshold` must be between 0 and 1")
                })?,
        ),
    };
    let Some(schema) = input.get("schema").filter(|s| !s.is_null()) else {
        if threshold.is_some() || input.get("fields").is_some_and(|f| !f.is_null()) {
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
        .map_err(step_error)?;
        return Ok(json!({"answer": response.content, "repaired": false, "model": response.model}));
    };
    let wrapped = json!({
        "type": "object",
        "properties": {
            "answer": schema,
            "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                "description": "how sure you are of the answer, from 0 to 1"},
        },
        "required": ["answer", "confidence"],
    });
    let reply = ask_json(&choice, system, prompt, &wrapped)?;
    let answer = reply.value["answer"].clone();
    let confidence = reply.value["confidence"].as_f64().unwrap_or(0.0);
    let confident = threshold.is_none_or(|t| confidence >= t);
    if confident && let Some(fields) = input.get("fields").filter(|f| !f.is_null()) {
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

/// Copy answer keys to record fields: `{"record_field": "answer_key"}`.
fn write_fields(ctx: &Context, fields: &Value, answer: &Value) -> Result<(), StepError> {
    let record = ctx
        .record
        .as_ref()
        .ok_or_else(|| StepError::invalid_input("`fields` need a record-scoped workflow"))?;
    let map = fields.as_object().ok_or_else(|| {
        StepError::invalid_input("`fields` must map record fields to answer keys")
    })?;
    let mut update = json!({});
    for (field, key) in map {
        let key = key.as_str().ok_or_else(|| {
            StepError::invalid_input(format!("`fields.{field}` must name a key of the answer"))
        })?;
        let value = if key == "." { answer.clone() } else { answer[key].clone() };
        update[field.as_str()] = value;
    }
    records::update_fields(record, &update).map_err(|e| match e {
        flowbox_guest::HostError::Invalid(m) => {
            StepError::permanent(format!("the answer does not fit the record: {m}"))
        }
        other => StepError::from(other),
    })
}

export_step!(run);
