//! `/v1/steps`: step modules (components and their grants).

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Caller, Role};
use super::schemas::{ErrorBody, StepModule, StepModules};
use super::{ApiError, AppState};
use crate::sandbox::{Capability, Grants};

/// Components can be large (a Python runtime is ~20 MB).
const MAX_COMPONENT_BYTES: usize = 64 << 20;

pub(super) fn router() -> OpenApiRouter<AppState> {
    let upload_route = OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES));
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .merge(upload_route)
}

/// Upload a component as step module `name`, granted the capabilities named in `grant`
/// (repeat it, or separate with commas): `PUT /v1/steps/notify?grant=log&grant=http`.
#[utoipa::path(put, path = "/v1/steps/{name}", tag = "steps",
    params(("name" = String, Path, description = "The step module's name"), ("grant" = Vec<String>, Query, description = "Capabilities granted (repeat, or separate with commas): log, variables, records, http, llm, clock")),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The component's bytes (up to 64 MiB)"),
    responses((status = 201, description = "Validated and saved", body = StepModule),
        (status = 422, description = "Not a component, no or a mistyped `run` export, or imports that were not granted (`details.missing`)", body = ErrorBody),
        (status = 400, description = "An empty body or an unknown capability", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
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

#[utoipa::path(get, path = "/v1/steps", tag = "steps",
    responses((status = 200, description = "Every step module", body = StepModules), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn list(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Client)?;
    Ok(Json(json!({ "steps": s.engine.modules().await? })))
}

#[utoipa::path(get, path = "/v1/steps/{name}", tag = "steps",
    params(("name" = String, Path, description = "The step module's name")),
    responses((status = 200, description = "The step module", body = StepModule), (status = 404, description = "No such module", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
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
