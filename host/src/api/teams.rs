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
    /// The members (e.g. user names or emails), in round-robin order; at most 1000.
    #[schema(value_type = std::collections::BTreeSet<super::schemas::MemberName>, max_items = 1000)]
    members: Vec<String>,
    /// Channels for notifications; default `["general"]`.
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeSet<super::schemas::ShortName>)]
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
    params(("name" = String, Path, description = "The team's name: 1-200 of a-z, A-Z, 0-9, `-`, `_`, `.`", pattern = r"^[A-Za-z0-9._-]{1,200}$")),
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
    params(("name" = String, Path, description = "The team's name: 1-200 of a-z, A-Z, 0-9, `-`, `_`, `.`", pattern = r"^[A-Za-z0-9._-]{1,200}$")),
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
    params(("name" = String, Path, description = "The team's name: 1-200 of a-z, A-Z, 0-9, `-`, `_`, `.`", pattern = r"^[A-Za-z0-9._-]{1,200}$")),
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
    #[param(minimum = 0)]
    after: Option<i64>,
    /// How many at most: 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A team's notifications, oldest first: `{notifications, next_after}`.
#[utoipa::path(get, path = "/v1/teams/{name}/notifications", tag = "teams",
    params(("name" = String, Path, description = "The team's name: 1-200 of a-z, A-Z, 0-9, `-`, `_`, `.`", pattern = r"^[A-Za-z0-9._-]{1,200}$"), NotificationQuery),
    responses((status = 200, description = "A page of notifications; pass `next_after` as `after` for the next", body = Notifications), (status = 404, description = "No such team (`team_not_found`)", body = ErrorBody), (status = 400, description = "A bad query", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn notifications(
    State(s): State<AppState>,
    _: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: NotificationQuery = query(q)?;
    let limit = super::paging::limit(q.limit, 100)?;
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "after: a notification id, 0 or more",
        ));
    }
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
