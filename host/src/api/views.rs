//! JSON renderings of executions and step runs.

use serde_json::{Map, Value, json};

use crate::engine::state::{State, control, status};
use crate::store::{ExecutionRow, NoticeRow, StepRunRow, notice_status};

pub(crate) use crate::time::json as time;

/// An RFC 3339 time (or a date) as Unix ms.
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    crate::time::parse_datetime(text).map(|t| t.timestamp_millis())
}

fn opt_time(ms: Option<i64>) -> Value {
    ms.map(time).unwrap_or(Value::Null)
}

/// A stored JSON text as JSON (absent: null). Text that does not parse (never written by this
/// host) is shown as it is, as a string, rather than hidden.
pub(crate) fn parsed(text: &Option<String>) -> Value {
    text.as_deref().map_or(Value::Null, |t| {
        serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string()))
    })
}

/// Whether `what` (pause, cancel) was asked of a running execution and is still to happen.
fn requested(e: &ExecutionRow, what: &str) -> bool {
    e.status == status::RUNNING && e.control.as_deref() == Some(what)
}

/// An execution, without its step history.
pub(crate) fn execution(e: &ExecutionRow) -> Value {
    let state: State = serde_json::from_str(&e.state).unwrap_or_default();
    let record = match (&e.record_object, &e.record_id) {
        (Some(object), Some(id)) => json!({"object": object, "id": id}),
        _ => Value::Null,
    };
    json!({
        "id": e.id,
        "workflow": e.workflow,
        "version": e.version,
        "status": e.status,
        "record": record,
        "parent_id": e.parent_id,
        "input": serde_json::from_str::<Value>(&e.input).unwrap_or(Value::Null),
        "output": parsed(&e.output),
        "error": parsed(&e.error),
        "variables": Value::Object(state.variables),
        "position": state.position,
        "waiting": state.waiting,
        "wake_at": opt_time(e.wake_at),
        "pause_reason": e.pause_reason,
        "pause_requested": requested(e, control::PAUSE),
        "cancel_requested": requested(e, control::CANCEL),
        "cause": parsed(&e.cause),
        "trace_id": e.trace.as_deref().and_then(crate::telemetry::traces::trace_id),
        "event_at": time(e.event_at),
        "created_at": time(e.created_at),
        "updated_at": time(e.updated_at),
        "ended_at": opt_time(e.ended_at),
    })
}

/// A step run.
pub(crate) fn step_run(r: &StepRunRow) -> Value {
    let mut v = Map::new();
    v.insert("seq".into(), json!(r.seq));
    v.insert("step_id".into(), json!(r.step_id));
    v.insert("kind".into(), json!(r.kind));
    v.insert("status".into(), json!(r.status));
    v.insert("attempt".into(), json!(r.attempt));
    v.insert("input".into(), parsed(&r.input));
    v.insert("output".into(), parsed(&r.output));
    v.insert("error".into(), parsed(&r.error));
    v.insert("detail".into(), parsed(&r.detail));
    v.insert("logs".into(), parsed(&r.logs));
    v.insert("fuel_used".into(), json!(r.fuel));
    v.insert("memory_peak_bytes".into(), json!(r.memory_peak));
    v.insert("started_at".into(), time(r.started_at));
    v.insert("ended_at".into(), opt_time(r.ended_at));
    v.insert(
        "duration_ms".into(),
        json!(r.ended_at.map(|e| e - r.started_at)),
    );
    Value::Object(v)
}

/// A failure notification and how its delivery stands.
fn notice(n: &NoticeRow) -> Value {
    json!({
        "id": n.id,
        "step_id": n.step_id,
        "kind": n.kind,
        "target": crate::engine::notices::shown_target(n),
        "status": n.status,
        "attempts": n.attempts,
        "last_error": n.last_error,
        "next_attempt_at": (n.status == notice_status::PENDING).then(|| time(n.next_at)),
        "created_at": time(n.created_at),
        "sent_at": opt_time(n.sent_at),
    })
}

/// An execution with its step history and the failure notifications it sent.
pub(crate) fn execution_with_steps(
    e: &ExecutionRow,
    runs: &[StepRunRow],
    notices: &[NoticeRow],
) -> Value {
    let mut v = execution(e);
    v["steps"] = Value::Array(runs.iter().map(step_run).collect());
    v["notifications"] = Value::Array(notices.iter().map(notice).collect());
    v
}
