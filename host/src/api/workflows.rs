//! `/v1/workflows`: save (a new version when the definition changes), read, list, kill switches.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, Role};
use super::views::time;
use super::{ApiError, AppState, json_body, query};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/workflows", post(apply).get(list))
        .route("/v1/workflows/{name}", get(show))
        .route("/v1/workflows/{name}/versions", get(versions))
        .route(
            "/v1/workflows/{name}/kill-switch",
            put(workflow_kill_switch),
        )
        .route("/v1/workflows/{name}/enabled", put(enabled))
        .route("/v1/workflows/{name}/timers", get(timers))
        .route(
            "/v1/kill-switch",
            put(global_kill_switch).get(global_kill_switch_state),
        )
}

/// Save a definition (JSON or YAML). 201 with a new version, 200 if unchanged.
async fn apply(
    State(s): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Developer)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("invalid_body", "the definition is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "send a workflow definition (JSON or YAML)",
        ));
    }
    let (name, version, created) = s.engine.apply_workflow(text).await?;
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

async fn list(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Client)?;
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

async fn show(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Client)?;
    let q: VersionQuery = query(q)?;
    let (version, wf) = s.engine.workflow(&name, q.version).await?;
    let killed = s.engine.killed(&name).await?;
    Ok(Json(
        json!({"name": name, "version": version, "definition": wf.source, "kill_switch": killed}),
    ))
}

async fn versions(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Client)?;
    let rows = s.engine.store().versions_or_empty(&name).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(
            "workflow",
            format!("workflow `{name}` not found"),
        ));
    }
    let items: Vec<Value> = rows
        .iter()
        .map(|r| json!({"version": r.version, "created_at": time(r.created_at)}))
        .collect();
    Ok(Json(json!({"name": name, "versions": items})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KillSwitch {
    on: bool,
}

async fn workflow_kill_switch(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let k: KillSwitch = json_body(&body)?;
    let resumed = s.engine.set_kill_switch(Some(&name), k.on).await?;
    super::auth::audit(
        &s,
        &caller,
        "kill_switch.workflow",
        &name,
        json!({"on": k.on, "resumed": resumed}),
    )
    .await;
    Ok(Json(
        json!({"workflow": name, "kill_switch": k.on, "resumed": resumed}),
    ))
}

/// A workflow's upcoming timed runs: each cron trigger's next run, each record's date run.
async fn timers(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Client)?;
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Enabled {
    on: bool,
}

/// Switch a workflow's triggers on or off (`{"on": false}`): while off they start nothing, and
/// what happened meanwhile is ignored once it is back on.
async fn enabled(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Developer)?;
    let e: Enabled = json_body(&body)?;
    s.engine.set_enabled(&name, e.on).await?;
    Ok(Json(json!({"workflow": name, "enabled": e.on})))
}

async fn global_kill_switch(
    State(s): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let k: KillSwitch = json_body(&body)?;
    let resumed = s.engine.set_kill_switch(None, k.on).await?;
    super::auth::audit(
        &s,
        &caller,
        "kill_switch.global",
        "*",
        json!({"on": k.on, "resumed": resumed}),
    )
    .await;
    Ok(Json(json!({"kill_switch": k.on, "resumed": resumed})))
}

async fn global_kill_switch_state(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Client)?;
    let on = s.engine.store().global_killed().await?;
    Ok(Json(json!({"kill_switch": on})))
}
