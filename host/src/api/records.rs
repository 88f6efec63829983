//! `/v1/records`: the records workflows run on (object type, id, fields).

use axum::extract::{Path, State};
use axum::routing::put;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::auth::{Caller, Role};
use super::views::time;
use super::{ApiError, AppState, json_body};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/records/{object}/{id}", put(put_record).get(get_record))
}

fn valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Create or replace a record: the body is its fields, a JSON object.
async fn put_record(
    State(s): State<AppState>,
    caller: Caller,
    Path((object, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Client)?;
    if !valid(&object) || !valid(&id) {
        return Err(ApiError::bad_request(
            "invalid_path",
            "object and id are 1-200 characters of a-z, A-Z, 0-9, `-`, `_`, `.`",
        ));
    }
    let fields: Map<String, Value> = json_body(&body)?;
    let now = s.engine.now_ms();
    s.engine
        .store()
        .put_record(
            &object,
            &id,
            &Value::Object(fields.clone()).to_string(),
            now,
        )
        .await?;
    Ok(Json(
        json!({"object": object, "id": id, "fields": fields, "updated_at": time(now)}),
    ))
}

async fn get_record(
    State(s): State<AppState>,
    caller: Caller,
    Path((object, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Client)?;
    let row = s.engine.store().record(&object, &id).await?;
    let row = row
        .ok_or_else(|| ApiError::not_found("record", format!("record {object}/{id} not found")))?;
    Ok(Json(json!({
        "object": row.object,
        "id": row.id,
        "fields": serde_json::from_str::<Value>(&row.fields).unwrap_or(Value::Null),
        "created_at": time(row.created_at),
        "updated_at": time(row.updated_at),
    })))
}
