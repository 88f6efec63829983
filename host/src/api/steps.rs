//! `/v1/steps`: step modules (components and their grants).

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::schemas::{ErrorBody, StepModule, StepModuleDetail, StepModules};
use super::views::time;
use super::{ApiError, AppState, json_body};
use crate::sandbox::{Capability, Grants};

/// Components can be large (a Python runtime is ~20 MB).
const MAX_COMPONENT_BYTES: usize = 64 << 20;

pub(super) fn router() -> OpenApiRouter<AppState> {
    let upload_route = OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES));
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, delete))
        .routes(routes!(set_grants))
        .merge(upload_route)
}

/// Upload a component as step module `name`, granted the capabilities named in `grant`
/// (repeat it, or separate with commas): `PUT /v1/steps/notify?grant=log&grant=http`.
#[utoipa::path(put, path = "/v1/steps/{name}", tag = "steps",
    params(("name" = String, Path, description = "The step module's name"), ("grant" = Vec<super::schemas::CapabilityName>, Query, description = "Capabilities granted (repeat, or separate with commas): log, variables, records, files, teams, email, http, llm, audio, clock"),
        ("http_host" = Vec<String>, Query, description = "With `http`: hosts it may call (`host`, `host:port`, `*.domain`; repeat, or separate with commas). `allow_host`, its old name, is still taken")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The component's bytes (up to 64 MiB), as any content type (`application/wasm` too)"),
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
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let mut grants = Vec::new();
    let mut hosts = Vec::new();
    for (key, value) in pairs {
        let list = value
            .split(',')
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        match key.as_str() {
            "grant" => grants.extend(list),
            // `allow_host`: the name before it matched the answer's `http_hosts`.
            "http_host" | "allow_host" => hosts.extend(list),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("unknown parameter `{key}`: this route takes `grant` and `http_host`"),
                ));
            }
        }
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "send the component's bytes as the body",
        ));
    }
    let view = s
        .engine
        .upload_module(&name, &body, parse_grants(&grants)?, hosts)
        .await?;
    let detail = json!({"hash": view.hash, "grants": view.grants, "http_hosts": view.http_hosts});
    super::auth::audit(&s, &caller, "step_module.upload", &name, detail).await;
    Ok((StatusCode::CREATED, Json(json!(view))))
}

#[utoipa::path(get, path = "/v1/steps", tag = "steps",
    responses((status = 200, description = "Every step module", body = StepModules), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn list(State(s): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "steps": s.engine.modules().await? })))
}

#[utoipa::path(get, path = "/v1/steps/{name}", tag = "steps",
    params(("name" = String, Path, description = "The step module's name")),
    responses((status = 200, description = "The step module, its versions and the workflows that use it", body = StepModuleDetail), (status = 404, description = "No such module", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn show(
    State(s): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (module, versions, used_by) = s.engine.module(&name).await?;
    let mut v = json!(module);
    v["versions"] = versions
        .iter()
        .map(|r| json!({"hash": r.hash, "created_at": time(r.created_at)}))
        .collect();
    v["used_by"] = json!(used_by);
    Ok(Json(v))
}

fn parse_grants(names: &[String]) -> Result<Grants, ApiError> {
    names
        .iter()
        .map(|g| {
            g.parse::<Capability>()
                .map_err(|e| ApiError::bad_request("unknown_capability", e.to_string()))
        })
        .collect()
}

/// What an admin grants a module.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GrantsBody {
    /// Capabilities: log, variables, records, files, teams, email, http, llm, audio, clock. What is left out is refused.
    #[schema(value_type = Vec<super::schemas::CapabilityName>)]
    grants: Vec<String>,
    /// With `http`: the hosts it may call (`host`, `host:port`, `*.domain`), as the answer's
    /// `http_hosts` lists them. (`allow_hosts`, its old name, is still taken.)
    #[serde(default, alias = "allow_hosts")]
    http_hosts: Vec<String>,
}

/// Grant a module capabilities (and refuse the rest).
#[utoipa::path(put, path = "/v1/steps/{name}/grants", tag = "steps",
    params(("name" = String, Path, description = "The step module's name")),
    request_body = GrantsBody,
    responses((status = 200, description = "Granted", body = StepModule),
        (status = 422, description = "Its component imports what would not be granted (`ungranted_imports`, `details.missing`), or a bad host", body = ErrorBody),
        (status = 404, description = "No such module", body = ErrorBody), (status = 400, description = "Malformed body or an unknown capability", body = ErrorBody),
        (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn set_grants(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: GrantsBody = json_body(&body)?;
    let view = s
        .engine
        .set_module_grants(&name, parse_grants(&req.grants)?, req.http_hosts)
        .await?;
    let detail = json!({"grants": view.grants, "http_hosts": view.http_hosts});
    super::auth::audit(&s, &caller, "step_module.grants", &name, detail).await;
    Ok(Json(json!(view)))
}

/// Delete a module, unless a workflow's newest version uses it.
#[utoipa::path(delete, path = "/v1/steps/{name}", tag = "steps",
    params(("name" = String, Path, description = "The step module's name")),
    responses((status = 200, description = "Deleted", body = serde_json::Value),
        (status = 409, description = "A workflow uses it, named (`module_in_use`)", body = ErrorBody), (status = 404, description = "No such module", body = ErrorBody),
        (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    s.engine.delete_module(&name).await?;
    super::auth::audit(&s, &caller, "step_module.delete", &name, json!({})).await;
    Ok(Json(json!({"name": name, "deleted": true})))
}
