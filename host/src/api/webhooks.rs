//! Webhooks: `/hooks/{token}` (no API token: each webhook checks its own secret or signature),
//! and `/v1/workflows/{name}/webhooks` for developers to read their URLs and secrets.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{Value, json};

use super::auth::{Caller, Role};
use super::{ApiError, AppState};
use crate::engine::triggers::webhook::WebhookCall;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/hooks/{token}", get(call).post(call))
        .route("/v1/workflows/{name}/webhooks", get(list))
        .route(
            "/v1/workflows/{name}/webhooks/{trigger}/rotate",
            post(rotate),
        )
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A call of a webhook: 202 with the execution it started.
async fn call(
    State(s): State<AppState>,
    method: Method,
    Path(token): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let row = s
        .engine
        .call_webhook(
            &token,
            WebhookCall {
                method: method.as_str().to_string(),
                content_type: header(&headers, "content-type"),
                query: q.unwrap_or_default(),
                body: body.to_vec(),
                secret: header(&headers, "x-flowbox-secret"),
                signature: header(&headers, "x-flowbox-signature"),
            },
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "workflow": row.workflow,
            "execution_id": row.id,
            "status": row.status,
            "record": row.record_id.as_ref().map(|id| json!({"object": row.record_object, "id": id})),
        })),
    ))
}

/// A workflow's webhooks: URL path, methods, authentication and secret.
async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Developer)?;
    Ok(Json(json!({ "webhooks": s.engine.webhooks(&name).await? })))
}

/// A new URL and secret for a webhook; the old ones stop working.
async fn rotate(
    State(s): State<AppState>,
    caller: Caller,
    Path((name, trigger)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Developer)?;
    Ok(Json(json!(s.engine.rotate_webhook(&name, &trigger).await?)))
}
