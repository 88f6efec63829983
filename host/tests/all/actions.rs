//! Built-in action steps and step-module administration over HTTP, on SQLite and PostgreSQL:
//! an HTTP request reaches an allow-listed host (a real server on loopback) with its idempotency
//! key, and no other host; JSON is reshaped; related records are created; modules are granted,
//! refused, versioned and deleted only when unused; owners are assigned (fixed and round-robin),
//! activities scheduled, notifications stored, and email received by a real SMTP server.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::common::{Db, SmtpServer, TestServer, assert_error, on_both_databases};

on_both_databases!(
    http_requests_reach_allow_listed_hosts_with_an_idempotency_key,
    json_is_reshaped_and_related_records_are_created,
    modules_are_granted_versioned_and_deleted_only_when_unused,
    owners_are_assigned_and_activities_scheduled,
    notifications_are_stored_once_and_read_by_channel,
);

/// What the loopback server received: path, idempotency key, body.
pub(crate) type Received = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

/// A server on loopback that records each request; `/orders` answers 201, `/busy` 503.
pub(crate) async fn receiver() -> (u16, Received) {
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
        .chain(hosts.iter().map(|h| ("http_host", *h)))
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
        v["error"]["message"].as_str().unwrap().contains(&format!(
            "localhost:{port} is not on this module's allow-list"
        )),
        "it names the port it compared: {v}"
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
  - id: not-a-relation
    action: create_related
    input: { object: note, relation: text, fields: {} }
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
    let wrong = &v["steps"][3];
    assert!(
        wrong["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`text` is not a relation field of `note` to `deal` records"),
        "{wrong}"
    );
}

