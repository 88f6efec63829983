//! A well-behaved step that uses the log, variables and clock imports.
//! Input `{"n": k}`; output `{"n": k + 1, "seen": <variable "seen" or null>, "now": <ms>}`;
//! sets the variable `last` to k + 1 and prints one line to stdout.

use flowbox_guest::{Context, StepError, Value, clock, export_step, json, log, variables};

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let n = input["n"].as_i64().ok_or_else(|| StepError::invalid_input("`n` must be an integer"))?;
    log::info(&format!("normal step {} attempt {}", ctx.step_id, ctx.attempt));
    println!("stdout from the guest: n = {n}");
    let seen = variables::get("seen");
    variables::set("last", &json!(n + 1))?;
    let wasi_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    Ok(json!({
        "n": n + 1,
        "seen": seen,
        "now": clock::now_millis(),
        "wasi_now": wasi_now,
        "record": ctx.record.as_ref().map(|r| format!("{}/{}", r.object, r.id)),
    }))
}

export_step!(run);
