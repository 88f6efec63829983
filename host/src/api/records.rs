//! `/v1/objects` and `/v1/records`: object types, typed records, activities and record events.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::schemas::{
    Activities, Activity, ErrorBody, Events, ImportResult, ObjectType, ObjectTypes, Record,
    RecordDeleted, RecordPage, RecordWritten,
};
use super::views::{parse_time, time};
use super::{ApiError, AppState, json_body, paging, query};
use crate::engine::event_verdict;
use crate::records::{ImportItem, ImportMode, NewActivity};
use crate::store::{ActivityRow, Archived, EventFilter, EventRow, RecordRow, Written, event_kind};

/// The most records one import takes.
const MAX_IMPORT: usize = 10_000;

pub(super) fn router() -> OpenApiRouter<AppState> {
    let import_route = OpenApiRouter::new()
        .routes(routes!(import))
        .layer(DefaultBodyLimit::max(64 << 20));
    OpenApiRouter::new()
        .routes(routes!(define_object, list_objects))
        .routes(routes!(show_object))
        .routes(routes!(create, list))
        .merge(import_route)
        .routes(routes!(show, replace, update, delete))
        .routes(routes!(archive))
        .routes(routes!(unarchive))
        .routes(routes!(activities, add_activity))
        .routes(routes!(events))
        .routes(routes!(list_events))
        .routes(routes!(complete_activity))
}

// ---- Rendering ----

pub(crate) fn record_view(r: &RecordRow) -> Value {
    json!({
        "object": r.object,
        "id": r.id,
        "fields": serde_json::from_str::<Value>(&r.fields).unwrap_or(Value::Null),
        "archived": r.archived_at.is_some(),
        "archived_at": r.archived_at.map(time),
        "created_at": time(r.created_at),
        "updated_at": time(r.updated_at),
    })
}

fn activity_view(a: &ActivityRow) -> Value {
    json!({
        "id": a.id,
        "object": a.object,
        "record_id": a.record_id,
        "type": a.kind,
        "subject": a.subject,
        "details": super::views::parsed(&a.details),
        "status": if a.done_at.is_some() { "done" } else { "scheduled" },
        "due_at": a.due_at.map(time),
        "done_at": a.done_at.map(time),
        "past_due_at": a.past_due_at.map(time),
        "created_at": time(a.created_at),
    })
}

pub(crate) fn event_view(e: &EventRow) -> Value {
    json!({
        "id": e.id,
        "object": e.object,
        "record_id": e.record_id,
        "kind": e.kind,
        "changes": super::views::parsed(&e.changes),
        "detail": super::views::parsed(&e.detail),
        "cause": serde_json::from_str::<Value>(&e.cause).unwrap_or(Value::Null),
        "at": time(e.at),
        "evaluated_at": e.evaluated_at.map(time),
        "outcome": super::views::parsed(&e.outcome),
    })
}

fn written_view(w: &Written) -> Value {
    let mut v = w.record.as_ref().map(record_view).unwrap_or(json!({}));
    v["event"] = w.event.as_ref().map(event_view).unwrap_or(Value::Null);
    if let Some(a) = &w.activity {
        v["activity"] = activity_view(a);
    }
    v
}

fn text_body(body: &Bytes) -> Result<&str, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("invalid_body", "the body is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request needs a body",
        ));
    }
    Ok(text)
}

// ---- Object types ----

/// Create or replace an object type (JSON or YAML).
#[utoipa::path(post, path = "/v1/objects", tag = "records",
    request_body(content = String, content_type = "application/yaml", description = "An object type, YAML or JSON: `name`, `fields` (name -> `{type, required?, unique?, choices?, stages?, object?}`)"),
    responses((status = 201, description = "Created", body = ObjectType), (status = 200, description = "Replaced", body = ObjectType), (status = 422, description = "`invalid_fields`: one entry per bad field in `details`", body = ErrorBody), (status = 409, description = "`breaks_workflows`: saved workflows trigger on what the change removes (each named)", body = ErrorBody), (status = 400, description = "Malformed body", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["developer"])))]
