//! The web console: a single-page app served at `/ui` from files embedded in the binary (nothing
//! is fetched from elsewhere). It signs in with an API token and calls the same `/v1` API as any
//! client, so roles apply unchanged. Every path under `/ui/` that is not an asset answers the
//! page, so that each view's URL can be shared and reloaded.
//!
//! `FLOWBOX_CONSOLE_DIR` (for working on the console) serves the files from that folder
//! instead, read on each request.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::ApiError;

/// The console's files: (name under `/ui/assets/`, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css", include_str!("../../console/app.css")),
    (
        "workflows.css",
        "text/css",
        include_str!("../../console/workflows.css"),
    ),
    ("app.js", JS, include_str!("../../console/app.js")),
    ("lib.js", JS, include_str!("../../console/lib.js")),
    ("graph.js", JS, include_str!("../../console/graph.js")),
    ("timeline.js", JS, include_str!("../../console/timeline.js")),
    (
        "executions.js",
        JS,
        include_str!("../../console/executions.js"),
    ),
    (
        "workflows.js",
        JS,
        include_str!("../../console/workflows.js"),
    ),
    ("editor.js", JS, include_str!("../../console/editor.js")),
    ("records.js", JS, include_str!("../../console/records.js")),
    ("admin.js", JS, include_str!("../../console/admin.js")),
];
const JS: &str = "text/javascript";
const INDEX: &str = include_str!("../../console/index.html");

/// No inline script or style, nothing from another origin, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

pub(super) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(page))
        .route("/ui/assets/{name}", get(asset))
        .route("/ui/{*view}", get(page))
}

async fn page() -> Response {
    match dev_file("index.html") {
        Some(text) => served("text/html; charset=utf-8", text.into_bytes()),
        None => served("text/html; charset=utf-8", INDEX.as_bytes().to_vec()),
    }
}

async fn asset(Path(name): Path<String>) -> Response {
    let Some((_, kind, text)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("the console has no asset `{name}`"),
        )
        .into_response();
    };
    let kind = format!("{kind}; charset=utf-8");
    match dev_file(&name) {
        Some(text) => served(&kind, text.into_bytes()),
        None => served(&kind, text.as_bytes().to_vec()),
    }
}

/// The file from `FLOWBOX_CONSOLE_DIR`, when that is set (only names listed above get here).
fn dev_file(name: &str) -> Option<String> {
    let dir = std::env::var_os("FLOWBOX_CONSOLE_DIR")?;
    std::fs::read_to_string(std::path::Path::new(&dir).join(name)).ok()
}

fn served(kind: &str, body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    let pairs = [
        (header::CONTENT_TYPE, kind),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Small files, embedded: always revalidated, so a new binary's console is seen at once.
        (header::CACHE_CONTROL, "no-cache"),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
    response
}
