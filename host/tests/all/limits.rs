//! The host protects itself from what callers and steps hand it: expressions with a budget,
//! bounded values, inputs, definitions, logs and variables, loops of workflows starting
//! workflows, slow clients. Each abuse fails only itself, with an error naming the limit, and
//! the server keeps answering meanwhile.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Db, TestServer, assert_error, on_both_databases};

on_both_databases!(
    an_oversized_value_fails_only_its_own_execution,
    host_call_floods_are_capped,
);

/// What a definition may ask of the sandbox has ceilings: over one, it is refused at save with
/// the ceiling named (all at once); a stored one is held to the ceilings of the node running it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_limits_have_ceilings() {
    let a = TestServer::start(Db::Postgres).await;
    assert_eq!(a.upload("slow", "slow", &[]).await.0, 201);
    let (status, v) = a
        .post_raw(
            "/v1/workflows",
            "name: greedy\nsteps:\n  - { id: big, action: slow, limits: { memory_mb: 100000 } }\n  - { id: long, action: slow, limits: { timeout: 200h, fuel: 100000000000000 } }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    let found = crate::common::problems(&v);
    assert_eq!(found.len(), 3, "{v}");
    assert!(
        found[0].starts_with("steps (id \"big\").limits.memory_mb: ")
            && found[0].contains("at most 1024 (--max-step-memory-mb)"),
        "{v}"
    );
    assert!(
        found[1].starts_with("steps (id \"long\").limits.fuel: "),
        "{v}"
    );
    assert!(
        found[2].starts_with("steps (id \"long\").limits.timeout: ")
            && found[2].contains("at most 3600s"),
        "{v}"
    );
    let (status, v) = a
        .post_raw(
            "/v1/workflows",
            "name: mute\nsteps:\n  - { id: s, action: slow, limits: { output_kb: 0 } }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    assert!(v.to_string().contains("output_kb"), "{v}");

    // Saved where 3 s was allowed; run where 1 s is the ceiling, the step is stopped at 1 s.
    a.apply("name: patient\nsteps:\n  - { id: nap, action: slow, input: { ms: 1500 }, limits: { timeout: 3s } }\n")
        .await;
    let b = a
        .join_with(|c| c.step_ceilings.timeout = Duration::from_secs(1))
        .await;
    let v = b.run("patient", json!({})).await;
    assert_eq!(v["error"]["code"], "deadline_exceeded", "{v}");
    let v = a.run("patient", json!({})).await;
    assert_eq!(v["status"], "completed", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_expressions_hit_their_budget_while_the_server_answers() {
    runaway_expressions().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_bodies_and_definitions_are_bounded_before_parsing() {
    bounded_bodies().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_starting_themselves_are_stopped_by_the_loop_guard() {
    self_starting().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_outputs_are_refused_and_unreadable_state_fails_loudly() {
    deep_outputs().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_errors_stay_json() {
    slow_clients().await
}

/// Probe `/healthz` every 20 ms until `done`; the slowest answer.
async fn slowest_health_answer(url: String, done: tokio::sync::watch::Receiver<bool>) -> Duration {
    let http = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    while !*done.borrow() {
        let asked = Instant::now();
        let r = http
            .get(format!("{url}/healthz"))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        assert!(r.is_ok_and(|r| r.status() == 200), "/healthz failed");
        slowest = slowest.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    slowest
}

async fn runaway_expressions() {
    let s = TestServer::start(Db::Sqlite).await;
    s.define_object("name: thing\nfields:\n  n: { type: number }\n")
        .await;
    for i in 0..20 {
        s.create_record("thing", &format!("t{i}"), json!({"n": i}))
            .await;
    }
    // A harmless filter is untouched by the budget.
    let (status, v) = s
        .get("/v1/records/thing?filter=record.n%20%3E%3D%2018")
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["records"].as_array().unwrap().len(), 2, "{v}");

    let (done_tx, done) = tokio::sync::watch::channel(false);
    let prober = tokio::spawn(slowest_health_answer(s.url.clone(), done));
    // Two abusive requests at once, one per core.
    let filter = "(range(100000)|list * 1000)|sum > 0";
    let mut abusers = Vec::new();
    for _ in 0..2 {
        let (http, url, token) = (s.http.clone(), s.url.clone(), s.admin.clone());
        abusers.push(tokio::spawn(async move {
            let r = http
                .get(format!("{url}/v1/records/thing"))
                .query(&[("filter", filter)])
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    for a in abusers {
        let (status, v) = a.await.unwrap();
        assert_error(status, &v, 422, "expression_limit");
        assert_eq!(v["error"]["code"], "expression_limit", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("budget"),
            "{v}"
        );
    }
    // A developer's template: the step fails, naming the limit.
    s.apply(
        "name: loops\nsteps:\n  - id: s\n    set:\n      x: \"{% for i in range(100000) %}{% for j in range(3000) %}{% endfor %}{% endfor %}\"\n",
    )
    .await;
    let v = s.run("loops", json!({})).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["error"]["code"], "expression_limit", "{v}");
    done_tx.send(true).unwrap();
    let slowest = prober.await.unwrap();
    eprintln!("slowest /healthz answer while expressions ran away: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(500),
        "/healthz stalled for {slowest:?}"
    );
}

/// A `set` step that makes a value far over the limit fails its own execution (naming the
/// limit); executions committing beside it are untouched.
async fn an_oversized_value_fails_only_its_own_execution(db: Db) {
    let s = TestServer::start(db).await;
    assert_eq!(s.upload("increment", "increment", &[]).await.0, 201);
    s.apply(
        "name: fine\nsteps:\n  - { id: a, action: increment }\n  - { id: b, action: increment }\n",
    )
    .await;
    s.apply("name: huge\nsteps:\n  - id: s\n    set: { x: \"{{ 'x' * 10000000 }}\" }\n")
        .await;
    // A variable that grows past the state limit a step at a time.
    s.apply(
        "name: grows\nsteps:\n  - id: s\n    set: { x: \"{{ (vars.x or '') ~ ('y' * 1000000) }}\" }\n  - id: again\n    goto: s\n    max_iterations: 40\n",
    )
    .await;
    let mut fine = Vec::new();
    for i in 0..30 {
        let (http, url, token) = (s.http.clone(), s.url.clone(), s.admin.clone());
        fine.push(tokio::spawn(async move {
            let r = http
                .post(format!("{url}/v1/workflows/fine/executions?wait=30"))
                .bearer_auth(token)
                .json(&json!({"input": {"n": i}}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    // Many variables each under the limit, together over the state's.
    let wide: String = (0..20)
        .map(|i| format!("      v{i}: \"{{{{ 'z' * 900000 }}}}\"\n"))
        .collect();
    s.apply(&format!("name: wide\nsteps:\n  - id: s\n    set:\n{wide}"))
        .await;
    let huge = s.run("huge", json!({})).await;
    let grows = s.run("grows", json!({})).await;
    let wide = s.run("wide", json!({})).await;
    for (i, f) in fine.into_iter().enumerate() {
        let (status, v) = f.await.unwrap();
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["output"], json!({"n": i + 2}), "{v}");
    }
    assert_eq!(huge["status"], "failed", "{huge}");
    assert_eq!(huge["error"]["code"], "value_too_large", "{huge}");
    assert_eq!(grows["status"], "failed", "{grows}");
    assert_eq!(grows["error"]["code"], "value_too_large", "{grows}");
    let message = grows["error"]["message"].as_str().unwrap();
    assert!(message.contains("over the limit of 1048576"), "{message}");
    assert_eq!(wide["status"], "failed", "{wide}");
    assert_eq!(wide["error"]["code"], "state_too_large", "{wide}");
    // All are recorded, with their history.
    let v = s.execution(huge["id"].as_str().unwrap()).await;
    assert_eq!(v["steps"][0]["status"], "failed", "{v}");
}

/// Half a million empty log lines and a hundred 1 MiB variables from one step: the log keeps
/// what its limit allows (and says how much it dropped), the variables stop at their limit.
async fn host_call_floods_are_capped(db: Db) {
    let s = TestServer::start(db).await;
    assert_eq!(
        s.upload("flood", "flood", &["log", "variables"]).await.0,
        201
    );
    s.apply("name: logs\nsteps:\n  - { id: f, action: flood, input: { log: 500000 } }\n")
        .await;
    s.apply("name: vars\nsteps:\n  - { id: f, action: flood, input: { variables: 100 } }\n")
        .await;
    let v = s.run("logs", json!({})).await;
    assert_eq!(v["status"], "completed", "{v}");
    let v = s.execution(v["id"].as_str().unwrap()).await;
    let logs = v["steps"][0]["logs"].as_array().unwrap();
    assert!(logs.len() < 10_000, "{} log lines kept", logs.len());
    let last = logs.last().unwrap()["message"].as_str().unwrap();
    assert!(last.contains("log lines dropped"), "{last}");
    let v = s.run("vars", json!({})).await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["output"]["set"], 4, "{v}");
    assert!(
        v["output"]["refused"]
            .as_str()
            .unwrap()
            .contains("a step writes at most"),
        "{v}"
    );
    assert_eq!(v["variables"].as_object().unwrap().len(), 4, "{v}");
}

async fn bounded_bodies() {
    let s = TestServer::start(Db::Sqlite).await;
    assert_eq!(s.upload("increment", "increment", &[]).await.0, 201);
    s.apply("name: hooked\ntriggers:\n  - webhook: {}\nsteps:\n  - { id: a, action: increment, input: { n: 1 } }\n")
        .await;
    s.apply("name: plain\nsteps:\n  - { id: a, action: increment, input: { n: 1 } }\n")
        .await;
    // A JSON start input of 520,000 small objects (4 MB).
    let body = format!("{{\"input\": [{}]}}", vec!["{}"; 520_000].join(","));
    let (status, v) = s
        .call(
            s.http
                .post(format!("{}/v1/workflows/plain/executions", s.url))
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
    assert_error(status, &v, 413, "body_too_large");
    assert_eq!(v["error"]["code"], "body_too_large", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("100000 values"),
        "{v}"
    );
    // A webhook's CSV of a million rows (2 MB).
    let (_, hooks) = s.get("/v1/workflows/hooked/webhooks").await;
    let hook = &hooks["webhooks"][0];
    let csv = format!("a\n{}", "1\n".repeat(1_000_000));
    let (status, v) = s
        .call(
            s.http
                .post(format!("{}{}", s.url, hook["path"].as_str().unwrap()))
                .header("content-type", "text/csv")
                .header("x-flowbox-secret", hook["secret"].as_str().unwrap())
                .body(csv),
        )
        .await;
    assert_error(status, &v, 413, "body_too_large");
    assert_eq!(v["error"]["code"], "body_too_large", "{v}");
    // A definition nested 200,000 levels deep (390 KB): refused at once.
    let deep = format!(
        "name: deep\nsteps: {}{}\n",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let asked = Instant::now();
    let (status, v) = s.post_raw("/v1/workflows", &deep).await;
    assert_error(status, &v, 422, "invalid_definition");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deeper than 64"),
        "{v}"
    );
    eprintln!(
        "a 200,000-level definition was refused in {:?}",
        asked.elapsed()
    );
    let (status, v) = s.post_raw("/v1/objects", &deep).await;
    assert_error(status, &v, 422, "invalid_fields");
    // Nothing broke: an ordinary start still runs.
    let v = s.run("plain", json!({})).await;
    assert_eq!(v["status"], "completed", "{v}");
}

async fn self_starting() {
    let s = TestServer::start(Db::Sqlite).await;
    s.apply("name: selfie\nsteps:\n  - { id: again, start_workflow: { workflow: selfie } }\n")
        .await;
    let v = s.run("selfie", json!({})).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["error"]["code"], "loop_guard", "{v}");
    // One that may run again in its own chain does, up to the chain limit (8 by default).
    s.apply("name: again\nsettings: { reenter_in_chain: true }\nsteps:\n  - { id: again, start_workflow: { workflow: again } }\n")
        .await;
    s.run("again", json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, list) = s.get("/v1/executions?workflow=again&limit=100").await;
        let items = list["executions"].as_array().unwrap();
        let settled = items
            .iter()
            .all(|e| e["status"] == "completed" || e["status"] == "failed");
        if settled && items.iter().any(|e| e["status"] == "failed") {
            assert_eq!(items.len(), 8, "{list}");
            let last = items.iter().find(|e| e["status"] == "failed").unwrap();
            assert_eq!(last["error"]["code"], "loop_guard", "{last}");
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, list) = s.get("/v1/executions?workflow=again&limit=100").await;
    assert_eq!(
        list["executions"].as_array().unwrap().len(),
        8,
        "it went on: {list}"
    );
}

async fn deep_outputs() {
    let s = TestServer::start(Db::Sqlite).await;
    assert_eq!(s.upload("deep", "deep_output", &[]).await.0, 201);
    s.apply("name: deep\nsteps:\n  - { id: d, action: deep, input: { depth: 126 } }\n  - { id: nap, delay: { for: 10ms } }\n  - { id: e, action: deep, input: { depth: 3 } }\n")
        .await;
    let v = s.run("deep", json!({})).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["error"]["code"], "output_not_json", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nests 127 levels"),
        "{v}"
    );

    // A stored state that no longer reads back fails its execution, loudly, and is kept.
    s.apply("name: later\nsteps:\n  - { id: nap, delay: { for: 200ms } }\n  - { id: d, action: deep, input: { depth: 1 } }\n")
        .await;
    let (_, v) = s.post("/v1/workflows/later/executions", json!({})).await;
    let id = v["id"].as_str().unwrap().to_string();
    s.until_status(&id, "waiting", Duration::from_secs(10))
        .await;
    corrupt_state(&s, &id).await;
    let v = s.until_status(&id, "failed", Duration::from_secs(10)).await;
    assert_eq!(v["error"]["code"], "state_unreadable", "{v}");
    let row = s.engine.store().execution(&id).await.unwrap().unwrap();
    assert_eq!(row.state, "{not json", "the stored state was overwritten");
}

/// Overwrite an execution's stored state with text that is not JSON.
async fn corrupt_state(s: &TestServer, id: &str) {
    let url = s.db_url.clone();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE executions SET state = '{not json' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn slow_clients() {
    let s = TestServer::start(Db::Sqlite).await;
    let addr = s.url.trim_start_matches("http://").to_string();
    // Headers that never end: the connection is closed after the header timeout (3 s here).
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "a client that never finished its headers was kept for {:?}",
        started.elapsed()
    );
    // A body that never arrives: 408, as JSON.
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.write_all(
        format!(
            "POST /v1/workflows HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100\r\n\r\nname:",
            s.admin
        )
        .as_bytes(),
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"body_timeout\""), "{answer}");
    // Errors axum makes by itself are JSON too.
    let (status, v) = s.delete("/v1/workflows").await;
    assert_eq!(status, 405, "{v}");
    assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
    let (status, v) = s.get("/v1/workflows/%FF").await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_path", "{v}");
    let big = "x".repeat(5 << 20);
    let (status, v) = s.post_raw("/v1/workflows", &big).await;
    assert_error(status, &v, 413, "body_too_large");
    assert_eq!(v["error"]["code"], "body_too_large", "{v}");
}
