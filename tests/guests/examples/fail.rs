//! Returns the step error named by `input.kind`: invalid-input, permanent or retryable.

use flowbox_guest::{Context, StepError, Value, export_step};

fn run(input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let message = input["message"].as_str().unwrap_or("no message").to_string();
    Err(match input["kind"].as_str() {
        Some("invalid-input") => StepError::InvalidInput(message),
        Some("retryable") => StepError::Retryable(message),
        _ => StepError::Permanent(message),
    })
}

export_step!(run);
