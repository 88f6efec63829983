//! Starting executions (one, in bulk, start-and-wait), reading them with their step history,
//! listing them, and controlling them (pause, resume, cancel, meet a goal).

use crate::engine::error::Invalid;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::schemas::{
    BulkRefused, BulkStarted, Changes, ErrorBody, Execution, ExecutionCounts, ExecutionPage,
    ExecutionWithSteps,
};
use super::views::{execution, execution_with_steps};
use super::{ApiError, AppState, json_body, paging, query};
use crate::engine::state::status;
use crate::engine::{EngineError, StartRequest};
use crate::store::{Archived, ExecutionFilter};

/// The longest a caller may wait in one request.
const MAX_WAIT_SECS: f64 = 300.0;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(start_bulk))
        .routes(routes!(list))
        .routes(routes!(counts))
        .routes(routes!(changes))
        .routes(routes!(show))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
        .routes(routes!(meet))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartBody {
    /// The execution's input.
    #[serde(default)]
    input: Value,
    /// The record, for a record-scoped workflow.
    #[serde(default)]
    record_id: Option<String>,
    /// Variables, set before the declared ones are resolved.
    #[serde(default)]
    #[schema(value_type = Object)]
    variables: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct WaitQuery {
    /// Seconds to wait for the execution to finish (at most 300).
    #[param(minimum = 0, maximum = 300)]
    wait: Option<f64>,
}

fn wait_duration(q: &WaitQuery) -> Result<Option<Duration>, ApiError> {
    match q.wait {
        None => Ok(None),
        Some(w) if w.is_finite() && (0.0..=MAX_WAIT_SECS).contains(&w) => {
            Ok(Some(Duration::from_secs_f64(w)))
        }
        Some(_) => Err(ApiError::bad_request(
            "invalid_query",
            format!("wait must be between 0 and {MAX_WAIT_SECS} seconds"),
        )),
    }
}

/// Start an execution. With `?wait=SECONDS`, answer when it finishes (200), or with its state
/// when the wait runs out (202); without, answer once it is recorded (202).
#[utoipa::path(post, path = "/v1/workflows/{name}/executions", tag = "executions",
    params(("name" = String, Path, description = "The workflow's name"), WaitQuery),
    request_body(content = Option<StartBody>, description = "Optional: no body (or `null`) starts a global workflow with a null input"),
    responses((status = 202, description = "Recorded (it runs in the background); with `wait`, still running when the wait ran out", body = Execution),
        (status = 200, description = "With `wait`: finished", body = Execution),
        (status = 404, description = "No such workflow or record", body = ErrorBody),
        (status = 409, description = "A kill switch is on (`kill_switch_on`), or the record is already in a workflow without re-entry (`reentry`)", body = ErrorBody),
        (status = 422, description = "A record for a global workflow, or none for a record-scoped one", body = ErrorBody),
        (status = 400, description = "Malformed body or query", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn start(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let q: WaitQuery = query(q)?;
    let wait = wait_duration(&q)?;
    // Optional: no body, or `null`, is an empty one.
    let body: StartBody = if body.trim_ascii().is_empty() {
        StartBody::default()
    } else {
        json_body::<Option<StartBody>>(&body)?.unwrap_or_default()
    };
    let record = s.engine.record_for(&name, body.record_id).await?;
    let request = StartRequest {
        input: body.input,
        record,
        variables: body.variables,
        cause: Some(caller.cause()),
        ..StartRequest::default()
    };
    let row = match wait {
        Some(wait) => s.engine.start_and_wait(&name, request, wait).await?,
        None => s.engine.start(&name, request).await?,
    };
    let code = if status::is_final(&row.status) {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((code, Json(execution(&row))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    /// Each execution's input.
    #[serde(default)]
    input: Value,
    /// The records (up to 10,000); or give `filter`.
    #[serde(default)]
    record_ids: Option<Vec<String>>,
    /// Instead of ids: every record (not archived) this expression over `record` holds for.
    #[serde(default)]
    filter: Option<String>,
}

/// The most executions one bulk start makes.
const MAX_BULK: usize = 10_000;

/// The ids of the records a filter picks (at most [`MAX_BULK`]).
async fn ids_by_filter(
    s: &AppState,
    workflow: &str,
    filter: &str,
) -> Result<Vec<String>, ApiError> {
    let (_, wf) = s.engine.workflow(workflow, None).await?;
    let crate::engine::definition::Scope::Record(object) = &wf.scope else {
        return Err(EngineError::invalid(
            Invalid::Scope,
            format!("workflow `{workflow}` is global: a filter picks records"),
        )
        .into());
    };
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .engine
            .list_records(object, Some(filter), Archived::Exclude, cursor, 1000)
            .await?;
        ids.extend(page.items.into_iter().map(|r| r.id));
        if ids.len() > MAX_BULK {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("filter: it picks more than {MAX_BULK} records; narrow it"),
            ));
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(ids),
        }
    }
}

/// Start one execution per record: those listed in `record_ids`, or those `filter` picks.
#[utoipa::path(post, path = "/v1/workflows/{name}/executions/bulk", tag = "executions",
    params(("name" = String, Path, description = "The workflow's name")),
    request_body = BulkBody,
    responses((status = 202, description = "One execution per record; the ones that could not start are in `errors`", body = BulkStarted),
        (status = 422, description = "None could start: each record's error (`errors`), or one for all (`invalid_filter`, `wrong_scope`)", body = BulkRefused),
        (status = 404, description = "No such workflow (`workflow_not_found`)", body = ErrorBody), (status = 400, description = "Malformed body", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn start_bulk(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body: BulkBody = json_body(&body)?;
    let ids = match (body.record_ids, body.filter) {
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > MAX_BULK {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    format!("record_ids: give between 1 and {MAX_BULK} ids"),
                ));
            }
            ids
        }
        (None, Some(filter)) => ids_by_filter(&s, &name, &filter).await?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "give either record_ids or filter",
            ));
        }
    };
    let mut starts = Vec::new();
    for id in ids {
        let record = s.engine.record_for(&name, Some(id.clone())).await?;
        let engine = s.engine.clone();
        let (name, input, cause) = (name.clone(), body.input.clone(), caller.cause());
        starts.push(tokio::spawn(async move {
            let r = engine
                .start(
                    &name,
                    StartRequest {
                        input,
                        record,
                        cause: Some(cause),
                        ..StartRequest::default()
                    },
                )
                .await;
            (id, r)
        }));
    }
    let mut executions = Vec::new();
    let mut errors = Vec::new();
    for task in starts {
        match task.await {
            Ok((record_id, Ok(row))) => {
                executions.push(json!({"record_id": record_id, "id": row.id, "status": row.status}))
            }
            Ok((record_id, Err(e))) => {
                let e = ApiError::from(e);
                errors.push(json!({"record_id": record_id, "code": e.code, "message": e.message}));
            }
            Err(e) => errors.push(json!({"message": e.to_string()})),
        }
    }
    let code = if executions.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        code,
        Json(json!({"executions": executions, "errors": errors})),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    workflow: Option<String>,
    /// queued, running, waiting, paused, completed, failed or cancelled.
    #[param(inline, value_type = Option<super::schemas::ExecutionStatus>)]
    status: Option<String>,
    record_object: Option<String>,
    record_id: Option<String>,
    /// RFC 3339; created at or after.
    #[param(format = DateTime)]
    since: Option<String>,
    /// RFC 3339; created before.
    #[param(format = DateTime)]
    until: Option<String>,
    /// What started it (`cause.kind`).
    #[param(inline, value_type = Option<CauseKind>)]
    cause: Option<String>,
    /// Started by this execution (its children).
    parent: Option<String>,
    /// How many at most: 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^-?[0-9]{1,18}_.+$")]
    cursor: Option<String>,
}

