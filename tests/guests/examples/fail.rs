//! Returns the step error named by `input.kind`: invalid-input, permanent or retryable; or
//! succeeds from attempt `input.succeed_on_attempt` on (to test retries).

use flowbox_guest::{Context, StepError, Value, export_step, json};

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    if let Some(k) = input["succeed_on_attempt"].as_u64()
        && u64::from(ctx.attempt) >= k
    {
        return Ok(json!({ "attempt": ctx.attempt }));
    }
    let message = input["message"].as_str().unwrap_or("no message").to_string();
    Err(match input["kind"].as_str() {
        Some("invalid-input") => StepError::InvalidInput(message),
        Some("retryable") => StepError::Retryable(message),
        _ => StepError::Permanent(message),
    })
}

export_step!(run);