async fn define_object(
    State(s): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (object, created) = s.engine.define_object(text_body(&body)?).await?;
    let action = if created {
        "object.create"
    } else {
        "object.replace"
    };
    super::auth::audit(&s, &caller, action, &object.name, json!({})).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!(object))))
}

#[utoipa::path(get, path = "/v1/objects", tag = "records",
    responses((status = 200, description = "Every object type", body = ObjectTypes), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn list_objects(State(s): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "objects": s.engine.object_types().await? })))
}

#[utoipa::path(get, path = "/v1/objects/{name}", tag = "records",
    params(("name" = String, Path, description = "The object type")),
    responses((status = 200, description = "The object type", body = ObjectType), (status = 404, description = "No such object type", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn show_object(
    State(s): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(*s.engine.object_type(&name).await?)))
}

// ---- Records ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRecord {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
    /// The form the record was submitted through: its event is `form_submitted`.
    #[serde(default)]
    form: Option<String>,
}

/// Create a record: `{"id"?, "fields": {...}, "form"?}`. 201.
#[utoipa::path(post, path = "/v1/records/{object}", tag = "records", params(("object" = String, Path, description = "The object type")),
    request_body = NewRecord,
    responses((status = 201, description = "Created, with its event", body = RecordWritten), (status = 422, description = "`invalid_fields`: one entry per bad field in `details`", body = ErrorBody), (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 404, description = "No such object type", body = ErrorBody), (status = 409, description = "The id is taken (`id_taken`), or a unique value is (`duplicate`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Path(object): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req: NewRecord = json_body(&body)?;
    let w = s
        .engine
        .create_record(&object, req.id, &req.fields, req.form, &caller.cause())
        .await?;
    Ok((StatusCode::CREATED, Json(written_view(&w))))
}

/// Create or replace a record: the body is all its fields. 201 if it is new.
#[utoipa::path(put, path = "/v1/records/{object}/{id}", tag = "records", params(("object" = String, Path, description = "The object type"), ("id" = String, Path, description = "The record's id")),
    request_body(content = Object, description = "All its fields"),
    responses((status = 201, description = "Created", body = RecordWritten), (status = 200, description = "Replaced", body = RecordWritten), (status = 422, description = "`invalid_fields`: one entry per bad field in `details`", body = ErrorBody), (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 404, description = "No such object type", body = ErrorBody), (status = 409, description = "A unique value is taken (`duplicate`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn replace(
    State(s): State<AppState>,
    caller: Caller,
    Path((object, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let fields: Map<String, Value> = json_body(&body)?;
    let w = s
        .engine
        .replace_record(&object, &id, &fields, &caller.cause())
        .await?;
    let status = if w.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(written_view(&w))))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UpdateQuery {
    form: Option<String>,
}

/// Change some fields: the body holds them (a null clears one). `?form=NAME` records a form
/// submission.
#[utoipa::path(patch, path = "/v1/records/{object}/{id}", tag = "records",
    params(("object" = String, Path, description = "The object type"), ("id" = String, Path, description = "The record's id"), UpdateQuery),
    request_body(content = Object, description = "Some fields; a null clears one"),
    responses((status = 200, description = "Updated, with its event (none if nothing changed)", body = RecordWritten), (status = 422, description = "`invalid_fields`: one entry per bad field in `details`", body = ErrorBody), (status = 400, description = "Malformed body", body = ErrorBody), (status = 404, description = "No such object type (`object_not_found`) or record (`record_not_found`)", body = ErrorBody),
        (status = 409, description = "A unique value is taken (`duplicate`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path((object, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let q: UpdateQuery = query(q)?;
    let fields: Map<String, Value> = json_body(&body)?;
    let w = s
        .engine
        .update_record(&object, &id, &fields, q.form, &caller.cause())
        .await?;
    Ok(Json(written_view(&w)))
}

#[utoipa::path(get, path = "/v1/records/{object}/{id}", tag = "records", params(("object" = String, Path, description = "The object type"), ("id" = String, Path, description = "The record's id")),
    responses((status = 200, description = "The record", body = Record), (status = 404, description = "No such object type (`object_not_found`) or record (`record_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn show(
    State(s): State<AppState>,
    _: Caller,
    Path((object, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(record_view(&s.engine.record(&object, &id).await?)))
}

#[utoipa::path(delete, path = "/v1/records/{object}/{id}", tag = "records", params(("object" = String, Path, description = "The object type"), ("id" = String, Path, description = "The record's id")),
    responses((status = 200, description = "Deleted, with its activities; its events stay", body = RecordDeleted), (status = 404, description = "No such object type (`object_not_found`) or record (`record_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    Path((object, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let w = s
        .engine
        .delete_record(&object, &id, &caller.cause())
        .await?;
    Ok(Json(json!({
        "object": object,
        "id": id,
        "deleted": true,
        "event": w.event.as_ref().map(event_view),
    })))
}

#[utoipa::path(post, path = "/v1/records/{object}/{id}/archive", tag = "records", params(("object" = String, Path, description = "The object type"), ("id" = String, Path, description = "The record's id")),
    responses((status = 200, description = "Archived (no event if it already was)", body = RecordWritten), (status = 404, description = "No such object type (`object_not_found`) or record (`record_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn archive(
    State(s): State<AppState>,
    caller: Caller,
    Path((object, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    set_archived(s, caller, object, id, true).await
}

#[utoipa::path(post, path = "/v1/records/{object}/{id}/unarchive", tag = "records", params(("object" = String, Path, description = "The object type"), ("id" = String, Path, description = "The record's id")),
    responses((status = 200, description = "Unarchived", body = RecordWritten), (status = 404, description = "No such object type (`object_not_found`) or record (`record_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn unarchive(
    State(s): State<AppState>,
    caller: Caller,
    Path((object, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    set_archived(s, caller, object, id, false).await
}

async fn set_archived(
    s: AppState,
    caller: Caller,
    object: String,
    id: String,
    archive: bool,
) -> Result<Json<Value>, ApiError> {
    let w = s
        .engine
        .archive_record(&object, &id, archive, &caller.cause())
        .await?;
    Ok(Json(written_view(&w)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// An expression over `record`, e.g. `record.amount > 100 and record.stage == 'won'`.
    filter: Option<String>,
    /// `false` (default), `true` (only archived) or `any`.
    #[param(inline)]
    archived: Option<ArchivedParam>,
    /// How many at most: 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Records of a type in id order, filtered: `{records, next_cursor}`.
#[utoipa::path(get, path = "/v1/records/{object}", tag = "records", params(("object" = String, Path, description = "The object type"), ListQuery),
    responses((status = 200, description = "Records in id order", body = RecordPage), (status = 422, description = "The filter does not parse", body = ErrorBody),
        (status = 404, description = "No such object type", body = ErrorBody), (status = 400, description = "A bad query", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn list(
    State(s): State<AppState>,
    _: Caller,
    Path(object): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: ListQuery = query(q)?;
    let archived = match q.archived.unwrap_or_default() {
        ArchivedParam::False => Archived::Exclude,
        ArchivedParam::True => Archived::Only,
        ArchivedParam::Any => Archived::Include,
    };
    let page = s
        .engine
        .list_records(
            &object,
            q.filter.as_deref(),
            archived,
            q.cursor,
            paging::limit(q.limit, 50)? as usize,
        )
        .await?;
    Ok(Json(json!({
        "records": page.items.iter().map(record_view).collect::<Vec<_>>(),
        "next_cursor": page.next,
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    records: Vec<ImportRecord>,
    /// `create` (default: existing ids are errors) or `upsert` (replace them).
    #[serde(default)]
    mode: ImportModeParam,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ImportModeParam {
    #[default]
    Create,
    Upsert,
}

/// Which records a listing includes: not archived, only archived, or both.
#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ArchivedParam {
    #[default]
    False,
    True,
    Any,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ImportRecord {
    #[serde(default)]
    id: Option<String>,
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// Import many records in one transaction; each one is checked and written on its own.
#[utoipa::path(post, path = "/v1/records/{object}/import", tag = "records", params(("object" = String, Path, description = "The object type")),
    request_body = ImportBody,
    responses((status = 200, description = "What happened to each record", body = ImportResult), (status = 404, description = "No such object type", body = ErrorBody),
        (status = 400, description = "Malformed body, or over 10,000 records", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn import(
    State(s): State<AppState>,
    caller: Caller,
    Path(object): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    // Up to 10,000 records of up to a hundred values each.
    let req: ImportBody = super::json_body_of(&body, 100 * MAX_IMPORT)?;
    if req.records.len() > MAX_IMPORT {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!(
                "records: {} records; one import takes at most {MAX_IMPORT}",
                req.records.len()
            ),
        ));
    }
    let mode = match req.mode {
        ImportModeParam::Create => ImportMode::Create,
        ImportModeParam::Upsert => ImportMode::Upsert,
    };
    let items = req
        .records
        .into_iter()
        .map(|r| ImportItem {
            id: r.id,
            fields: r.fields,
        })
        .collect();
    let results = s
        .engine
        .import_records(&object, items, mode, &caller.cause())
        .await?;
    let (mut created, mut updated, mut unchanged, mut failed) = (0, 0, 0, 0);
    let rows: Vec<Value> = results
        .into_iter()
        .enumerate()
        .map(|(index, r)| match r {
            Ok(w) => {
                let status = if w.created {
                    created += 1;
                    "created"
                } else if w.event.is_some() {
                    updated += 1;
                    "updated"
                } else {
                    unchanged += 1;
                    "unchanged"
                };
                json!({"index": index, "id": w.record.as_ref().map(|r| r.id.clone()), "status": status})
            }
            Err(e) => {
                failed += 1;
                let e = ApiError::from(e);
                json!({"index": index, "status": "failed", "error": {"code": e.code, "message": e.message, "details": e.details}})
            }
        })
        .collect();
    Ok(Json(json!({
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "failed": failed,
        "results": rows,
    })))
}

// ---- Activities and events ----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewActivityBody {
    /// A call, a meeting, ...: 1-200 of a-z, A-Z, 0-9, `-`, `_`, `.`.
    #[serde(rename = "type")]
    #[schema(pattern = r"^[A-Za-z0-9._-]{1,200}$")]
    kind: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    details: Option<Value>,
    /// RFC 3339: a scheduled activity.
    #[serde(default)]
    #[schema(format = DateTime)]
    due_at: Option<String>,
    /// Default: done unless it has a `due_at`.
    #[serde(default)]
    done: Option<bool>,
}

#[utoipa::path(post, path = "/v1/records/{object}/{id}/activities", tag = "records", params(("object" = String, Path, description = "The object type"), ("id" = String, Path, description = "The record's id")),
    request_body = NewActivityBody,
    responses((status = 201, description = "Logged, or scheduled", body = Activity), (status = 404, description = "No such object type (`object_not_found`) or record (`record_not_found`)", body = ErrorBody),
        (status = 422, description = "A bad type, or not done without a due time", body = ErrorBody), (status = 400, description = "Malformed body", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn add_activity(
    State(s): State<AppState>,
    caller: Caller,
    Path((object, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req: NewActivityBody = json_body(&body)?;
    let due_at = match req.due_at.as_deref() {
        Some(t) => Some(parse_time(t).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_body",
                format!("due_at: `{t}` is not an RFC 3339 time"),
            )
        })?),
        None => None,
    };
    let w = s
        .engine
        .add_activity(
            &object,
            &id,
            NewActivity {
                kind: req.kind,
                subject: req.subject,
                details: req.details,
                due_at,
                done: req.done,
            },
            &caller.cause(),
        )
        .await?;
    let activity = w.activity.as_ref().map(activity_view).unwrap_or_default();
    Ok((StatusCode::CREATED, Json(activity)))
}

#[utoipa::path(get, path = "/v1/records/{object}/{id}/activities", tag = "records", params(("object" = String, Path, description = "The object type"), ("id" = String, Path, description = "The record's id")),
    responses((status = 200, description = "Its activities, newest first", body = Activities), (status = 404, description = "No such object type (`object_not_found`) or record (`record_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn activities(
    State(s): State<AppState>,
    _: Caller,
    Path((object, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let rows = s.engine.activities(&object, &id).await?;
    Ok(Json(
        json!({ "activities": rows.iter().map(activity_view).collect::<Vec<_>>() }),
    ))
}

#[utoipa::path(post, path = "/v1/activities/{id}/complete", tag = "records",
    params(("id" = String, Path, description = "The activity's id")),
    responses((status = 200, description = "Done: logged now", body = Activity), (status = 404, description = "No such activity", body = ErrorBody),
        (status = 409, description = "It is already done (`activity_done`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn complete_activity(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let w = s.engine.complete_activity(&id, &caller.cause()).await?;
    Ok(Json(
        w.activity.as_ref().map(activity_view).unwrap_or_default(),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// An event id: older than it (the `next_before` of the previous page).
    before: Option<i64>,
    /// How many at most: 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A record's events, newest first: what changed, who caused it, when triggers evaluated it and
/// what they did.
#[utoipa::path(get, path = "/v1/records/{object}/{id}/events", tag = "records",
    params(("object" = String, Path, description = "The object type"), ("id" = String, Path, description = "The record's id"), EventsQuery),
    responses((status = 200, description = "Its events, newest first", body = Events), (status = 400, description = "A bad query (`invalid_query`)", body = ErrorBody), (status = 404, description = "No such object type", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn events(
    State(s): State<AppState>,
    _: Caller,
    Path((object, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: EventsQuery = query(q)?;
    let limit = paging::limit(q.limit, 100)?;
    let rows = s
        .engine
        .record_events(&object, &id, q.before, limit)
        .await?;
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|e| e.id))
        .flatten();
    Ok(Json(json!({
        "events": rows.iter().map(event_view).collect::<Vec<_>>(),
        "next_before": next_before,
    })))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventListQuery {
    /// The events of the object type this workflow watches, each with its `verdict` for it.
    workflow: Option<String>,
    /// Of this object type.
    object: Option<String>,
    /// Of this kind: created, updated, stage_changed, form_submitted, archived, unarchived,
    /// deleted, activity_scheduled, activity_logged, activity_past_due.
    #[param(inline, value_type = Option<super::schemas::EventKind>)]
    kind: Option<String>,
    /// RFC 3339: at or after.
    #[param(format = DateTime)]
    since: Option<String>,
    /// An event id: older than it (the `next_before` of the previous page).
    before: Option<i64>,
    /// How many at most: 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Events across records, newest first: "why did (or didn't) my workflow fire?". With
/// `workflow`, the events of the object type it watches, each with the `verdict` for it.
#[utoipa::path(get, path = "/v1/events", tag = "records", params(EventListQuery),
    responses((status = 200, description = "Events, newest first", body = Events), (status = 400, description = "A bad query (`invalid_query`)", body = ErrorBody), (status = 404, description = "No such workflow or object type", body = ErrorBody), (status = 422, description = "A workflow that does not watch records, or not that object type (`wrong_scope`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn list_events(
    State(s): State<AppState>,
    _: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: EventListQuery = query(q)?;
    if let Some(kind) = q.kind.as_deref().filter(|k| !event_kind::ALL.contains(k)) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!(
                "kind: `{kind}` is not one of {}",
                event_kind::ALL.join(", ")
            ),
        ));
    }
    let limit = paging::limit(q.limit, 100)?;
    let since = paging::time("since", q.since.as_deref())?;
    let filter = EventFilter {
        object: q.object,
        kind: q.kind,
        since,
        before: q.before,
        limit,
    };
    let rows = s.engine.events(q.workflow.as_deref(), filter).await?;
    let events: Vec<Value> = rows
        .iter()
        .map(|e| {
            let mut v = event_view(e);
            if let Some(name) = &q.workflow {
                v["verdict"] = event_verdict(e.outcome.as_deref(), name);
            }
            v
        })
        .collect();
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|e| e.id))
        .flatten();
    Ok(Json(json!({"events": events, "next_before": next_before})))
}