/// What can start an execution.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // only described: the query keeps it as text
enum CauseKind {
    Api,
    Trigger,
    Schedule,
    Webhook,
    Workflow,
}

const CAUSES: [&str; 5] = ["api", "trigger", "schedule", "webhook", "workflow"];

/// The filter a list or count query asks for.
fn filter(q: ListQuery) -> Result<ExecutionFilter, ApiError> {
    if let Some(st) = &q.status
        && !status::ALL.contains(&st.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("status: `{st}` is not one of {}", status::ALL.join(", ")),
        ));
    }
    if let Some(c) = &q.cause
        && !CAUSES.contains(&c.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("cause: `{c}` is not one of {}", CAUSES.join(", ")),
        ));
    }
    Ok(ExecutionFilter {
        workflow: q.workflow,
        status: q.status,
        record_object: q.record_object,
        record_id: q.record_id,
        since: paging::time("since", q.since.as_deref())?,
        until: paging::time("until", q.until.as_deref())?,
        cause: q.cause,
        parent: q.parent,
        after: paging::cursor(q.cursor.as_deref())?,
        limit: paging::limit(q.limit, 50)?,
    })
}

#[utoipa::path(get, path = "/v1/executions", tag = "executions", params(ListQuery),
    responses((status = 200, description = "Newest first", body = ExecutionPage), (status = 400, description = "A bad filter", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn list(
    State(s): State<AppState>,
    _: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let filter = filter(query(q)?)?;
    let page = s.engine.list(&filter).await?;
    let items: Vec<Value> = page.items.iter().map(execution).collect();
    let next = page.next.map(|(t, id)| format!("{t}_{id}"));
    Ok(Json(json!({"executions": items, "next_cursor": next})))
}

/// How many executions match a filter, by status: the list's filter (`status`, `limit` and
/// `cursor` are ignored). Counting scans what the filter selects: give it a workflow or a time
/// range on a large database.
#[utoipa::path(get, path = "/v1/executions/counts", tag = "executions", params(ListQuery),
    responses((status = 200, description = "Counts by status (every status, 0 when none) and their total", body = ExecutionCounts), (status = 400, description = "A bad filter", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn counts(
    State(s): State<AppState>,
    _: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let filter = filter(query(q)?)?;
    let found = s.engine.store().count_executions(&filter).await?;
    let mut counts = Map::new();
    for st in status::ALL {
        let n = found.iter().find(|(s, _)| s == st).map_or(0, |(_, n)| *n);
        counts.insert(st.to_string(), json!(n));
    }
    let total: i64 = found.iter().map(|(_, n)| n).sum();
    Ok(Json(json!({"counts": counts, "total": total})))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ChangesQuery {
    /// The `version` of a previous answer: wait for a change after it.
    #[param(max_length = 100)]
    after: Option<String>,
    /// Seconds to wait for a change after `after` (at most 60; default 0).
    #[param(minimum = 0, maximum = 60)]
    wait: Option<f64>,
}

/// Wait for the next change: answers as soon as this server has written something (an
/// execution's progress, a record, an event, ...) since the version `after`, or when `wait` runs
/// out, with the current version. A long poll for live views (the console's lists): call it
/// again with the `version` it answered. Changes made by other servers sharing a PostgreSQL
/// database are not seen until this one writes too (or the wait runs out).
#[utoipa::path(get, path = "/v1/changes", tag = "executions", params(ChangesQuery),
    responses((status = 200, description = "The current version (a new one if something changed)", body = Changes), (status = 400, description = "A bad query", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn changes(
    State(s): State<AppState>,
    _: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: ChangesQuery = query(q)?;
    let wait = match q.wait {
        None => Duration::ZERO,
        Some(w) if w.is_finite() && (0.0..=60.0).contains(&w) => Duration::from_secs_f64(w),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "wait must be between 0 and 60 seconds",
            ));
        }
    };
    if q.after.as_ref().is_some_and(|a| a.len() > 100) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "after: a version is at most 100 characters",
        ));
    }
    let mut written = s.engine.store().health().written();
    let now = version(*written.borrow_and_update());
    if q.after.as_deref() == Some(now.as_str()) && !wait.is_zero() {
        let _ = tokio::time::timeout(wait, written.changed()).await;
    }
    let current = *written.borrow();
    Ok(Json(json!({"version": version(current)})))
}

/// A version names this process too, so that one from before a restart is never taken as
/// current.
fn version(written: u64) -> String {
    static STARTED: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    });
    format!("{started:x}-{written}")
}

