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
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
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
