//! Who is calling: API tokens with roles, checked on every route, and the admin audit log.
//!
//! Roles nest: `admin` (step modules, grants, kill switches, tokens, the audit log) can do what
//! `developer` (workflows, object types) can, which can do what `client` (records, starting and
//! controlling executions, reading) can. Tokens are `Authorization: Bearer fbx_...`; only their
//! SHA-256 is stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{FromRequestParts, MatchedPath, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::schemas::{AuditLog, ErrorBody, Token, Tokens, WhoAmI};
use super::views::time;
use super::{ApiError, AppState, json_body, paging};
use crate::store::{AuditFilter, AuditRow, Store, StoreError, TokenRow};

/// How long a token check is trusted before the store is asked again (a revocation on another
/// node takes effect within this).
const CACHE_TTL: Duration = Duration::from_secs(5);

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Records, starting and controlling executions, reading.
    Client,
    /// Also workflows and object types.
    Developer,
    /// Everything: also step modules, kill switches, tokens, the audit log.
    Admin,
}

impl Role {
    const ALL: [Role; 3] = [Role::Client, Role::Developer, Role::Admin];

    /// The role's name: the same as its JSON (a unit test holds the two together).
    fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// Refuse (403) unless the caller has at least `role`. Every route's own role is checked
    /// as the caller is extracted, from its OpenAPI annotation (see [`RouteRoles`]).
    fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this route needs the {} role; token `{}` is a {} token",
                role.name(),
                self.name,
                self.role.name()
            ),
        ))
    }

    /// Who did it, for the audit log.
    pub fn actor(&self) -> String {
        format!("token:{} ({})", self.token_id, self.name)
    }

    /// The cause of a write made through the API, as stored on its event.
    pub fn cause(&self) -> Value {
        json!({"kind": "api", "token": self.token_id, "name": self.name})
    }
}

/// Token checks, cached, and the role each route needs.
#[derive(Debug, Default)]
pub struct Auth {
    cache: Mutex<HashMap<String, (Caller, Instant)>>,
    roles: RouteRoles,
}

/// The least role each operation needs, read from the `security` of its OpenAPI annotation:
/// a route's role is written once, where the description shows it, and enforced from there.
#[derive(Debug, Default)]
struct RouteRoles(HashMap<(String, String), Role>);

impl RouteRoles {
    fn from_spec(spec: &utoipa::openapi::OpenApi) -> Self {
        let doc = serde_json::to_value(spec).expect("the OpenAPI description serialises");
        let mut roles = HashMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let role = op["security"][0]["token"][0].as_str().and_then(Role::parse);
                if let Some(role) = role {
                    roles.insert((method.to_ascii_uppercase(), path.clone()), role);
                }
            }
        }
        RouteRoles(roles)
    }

    /// The role `method path` needs (`path` as routed, with `{name}` parameters).
    fn get(&self, method: &str, path: &str) -> Option<Role> {
        self.0.get(&(method.to_string(), path.to_string())).copied()
    }
}

/// SHA-256 of a token, hex.
pub fn token_hash(token: &str) -> String {
    crate::sandbox::content_hash(token.as_bytes())
}

/// A new random token.
pub fn new_token() -> String {
    format!(
        "fbx_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Auth {
    async fn check(&self, store: &Store, token: &str) -> Result<Option<Caller>, StoreError> {
        let hash = token_hash(token);
        if let Some((caller, at)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(Some(caller.clone()));
        }
        let Some(row) = store.token_by_hash(&hash).await? else {
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&hash);
            return Ok(None);
        };
        let Some(role) = Role::parse(&row.role) else {
            return Ok(None);
        };
        let caller = Caller {
            token_id: row.id,
            name: row.name,
            role,
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, (caller.clone(), Instant::now()));
        Ok(Some(caller))
    }

    fn forget(&self, token_id: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (c, _)| c.token_id != token_id);
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized =
            |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m.to_string());
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                unauthorized("this route needs an API token: `Authorization: Bearer <token>`")
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let caller = state
            .auth
            .check(state.engine.store(), token)
            .await?
            .ok_or_else(|| unauthorized("the API token is not valid (unknown or revoked)"))?;
        // A route without a role in its description is refused to everyone: safe by default,
        // and the route/role test names it.
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let needed = route.and_then(|r| state.auth.roles.get(parts.method.as_str(), r));
        let Some(needed) = needed else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "{} {} names no role in the API description",
                    parts.method,
                    route.unwrap_or("this route")
                ),
            ));
        };
        caller.require(needed)?;
        if let Some(seen) = parts.extensions.get::<super::AccessCaller>() {
            let _ = seen.0.set(caller.name.clone());
        }
        Ok(caller)
    }
}

/// Write an admin action to the audit log. A failure to audit fails the request's answer, not
/// the action (which is done): it is logged.
pub async fn audit(state: &AppState, caller: &Caller, action: &str, target: &str, detail: Value) {
    let row = AuditRow {
        id: uuid::Uuid::now_v7().to_string(),
        at: state.engine.now_ms(),
        actor: caller.actor(),
        action: action.to_string(),
        target: target.to_string(),
        detail: Some(detail.to_string()),
    };
    if let Err(e) = state.engine.store().audit(&row).await {
        tracing::error!(error = %e, action, target, "could not write the audit log");
    }
}