/// An execution with its step history; `?wait=SECONDS` waits for it to finish first.
#[utoipa::path(get, path = "/v1/executions/{id}", tag = "executions",
    params(("id" = String, Path, description = "The execution's id"), WaitQuery),
    responses((status = 200, description = "The execution with its step history", body = ExecutionWithSteps), (status = 400, description = "A bad query (`invalid_query`)", body = ErrorBody), (status = 404, description = "No such execution", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn show(
    State(s): State<AppState>,
    _: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: WaitQuery = query(q)?;
    let row = match wait_duration(&q)? {
        Some(wait) => s.engine.wait(&id, wait).await?,
        None => s.engine.execution(&id).await?,
    };
    let runs = s.engine.history(&id).await?;
    let notices = s.engine.failure_notices(&id).await?;
    Ok(Json(execution_with_steps(&row, &runs, &notices)))
}

#[utoipa::path(post, path = "/v1/executions/{id}/pause", tag = "executions", params(("id" = String, Path, description = "The execution's id")),
    responses((status = 200, description = "A running execution stops before its next step; a waiting or queued one at once", body = Execution), (status = 404, description = "No such execution", body = ErrorBody), (status = 409, description = "Not in a state that allows it (`execution_finished`, `not_paused`, `not_waiting_on_goal`, `kill_switch_on`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn pause(
    State(s): State<AppState>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(execution(&s.engine.pause(&id).await?)))
}

#[utoipa::path(post, path = "/v1/executions/{id}/resume", tag = "executions", params(("id" = String, Path, description = "The execution's id")),
    responses((status = 200, description = "It continues where it stopped", body = Execution), (status = 404, description = "No such execution", body = ErrorBody), (status = 409, description = "Not in a state that allows it (`execution_finished`, `not_paused`, `not_waiting_on_goal`, `kill_switch_on`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn resume(
    State(s): State<AppState>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(execution(&s.engine.resume(&id).await?)))
}

#[utoipa::path(post, path = "/v1/executions/{id}/cancel", tag = "executions", params(("id" = String, Path, description = "The execution's id")),
    responses((status = 200, description = "Cancelled (a running step is stopped at once)", body = Execution), (status = 404, description = "No such execution", body = ErrorBody), (status = 409, description = "Not in a state that allows it (`execution_finished`, `not_paused`, `not_waiting_on_goal`, `kill_switch_on`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn cancel(
    State(s): State<AppState>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(execution(&s.engine.cancel(&id).await?)))
}

#[utoipa::path(post, path = "/v1/executions/{id}/goals/{step}/meet", tag = "executions",
    params(("id" = String, Path, description = "The execution's id"), ("step" = String, Path, description = "The goal step it waits on")),
    responses((status = 200, description = "The goal takes its `met` path", body = Execution), (status = 404, description = "No such execution", body = ErrorBody), (status = 409, description = "Not in a state that allows it (`execution_finished`, `not_paused`, `not_waiting_on_goal`, `kill_switch_on`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn meet(
    State(s): State<AppState>,
    _: Caller,
    Path((id, step)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(execution(&s.engine.meet_goal(&id, &step).await?)))
}
