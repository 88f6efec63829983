//! Rows as stored. Times are Unix milliseconds; JSON columns are text.

/// One execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRow {
    pub id: String,
    pub workflow: String,
    pub version: i64,
    pub status: String,
    pub record_object: Option<String>,
    pub record_id: Option<String>,
    pub parent_id: Option<String>,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub state: String,
    pub seq: i64,
    pub wake_at: Option<i64>,
    pub control: Option<String>,
    pub pause_reason: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub event_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub ended_at: Option<i64>,
    /// JSON: what started it (the API, a trigger and its event, a parent), with the chain of
    /// workflows that led to it.
    pub cause: Option<String>,
    /// At most one unfinished execution of its workflow per record (no re-entry).
    pub exclusive: bool,
    /// Its trace (a W3C `traceparent`): each run of it on a node is a span under this one.
    /// Set when it starts while traces are exported.
    pub trace: Option<String>,
}
from_row!(ExecutionRow {
    id,
    workflow,
    version,
    status,
    record_object,
    record_id,
    parent_id,
    input,
    output,
    error,
    state,
    seq,
    wake_at,
    control,
    pause_reason,
    lease_owner,
    lease_until,
    event_at,
    created_at,
    updated_at,
    ended_at,
    cause,
    exclusive,
    trace
});

/// One run of one step of an execution (a visit; retries are separate runs).
#[derive(Debug, Clone, PartialEq)]
pub struct StepRunRow {
    pub execution_id: String,
    pub seq: i64,
    pub step_id: String,
    pub kind: String,
    pub status: String,
    pub attempt: i64,
    pub input: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub detail: Option<String>,
    pub logs: Option<String>,
    pub fuel: Option<i64>,
    pub memory_peak: Option<i64>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}
from_row!(StepRunRow {
    execution_id,
    seq,
    step_id,
    kind,
    status,
    attempt,
    input,
    output,
    error,
    detail,
    logs,
    fuel,
    memory_peak,
    started_at,
    ended_at
});

pub(crate) const EXECUTION_COLUMNS: &str = "id, workflow, version, status, record_object, record_id, parent_id, input, \
     output, error, state, seq, wake_at, control, pause_reason, lease_owner, lease_until, event_at, created_at, \
     updated_at, ended_at, cause, exclusive, trace";
