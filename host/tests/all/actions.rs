//! Built-in action steps and step-module administration over HTTP, on SQLite and PostgreSQL:
//! an HTTP request reaches an allow-listed host (a real server on loopback) with its idempotency
//! key, and no other host; JSON is reshaped; related records are created; modules are granted,
//! refused, versioned and deleted only when unused.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::common::{Db, TestServer, on_both_databases};

on_both_databases!(
    http_requests_reach_allow_listed_hosts_with_an_idempotency_key,
    json_is_reshaped_and_related_records_are_created,
    modules_are_granted_versioned_and_deleted_only_when_unused,
);

/// What the loopback server received: path, idempotency key, body.
type Received = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

/// A server on loopback that records each request; `/orders` answers 201, `/busy` 503.
async fn receiver() -> (u16, Received) {
    let received: Received = Arc::default();
    let seen = received.clone();
    let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: String| {
        let seen = seen.clone();
        async move {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
            seen.lock()
                .unwrap()
                .push((uri.path().to_string(), key, body));
            match uri.path() {
                "/busy" => (StatusCode::SERVICE_UNAVAILABLE, "try later".to_string()),
                _ => (StatusCode::CREATED, json!({"order": 42}).to_string()),
            }
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, received)
}

async fn upload_with_hosts(
    s: &TestServer,
    name: &str,
    grants: &[&str],
    hosts: &[&str],
) -> (u16, Value) {
    let q: Vec<(&str, &str)> = grants
        .iter()
        .map(|g| ("grant", *g))
        .chain(hosts.iter().map(|h| ("allow_host", *h)))
        .collect();
    s.call(
        s.http
            .put(format!("{}/v1/steps/{name}", s.url))
            .query(&q)
            .body(crate::common::guest(name)),
    )
    .await
}

async fn http_requests_reach_allow_listed_hosts_with_an_idempotency_key(db: Db) {
    let s = TestServer::start(db).await;
    let (port, received) = receiver().await;
    let host = format!("127.0.0.1:{port}");
    let (status, v) = upload_with_hosts(&s, "http_request", &["http"], &[&host]).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["http_hosts"], json!([host]));
    s.apply(&format!(
        r#"
name: order
steps:
  - id: call
    action: http_request
    input: {{ url: "http://{host}/orders", method: POST, body: {{ sku: "{{{{ input.sku }}}}" }}, headers: {{ x-trace: abc }} }}
"#
    ))
    .await;
    let v = s.run("order", json!({"input": {"sku": "A-1"}})).await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["output"]["status"], 201);
    assert_eq!(v["output"]["body"], json!({"order": 42}));
    let id = v["id"].as_str().unwrap();
    {
        let got = received.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "/orders");
        assert_eq!(got[0].1.as_deref(), Some(format!("{id}/call").as_str()));
        assert_eq!(got[0].2, json!({"sku": "A-1"}));
    }

    // A 503 is retryable: both attempts carry the same key.
    s.apply(&format!(
        "name: busy\nsteps:\n  - {{ id: call, action: http_request, input: {{ url: \"http://{host}/busy\" }}, retry: {{ attempts: 2, backoff: 10ms }} }}\n"
    ))
    .await;
    let v = s.run("busy", json!({})).await;
    assert_eq!(v["status"], "failed", "{v}");
    let id = v["id"].as_str().unwrap();
    let keys: Vec<Option<String>> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.0 == "/busy")
        .map(|r| r.1.clone())
        .collect();
    assert_eq!(keys, vec![Some(format!("{id}/call")); 2]);

    // Another host is refused by the host, before any request leaves.
    s.apply(&format!(
        "name: elsewhere\nsteps:\n  - {{ id: call, action: http_request, input: {{ url: \"http://localhost:{port}/orders\" }} }}\n"
    ))
    .await;
    let before = received.lock().unwrap().len();
    let v = s.run("elsewhere", json!({})).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("localhost is not on this module's allow-list"),
        "{v}"
    );
    assert_eq!(received.lock().unwrap().len(), before);
}

