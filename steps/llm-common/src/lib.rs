//! What the AI steps share: asking the model for JSON that fits a schema, checking the answer
//! inside the component, and one repair attempt that shows the model its validation errors.

use flowbox_guest::{Context, HostError, StepError, Value, json, llm, records};

/// Which provider and model, and how to sample: the input fields every AI step takes.
#[derive(Debug, Clone, Default)]
pub struct ModelChoice {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

impl ModelChoice {
    /// Read `provider`, `model`, `temperature`, `max_tokens` from a step's input.
    pub fn from_input(input: &Value) -> Result<Self, StepError> {
        let text = |k: &str| match &input[k] {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(StepError::invalid_input(format!("`{k}` must be text"))),
        };
        Ok(ModelChoice {
            provider: text("provider")?,
            model: text("model")?,
            temperature: input["temperature"].as_f64().map(|t| t as f32),
            max_tokens: input["max_tokens"].as_u64().map(|n| n as u32),
        })
    }
}

/// A model's answer that fits the schema.
#[derive(Debug, Clone)]
pub struct Answer {
    pub value: Value,
    /// Whether it took the repair attempt.
    pub repaired: bool,
    pub model: String,
}

/// `{"answer": <schema>, "confidence": 0..1}`: what the model is asked for when a step wants a
/// confidence. The schema's `$defs` (and `definitions`) move up to the wrapper, so that its
/// `#/$defs/...` references still resolve.
pub fn with_confidence(schema: &Value) -> Value {
    let mut answer = schema.clone();
    let mut wrapper = json!({
        "type": "object",
        "properties": {
            "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                "description": "how sure you are of the answer, from 0 to 1"},
        },
        "required": ["answer", "confidence"],
    });
    if let Some(map) = answer.as_object_mut() {
        for key in ["$defs", "definitions"] {
            if let Some(defs) = map.remove(key) {
                wrapper[key] = defs;
            }
        }
    }
    wrapper["properties"]["answer"] = answer;
    wrapper
}

/// The input's `confidence_threshold`, between 0 and 1, if any.
pub fn threshold(input: &Value) -> Result<Option<f64>, StepError> {
    match &input["confidence_threshold"] {
        Value::Null => Ok(None),
        v => v
            .as_f64()
            .filter(|t| (0.0..=1.0).contains(t))
            .map(Some)
            .ok_or_else(|| StepError::invalid_input("`confidence_threshold` must be between 0 and 1")),
    }
}

/// Copy answer keys to record fields: `fields` is `{"record_field": "answer_key"}` (`"."` for
/// the whole answer). A key the answer does not have is left out, so a field is never cleared
/// because the model said nothing about it.
pub fn write_fields(ctx: &Context, fields: &Value, answer: &Value) -> Result<(), StepError> {
    let map = fields.as_object().ok_or_else(|| {
        StepError::invalid_input("`fields` must map record fields to answer keys")
    })?;
    let record = ctx
        .record
        .as_ref()
        .ok_or_else(|| StepError::invalid_input("`fields` need a record-scoped workflow"))?;
    let mut update = json!({});
    for (field, key) in map {
        let key = key.as_str().ok_or_else(|| {
            StepError::invalid_input(format!("`fields.{field}` must name a key of the answer"))
        })?;
        let value = match key {
            "." => answer.clone(),
            key => match answer.get(key) {
                Some(v) => v.clone(),
                None if answer.is_object() => continue,
                None => {
                    return Err(StepError::permanent(format!(
                        "`fields.{field}`: the answer is not an object with keys"
                    )));
                }
            },
        };
        update[field.as_str()] = value;
    }
    if update.as_object().is_some_and(|u| u.is_empty()) {
        return Ok(());
    }
    records::update_fields(record, &update).map_err(|e| match e {
        HostError::Invalid(m) => {
            StepError::permanent(format!("the answer does not fit the record: {m}"))
        }
        other => StepError::from(other),
    })
}

/// The errors of `value` against `schema`, one line each (`/path: message`).
pub fn validate(schema: &Value, value: &Value) -> Result<Vec<String>, StepError> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| StepError::invalid_input(format!("`schema` is not a JSON schema: {e}")))?;
    Ok(validator
        .iter_errors(value)
        .map(|e| {
            let path = e.instance_path().to_string();
            format!("{}: {e}", if path.is_empty() { "/" } else { &path })
        })
        .collect())
}

/// JSON from a model's text: the whole text, or the text inside a ```json fence.
fn parse(content: &str) -> Result<Value, String> {
    let text = content.trim();
    let text = text
        .strip_prefix("```json")
        .or_else(|| text.strip_prefix("```"))
        .and_then(|t| t.strip_suffix("```"))
        .unwrap_or(text)
        .trim();
    serde_json::from_str(text).map_err(|e| format!("the answer is not JSON ({e})"))
}

/// Ask for JSON that fits `schema`. An answer that does not is shown its errors once; if the
/// second answer does not fit either, the step fails with its errors.
pub fn ask_json(
    choice: &ModelChoice,
    system: &str,
    prompt: &str,
    schema: &Value,
) -> Result<Answer, StepError> {
    // Check the schema before spending tokens on it.
    validate(schema, &json!(null))?;
    let system = format!(
        "{system}\n\nAnswer with one JSON value and nothing else. It must match this JSON schema:\n{schema}"
    );
    let mut messages = vec![
        llm::Message::new("system", &system),
        llm::Message::new("user", prompt),
    ];
    let mut repaired = false;
    loop {
        let response = llm::chat(llm::ChatRequest {
            provider: choice.provider.clone(),
            model: choice.model.clone(),
            messages: messages.clone(),
            response_schema: Some(schema.to_string()),
            temperature: choice.temperature,
            max_tokens: choice.max_tokens,
        })
        .map_err(StepError::from_input)?;
        let errors = match parse(&response.content) {
            Ok(value) => {
                let errors = validate(schema, &value)?;
                if errors.is_empty() {
                    return Ok(Answer {
                        value,
                        repaired,
                        model: response.model,
                    });
                }
                errors
            }
            Err(e) => vec![e],
        };
        if repaired {
            return Err(StepError::permanent(format!(
                "the model's answer does not match the schema, after one repair: {}",
                errors.join("; ")
            )));
        }
        repaired = true;
        messages.push(llm::Message::new("assistant", &response.content));
        messages.push(llm::Message::new(
            "user",
            &format!(
                "That answer does not match the schema:\n- {}\nReply again with only the corrected JSON.",
                errors.join("\n- ")
            ),
        ));
    }
}
