//! `/v1/files`: files, named by the SHA-256 of their bytes, for records' `file` fields and the
//! steps granted `files`.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::schemas::{ErrorBody, StoredFile};
use super::views::time;
use super::{ApiError, AppState, query};
use crate::services::files::MAX_FILE_BYTES;
use crate::store::FileRow;

pub(super) fn router() -> OpenApiRouter<AppState> {
    let upload_route = OpenApiRouter::new()
        .routes(routes!(upload))
        // Over the limit by a little, so that the engine names the limit in its answer.
        .layer(DefaultBodyLimit::max(MAX_FILE_BYTES + 1));
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(content))
        .merge(upload_route)
}

fn file_view(f: &FileRow) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "content_type": f.content_type,
        "size": f.size,
        "created_at": time(f.created_at),
    })
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// The file's name, e.g. `contract.pdf` (1-255 characters, no slashes).
    #[param(min_length = 1, max_length = 255, pattern = r"^[^/\\\x00]+$")]
    name: Option<String>,
}

/// Upload a file (the body is its bytes, up to 25 MiB; `Content-Type` is kept). Its id is the
/// SHA-256 of its bytes: put it in a record's `file` field.
#[utoipa::path(post, path = "/v1/files", tag = "files", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, description = "Kept (the same bytes again give the same file)", body = StoredFile), (status = 400, description = "A bad query (`invalid_query`)", body = ErrorBody), (status = 422, description = "Empty, too large, or a bad name", body = ErrorBody), (status = 413, description = "Far over 25 MiB", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn upload(
    State(s): State<AppState>,
    _: Caller,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let q: UploadQuery = query(q)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let f = s
        .engine
        .upload_file(q.name.as_deref().unwrap_or("file"), content_type, &body)
        .await?;
    Ok((StatusCode::CREATED, Json(file_view(&f))))
}

/// A file's metadata.
#[utoipa::path(get, path = "/v1/files/{id}", tag = "files",
    params(("id" = String, Path, description = "The file's id (the SHA-256 of its bytes)")),
    responses((status = 200, description = "The file", body = StoredFile), (status = 404, description = "No such file (`file_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn info(
    State(s): State<AppState>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(file_view(&s.engine.file(&id).await?)))
}

/// A file's bytes, with its content type.
#[utoipa::path(get, path = "/v1/files/{id}/content", tag = "files",
    params(("id" = String, Path, description = "The file's id")),
    responses((status = 200, description = "The bytes, with the content type the file was kept with", content_type = "*/*", body = Vec<u8>), (status = 404, description = "No such file (`file_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn content(
    State(s): State<AppState>,
    _: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let f = s.engine.file(&id).await?;
    let bytes = s.engine.file_bytes(&id).await?;
    Ok(([(header::CONTENT_TYPE, f.content_type)], bytes))
}
