//! Takes its time: sleeps `input.ms` milliseconds (the host's clock, no CPU spent), then returns
//! `{"slept": ms, "n": input.n + 1}` (`n` defaults to 0).

use flowbox_guest::{Context, StepError, Value, export_step, json};

fn run(input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let ms = input["ms"].as_u64().ok_or_else(|| StepError::invalid_input("`ms` must be a whole number"))?;
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(json!({ "slept": ms, "n": input["n"].as_i64().unwrap_or(0) + 1 }))
}

export_step!(run);
