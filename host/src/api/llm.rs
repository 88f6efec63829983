//! `/v1/llm/providers`: the model providers behind the `llm` capability (admin). A provider
//! names the environment variable that holds its API key; no route takes or returns a key.

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::schemas::{ErrorBody, Provider, ProviderDeleted, Providers};
use super::views::time;
use super::{ApiError, AppState, json_body};
use crate::services::llm::{ProviderSettings, ProviderView};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(put, get, delete))
}

fn provider_view(p: &ProviderView) -> Value {
    json!({
        "name": p.name,
        "base_url": p.base_url,
        "api_key_env": p.api_key_env,
        "api_key_set": p.api_key_set,
        "default_model": p.default_model,
        "transcription_model": p.transcription_model,
        "timeout_ms": p.timeout_ms,
        "max_retries": p.max_retries,
        "requests_per_minute": p.requests_per_minute,
        "workflow_daily_tokens": p.workflow_daily_tokens,
        "created_at": time(p.created_at),
        "updated_at": time(p.updated_at),
    })
}

/// A provider's settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ProviderBody {
    /// The OpenAI-compatible base URL, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:11434/v1` (calls go to `<base_url>/chat/completions`).
    base_url: String,
    /// The server's environment variable holding the API key (sent as a bearer token); none for
    /// a provider without keys. The key itself is never stored nor returned.
    #[serde(default)]
    api_key_env: Option<String>,
    /// The model used when a step names none.
    default_model: String,
    /// The model for audio transcriptions; default `whisper-1`.
    #[serde(default)]
    transcription_model: Option<String>,
    /// Per attempt; default 60000.
    #[serde(default)]
    timeout_ms: Option<u64>,
    /// Retries of a 429, a 5xx or a network error; default 3.
    #[serde(default)]
    max_retries: Option<u32>,
    /// Calls per minute this process sends at most; none: no limit.
    #[serde(default)]
    requests_per_minute: Option<u32>,
    /// Tokens each workflow may spend per UTC day; none: no budget.
    #[serde(default)]
    workflow_daily_tokens: Option<u64>,
}

/// Every provider.
#[utoipa::path(get, path = "/v1/llm/providers", tag = "llm",
    responses((status = 200, description = "The providers, without keys", body = Providers), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn list(State(s): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    let providers: Vec<Value> = s
        .engine
        .providers()
        .await?
        .iter()
        .map(provider_view)
        .collect();
    Ok(Json(json!({ "providers": providers })))
}

/// Create or replace a provider. The provider named `default` serves steps that name none.
#[utoipa::path(put, path = "/v1/llm/providers/{name}", tag = "llm",
    params(("name" = String, Path, description = "The provider's name")),
    request_body = ProviderBody,
    responses((status = 200, description = "The provider as stored, without its key", body = Provider), (status = 422, description = "A bad URL, name or limit", body = ErrorBody), (status = 400, description = "Malformed body (an `api_key` field is refused: name an environment variable in `api_key_env`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn put(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if serde_json::from_slice::<Value>(&body).is_ok_and(|v| v.get("api_key").is_some()) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "flowbox does not store API keys: put the key in an environment variable of the server and name it in `api_key_env`",
        ));
    }
    let b: ProviderBody = json_body(&body)?;
    let p = s
        .engine
        .put_provider(
            &name,
            ProviderSettings {
                base_url: b.base_url,
                api_key_env: b.api_key_env,
                default_model: b.default_model,
                transcription_model: b.transcription_model,
                timeout_ms: b.timeout_ms,
                max_retries: b.max_retries,
                requests_per_minute: b.requests_per_minute,
                workflow_daily_tokens: b.workflow_daily_tokens,
            },
        )
        .await?;
    super::auth::audit(
        &s,
        &caller,
        "llm_provider.put",
        &name,
        json!({"base_url": p.base_url, "api_key_env": p.api_key_env}),
    )
    .await;
    Ok(Json(provider_view(&p)))
}

/// One provider.
#[utoipa::path(get, path = "/v1/llm/providers/{name}", tag = "llm",
    params(("name" = String, Path, description = "The provider's name")),
    responses((status = 200, description = "The provider, without its key", body = Provider), (status = 404, description = "No such provider (`provider_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn get(
    State(s): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(provider_view(&s.engine.provider(&name).await?)))
}

/// Delete a provider.
#[utoipa::path(delete, path = "/v1/llm/providers/{name}", tag = "llm",
    params(("name" = String, Path, description = "The provider's name")),
    responses((status = 200, description = "Deleted", body = ProviderDeleted), (status = 404, description = "No such provider (`provider_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    s.engine.delete_provider(&name).await?;
    super::auth::audit(&s, &caller, "llm_provider.delete", &name, json!({})).await;
    Ok(Json(json!({"name": name, "deleted": true})))
}
