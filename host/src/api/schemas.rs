//! The shapes of the API's answers, for its OpenAPI description. The handlers build these as
//! JSON (see [`super::views`]); the OpenAPI test checks real answers against these shapes, key
//! by key, so the two cannot drift apart.
#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Every error: a stable code, a message, and for some codes details.
#[derive(ToSchema, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(ToSchema, Serialize)]
pub struct ErrorDetail {
    /// e.g. `invalid_fields`, `record_not_found`, `unauthorized`.
    pub code: String,
    pub message: String,
    /// e.g. one entry per bad field: `[{"field", "message"}]`.
    pub details: Option<Value>,
}

/// A record reference.
#[derive(ToSchema, Serialize)]
pub struct RecordKey {
    pub object: String,
    pub id: String,
}

/// An execution (times are RFC 3339, UTC).
#[derive(ToSchema, Serialize)]
pub struct Execution {
    pub id: String,
    pub workflow: String,
    pub version: i64,
    /// queued, running, waiting, paused, completed, failed, cancelled.
    pub status: String,
    pub record: Option<RecordKey>,
    pub parent_id: Option<String>,
    /// What started it (`kind`: api, trigger, schedule, webhook, workflow) and the chain of
    /// workflows that led to it.
    pub cause: Option<Value>,
    /// The OpenTelemetry trace it runs in (32 hex digits): the caller's, when the request that
    /// started it had a `traceparent`. Null unless the server exports traces.
    pub trace_id: Option<String>,
    pub input: Value,
    pub output: Option<Value>,
    /// `{code, message, step}`.
    pub error: Option<Value>,
    pub variables: Value,
    /// The next step.
    pub position: Option<String>,
    pub waiting: Option<Value>,
    pub wake_at: Option<String>,
    pub pause_reason: Option<String>,
    /// A pause was asked for while it runs: it pauses before its next step.
    pub pause_requested: bool,
    /// A cancel was asked for while it runs: its step is stopped and it ends cancelled.
    pub cancel_requested: bool,
    /// When the event that started it happened.
    pub event_at: String,
    /// When it was created (for a trigger: when the event was evaluated).
    pub created_at: String,
    pub updated_at: String,
    pub ended_at: Option<String>,
}

/// An execution with its step history and the failure notifications its steps sent.
#[derive(ToSchema, Serialize)]
pub struct ExecutionWithSteps {
    #[serde(flatten)]
    pub execution: Execution,
    pub steps: Vec<StepRun>,
    pub notifications: Vec<FailureNotice>,
}

