//! Every route checks its token and role; tokens are created, used and revoked; admin actions
//! are audited.

use serde_json::{Value, json};

use crate::common::{Db, TestServer, assert_error, on_both_databases};

on_both_databases!(
    every_route_refuses_missing_wrong_and_weak_tokens,
    tokens_and_the_audit_log
);

/// Each route (as its path template) with the least role it needs. The OpenAPI test checks that
/// this list and the served description are the same.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/v1/workflows", "developer"),
    ("POST", "/v1/workflows/validate", "developer"),
    ("GET", "/v1/workflows", "client"),
    ("GET", "/v1/workflows/{name}", "client"),
    ("DELETE", "/v1/workflows/{name}", "developer"),
    ("GET", "/v1/workflows/{name}/versions", "client"),
    ("PUT", "/v1/workflows/{name}/kill-switch", "admin"),
    ("PUT", "/v1/workflows/{name}/enabled", "developer"),
    ("GET", "/v1/workflows/{name}/webhooks", "developer"),
    ("GET", "/v1/workflows/{name}/timers", "client"),
    (
        "POST",
        "/v1/workflows/{name}/webhooks/{trigger}/rotate",
        "developer",
    ),
    ("PUT", "/v1/kill-switch", "admin"),
    ("GET", "/v1/kill-switch", "client"),
    ("POST", "/v1/workflows/{name}/executions", "client"),
    ("POST", "/v1/workflows/{name}/executions/bulk", "client"),
    ("GET", "/v1/executions", "client"),
    ("GET", "/v1/executions/counts", "client"),
    ("GET", "/v1/changes", "client"),
    ("GET", "/v1/whoami", "client"),
    ("GET", "/v1/executions/{id}", "client"),
    ("POST", "/v1/executions/{id}/pause", "client"),
    ("POST", "/v1/executions/{id}/resume", "client"),
    ("POST", "/v1/executions/{id}/cancel", "client"),
    ("POST", "/v1/executions/{id}/goals/{step}/meet", "client"),
    ("PUT", "/v1/steps/{name}", "admin"),
    ("GET", "/v1/teams", "client"),
    ("GET", "/v1/llm/providers", "admin"),
    ("POST", "/v1/files", "client"),
    ("GET", "/v1/files/{id}", "client"),
    ("GET", "/v1/files/{id}/content", "client"),
    ("PUT", "/v1/llm/providers/{name}", "admin"),
    ("GET", "/v1/llm/providers/{name}", "admin"),
    ("DELETE", "/v1/llm/providers/{name}", "admin"),
    ("PUT", "/v1/teams/{name}", "developer"),
    ("GET", "/v1/teams/{name}", "client"),
    ("DELETE", "/v1/teams/{name}", "developer"),
    ("GET", "/v1/teams/{name}/notifications", "client"),
    ("GET", "/v1/steps", "client"),
    ("GET", "/v1/steps/{name}", "client"),
    ("PUT", "/v1/steps/{name}/grants", "admin"),
    ("DELETE", "/v1/steps/{name}", "admin"),
    ("POST", "/v1/objects", "developer"),
    ("GET", "/v1/objects", "client"),
    ("GET", "/v1/events", "client"),
    ("GET", "/v1/objects/{name}", "client"),
    ("POST", "/v1/records/{object}", "client"),
    ("GET", "/v1/records/{object}", "client"),
    ("POST", "/v1/records/{object}/import", "client"),
    ("PUT", "/v1/records/{object}/{id}", "client"),
    ("GET", "/v1/records/{object}/{id}", "client"),
    ("PATCH", "/v1/records/{object}/{id}", "client"),
    ("DELETE", "/v1/records/{object}/{id}", "client"),
    ("POST", "/v1/records/{object}/{id}/archive", "client"),
    ("POST", "/v1/records/{object}/{id}/unarchive", "client"),
    ("GET", "/v1/records/{object}/{id}/activities", "client"),
    ("POST", "/v1/records/{object}/{id}/activities", "client"),
    ("GET", "/v1/records/{object}/{id}/events", "client"),
    ("POST", "/v1/activities/{id}/complete", "client"),
    ("GET", "/v1/tokens", "admin"),
    ("POST", "/v1/tokens", "admin"),
    ("DELETE", "/v1/tokens/{id}", "admin"),
    ("GET", "/v1/audit", "admin"),
];

fn rank(role: &str) -> u8 {
    match role {
        "client" => 0,
        "developer" => 1,
        _ => 2,
    }
}

