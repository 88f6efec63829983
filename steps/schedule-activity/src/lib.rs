//! `schedule_activity`: schedules an activity (a call, a meeting, a task...) on the execution's
//! record. Needs `records`.
//!
//! Input: `{"type": "call", "subject"?, "details"?, "due_at"?: RFC 3339 time,
//! "due_in"?: "2d" | "3h" | "30m" | "45s"}`: `due_at`, or `due_in` from now; one of them is
//! required (use the records API to log a done activity). Output: `{"record", "activity_id",
//! "due_at"}` with `due_at` an RFC 3339 time in UTC (computed from `due_in` if given). Written with the step's
//! result; the activity is then open, and an `activity_past_due` trigger fires when it is due.

use flowbox_guest::{Context, StepError, Value, export_step, json, records};

/// `2d`, `3h`, `30m`, `45s` as milliseconds.
fn duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: u64 = text[..text.len() - unit.len_utf8()].trim().parse().ok()?;
    let unit_ms = match unit {
        'd' => 86_400_000,
        'h' => 3_600_000,
        'm' => 60_000,
        's' => 1_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let record = ctx.record.clone().ok_or_else(|| {
        StepError::invalid_input("schedule_activity runs on a record-scoped workflow")
    })?;
    let kind = input["type"]
        .as_str()
        .ok_or_else(|| StepError::invalid_input("`type` (e.g. call, meeting, task) is required"))?;
    let due_at = match (&input["due_at"], &input["due_in"]) {
        (Value::String(t), Value::Null) => json!(t),
        (Value::Null, Value::String(d)) => {
            let ms = duration_ms(d).ok_or_else(|| {
                StepError::invalid_input(format!(
                    "`due_in`: `{d}` is not a duration like 2d, 3h, 30m or 45s"
                ))
            })?;
            // WASI's clock is the host's clock: no `clock` grant needed.
            let due = std::time::SystemTime::now()
                .checked_add(std::time::Duration::from_millis(ms))
                .ok_or_else(|| StepError::invalid_input(format!("`due_in`: `{d}` is too far")))?;
            json!(humantime::format_rfc3339_millis(due).to_string())
        }
        _ => {
            return Err(StepError::invalid_input(
                "give either `due_at` (an RFC 3339 time) or `due_in` (e.g. 2d, 3h, 30m)",
            ));
        }
    };
    let activity = json!({
        "type": kind,
        "subject": input.get("subject"),
        "details": input.get("details"),
        "due_at": due_at,
        "done": false,
    });
    let id = records::add_activity(&record, &activity).map_err(StepError::from_input)?;
    Ok(json!({
        "record": {"object": record.object, "id": record.id},
        "activity_id": id,
        "due_at": due_at,
    }))
}

export_step!(run);

