//! `/v1/teams`: teams (members in rotation order, channels) and the notifications steps post
//! to their channels.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::schemas::{ErrorBody, Notifications, Team, TeamDeleted, Teams};
use super::views::time;
use super::{ApiError, AppState, json_body, query};
use crate::services::teams::TeamView;
use crate::store::NotificationRow;

/// The most notifications one page holds.
const MAX_PAGE: i64 = 1000;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(put, get, delete))
        .routes(routes!(notifications))
}

fn team_view(t: &TeamView) -> Value {
    json!({
        "name": t.name,
        "members": t.members,
        "channels": t.channels,
        "rotation": t.rotation,
        "created_at": time(t.created_at),
        "updated_at": time(t.updated_at),
    })
}

fn notification_view(n: &NotificationRow) -> Value {
    json!({
        "id": n.id,
        "team": n.team,
        "channel": n.channel,
        "text": n.text,
        "data": n.data.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
        "execution_id": n.execution_id,
        "step_id": n.step_id,
        "created_at": time(n.created_at),
    })
}

/// A team's definition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TeamBody {
    /// The members (e.g. user names or emails), in round-robin order.
    members: Vec<String>,
    /// Channels for notifications; default `["general"]`.
    #[serde(default)]
    channels: Vec<String>,
}

/// Every team.
#[utoipa::path(get, path = "/v1/teams", tag = "teams",
    responses((status = 200, description = "The teams, by name", body = Teams), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn list(State(s): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    let teams: Vec<Value> = s.engine.teams().await?.iter().map(team_view).collect();
    Ok(Json(json!({ "teams": teams })))
}

/// Create a team or replace its members and channels; the round-robin rotation goes on.
#[utoipa::path(put, path = "/v1/teams/{name}", tag = "teams",
    params(("name" = String, Path, description = "The team's name")),
    request_body = TeamBody,
    responses((status = 200, description = "The team as stored", body = Team), (status = 422, description = "A bad name, or a member or channel twice", body = ErrorBody), (status = 400, description = "Malformed body", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["developer"])))]
async fn put(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: TeamBody = json_body(&body)?;
    let team = s.engine.put_team(&name, req.members, req.channels).await?;
    super::auth::audit(&s, &caller, "team.put", &name, team_view(&team)).await;
    Ok(Json(team_view(&team)))
}

/// One team.
#[utoipa::path(get, path = "/v1/teams/{name}", tag = "teams",
    params(("name" = String, Path, description = "The team's name")),
    responses((status = 200, description = "The team", body = Team), (status = 404, description = "No such team (`team_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn get(
    State(s): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(team_view(&s.engine.team(&name).await?)))
}

/// Delete a team; its notifications stay readable.
#[utoipa::path(delete, path = "/v1/teams/{name}", tag = "teams",
    params(("name" = String, Path, description = "The team's name")),
    responses((status = 200, description = "Deleted", body = TeamDeleted), (status = 404, description = "No such team (`team_not_found`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["developer"])))]
async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    s.engine.delete_team(&name).await?;
    super::auth::audit(&s, &caller, "team.delete", &name, json!({})).await;
    Ok((StatusCode::OK, Json(json!({"name": name, "deleted": true}))))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct NotificationQuery {
    /// Only this channel.
    channel: Option<String>,
    /// Only notifications after this id (the `next_after` of the previous page).
    after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
}

/// A team's notifications, oldest first: `{notifications, next_after}`.
#[utoipa::path(get, path = "/v1/teams/{name}/notifications", tag = "teams",
    params(("name" = String, Path, description = "The team's name"), NotificationQuery),
    responses((status = 200, description = "A page of notifications; pass `next_after` as `after` for the next", body = Notifications), (status = 404, description = "No such team (`team_not_found`)", body = ErrorBody), (status = 400, description = "A bad query", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn notifications(
    State(s): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: NotificationQuery = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit: {limit} is not between 1 and {MAX_PAGE}"),
        ));
    }
    let after = q.after.unwrap_or(0);
    let rows = s
        .engine
        .notifications(&name, q.channel.as_deref(), after, limit)
        .await?;
    let next_after = rows.last().map_or(after, |n| n.id);
    let notifications: Vec<Value> = rows.iter().map(notification_view).collect();
    Ok(Json(
        json!({ "notifications": notifications, "next_after": next_after }),
    ))
}
