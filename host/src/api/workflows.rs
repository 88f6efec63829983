//! `/v1/workflows`: save (a new version when the definition changes), read, list, kill switches.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::schemas::{
    ErrorBody, KillSwitchSet, Timers, Versions, WorkflowDeleted, WorkflowSaved, WorkflowValid,
    WorkflowVersion, Workflows,
};
use super::views::time;
use super::{ApiError, AppState, json_body, query};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(apply, list))
        .routes(routes!(validate))
        .routes(routes!(show, delete))
        .routes(routes!(versions))
        .routes(routes!(workflow_kill_switch))
        .routes(routes!(enabled))
        .routes(routes!(timers))
        .routes(routes!(global_kill_switch, global_kill_switch_state))
}

/// Save a definition (JSON or YAML). 201 with a new version, 200 if unchanged.
#[utoipa::path(post, path = "/v1/workflows", tag = "workflows",
    request_body(content = String, content_type = "application/yaml", description = "A workflow definition, YAML or JSON (docs/workflows.md)"),
    responses((status = 201, description = "A new version", body = WorkflowSaved), (status = 200, description = "Unchanged: the same version", body = WorkflowSaved),
        (status = 422, description = "`invalid_definition`: each problem with where it is, in `details`", body = ErrorBody), (status = 400, description = "Empty or not UTF-8", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["developer"])))]
async fn apply(
    State(s): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (name, version, created) = s.engine.apply_workflow(definition_text(&body)?).await?;
    if created {
        super::auth::audit(
            &s,
            &caller,
            "workflow.save",
            &name,
            json!({"version": version}),
        )
        .await;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"name": name, "version": version, "created": created})),
    ))
}

/// A definition's text: UTF-8, not empty.
fn definition_text(body: &Bytes) -> Result<&str, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("invalid_body", "the definition is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "send a workflow definition (JSON or YAML)",
        ));
    }
    Ok(text)
}

/// Check a definition as saving it would, and save nothing: 200 if it would save, else the same
/// 422 `invalid_definition` with every problem and where it is.
#[utoipa::path(post, path = "/v1/workflows/validate", tag = "workflows",
    request_body(content = String, content_type = "application/yaml", description = "A workflow definition, YAML or JSON (docs/workflows.md)"),
    responses((status = 200, description = "It would save", body = WorkflowValid),
        (status = 422, description = "`invalid_definition`: each problem with where it is, in `details`", body = ErrorBody), (status = 400, description = "Empty or not UTF-8", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["developer"])))]
async fn validate(
    State(s): State<AppState>,
    _: Caller,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let wf = s.engine.validate_workflow(definition_text(&body)?).await?;
    Ok(Json(json!({
        "valid": true,
        "name": wf.name,
        "steps": wf.steps.len(),
        "triggers": wf.triggers.len(),
        "graph": wf.graph(),
    })))
}

