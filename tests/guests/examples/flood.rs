//! Floods the host with calls: `{"log": N}` writes N empty log lines; `{"variables": N}` sets N
//! variables of 1 MiB each, stopping at the first the host refuses (it says which, and why).

use flowbox_guest::{Context, StepError, Value, export_step, json, log, variables};

fn run(input: Value, _ctx: &Context) -> Result<Value, StepError> {
    for _ in 0..input["log"].as_u64().unwrap_or(0) {
        log::info("");
    }
    let big = json!("x".repeat((1 << 20) - 2));
    let mut set = 0;
    for i in 0..input["variables"].as_u64().unwrap_or(0) {
        if let Err(e) = variables::set(&format!("v{i}"), &big) {
            return Ok(json!({ "set": set, "refused": e.to_string() }));
        }
        set += 1;
    }
    Ok(json!({ "set": set }))
}

export_step!(run);
