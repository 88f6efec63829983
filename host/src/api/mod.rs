//! The HTTP API (axum): JSON in and out, one router per resource. Handlers are thin: they parse,
//! call the engine, and render. Every error is JSON: `{"error": {"code", "message", "details"?}}`.

pub mod auth;
mod error;
mod executions;
mod files;
mod llm;
mod openapi;
mod records;
mod schemas;
mod steps;
mod teams;
mod views;
mod webhooks;
mod workflows;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use serde::de::DeserializeOwned;
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
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(auth::router())
        .merge(workflows::router())
        .merge(executions::router())
        .merge(records::router())
        .merge(steps::router())
        .merge(webhooks::router())
        .merge(teams::router())
        .merge(llm::router())
        .merge(files::router())
        .split_for_parts()
}

/// The API's OpenAPI description (what `/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The whole API.
pub fn app(engine: Engine) -> Router {
    let state = AppState {
        engine,
        auth: auth::new_auth(),
    };
    let (router, spec) = routes();
    let spec = std::sync::Arc::new(spec);
    router
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move { axum::Json(spec) }
            }),
        )
        .fallback(|| async { ApiError::not_found("route", "no such route; the API is under /v1") })
        .layer(DefaultBodyLimit::max(4 << 20))
        .with_state(state)
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
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request needs a JSON body",
        ));
    }
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