#[utoipa::path(get, path = "/v1/workflows", tag = "workflows",
    responses((status = 200, description = "Every workflow", body = Workflows), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn list(State(s): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    let heads = s.engine.store().workflow_heads().await?;
    let items: Vec<Value> = heads
        .iter()
        .map(|h| json!({"name": h.name, "latest_version": h.latest_version, "enabled": h.enabled, "kill_switch": h.killed, "updated_at": time(h.updated_at)}))
        .collect();
    Ok(Json(json!({ "workflows": items })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionQuery {
    version: Option<i64>,
}

/// Delete a workflow: its triggers, webhooks and timers go with it; its executions' history
/// stays (and its versions, for that history). Saved again, it continues its version numbers.
#[utoipa::path(delete, path = "/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name")),
    responses((status = 200, description = "Deleted", body = WorkflowDeleted), (status = 404, description = "No such workflow", body = ErrorBody), (status = 409, description = "It has unfinished executions (`workflow_in_use`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["developer"])))]
async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    s.engine.delete_workflow(&name).await?;
    super::auth::audit(&s, &caller, "workflow.delete", &name, json!({})).await;
    Ok(Json(json!({"name": name, "deleted": true})))
}

#[utoipa::path(get, path = "/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name"), ("version" = Option<i64>, Query, description = "A version (default: the newest)")),
    responses((status = 200, description = "The definition", body = WorkflowVersion), (status = 400, description = "A bad query (`invalid_query`)", body = ErrorBody), (status = 404, description = "No such workflow or version", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn show(
    State(s): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: VersionQuery = query(q)?;
    let (version, wf) = s.engine.workflow(&name, q.version).await?;
    let killed = s.engine.killed(&name).await?;
    let enabled = s
        .engine
        .store()
        .workflow_head(&name)
        .await?
        .is_none_or(|h| h.enabled);
    Ok(Json(json!({
        "name": name, "version": version, "definition": wf.source, "kill_switch": killed,
        "enabled": enabled, "graph": wf.graph(),
    })))
}

#[utoipa::path(get, path = "/v1/workflows/{name}/versions", tag = "workflows", params(("name" = String, Path, description = "The workflow's name")),
    responses((status = 200, description = "Its versions", body = Versions), (status = 404, description = "No such workflow", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn versions(
    State(s): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rows = s.engine.store().versions_or_empty(&name).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(
            crate::engine::error::Thing::Workflow,
            format!("workflow `{name}` not found"),
        ));
    }
    let items: Vec<Value> = rows
        .iter()
        .map(|r| json!({"version": r.version, "created_at": time(r.created_at)}))
        .collect();
    Ok(Json(json!({"name": name, "versions": items})))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct KillSwitch {
    on: bool,
}

#[utoipa::path(put, path = "/v1/workflows/{name}/kill-switch", tag = "workflows", params(("name" = String, Path, description = "The workflow's name")),
    request_body = KillSwitch,
    responses((status = 200, description = "On: new starts are refused and unfinished executions pause before their next step (`pausing`: how many). Off: what it paused resumes (`resumed`: how many)", body = KillSwitchSet),
        (status = 404, description = "No such workflow", body = ErrorBody), (status = 400, description = "Malformed body", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn workflow_kill_switch(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let k: KillSwitch = json_body(&body)?;
    let count = s.engine.set_kill_switch(Some(&name), k.on).await?;
    let mut answer = kill_switch_answer(k.on, count);
    super::auth::audit(&s, &caller, "kill_switch.workflow", &name, answer.clone()).await;
    answer["workflow"] = json!(name);
    Ok(Json(answer))
}

/// What flipping a kill switch did, said so that no count reads as a failure.
fn kill_switch_answer(on: bool, count: u64) -> Value {
    if on {
        json!({
            "kill_switch": true,
            "pausing": count,
            "message": format!("on: new starts are refused, and {count} unfinished executions pause before their next step"),
        })
    } else {
        json!({
            "kill_switch": false,
            "resumed": count,
            "message": format!("off: starts are taken again, and {count} executions it had paused resumed"),
        })
    }
}

/// A workflow's upcoming timed runs: each cron trigger's next run, each record's date run.
#[utoipa::path(get, path = "/v1/workflows/{name}/timers", tag = "workflows", params(("name" = String, Path, description = "The workflow's name")),
    responses((status = 200, description = "Upcoming timed runs", body = Timers), (status = 404, description = "No such workflow", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn timers(
    State(s): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    s.engine.workflow(&name, None).await?;
    let store = s.engine.store();
    let schedules: Vec<Value> = store
        .schedules_of(&name)
        .await?
        .iter()
        .map(|r| json!({"trigger": r.trigger_id, "next_at": time(r.next_at)}))
        .collect();
    let dates: Vec<Value> = store
        .date_runs_of(&name)
        .await?
        .iter()
        .map(|r| json!({"trigger": r.trigger_id, "record": {"object": r.object, "id": r.record_id}, "run_at": time(r.run_at)}))
        .collect();
    Ok(Json(
        json!({"workflow": name, "schedules": schedules, "date_runs": dates}),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Enabled {
    on: bool,
}

/// Switch a workflow's triggers on or off (`{"on": false}`): while off they start nothing, and
/// what happened meanwhile is ignored once it is back on.
#[utoipa::path(put, path = "/v1/workflows/{name}/enabled", tag = "workflows", params(("name" = String, Path, description = "The workflow's name")),
    request_body = Enabled,
    responses((status = 200, description = "Its triggers are on (or off)", body = serde_json::Value),
        (status = 404, description = "No such workflow", body = ErrorBody), (status = 400, description = "Malformed body", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["developer"])))]
async fn enabled(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let e: Enabled = json_body(&body)?;
    s.engine.set_enabled(&name, e.on).await?;
    super::auth::audit(&s, &caller, "workflow.enabled", &name, json!({"on": e.on})).await;
    Ok(Json(json!({"workflow": name, "enabled": e.on})))
}

#[utoipa::path(put, path = "/v1/kill-switch", tag = "workflows",
    request_body = KillSwitch,
    responses((status = 200, description = "The global kill switch, for every workflow: `pausing` (on) or `resumed` (off)", body = KillSwitchSet), (status = 400, description = "Malformed body", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn global_kill_switch(
    State(s): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let k: KillSwitch = json_body(&body)?;
    let count = s.engine.set_kill_switch(None, k.on).await?;
    let answer = kill_switch_answer(k.on, count);
    super::auth::audit(&s, &caller, "kill_switch.global", "*", answer.clone()).await;
    Ok(Json(answer))
}

#[utoipa::path(get, path = "/v1/kill-switch", tag = "workflows",
    responses((status = 200, description = "Whether the global kill switch is on", body = serde_json::Value), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn global_kill_switch_state(
    State(s): State<AppState>,
    _: Caller,
) -> Result<Json<Value>, ApiError> {
    let on = s.engine.store().global_killed().await?;
    Ok(Json(json!({"kill_switch": on})))
}