async fn json_is_reshaped_and_related_records_are_created(db: Db) {
    let s = TestServer::start(db).await;
    for (name, grants) in [
        ("transform_json", vec![]),
        ("create_related", vec!["records"]),
    ] {
        let (status, v) = s.upload(name, name, &grants).await;
        assert_eq!(status, 201, "{v}");
    }
    s.define_object("name: deal\nfields:\n  title: { type: text }\n")
        .await;
    s.define_object("name: note\nfields:\n  text: { type: text, required: true }\n  deal: { type: relation, object: deal }\n").await;
    s.create_record("deal", "d1", json!({"title": "Big"})).await;
    s.apply(
        r#"
name: tidy
scope: { object: deal }
steps:
  - id: shape
    action: transform_json
    input:
      data: { contact: { email: a@b.io, name: Ada }, plan: null, junk: 1 }
      pick: [contact.email, plan, contact.name]
      rename: { name: full_name }
      defaults: { plan: basic, source: api }
  - id: note
    action: create_related
    input: { object: note, relation: deal, fields: { text: "plan {{ steps.shape.output.plan }}" } }
  - id: bad
    action: create_related
    input: { object: note, relation: deal, fields: { colour: red } }
    on_failure: continue_silently
"#,
    )
    .await;
    let v = s.run("tidy", json!({"record_id": "d1"})).await;
    assert_eq!(v["status"], "completed", "{v}");
    let v = s.execution(v["id"].as_str().unwrap()).await;
    assert_eq!(
        v["steps"][0]["output"],
        json!({"email": "a@b.io", "plan": "basic", "full_name": "Ada", "source": "api"})
    );
    let note = &v["steps"][1]["output"];
    let (status, record) = s
        .get(&format!(
            "/v1/records/note/{}",
            note["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(
        record["fields"],
        json!({"text": "plan basic", "deal": "d1"})
    );
    let bad = &v["steps"][2];
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("colour"),
        "{bad}"
    );
}

async fn modules_are_granted_versioned_and_deleted_only_when_unused(db: Db) {
    let s = TestServer::start(db).await;
    // It asks for `http`: without the grant it is refused, with the list.
    let (status, v) = s.upload("http_request", "http_request", &[]).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "ungranted_imports");
    assert!(
        v["error"]["details"]["missing"]
            .to_string()
            .contains("http"),
        "{v}"
    );
    let (status, v) = upload_with_hosts(&s, "http_request", &["log"], &["api.example.com"]).await;
    assert_eq!(status, 422, "hosts without http: {v}");
    let (status, v) = upload_with_hosts(&s, "http_request", &["http"], &["api.example.com"]).await;
    assert_eq!(status, 201, "{v}");
    assert!(
        v["info"]["imports"].to_string().contains("http"),
        "it shows what it asks for: {v}"
    );

    // Grants change; taking away what it imports is refused.
    let (status, v) = s
        .put(
            "/v1/steps/http_request/grants",
            json!({"grants": ["http", "log"], "allow_hosts": ["*.example.com", "10.0.0.1:8443"]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["http_hosts"], json!(["*.example.com", "10.0.0.1:8443"]));
    let (status, v) = s
        .put("/v1/steps/http_request/grants", json!({"grants": ["log"]}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("ungranted_imports")),
        "{v}"
    );
    let (status, v) = s
        .put(
            "/v1/steps/http_request/grants",
            json!({"grants": ["http"], "allow_hosts": ["bad host"]}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = s.put("/v1/steps/nope/grants", json!({"grants": []})).await;
    assert_eq!(status, 404, "{v}");

    // Versions by content hash: new bytes under the same name are a new version.
    let (status, v) = s.upload("http_request", "increment", &[]).await;
    assert_eq!(status, 201, "{v}");
    let (_, v) = s.get("/v1/steps/http_request").await;
    assert_eq!(v["versions"].as_array().unwrap().len(), 2, "{v}");

    // In use: not deleted, and the workflow is named.
    s.apply("name: uses-it\nsteps:\n  - { id: a, action: http_request }\n")
        .await;
    let (_, v) = s.get("/v1/steps/http_request").await;
    assert_eq!(v["used_by"], json!(["uses-it"]));
    let (status, v) = s.delete("/v1/steps/http_request").await;
    assert_eq!(status, 409, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("uses-it"),
        "{v}"
    );
    s.upload("increment", "increment", &[]).await;
    s.apply("name: uses-it\nsteps:\n  - { id: a, action: increment }\n")
        .await;
    let (status, v) = s.delete("/v1/steps/http_request").await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = s.get("/v1/steps/http_request").await;
    assert_eq!(status, 404);
    let (status, _) = s.delete("/v1/steps/http_request").await;
    assert_eq!(status, 404);
    let (_, audit) = s.get("/v1/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"step_module.grants") && actions.contains(&"step_module.delete"),
        "{actions:?}"
    );
}