async fn modules_are_granted_versioned_and_deleted_only_when_unused(db: Db) {
    let s = TestServer::start(db).await;
    // It asks for `http`: without the grant it is refused, with the list.
    let (status, v) = s.upload("http_request", "http_request", &[]).await;
    assert_error(status, &v, 422, "ungranted_imports");
    assert_eq!(v["error"]["code"], "ungranted_imports");
    assert!(
        v["error"]["details"]["missing"]
            .to_string()
            .contains("http"),
        "{v}"
    );
    let (status, v) = upload_with_hosts(&s, "http_request", &["log"], &["api.example.com"]).await;
    assert_error(status, &v, 422, "invalid_value"); // hosts without http
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
            json!({"grants": ["http", "log"], "http_hosts": ["*.example.com", "10.0.0.1:8443"]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["http_hosts"], json!(["*.example.com", "10.0.0.1:8443"]));
    // The old name of the same field is still taken.
    let (status, v) = s
        .put(
            "/v1/steps/http_request/grants",
            json!({"grants": ["http", "log"], "allow_hosts": ["api.example.com"]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["http_hosts"], json!(["api.example.com"]));
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
            json!({"grants": ["http"], "http_hosts": ["bad host"]}),
        )
        .await;
    assert_error(status, &v, 422, "invalid_value");
    let (status, v) = s.put("/v1/steps/nope/grants", json!({"grants": []})).await;
    assert_error(status, &v, 404, "module_not_found");

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
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("module_in_use")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("uses-it"),
        "{v}"
    );
    s.upload("increment", "increment", &[]).await;
    s.apply("name: uses-it\nsteps:\n  - { id: a, action: increment }\n")
        .await;
    let (status, v) = s.delete("/v1/steps/http_request").await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = s.get("/v1/steps/http_request").await;
    assert_error(status, &v, 404, "module_not_found");
    let (status, v) = s.delete("/v1/steps/http_request").await;
    assert_error(status, &v, 404, "module_not_found");
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

async fn owners_are_assigned_and_activities_scheduled(db: Db) {
    let s = TestServer::start(db).await;
    for (name, grants) in [
        ("assign_owner", vec!["records", "teams"]),
        ("schedule_activity", vec!["records"]),
    ] {
        let (status, v) = s.upload(name, name, &grants).await;
        assert_eq!(status, 201, "{v}");
    }
    let (status, v) = s
        .put("/v1/teams/sales", json!({"members": ["ana", "ben"]}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["channels"], json!(["general"]));
    let (status, v) = s.put("/v1/teams/review", json!({"members": ["cy"]})).await;
    assert_eq!(status, 200, "{v}");
    s.define_object("name: lead\nfields:\n  name: { type: text }\n  owner: { type: owner }\n  reviewer: { type: owner }\n")
        .await;
    s.apply(
        r#"
name: route
scope: { object: lead }
steps:
  - { id: assign, action: assign_owner, input: { team: sales } }
  - { id: review, action: assign_owner, input: { owner: cy, field: reviewer } }
  - id: call
    action: schedule_activity
    input: { type: call, subject: "Call {{ record.name }}", due_in: 2d }
"#,
    )
    .await;
    let mut owners = vec![];
    for id in ["l1", "l2", "l3"] {
        s.create_record("lead", id, json!({"name": format!("Lead {id}")}))
            .await;
        let v = s.run("route", json!({"record_id": id})).await;
        assert_eq!(v["status"], "completed", "{v}");
        let (_, record) = s.get(&format!("/v1/records/lead/{id}")).await;
        owners.push(record["fields"]["owner"].as_str().unwrap().to_string());
        assert_eq!(record["fields"]["reviewer"], "cy");
        let (_, acts) = s.get(&format!("/v1/records/lead/{id}/activities")).await;
        let acts = acts["activities"].as_array().unwrap();
        assert_eq!(acts.len(), 1, "{acts:?}");
        assert_eq!(acts[0]["type"], "call");
        assert_eq!(acts[0]["subject"], format!("Call Lead {id}"));
        assert!(acts[0]["done_at"].is_null(), "scheduled, open: {acts:?}");
        let due = crate::common::rfc3339_ms(acts[0]["due_at"].as_str().unwrap());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!(
            (due - now - 2 * 86_400_000).abs() < 120_000,
            "due in two days: {acts:?}"
        );
    }
    assert_eq!(owners, ["ana", "ben", "ana"], "round-robin");
    let (_, team) = s.get("/v1/teams/sales").await;
    assert_eq!(team["rotation"], 3);

    // The rotation advances once per step: asking again for the same step gets the same member.
    let store = s.engine.store();
    let first = store.pick_member("sales", "e1", "assign", 0).await.unwrap();
    let again = store.pick_member("sales", "e1", "assign", 0).await.unwrap();
    let other = store.pick_member("sales", "e2", "assign", 0).await.unwrap();
    assert_eq!(first, again);
    assert_ne!(first, other);
    assert_eq!(store.pick_member("nope", "e1", "a", 0).await.unwrap(), None);

    // Mistakes fail the step as invalid input, naming what is wrong.
    s.apply(
        "name: wrong\nscope: { object: lead }\nsteps:\n  - { id: a, action: assign_owner, input: { team: nobody } }\n",
    )
    .await;
    let v = s.run("wrong", json!({"record_id": "l1"})).await;
    assert_eq!(v["status"], "failed", "{v}");
    let e = &v["error"];
    assert!(e.to_string().contains("not found: team `nobody`"), "{v}");
    s.apply(
        "name: both\nscope: { object: lead }\nsteps:\n  - { id: a, action: assign_owner, input: { team: sales, owner: x } }\n",
    )
    .await;
    let v = s.run("both", json!({"record_id": "l1"})).await;
    assert!(v["error"].to_string().contains("either `owner`"), "{v}");
    s.apply(
        "name: when\nscope: { object: lead }\nsteps:\n  - { id: b, action: schedule_activity, input: { type: call, due_in: soon } }\n",
    )
    .await;
    let v = s.run("when", json!({"record_id": "l1"})).await;
    assert!(v["error"].to_string().contains("`soon`"), "{v}");

    // Teams are checked.
    let (status, v) = s.put("/v1/teams/dup", json!({"members": ["a", "a"]})).await;
    assert_error(status, &v, 422, "invalid_name");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`a` appears twice"),
        "{v}"
    );
    let (status, v) = s.put("/v1/teams/x", json!({"people": []})).await;
    assert_error(status, &v, 400, "invalid_body");
    let (status, v) = s.get("/v1/teams/ghost").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("team_not_found"))
    );
}

