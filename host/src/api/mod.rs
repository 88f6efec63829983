//! The HTTP API (axum): JSON in and out, one router per resource. Handlers are thin: they parse,
//! call the engine, and render. Every error is JSON: `{"error": {"code", "message", "details"?}}`.

pub mod auth;
mod console;
mod error;
mod executions;
mod files;
mod llm;
mod openapi;
mod paging;
mod records;
mod schemas;
pub mod serve;
mod steps;
mod teams;
mod views;
mod webhooks;
mod workflows;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use self::error::ApiError;
use crate::engine::Engine;

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    pub engine: Engine,
    pub auth: std::sync::Arc<auth::Auth>,
}

/// The routes and their OpenAPI description, built together.
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, spec) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(auth::router())
        .merge(workflows::router())
        .merge(executions::router())
        .merge(records::router())
        .merge(steps::router())
        .merge(webhooks::router())
        .merge(teams::router())
        .merge(llm::router())
        .merge(files::router())
        .split_for_parts();
    (router, name_operations(spec))
}

/// Operation ids that client generators can use, unique across the API: `{tag}_{handler}`
/// (`workflows_list`, `records_show`), and `_{method}` after it for a handler that takes
/// several methods (`webhooks_call_post`). utoipa names an operation after its handler alone,
/// and each module has its `list` and `show`.
fn name_operations(mut spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut seen = std::collections::HashSet::new();
    for item in spec.paths.paths.values_mut() {
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, op) in operations {
            let Some(op) = op else { continue };
            let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
            if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut()) {
                *id = format!("{tag}_{id}");
                if !seen.insert(id.clone()) {
                    id.push('_');
                    id.push_str(method);
                }
            }
        }
    }
    spec
}

/// The API's OpenAPI description (what `/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The whole API.
pub fn app(engine: Engine) -> Router {
    let (router, spec) = routes();
    let state = AppState {
        engine,
        auth: auth::new_auth(&spec),
    };
    // Written once: each request gets the same bytes.
    let spec = bytes::Bytes::from(serde_json::to_vec(&spec).expect("the OpenAPI document is JSON"));
    // Installed before anything is counted: metrics recorded earlier would be lost.
    crate::telemetry::handle();
    router
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .route(
            "/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        spec,
                    )
                }
            }),
        )
        .merge(console::router())
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "route_not_found",
                "no such route; the API is under /v1",
            )
        })
        .layer(DefaultBodyLimit::max(4 << 20))
        .layer(axum::middleware::from_fn(large_bodies_take_turns))
        .layer(axum::middleware::from_fn(errors_as_json))
        .layer(axum::middleware::from_fn(count_requests))
        .with_state(state)
}

/// The name of the token a request was let in with, set by the `Caller` extractor for the
/// access log.
#[derive(Clone, Default)]
pub(crate) struct AccessCaller(pub(crate) std::sync::Arc<std::sync::OnceLock<String>>);

/// Each request counted by method, route (its template, never its ids) and status, and
/// logged at info under the target `flowbox::access`, with the token's name (never the token).
async fn count_requests(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let span = tracing::info_span!(
        target: crate::telemetry::traces::TARGET,
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    crate::telemetry::traces::follow_caller(&span, req.headers());
    let caller = AccessCaller::default();
    req.extensions_mut().insert(caller.clone());
    let response = next.run(req).instrument(span.clone()).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    span.record("http.response.status_code", i64::from(status));
    crate::telemetry::http_request(&method, &route, status, took);
    tracing::info!(
        target: "flowbox::access",
        method,
        route,
        status,
        duration_ms = took.as_secs_f64() * 1e3,
        token = caller.0.get().map_or("-", String::as_str),
        "request"
    );
    response
}

/// Prometheus text: the process's metrics and the store's executions by status. Open, unless
/// the server was given a metrics token (then `Authorization: Bearer <it>`).
async fn metrics(
    axum::extract::State(s): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(token) = s.engine.metrics_token() {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let matches = given.is_some_and(|g| {
            use sha2::Digest;
            // Compared as digests: the time taken says nothing about the token.
            sha2::Sha256::digest(g.as_bytes()) == sha2::Sha256::digest(token.as_bytes())
        });
        if !matches {
            return ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "unauthorized",
                "/metrics needs the server's metrics token: Authorization: Bearer <token>",
            )
            .into_response();
        }
    }
    let counts = match s.engine.store().unfinished_counts().await {
        Ok(c) => c,
        Err(e) => return ApiError::from(crate::engine::EngineError::from(e)).into_response(),
    };
    let gauges: Vec<(&str, i64)> = ["queued", "running", "waiting", "paused"]
        .into_iter()
        .map(|status| {
            let n = counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            (status, n)
        })
        .collect();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(&gauges),
    )
        .into_response()
}

