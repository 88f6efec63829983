//! `/v1/steps`: step modules (components and their grants).

use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{Value, json};

use super::auth::{Caller, Role};
use super::{ApiError, AppState};
use crate::sandbox::{Capability, Grants};

/// Components can be large (a Python runtime is ~20 MB).
const MAX_COMPONENT_BYTES: usize = 64 << 20;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/steps", get(list)).route(
        "/v1/steps/{name}",
        put(upload)
            .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES))
            .get(show),
    )
}

/// Upload a component as step module `name`, granted the capabilities named in `grant`
/// (repeat it, or separate with commas): `PUT /v1/steps/notify?grant=log&grant=http`.
async fn upload(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let mut grants = Vec::new();
    for (key, value) in pairs {
        if key != "grant" {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("unknown parameter `{key}`: this route takes `grant`"),
            ));
        }
        for g in value.split(',').filter(|g| !g.is_empty()) {
            grants.push(
                g.parse::<Capability>()
                    .map_err(|e| ApiError::bad_request("unknown_capability", e.to_string()))?,
            );
        }
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "send the component's bytes as the body",
        ));
    }
    let grants: Grants = grants.into_iter().collect();
    let view = s.engine.upload_module(&name, &body, grants).await?;
    let detail = json!({"hash": view.hash, "grants": view.grants});
    super::auth::audit(&s, &caller, "step_module.upload", &name, detail).await;
    Ok((StatusCode::CREATED, Json(json!(view))))
}

async fn list(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Client)?;
    Ok(Json(json!({ "steps": s.engine.modules().await? })))
}

async fn show(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Client)?;
    let all = s.engine.modules().await?;
    let found = all.into_iter().find(|m| m.name == name).ok_or_else(|| {
        ApiError::not_found("step module", format!("step module `{name}` not found"))
    })?;
    Ok(Json(json!(found)))
}
