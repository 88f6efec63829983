//! `send_email`: sends an email through the SMTP server the host is configured with
//! (`flowbox serve --smtp-url`). Needs `email`.
//!
//! Input: `{"to": "ada@example.com" | [...], "cc"?: [...], "subject", "text", "html"?,
//! "reply_to"?}`. Output: `{"message_id", "to"}`. A refused message (a 5xx answer, a bad
//! address) fails the step for good; a server that cannot be reached fails it as retryable. The
//! Message-ID is `<execution.step@domain>` (the sender's domain) on every attempt, so a
//! receiver can drop a duplicate sent by a retry.

use flowbox_guest::{Context, StepError, Value, email, export_step, json};

fn addresses(input: &Value, key: &str) -> Result<Vec<String>, StepError> {
    match &input[key] {
        Value::Null => Ok(vec![]),
        Value::String(a) => Ok(vec![a.clone()]),
        Value::Array(list) => list
            .iter()
            .map(|a| {
                a.as_str().map(str::to_string).ok_or_else(|| {
                    StepError::invalid_input(format!("`{key}` must list addresses as text"))
                })
            })
            .collect(),
        _ => Err(StepError::invalid_input(format!(
            "`{key}` must be an address or a list of them"
        ))),
    }
}

fn run(input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let text = |k: &str| {
        input[k]
            .as_str()
            .ok_or_else(|| StepError::invalid_input(format!("`{k}` (text) is required")))
    };
    let to = addresses(&input, "to")?;
    if to.is_empty() {
        return Err(StepError::invalid_input("`to` is required"));
    }
    let mut message = email::Message::new(text("subject")?, text("text")?);
    for a in &to {
        message = message.to(a);
    }
    for a in addresses(&input, "cc")? {
        message = message.cc(a);
    }
    if let Some(html) = input["html"].as_str() {
        message = message.html(html);
    }
    if let Some(r) = input["reply_to"].as_str() {
        message = message.reply_to(r);
    }
    let id = message.send().map_err(StepError::from_input)?;
    Ok(json!({ "message_id": id, "to": to }))
}

export_step!(run);
