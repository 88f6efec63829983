//! Webhooks: `/hooks/{token}` (no API token: each webhook checks its own secret or signature),
//! and `/v1/workflows/{name}/webhooks` for developers to read their URLs and secrets.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use bytes::Bytes;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::schemas::{ErrorBody, Webhook, WebhookStarted, Webhooks};
use super::{ApiError, AppState};
use crate::engine::webhooks::WebhookCall;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(call))
        .routes(routes!(list))
        .routes(routes!(rotate))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A call of a webhook: 202 with the execution it started.
#[utoipa::path(method(get, post), path = "/hooks/{token}", tag = "webhooks",
    params(("token" = String, Path, description = "The webhook's token (its URL)"),
        ("X-Flowbox-Secret" = Option<String>, Header, description = "The webhook's secret (auth: secret)"),
        ("X-Flowbox-Signature" = Option<String>, Header, description = "sha256=<hex HMAC-SHA256 of the body, of the query string for GET> (auth: hmac)")),
    request_body(content = serde_json::Value, description = "JSON, a form, XML, CSV or text, by Content-Type"),
    responses((status = 202, description = "The execution it started", body = WebhookStarted),
        (status = 401, description = "A wrong or missing secret or signature", body = ErrorBody),
        (status = 404, description = "No webhook at this URL, or no such record", body = ErrorBody),
        (status = 405, description = "A method the webhook does not take", body = ErrorBody),
        (status = 409, description = "The workflow is switched off (`workflow_off`), a kill switch is on (`kill_switch_on`), or the record is already in it (`reentry`)", body = ErrorBody),
        (status = 400, description = "A malformed body", body = ErrorBody),
        (status = 422, description = "The call does not say which record", body = ErrorBody)))]
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
#[utoipa::path(get, path = "/v1/workflows/{name}/webhooks", tag = "webhooks",
    params(("name" = String, Path, description = "The workflow's name")),
    responses((status = 200, description = "Its webhooks with their URLs and secrets", body = Webhooks), (status = 404, description = "No such workflow", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["developer"])))]
async fn list(
    State(s): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "webhooks": s.engine.webhooks(&name).await? })))
}

/// A new URL and secret for a webhook; the old ones stop working.
#[utoipa::path(post, path = "/v1/workflows/{name}/webhooks/{trigger}/rotate", tag = "webhooks",
    params(("name" = String, Path, description = "The workflow's name"), ("trigger" = String, Path, description = "The webhook trigger's id")),
    responses((status = 200, description = "A new URL and secret; the old ones stop working", body = Webhook), (status = 404, description = "No such webhook", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["developer"])))]
async fn rotate(
    State(s): State<AppState>,
    caller: Caller,
    Path((name, trigger)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let rotated = s.engine.rotate_webhook(&name, &trigger).await?;
    // The new URL and secret are the answer's alone, never the log's.
    super::auth::audit(
        &s,
        &caller,
        "webhook.rotate",
        &format!("{name}/{trigger}"),
        json!({}),
    )
    .await;
    Ok(Json(json!(rotated)))
}