async fn new_token(s: &TestServer, role: &str) -> String {
    let (status, v) = s
        .post(
            "/v1/tokens",
            json!({"name": format!("{role} token"), "role": role}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    v["token"].as_str().unwrap().to_string()
}

/// A path template with sample values.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| match part {
            "{object}" => "deal",
            p if p.starts_with('{') => "x1",
            p => p,
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn send(s: &TestServer, method: &str, path: &str, auth: Option<&str>) -> (u16, Value) {
    let path = &concrete(path);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = s
        .http
        .request(method, format!("{}{path}", s.url))
        .body("{}");
    req = match auth {
        Some(a) => req.header("authorization", a),
        // An explicit header keeps the helper from adding the admin token.
        None => req.header("authorization", ""),
    };
    s.call(req).await
}

async fn every_route_refuses_missing_wrong_and_weak_tokens(db: Db) {
    let s = TestServer::start(db).await;
    let client = new_token(&s, "client").await;
    let developer = new_token(&s, "developer").await;
    for (method, path, least) in ROUTES {
        for auth in [
            None,
            Some("Bearer fbx_wrong"),
            Some("Basic dXNlcjpwYXNz"),
            Some("Bearer "),
        ] {
            let (status, v) = send(&s, method, path, auth).await;
            assert_eq!(
                (status, v["error"]["code"].as_str()),
                (401, Some("unauthorized")),
                "{method} {path} with {auth:?}: {v}"
            );
        }
        for (role, token) in [("client", &client), ("developer", &developer)] {
            let (status, v) = send(&s, method, path, Some(&format!("Bearer {token}"))).await;
            if rank(role) < rank(least) {
                assert_eq!(status, 403, "{method} {path} as {role}: {v}");
                assert_eq!(v["error"]["code"], "forbidden");
                assert!(
                    v["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("needs the {least} role")),
                    "{v}"
                );
            } else {
                // Allowed: whatever the (dummy) request gets, it is not a refusal and not a
                // server error.
                assert!(
                    status != 401 && status != 403 && status < 500,
                    "{method} {path} as {role}: {status} {v}"
                );
            }
        }
    }
    let (status, _) = send(&s, "GET", "/healthz", None).await;
    assert_eq!(status, 200, "the health check needs no token");
}

async fn tokens_and_the_audit_log(db: Db) {
    let s = TestServer::start(db).await;
    let client = new_token(&s, "client").await;
    let (_, list) = s.get("/v1/tokens").await;
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens
            .iter()
            .all(|t| t.get("token").is_none() && t.get("hash").is_none()),
        "secrets never come back: {list}"
    );
    let id = tokens.iter().find(|t| t["role"] == "client").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let bearer = format!("Bearer {client}");
    let (status, _) = send(&s, "GET", "/v1/executions", Some(&bearer)).await;
    assert_eq!(status, 200);
    let (status, v) = s
        .post("/v1/tokens", json!({"name": "x", "role": "root"}))
        .await;
    assert_error(status, &v, 400, "invalid_body");
    let (status, _) = s
        .call(s.http.delete(format!("{}/v1/tokens/{id}", s.url)))
        .await;
    assert_eq!(status, 200);
    let (status, v) = send(&s, "GET", "/v1/executions", Some(&bearer)).await;
    assert_error(status, &v, 401, "unauthorized"); // a revoked token is refused at once
    let (status, v) = s
        .call(s.http.delete(format!("{}/v1/tokens/{id}", s.url)))
        .await;
    assert_error(status, &v, 404, "token_not_found");

    s.put("/v1/kill-switch", json!({"on": true})).await;
    s.put("/v1/kill-switch", json!({"on": false})).await;
    s.upload("increment", "increment", &["log"]).await;
    let (_, audit) = s.get("/v1/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "step_module.upload",
            "kill_switch.global",
            "kill_switch.global",
            "token.revoke",
            "token.create"
        ]
    );
    let upload = &audit["entries"][0];
    assert_eq!(upload["target"], "increment");
    assert_eq!(upload["detail"]["grants"], json!(["log"]));
    assert!(
        upload["actor"].as_str().unwrap().contains("bootstrap"),
        "{upload}"
    );
}

#[tokio::test]
async fn the_bootstrap_admin_token_is_made_once() {
    use flowbox::api::auth::bootstrap;
    let dir = tempfile::tempdir().unwrap();
    let store =
        flowbox::store::Store::open(&format!("sqlite://{}", dir.path().join("db").display()))
            .await
            .unwrap();
    let made = bootstrap(&store, None, 0)
        .await
        .unwrap()
        .expect("a token is made up when none is given");
    assert!(made.starts_with("fbx_") && made.len() > 40);
    assert_eq!(
        bootstrap(&store, Some("fbx_from_env"), 0).await.unwrap(),
        None,
        "not on later starts"
    );
    assert_eq!(store.token_count().await.unwrap(), 1);
    assert!(
        store
            .token_by_hash(&flowbox::api::auth::token_hash(&made))
            .await
            .unwrap()
            .is_some()
    );
}