/// A request whose body is larger than this takes a turn (see [`large_bodies_take_turns`]).
const LARGE_BODY: u64 = 256 << 10;

/// Requests with a large (or unannounced) body run a few at a time: parsing one can take many
/// times its size in memory for a moment, and hundreds at once must not add up.
async fn large_bodies_take_turns(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    static TURNS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    let large = match req.headers().get(axum::http::header::CONTENT_LENGTH) {
        Some(len) => len
            .to_str()
            .ok()
            .and_then(|l| l.parse::<u64>().ok())
            .is_none_or(|l| l > LARGE_BODY),
        None => req
            .headers()
            .contains_key(axum::http::header::TRANSFER_ENCODING),
    };
    let _turn = if large {
        Some(
            TURNS
                .acquire()
                .await
                .expect("the semaphore is never closed"),
        )
    } else {
        None
    };
    next.run(req).await
}

/// Every error is JSON: an answer axum or hyper made by itself (a method a route does not take,
/// a body over its limit or too slow, a path that is not UTF-8) gets the API's error body.
async fn errors_as_json(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let (status, code, message) = match status {
        _ if text.contains(serve::BODY_TIMEOUT_ERROR) => (
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("{}: send the whole body sooner", serve::BODY_TIMEOUT_ERROR),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            status,
            "method_not_allowed",
            "this route does not take that method".to_string(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            status,
            "body_too_large",
            "the body is larger than this route takes (4 MiB for JSON; see docs/api.md)"
                .to_string(),
        ),
        StatusCode::BAD_REQUEST if text.starts_with("Invalid URL") => {
            (status, "invalid_path", text)
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (status, "unsupported_media_type", text),
        s if s.is_server_error() => (s, "internal", "internal error (logged)".to_string()),
        s => (s, "invalid_request", text),
    };
    ApiError::new(status, code, message).into_response()
}

/// Liveness: the process answers (always 200), with the storage's health as it last saw it.
async fn healthz(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    let storage = match s.engine.store().health().degraded() {
        None => serde_json::json!({"writable": true}),
        Some(d) => serde_json::json!({
            "writable": false,
            "since": views::time(d.since),
            "error": d.cause,
        }),
    };
    let status = if storage["writable"] == true {
        "ok"
    } else {
        "degraded"
    };
    axum::Json(
        serde_json::json!({"status": status, "node": s.engine.node_id(), "storage": storage}),
    )
}

/// Readiness, for load balancers: 200 once a write to the storage went through now, 503
/// (`storage_unavailable`) while it cannot write.
async fn readyz(
    axum::extract::State(s): axum::extract::State<AppState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);
    match tokio::time::timeout(PATIENCE, s.engine.probe_storage()).await {
        Ok(Ok(())) => Ok(axum::Json(
            serde_json::json!({"status": "ready", "node": s.engine.node_id()}),
        )),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            format!(
                "the database did not take a write within {} s",
                PATIENCE.as_secs()
            ),
        )),
    }
}

/// Parse a JSON body, naming the field that does not fit.
pub(crate) fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    json_body_of(body, crate::limits::MAX_JSON_VALUES)
}

/// Parse a JSON body of at most `max_values` values, naming the field that does not fit.
pub(crate) fn json_body_of<T: DeserializeOwned>(
    body: &[u8],
    max_values: usize,
) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request needs a JSON body",
        ));
    }
    // Refused before parsing: a small body of many tiny values takes far more memory parsed.
    crate::limits::check_json_text(body, max_values, crate::limits::MAX_JSON_DEPTH).map_err(
        |e| {
            ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is refused: {e}"),
            )
        },
    )?;
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let message = if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        };
        ApiError::bad_request(
            "invalid_body",
            format!("the body is not what this route takes: {message}"),
        )
    })
}

/// Parse a query string.
pub(crate) fn query<T: DeserializeOwned + Default>(raw: Option<String>) -> Result<T, ApiError> {
    match raw {
        None => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(&q).map_err(|e| {
            ApiError::bad_request(
                "invalid_query",
                format!("the query string does not fit this route: {e}"),
            )
        }),
    }
}