async fn notifications_are_stored_once_and_read_by_channel(db: Db) {
    let s = TestServer::start(db).await;
    let (status, v) = s.upload("notify_team", "notify_team", &["teams"]).await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = s
        .put(
            "/v1/teams/support",
            json!({"members": ["ana"], "channels": ["general", "alerts"]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    s.apply(
        r#"
name: tell
steps:
  - { id: hello, action: notify_team, input: { team: support, text: "New ticket {{ input.n }}" } }
  - { id: alert, action: notify_team, input: { team: support, channel: alerts, text: "Urgent", data: { n: "{{ input.n }}" } } }
  - { id: typo, action: notify_team, input: { team: support, channel: alrets, text: "x" }, on_failure: continue_silently }
"#,
    )
    .await;
    let v = s.run("tell", json!({"input": {"n": 7}})).await;
    assert_eq!(v["status"], "completed", "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let v = s.execution(&id).await;
    let typo = &v["steps"][2];
    assert_eq!(typo["status"], "failed");
    assert!(
        typo["error"]["message"]
            .as_str()
            .unwrap()
            .contains("channel `alrets` of team `support` (its channels: general, alerts)"),
        "{typo}"
    );

    let (status, v) = s.get("/v1/teams/support/notifications").await;
    assert_eq!(status, 200, "{v}");
    let all = v["notifications"].as_array().unwrap();
    assert_eq!(all.len(), 2, "exactly once each: {v}");
    assert_eq!(all[0]["channel"], "general");
    assert_eq!(all[0]["text"], "New ticket 7");
    assert_eq!(all[0]["execution_id"], id.as_str());
    assert_eq!(all[0]["step_id"], "hello");
    assert_eq!(
        all[1]["data"],
        json!({"n": 7}),
        "a whole template keeps its type"
    );
    let (_, v) = s
        .get("/v1/teams/support/notifications?channel=alerts")
        .await;
    assert_eq!(v["notifications"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["notifications"][0]["text"], "Urgent");
    // Paging by cursor.
    let first = all[0]["id"].as_i64().unwrap();
    let (_, v) = s
        .get(&format!(
            "/v1/teams/support/notifications?after={first}&limit=5"
        ))
        .await;
    assert_eq!(v["notifications"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["next_after"], all[1]["id"]);
    let (status, v) = s.get("/v1/teams/support/notifications?limit=0").await;
    assert_error(status, &v, 400, "invalid_query");
    let (status, v) = s.get("/v1/teams/support/notifications?after=-1").await;
    assert_error(status, &v, 400, "invalid_query");
    let (status, v) = s.get("/v1/teams/nobody/notifications").await;
    assert_error(status, &v, 404, "team_not_found");
    // A page past the start of a team that does not exist is not an empty page.
    let (status, v) = s.get("/v1/teams/nobody/notifications?after=5").await;
    assert_error(status, &v, 404, "team_not_found");
    // A member is a name as people read it: no control characters.
    let (status, v) = s
        .put("/v1/teams/odd", json!({"members": ["ana\nbob"]}))
        .await;
    assert_error(status, &v, 422, "invalid_name");
    let (status, _) = s.delete("/v1/teams/support").await;
    assert_eq!(status, 200);
    let (status, v) = s.delete("/v1/teams/support").await;
    assert_error(status, &v, 404, "team_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_real_smtp_server() {
    let smtp = SmtpServer::start().await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let mailer =
        flowbox::services::email::Mailer::new(&url, "Flowbox <flowbox@example.com>").unwrap();
    let s = TestServer::start_with(Db::Sqlite, |c| c.mailer = Some(Arc::new(mailer))).await;
    let (status, v) = s.upload("send_email", "send_email", &["email"]).await;
    assert_eq!(status, 201, "{v}");
    s.apply(
        r#"
name: welcome
steps:
  - id: mail
    action: send_email
    input: { to: "{{ input.to }}", cc: [boss@example.com], subject: "Welcome, {{ input.name }}", text: "Hello {{ input.name }}!", html: "<p>Hello</p>" }
"#,
    )
    .await;
    let v = s
        .run(
            "welcome",
            json!({"input": {"to": "ada@example.com", "name": "Ada"}}),
        )
        .await;
    assert_eq!(v["status"], "completed", "{v}");
    let id = v["id"].as_str().unwrap();
    assert_eq!(
        v["output"]["message_id"],
        format!("<{id}.mail@example.com>")
    );
    let got = smtp.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    for want in [
        "Subject: Welcome, Ada",
        "To: ada@example.com",
        "Cc: boss@example.com",
        "From: Flowbox <flowbox@example.com>",
        &format!("Message-ID: <{id}.mail@example.com>"),
        "Hello Ada!",
        "<p>Hello</p>",
        "X-RcptTo: ada@example.com, boss@example.com",
    ] {
        assert!(m.contains(want), "{want:?} missing from:\n{m}");
    }

    // A bad address is the input's fault: not sent, not retried.
    let v = s
        .run(
            "welcome",
            json!({"input": {"to": "not an address", "name": "X"}}),
        )
        .await;
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        v["error"]
            .to_string()
            .contains("`not an address` is not an email address"),
        "{v}"
    );
    assert_eq!(smtp.messages().len(), 1);

    // A server that is down fails the step as retryable (it is retried, then fails).
    drop(smtp);
    s.apply(
        "name: down\nsteps:\n  - { id: mail, action: send_email, input: { to: a@example.com, subject: s, text: t }, retry: { attempts: 2, backoff: 10ms } }\n",
    )
    .await;
    let v = s.run("down", json!({})).await;
    assert_eq!(v["status"], "failed", "{v}");
    let v = s.execution(v["id"].as_str().unwrap()).await;
    assert_eq!(v["steps"].as_array().unwrap().len(), 2, "retried once: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_without_a_server_says_how_to_configure_one() {
    let s = TestServer::start(Db::Sqlite).await;
    s.upload("send_email", "send_email", &["email"]).await;
    s.apply("name: m\nsteps:\n  - { id: mail, action: send_email, input: { to: a@example.com, subject: s, text: t } }\n")
        .await;
    let v = s.run("m", json!({})).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert!(v["error"].to_string().contains("--smtp-url"), "{v}");
    let e = flowbox::services::email::Mailer::new("ftp://x", "a@b.c").unwrap_err();
    assert!(e.to_string().contains("smtp://HOST:PORT"), "{e}");
    let e = flowbox::services::email::Mailer::new("smtp://user:secret@x:25?tls=required", "nobody")
        .unwrap_err();
    assert!(e.to_string().contains("--smtp-from `nobody`"), "{e}");
    // Credentials without TLS are refused, unless the URL says they may go in the clear.
    let e = flowbox::services::email::Mailer::new("smtp://user:secret@x:25", "a@b.c").unwrap_err();
    assert!(e.to_string().contains("no TLS"), "{e}");
    assert!(!e.to_string().contains("secret"), "{e}");
    let e =
        flowbox::services::email::Mailer::new("smtp://user:secret@x:25?tls=opportunistic", "a@b.c")
            .unwrap_err();
    assert!(e.to_string().contains("no TLS"), "{e}");
    flowbox::services::email::Mailer::new("smtp://user:secret@x:25?allow_plain_auth=true", "a@b.c")
        .expect("plain credentials, said plainly");
    flowbox::services::email::Mailer::new("smtps://user:secret@x", "a@b.c").expect("implicit TLS");
    let e = flowbox::services::email::Mailer::new("smtp://user:secret@x:25?tls=maybe", "a@b.c")
        .unwrap_err();
    assert!(
        !e.to_string().contains("secret"),
        "the password is not shown: {e}"
    );
    // A password that breaks the URL's syntax is not shown either.
    let e =
        flowbox::services::email::Mailer::new("smtps://user:pa/ss#word@x", "a@b.c").unwrap_err();
    assert!(
        !e.to_string().contains("pa/ss") && !e.to_string().contains("word"),
        "the password is not shown: {e}"
    );
}
