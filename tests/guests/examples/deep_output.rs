//! Returns `input.depth` arrays nested in one another, around `0` (a hostile output: deep
//! nesting must be refused at the output check, not break the execution's state later).

use flowbox_guest::{Context, StepError, Value, export_step};

fn run(input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let depth = input["depth"].as_u64().unwrap_or(126) as usize;
    // Built as text: serde_json's own recursion limit stops at 128 levels.
    Ok(serde_json::from_str(&format!("{}0{}", "[".repeat(depth), "]".repeat(depth)))
        .unwrap_or_else(|_| Value::String(format!("{}0{}", "[".repeat(depth), "]".repeat(depth)))))
}

export_step!(run);