/// A failure notification (`settings.notify`) and how its delivery stands.
#[derive(ToSchema, Serialize)]
pub struct FailureNotice {
    pub id: i64,
    /// The step whose failure it reports.
    pub step_id: String,
    /// team, email or webhook.
    pub kind: String,
    /// `team` or `team/channel`, an address, or a webhook's origin (its path may hold a secret).
    pub target: String,
    /// pending (being delivered or retried), sent, or failed (given up on: see `last_error`).
    pub status: String,
    pub attempts: i64,
    /// Why the last attempt did not go through.
    pub last_error: Option<String>,
    /// When a pending notification is tried next.
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// One run of one step.
#[derive(ToSchema, Serialize)]
pub struct StepRun {
    pub seq: i64,
    pub step_id: String,
    pub kind: String,
    /// running, completed, failed, waiting, cancelled.
    pub status: String,
    pub attempt: i64,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<Value>,
    /// The path a condition took, a delay's wake-up time, a child's id, ...
    pub detail: Option<Value>,
    pub logs: Option<Value>,
    pub fuel_used: Option<i64>,
    pub memory_peak_bytes: Option<i64>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<i64>,
}

/// A page of executions, newest first.
#[derive(ToSchema, Serialize)]
pub struct ExecutionPage {
    pub executions: Vec<Execution>,
    pub next_cursor: Option<String>,
}

/// Why a bulk start started nothing: each record's error, or one error for all (a filter that
/// fails, a workflow that does not run on records).
#[derive(ToSchema, Serialize)]
#[serde(untagged)]
pub enum BulkRefused {
    Each(BulkStarted),
    All(ErrorBody),
}

/// What a bulk start did.
#[derive(ToSchema, Serialize)]
pub struct BulkStarted {
    /// `[{record_id, id, status}]`.
    pub executions: Vec<Value>,
    /// `[{record_id, code, message}]`.
    pub errors: Vec<Value>,
}

/// A record.
#[derive(ToSchema, Serialize)]
pub struct Record {
    pub object: String,
    pub id: String,
    pub fields: Value,
    pub archived: bool,
    pub archived_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A record after a write, with the event the write left (none if nothing changed).
#[derive(ToSchema, Serialize)]
pub struct RecordWritten {
    #[serde(flatten)]
    pub record: Record,
    pub event: Option<Event>,
}

/// A record's event.
#[derive(ToSchema, Serialize)]
pub struct Event {
    pub id: i64,
    pub object: String,
    pub record_id: String,
    /// created, updated, stage_changed, form_submitted, archived, unarchived, deleted,
    /// activity_scheduled, activity_logged, activity_past_due.
    pub kind: String,
    /// `{"field": {"old", "new"}}`.
    pub changes: Option<Value>,
    pub detail: Option<Value>,
    pub cause: Value,
    pub at: String,
    pub evaluated_at: Option<String>,
    /// What triggers and goals did with it: `started`, `skipped` and `stopped` (one entry per
    /// workflow watching its object type: started, or why not, with a stable `code`),
    /// `goals_met`, `errors`.
    pub outcome: Option<Value>,
    /// Only in `GET /v1/events?workflow=`: what the event did for that workflow, `{result,
    /// code?, reason?, trigger?, execution?, triggers?}` with `result` one of started, skipped,
    /// stopped, pending, not_considered.
    #[schema(nullable = false)]
    pub verdict: Option<Value>,
}

/// A page of records, in id order.
#[derive(ToSchema, Serialize)]
pub struct RecordPage {
    pub records: Vec<Record>,
    pub next_cursor: Option<String>,
}

/// A deleted record.
#[derive(ToSchema, Serialize)]
pub struct RecordDeleted {
    pub object: String,
    pub id: String,
    pub deleted: bool,
    pub event: Option<Event>,
}

/// What an import did, record by record.
#[derive(ToSchema, Serialize)]
pub struct ImportResult {
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub failed: i64,
    /// `[{index, id, status, error?}]`.
    pub results: Vec<Value>,
}

/// An activity on a record.
#[derive(ToSchema, Serialize)]
pub struct Activity {
    pub id: String,
    pub object: String,
    pub record_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: Option<String>,
    pub details: Option<Value>,
    /// scheduled or done.
    pub status: String,
    pub due_at: Option<String>,
    pub done_at: Option<String>,
    pub past_due_at: Option<String>,
    pub created_at: String,
}

#[derive(ToSchema, Serialize)]
pub struct Activities {
    pub activities: Vec<Activity>,
}

#[derive(ToSchema, Serialize)]
pub struct Events {
    pub events: Vec<Event>,
    /// The `before` of the next page, null on the last.
    pub next_before: Option<i64>,
}

/// An object type: its typed fields.
#[derive(ToSchema, Serialize)]
pub struct ObjectType {
    pub name: String,
    pub description: Option<String>,
    /// Field name -> `{type, required?, unique?, choices?, stages?, object?, description?}`.
    pub fields: Value,
}

#[derive(ToSchema, Serialize)]
pub struct ObjectTypes {
    pub objects: Vec<ObjectType>,
}

/// A saved workflow definition.
#[derive(ToSchema, Serialize)]
pub struct WorkflowSaved {
    pub name: String,
    pub version: i64,
    /// False when the definition was unchanged (same version).
    pub created: bool,
}

/// A deleted workflow.
#[derive(ToSchema, Serialize)]
pub struct WorkflowDeleted {
    pub name: String,
    pub deleted: bool,
}

/// What flipping a kill switch did.
#[derive(ToSchema, Serialize)]
pub struct KillSwitchSet {
    /// Only for a workflow's own kill switch.
    #[schema(nullable = false)]
    pub workflow: Option<String>,
    pub kill_switch: bool,
    /// Turned on: the unfinished executions (queued, running, waiting) that pause before their
    /// next step.
    #[schema(nullable = false)]
    pub pausing: Option<u64>,
    /// Turned off: the executions it had paused that resumed.
    #[schema(nullable = false)]
    pub resumed: Option<u64>,
    /// The same in words.
    pub message: String,
}

/// A definition that would save.
#[derive(ToSchema, Serialize)]
pub struct WorkflowValid {
    /// Always true (a definition that would not save is a 422).
    pub valid: bool,
    pub name: String,
    pub steps: usize,
    pub triggers: usize,
    pub graph: Graph,
}

/// A workflow's steps as a graph: where each step can go next.
#[derive(ToSchema, Serialize)]
pub struct Graph {
    /// The steps in definition order; the first is where executions start.
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

#[derive(ToSchema, Serialize)]
pub struct GraphNode {
    pub id: String,
    /// The step's kind: action, python, javascript, condition, delay, goal, goto, set,
    /// start_workflow, pause_workflow, cancel_workflow or stop.
    pub kind: String,
    /// What it does, in short: the module, the condition, the delay, the workflow.
    pub label: String,
}

#[derive(ToSchema, Serialize)]
pub struct GraphEdge {
    pub from: String,
    /// A step's id, or `end`.
    pub to: String,
    /// next, then, else, met, not_met, goto, branch or on_failure.
    pub kind: String,
    /// The branch's name, a goto's cap (`max 3`), or null.
    pub label: Option<String>,
}

/// Who the caller is.
#[derive(ToSchema, Serialize)]
pub struct WhoAmI {
    /// The token's id.
    pub id: String,
    pub name: String,
    /// admin, developer or client.
    pub role: String,
}

/// Executions by status.
#[derive(ToSchema, Serialize)]
pub struct ExecutionCounts {
    /// Every status, with how many executions have it (0 for none).
    #[schema(value_type = Object)]
    pub counts: Value,
    pub total: i64,
}

/// The version of what this server has written: it changes with every write.
#[derive(ToSchema, Serialize)]
pub struct Changes {
    pub version: String,
}

#[derive(ToSchema, Serialize)]
pub struct WorkflowSummary {
    pub name: String,
    pub latest_version: i64,
    pub enabled: bool,
    pub kill_switch: bool,
    pub updated_at: String,
}

#[derive(ToSchema, Serialize)]
pub struct Workflows {
    pub workflows: Vec<WorkflowSummary>,
}

/// One version of a workflow.
#[derive(ToSchema, Serialize)]
pub struct WorkflowVersion {
    pub name: String,
    pub version: i64,
    pub definition: Value,
    /// Why starts are refused, if a kill switch is on.
    pub kill_switch: Option<String>,
    /// Whether its triggers start executions (`PUT /v1/workflows/{name}/enabled`).
    pub enabled: bool,
    pub graph: Graph,
}

#[derive(ToSchema, Serialize)]
pub struct Versions {
    pub name: String,
    /// `[{version, created_at}]`.
    pub versions: Vec<Value>,
}

/// A workflow's upcoming timed runs.
#[derive(ToSchema, Serialize)]
pub struct Timers {
    pub workflow: String,
    /// `[{trigger, next_at}]`.
    pub schedules: Vec<Value>,
    /// `[{trigger, record, run_at}]`.
    pub date_runs: Vec<Value>,
}

/// A webhook as developers see it.
#[derive(ToSchema, Serialize)]
pub struct Webhook {
    pub trigger: String,
    /// `/hooks/<token>`.
    pub path: String,
    pub methods: Vec<String>,
    /// secret or hmac.
    pub auth: String,
    pub secret: String,
}

#[derive(ToSchema, Serialize)]
pub struct Webhooks {
    pub webhooks: Vec<Webhook>,
}

/// What a webhook call started.
#[derive(ToSchema, Serialize)]
pub struct WebhookStarted {
    pub workflow: String,
    pub execution_id: String,
    pub status: String,
    pub record: Option<RecordKey>,
}

/// A step module.
#[derive(ToSchema, Serialize)]
pub struct StepModule {
    pub name: String,
    /// SHA-256 of the component.
    pub hash: String,
    /// The capabilities granted: log, variables, records, files, teams, email, http, llm, audio, clock.
    pub grants: Vec<String>,
    /// Hosts it may call with `http`.
    pub http_hosts: Vec<String>,
    /// Exports, imports, size.
    pub info: Value,
    pub created_at: String,
}

/// A step module with its history and users.
#[derive(ToSchema, Serialize)]
pub struct StepModuleDetail {
    #[serde(flatten)]
    pub module: StepModule,
    /// `[{hash, created_at}]`, oldest first: every component the name has pointed at.
    pub versions: Vec<Value>,
    /// Workflows whose newest version uses it.
    pub used_by: Vec<String>,
}

#[derive(ToSchema, Serialize)]
pub struct StepModules {
    pub steps: Vec<StepModule>,
}

/// An API token; `token` itself only in the answer that creates it.
#[derive(ToSchema, Serialize)]
pub struct Token {
    pub id: String,
    pub name: String,
    /// admin, developer or client.
    pub role: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub token: Option<String>,
}

#[derive(ToSchema, Serialize)]
pub struct Tokens {
    pub tokens: Vec<Token>,
}

#[derive(ToSchema, Serialize)]
pub struct AuditLog {
    /// `[{at, actor, action, target, detail}]`, newest first.
    pub entries: Vec<Value>,
    /// The `cursor` of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A team: members in round-robin order, and channels for notifications.
#[derive(ToSchema, Serialize)]
pub struct Team {
    pub name: String,
    pub members: Vec<String>,
    pub channels: Vec<String>,
    /// Round-robin picks made so far; the next goes to `members[rotation % len]`.
    pub rotation: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(ToSchema, Serialize)]
pub struct Teams {
    pub teams: Vec<Team>,
}

/// A deleted team.
#[derive(ToSchema, Serialize)]
pub struct TeamDeleted {
    pub name: String,
    pub deleted: bool,
}

/// A notification a step posted to a team's channel.
#[derive(ToSchema, Serialize)]
pub struct Notification {
    pub id: i64,
    pub team: String,
    pub channel: String,
    pub text: String,
    /// The JSON the step attached, if any.
    pub data: Option<serde_json::Value>,
    pub execution_id: Option<String>,
    pub step_id: Option<String>,
    pub created_at: String,
}

/// A page of notifications.
#[derive(ToSchema, Serialize)]
pub struct Notifications {
    pub notifications: Vec<Notification>,
    /// Pass as `after` for the next page.
    pub next_after: i64,
}

/// A model provider. Its API key is never shown: only the environment variable that holds it.
#[derive(ToSchema, Serialize)]
pub struct Provider {
    pub name: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    /// Whether that variable is set on this server.
    pub api_key_set: bool,
    pub default_model: String,
    pub transcription_model: String,
    pub timeout_ms: i64,
    pub max_retries: i64,
    pub requests_per_minute: Option<i64>,
    pub workflow_daily_tokens: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(ToSchema, Serialize)]
pub struct Providers {
    pub providers: Vec<Provider>,
}

/// A deleted provider.
#[derive(ToSchema, Serialize)]
pub struct ProviderDeleted {
    pub name: String,
    pub deleted: bool,
}

/// A file the host keeps.
#[derive(ToSchema, Serialize)]
pub struct StoredFile {
    /// The SHA-256 of its bytes, in hex.
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub created_at: String,
}

/// An execution's status (a filter's value).
#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Queued,
    Running,
    Waiting,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

/// A record event's kind (a filter's value).
#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Updated,
    StageChanged,
    FormSubmitted,
    Archived,
    Unarchived,
    Deleted,
    ActivityScheduled,
    ActivityLogged,
    ActivityPastDue,
}

/// A capability a step module may be granted (a WIT interface it imports).
#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityName {
    Log,
    Variables,
    Records,
    Files,
    Teams,
    Email,
    Http,
    Llm,
    Audio,
    Clock,
}

/// A team's member: 1-200 characters, no control characters, no space at either end.
#[derive(ToSchema)]
#[schema(
    min_length = 1,
    max_length = 200,
    pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
)]
pub struct MemberName(pub String);

/// A name (a team's channel, an activity type): 1-200 of a-z, A-Z, 0-9, `-`, `_`, `.`.
#[derive(ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9._-]{1,200}$")]
pub struct ShortName(pub String);
