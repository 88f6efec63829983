//! `increment`: `{"n": k}` -> `{"n": k + 1}`. Other input fields pass through unchanged.

use flowbox_guest::{Context, StepError, Value, export_step};

fn run(mut input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let n = input
        .get("n")
        .and_then(Value::as_i64)
        .ok_or_else(|| StepError::invalid_input("expected an object with an integer `n`"))?;
    input["n"] = Value::from(n + 1);
    Ok(input)
}

export_step!(run);