/// Make sure an admin token exists: on the first start, save `token` (from the environment) as
/// the bootstrap admin token, or make one up and return it so it can be shown once.
pub async fn bootstrap(
    store: &Store,
    token: Option<&str>,
    now: i64,
) -> Result<Option<String>, StoreError> {
    if store.token_count().await? > 0 {
        return Ok(None);
    }
    let (token, generated) = match token {
        Some(t) if !t.trim().is_empty() => (t.trim().to_string(), false),
        _ => (new_token(), true),
    };
    store
        .create_token(&TokenRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: "bootstrap".into(),
            role: "admin".into(),
            hash: token_hash(&token),
            created_at: now,
            revoked_at: None,
        })
        .await?;
    Ok(generated.then_some(token))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
        .routes(routes!(audit_log))
        .routes(routes!(whoami))
}

/// The caller's token: its id, name and role (the console shows only what the role may do).
#[utoipa::path(get, path = "/v1/whoami", tag = "tokens",
    responses((status = 200, description = "The caller's token", body = WhoAmI), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["client"])))]
async fn whoami(caller: Caller) -> Json<Value> {
    Json(json!({"id": caller.token_id, "name": caller.name, "role": caller.role.name()}))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// 1-100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    role: Role,
}

fn view(t: &TokenRow) -> Value {
    json!({"id": t.id, "name": t.name, "role": t.role, "created_at": time(t.created_at), "revoked_at": t.revoked_at.map(time)})
}

/// Create a token; the answer is the only time the token itself is shown.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens",
    request_body = NewToken,
    responses((status = 201, description = "The token: shown this once (only its SHA-256 is kept)", body = Token), (status = 400, description = "Malformed body", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn create(
    State(s): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req: NewToken = json_body(&body)?;
    if req.name.trim().is_empty() || req.name.len() > 100 {
        return Err(ApiError::bad_request(
            "invalid_body",
            "name: give 1-100 characters",
        ));
    }
    let token = new_token();
    let row = TokenRow {
        id: uuid::Uuid::now_v7().to_string(),
        name: req.name,
        role: req.role.name().into(),
        hash: token_hash(&token),
        created_at: s.engine.now_ms(),
        revoked_at: None,
    };
    s.engine.store().create_token(&row).await?;
    audit(
        &s,
        &caller,
        "token.create",
        &row.id,
        json!({"name": row.name, "role": row.role}),
    )
    .await;
    let mut v = view(&row);
    v["token"] = Value::String(token);
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses((status = 200, description = "Every token, without secrets", body = Tokens), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn list(State(s): State<AppState>, _: Caller) -> Result<Json<Value>, ApiError> {
    let tokens: Vec<Value> = s.engine.store().tokens().await?.iter().map(view).collect();
    Ok(Json(json!({ "tokens": tokens })))
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "The token's id")),
    responses((status = 200, description = "Revoked: at once on this node, within 5 s on others", body = serde_json::Value), (status = 404, description = "No such token (or already revoked)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn revoke(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !s
        .engine
        .store()
        .revoke_token(&id, s.engine.now_ms())
        .await?
    {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "token_not_found",
            format!("token `{id}` not found (or already revoked)"),
        ));
    }
    s.auth.forget(&id);
    audit(&s, &caller, "token.revoke", &id, json!({})).await;
    Ok(Json(json!({"id": id, "revoked": true})))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// An action (`workflow.save`) or a family of actions (`workflow`, `token`, `step`, ...).
    action: Option<String>,
    /// A token's id or name: what it did.
    actor: Option<String>,
    /// RFC 3339: at or after.
    #[param(format = DateTime)]
    since: Option<String>,
    /// How many at most: 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^-?[0-9]{1,18}_.+$")]
    cursor: Option<String>,
}

/// The audit log, newest first: admin actions (tokens, step modules and grants, kill switches,
/// providers) and changes to what runs (workflow saves, switches, deletes, webhook rotations,
/// object types, teams).
#[utoipa::path(get, path = "/v1/audit", tag = "tokens", params(AuditQuery),
    responses((status = 200, description = "The newest entries first; `next_cursor` continues", body = AuditLog), (status = 400, description = "A bad query (`invalid_query`)", body = ErrorBody), (status = 401, description = "No valid API token", body = ErrorBody), (status = 403, description = "The token's role is too low", body = ErrorBody)),
    security(("token" = ["admin"])))]
async fn audit_log(
    State(s): State<AppState>,
    _: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let q: AuditQuery = super::query(q)?;
    let limit = paging::limit(q.limit, 100)?;
    let before = paging::cursor(q.cursor.as_deref())?;
    let since = paging::time("since", q.since.as_deref())?;
    let filter = AuditFilter {
        action: q.action,
        actor: q.actor,
        since,
        before,
        limit,
    };
    let rows = s.engine.store().audit_log(&filter).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|a| format!("{}_{}", a.at, a.id)))
        .flatten();
    let items: Vec<Value> = rows
        .iter()
        .map(|a| {
            json!({"at": time(a.at), "actor": a.actor, "action": a.action, "target": a.target,
                   "detail": a.detail.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok())})
        })
        .collect();
    Ok(Json(
        json!({ "entries": items, "next_cursor": next_cursor }),
    ))
}

/// Shared between the app and its handlers.
pub(crate) fn new_auth(spec: &utoipa::openapi::OpenApi) -> Arc<Auth> {
    Arc::new(Auth {
        cache: Mutex::default(),
        roles: RouteRoles::from_spec(spec),
    })
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn a_role_has_one_name() {
        for role in Role::ALL {
            assert_eq!(serde_json::to_value(role).unwrap(), role.name());
            assert_eq!(Role::parse(role.name()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
