//! Workflows end to end over HTTP, on SQLite and on PostgreSQL: every step kind, the lifecycle
//! (pause, resume, cancel, kill switches), versions, and the errors clients get.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flowbox::clock::ManualClock;
use serde_json::{Value, json};

use crate::common::{Db, TestServer, assert_error, on_both_databases};

on_both_databases!(
    seq_workflow_runs_and_keeps_its_history,
    conditions_variables_loops_and_stop,
    a_delay_waits_as_a_row_and_then_completes,
    weekday_delay_wakes_when_the_clock_says,
    retries_then_failure_handling,
    pause_resume_and_cancel_running_and_waiting,
    kill_switches_stop_starts_and_pause_until_lifted,
    goals_take_met_or_not_met,
    children_and_actions_on_other_workflows,
    record_scoped_workflows,
    versions_and_listing,
    bad_requests_get_json_errors,
    steps_write_records_with_their_result,
    resume_paused_pause_others_until_and_silence,
    workflows_are_deleted_when_idle_and_changes_are_audited,
    typed_variables_name_what_exists,
);

const SEQ3: &str = "
name: seq3
steps:
  - { id: s1, action: increment }
  - { id: s2, action: increment }
  - { id: s3, action: increment }
";

/// The object types these tests' records have.
const DEAL: &str = "
name: deal
fields:
  amount: { type: number }
  renewal: { type: date }
  stage: { type: text }
";
const NOTE: &str = "
name: note
fields:
  text: { type: text }
  deal: { type: relation, object: deal }
";

async fn server_with_increment(db: Db) -> TestServer {
    let s = TestServer::start(db).await;
    let (status, v) = s.upload("increment", "increment", &[]).await;
    assert_eq!(status, 201, "{v}");
    s
}

fn steps(v: &Value) -> Vec<Value> {
    v["steps"].as_array().cloned().unwrap_or_default()
}

fn summary(v: &Value) -> Vec<(String, String)> {
    steps(v)
        .iter()
        .map(|r| {
            (
                r["step_id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

async fn seq_workflow_runs_and_keeps_its_history(db: Db) {
    let s = server_with_increment(db).await;
    let applied = s.apply(SEQ3).await;
    assert_eq!(
        applied,
        json!({"name": "seq3", "version": 1, "created": true})
    );
    let done = s.run("seq3", json!({"input": {"n": 0}})).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!({"n": 3}));

    let v = s.execution(done["id"].as_str().unwrap()).await;
    let runs = steps(&v);
    assert_eq!(runs.len(), 3);
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r["seq"], i as i64 + 1);
        assert_eq!(r["status"], "completed");
        assert_eq!(r["attempt"], 1);
        assert_eq!(r["input"], json!({"n": i}));
        assert_eq!(r["output"], json!({"n": i + 1}));
        assert!(r["fuel_used"].as_i64().unwrap() > 0, "{r}");
        assert!(r["memory_peak_bytes"].as_i64().unwrap() > 0, "{r}");
        assert!(r["started_at"].is_string() && r["ended_at"].is_string());
    }
}

async fn conditions_variables_loops_and_stop(db: Db) {
    let s = server_with_increment(db).await;
    s.apply(
        r#"
name: branching
variables:
  - { name: tier, type: string, sources: ["{{ input.tier }}"], default: basic }
  - { name: limit, type: number, sources: ["{{ input.limit }}"], default: 3 }
steps:
  - id: init
    set: { n: 0 }
  - id: bump
    action: increment
    input: { n: "{{ vars.n }}" }
    save_as: counter
  - id: remember
    set: { n: "{{ vars.counter.n }}" }
  - id: enough
    condition: "vars.n >= vars.limit"
    then: gold
    else: again
  - id: again
    goto: bump
    max_iterations: 10
  - id: gold
    condition: "vars.tier == 'gold'"
    then: vip
    else: done
  - id: vip
    stop: { output: { vip: true, n: "{{ vars.n }}" } }
  - id: done
    stop: { failed: true, reason: "not gold" }
"#,
    )
    .await;
    let v = s
        .run(
            "branching",
            json!({"input": {"tier": "gold", "limit": "4"}}),
        )
        .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["output"], json!({"vip": true, "n": 4}));
    assert_eq!(
        v["variables"]["limit"], 4,
        "the string was coerced to a number"
    );
    let v = s.execution(v["id"].as_str().unwrap()).await;
    let paths: Vec<Value> = steps(&v)
        .iter()
        .filter(|r| r["kind"] == "condition")
        .map(|r| r["detail"]["path"].clone())
        .collect();
    assert_eq!(
        paths,
        vec![
            json!("else"),
            json!("else"),
            json!("else"),
            json!("then"),
            json!("then")
        ]
    );
    assert_eq!(
        steps(&v).iter().filter(|r| r["step_id"] == "bump").count(),
        4
    );

    let v = s.run("branching", json!({"input": {"limit": 1}})).await;
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["message"], "not gold");

    // The loop cap: with a limit the loop never reaches, go-to stops jumping after 10 times.
    let v = s
        .run(
            "branching",
            json!({"input": {"tier": "gold", "limit": 1000}}),
        )
        .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["output"]["n"], 11);
    let v = s.execution(v["id"].as_str().unwrap()).await;
    let last_goto = steps(&v)
        .into_iter()
        .rfind(|r| r["kind"] == "goto")
        .unwrap();
    assert_eq!(
        last_goto["detail"],
        json!({"jumped": false, "capped": true, "capped_at": 10})
    );
}

async fn a_delay_waits_as_a_row_and_then_completes(db: Db) {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000);
    let clock = ManualClock::new(start);
    let s = TestServer::start_with_clock(db, Arc::new(clock.clone())).await;
    s.upload("increment", "increment", &[]).await;
    s.apply(
        "
name: later
steps:
  - { id: wait, delay: { for: 1h } }
  - { id: after, action: increment }
",
    )
    .await;
    let (status, v) = s
        .post("/v1/workflows/later/executions", json!({"input": {"n": 1}}))
        .await;
    assert_eq!(status, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let waiting = s.until_status(&id, "waiting", Duration::from_secs(5)).await;
    assert_eq!(summary(&waiting), pairs(&[("wait", "waiting")]));
    assert!(waiting["wake_at"].is_string());
    assert!(
        s.engine
            .store()
            .count_by_status()
            .await
            .unwrap()
            .contains(&("waiting".to_string(), 1))
    );
    clock.set(start + Duration::from_secs(3599));
    s.engine.run_due().await.unwrap();
    assert_eq!(s.execution(&id).await["status"], "waiting", "not due yet");
    clock.set(start + Duration::from_secs(3600));
    s.engine.run_due().await.unwrap();
    let done = s
        .until_status(&id, "completed", Duration::from_secs(10))
        .await;
    assert_eq!(done["output"], json!({"n": 2}));
    assert_eq!(
        summary(&done),
        pairs(&[("wait", "completed"), ("after", "completed")])
    );
}

async fn weekday_delay_wakes_when_the_clock_says(db: Db) {
    // Wednesday 2026-11-25 12:00 UTC.
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000);
    let clock = ManualClock::new(start);
    let s = TestServer::start_with_clock(db, Arc::new(clock.clone())).await;
    s.upload("increment", "increment", &[]).await;
    s.apply(
        "
name: monday
steps:
  - { id: wait, delay: { weekday: [mon], time: '09:00', timezone: Europe/Paris } }
  - { id: go, action: increment }
",
    )
    .await;
    let (_, v) = s
        .post(
            "/v1/workflows/monday/executions",
            json!({"input": {"n": 0}}),
        )
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    let waiting = s.until_status(&id, "waiting", Duration::from_secs(5)).await;
    assert_eq!(waiting["wake_at"], "2026-11-30T08:00:00.000Z");
    clock.set(start + Duration::from_secs(4 * 86_400));
    assert_eq!(
        s.engine.run_due().await.unwrap(),
        0,
        "nothing is due on Sunday"
    );
    assert_eq!(
        s.execution(&id).await["status"],
        "waiting",
        "Sunday: still waiting"
    );
    clock.set(start + Duration::from_secs(4 * 86_400 + 20 * 3600 + 1));
    s.engine.run_due().await.unwrap();
    let done = s
        .until_status(&id, "completed", Duration::from_secs(5))
        .await;
    assert_eq!(done["output"], json!({"n": 1}));
}

async fn retries_then_failure_handling(db: Db) {
    let s = TestServer::start(db).await;
    s.upload("fail", "fail", &[]).await;
    s.upload("increment", "increment", &[]).await;
    s.apply(
        r#"
name: flaky
steps:
  - id: try
    action: fail
    input: { kind: retryable, message: busy, succeed_on_attempt: "{{ input.ok_at }}" }
    retry: { attempts: 3, backoff: 50ms }
  - { id: next, action: increment, input: { n: 0 } }
"#,
    )
    .await;
    let v = s.run("flaky", json!({"input": {"ok_at": 3}})).await;
    assert_eq!(v["status"], "completed", "{v}");
    let v = s.execution(v["id"].as_str().unwrap()).await;
    let attempts: Vec<(i64, String)> = steps(&v)
        .iter()
        .filter(|r| r["step_id"] == "try")
        .map(|r| {
            (
                r["attempt"].as_i64().unwrap(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        vec![
            (1, "failed".into()),
            (2, "failed".into()),
            (3, "completed".into())
        ]
    );

    let v = s.run("flaky", json!({"input": {"ok_at": 9}})).await;
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["code"], "step_failed_retryable");
    assert_eq!(v["error"]["step"], "try");

    // on_failure: pause (resumable), continue, and a failure branch.
    s.apply(
        r#"
name: handled
steps:
  - { id: a, action: fail, input: { kind: permanent, message: first }, on_failure: continue }
  - { id: b, action: fail, input: { kind: permanent, message: second }, on_failure_goto: rescue }
  - { id: unreachable, stop: { failed: true } }
  - { id: rescue, action: fail, input: { kind: permanent, message: "after {{ failure.step }} ({{ failure.code }}, attempt {{ failure.attempt }}): {{ failure.message }}", succeed_on_attempt: "{{ vars.ok_at }}" }, on_failure: pause }
"#,
    )
    .await;
    let (_, v) = s
        .post(
            "/v1/workflows/handled/executions",
            json!({"variables": {"ok_at": 99}}),
        )
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    let paused = s.until_status(&id, "paused", Duration::from_secs(5)).await;
    assert_eq!(paused["pause_reason"], "step failed");
    assert_eq!(paused["position"], "rescue");
    assert_eq!(
        summary(&paused),
        pairs(&[("a", "failed"), ("b", "failed"), ("rescue", "failed")])
    );
    assert_eq!(steps(&paused)[0]["detail"]["continued"], true);
    assert!(
        steps(&paused)[0]["detail"].get("notify").is_none(),
        "no `settings.notify`: nobody is told: {paused}"
    );
    // Continuing keeps what the failed run's detail had.
    assert!(
        steps(&paused)[0]["detail"]["duration_us"].is_u64(),
        "{paused}"
    );
    // The failure handler sees the failure.
    let rescue = &steps(&paused)[2];
    let message = rescue["input"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("after b (step_failed, attempt 1): ") && message.contains("second"),
        "{rescue}"
    );
    // Still failing after resume: paused again.
    let (status, _) = s
        .post(&format!("/v1/executions/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, 200);
    let again = s.until_status(&id, "paused", Duration::from_secs(5)).await;
    assert_eq!(steps(&again).len(), 4);
}

async fn pause_resume_and_cancel_running_and_waiting(db: Db) {
    let s = server_with_increment(db).await;
    s.upload("spin", "spin", &[]).await;
    s.apply(
        "
name: slow
steps:
  - { id: spin, action: spin, limits: { fuel: 1000000000000, timeout: 60s } }
",
    )
    .await;
    s.apply(
        "
name: napper
steps:
  - { id: one, action: increment }
  - { id: nap, delay: { for: 1h } }
  - { id: two, action: increment }
",
    )
    .await;

    // Cancel a running step: it stops within moments, not at its 60 s deadline.
    let (_, v) = s.post("/v1/workflows/slow/executions", json!({})).await;
    let id = v["id"].as_str().unwrap().to_string();
    let running = s.until_status(&id, "running", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        steps(&s.execution(&id).await).last().unwrap()["status"],
        "running",
        "{running}"
    );
    let started = std::time::Instant::now();
    let (status, v) = s
        .post(&format!("/v1/executions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert!(
        v["status"] == "cancelled" || v["cancel_requested"] == true,
        "the answer says the cancel was taken: {v}"
    );
    let cancelled = s
        .until_status(&id, "cancelled", Duration::from_secs(5))
        .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(summary(&cancelled), pairs(&[("spin", "cancelled")]));
    let (status, v) = s
        .post(&format!("/v1/executions/{id}/resume"), json!({}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("not_paused")),
        "{v}"
    );
    let (status, v) = s
        .post(&format!("/v1/executions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("execution_finished")),
        "{v}"
    );

    // Pause a waiting execution, resume it (back to waiting), then cancel it.
    let (_, v) = s
        .post(
            "/v1/workflows/napper/executions",
            json!({"input": {"n": 0}}),
        )
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    s.until_status(&id, "waiting", Duration::from_secs(5)).await;
    let (status, v) = s
        .post(&format!("/v1/executions/{id}/pause"), json!({}))
        .await;
    assert_eq!((status, v["status"].as_str()), (200, Some("paused")), "{v}");
    let (_, v) = s
        .post(&format!("/v1/executions/{id}/resume"), json!({}))
        .await;
    assert_eq!(v["status"], "waiting");
    let (_, v) = s
        .post(&format!("/v1/executions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(v["status"], "cancelled");

    // Pause a running execution while its step is in flight: the step finishes, the execution
    // stops before its next step, and resume continues from there. The step waits on a gate
    // this test opens, so no timing window decides the outcome.
    let gate = Gate::for_http_request(&s).await;
    let host = format!("127.0.0.1:{}", gate.port);
    s.apply(&format!(
        "name: gated\nsteps:\n  - {{ id: call, action: http_request, input: {{ url: \"http://{host}/gate\" }} }}\n  - {{ id: one, action: increment, input: {{ n: 1 }} }}\n  - {{ id: two, action: increment, input: {{ n: 2 }} }}\n"
    ))
    .await;
    let (_, v) = s.post("/v1/workflows/gated/executions", json!({})).await;
    let id = v["id"].as_str().unwrap().to_string();
    gate.arrived().await;
    let (status, v) = s
        .post(&format!("/v1/executions/{id}/pause"), json!({}))
        .await;
    assert_eq!(
        (status, v["status"].as_str(), v["pause_requested"].as_bool()),
        (200, Some("running"), Some(true)),
        "the answer says the pause was taken: {v}"
    );
    gate.release();
    let paused = s.until_status(&id, "paused", Duration::from_secs(10)).await;
    assert_eq!(paused["pause_requested"], false, "{paused}");
    assert_eq!(
        summary(&paused),
        pairs(&[("call", "completed")]),
        "{paused}"
    );
    assert_eq!(steps(&paused)[0]["output"]["status"], 200);
    let (status, v) = s
        .post(&format!("/v1/executions/{id}/resume"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let done = s
        .until_status(&id, "completed", Duration::from_secs(10))
        .await;
    assert_eq!(
        summary(&done),
        pairs(&[
            ("call", "completed"),
            ("one", "completed"),
            ("two", "completed")
        ]),
        "{done}"
    );
    assert_eq!(gate.calls(), 1, "the paused step is not run again");
}

/// A loopback HTTP server whose answers wait until the test releases them.
struct Gate {
    port: u16,
    arrived: Arc<tokio::sync::Notify>,
    open: Arc<tokio::sync::Semaphore>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl Gate {
    async fn open_on_loopback() -> Gate {
        let arrived = Arc::new(tokio::sync::Notify::new());
        let open = Arc::new(tokio::sync::Semaphore::new(0));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (a, o, c) = (arrived.clone(), open.clone(), calls.clone());
        let handler = move || {
            let (a, o, c) = (a.clone(), o.clone(), c.clone());
            async move {
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                a.notify_one();
                o.acquire().await.unwrap().forget();
                "through"
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Gate {
            port,
            arrived,
            open,
            calls,
        }
    }

    /// A gate, with the `http_request` action uploaded and allowed to call it.
    async fn for_http_request(s: &TestServer) -> Gate {
        let gate = Gate::open_on_loopback().await;
        let host = format!("127.0.0.1:{}", gate.port);
        let (status, v) = s
            .call(
                s.http
                    .put(format!("{}/v1/steps/http_request", s.url))
                    .query(&[("grant", "http"), ("http_host", host.as_str())])
                    .body(crate::common::guest("http_request")),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        gate
    }

    /// Until a request has come in (and waits at the gate).
    async fn arrived(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.arrived.notified())
            .await
            .expect("the step's request reached the gate");
    }

    fn release(&self) {
        self.open.add_permits(1);
    }

    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn kill_switches_stop_starts_and_pause_until_lifted(db: Db) {
    // A manual clock and a gated step: the switches land where the test says, not inside a nap.
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000);
    let clock = ManualClock::new(start);
    let s = TestServer::start_with_clock(db, Arc::new(clock.clone())).await;
    s.upload("increment", "increment", &[]).await;
    s.apply(SEQ3).await;
    s.apply(
        "
name: napper
steps:
  - { id: one, action: increment }
  - { id: nap, delay: { for: 1h } }
  - { id: two, action: increment }
",
    )
    .await;
    let (status, v) = s
        .put("/v1/workflows/seq3/kill-switch", json!({"on": true}))
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = s
        .post(
            "/v1/workflows/seq3/executions?wait=5",
            json!({"input": {"n": 0}}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("kill_switch_on")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kill switch"),
        "{v}"
    );
    // Another workflow still starts.
    let (status, v) = s
        .post(
            "/v1/workflows/napper/executions",
            json!({"input": {"n": 0}}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    s.until_status(&id, "waiting", Duration::from_secs(5)).await;
    s.put("/v1/workflows/seq3/kill-switch", json!({"on": false}))
        .await;
    assert_eq!(
        s.run("seq3", json!({"input": {"n": 0}})).await["status"],
        "completed"
    );

    // The global switch: a waiting execution is paused when it wakes, and resumed when lifted.
    let (status, v) = s.put("/v1/kill-switch", json!({"on": true})).await;
    assert_eq!(
        (status, v["kill_switch"].as_bool(), v["pausing"].as_u64()),
        (200, Some(true), Some(1)),
        "the waiting one pauses: {v}"
    );
    assert!(v.get("resumed").is_none(), "{v}");
    let (_, v) = s.get("/v1/kill-switch").await;
    assert_eq!(v["kill_switch"], true);
    clock.set(start + Duration::from_secs(3601));
    s.engine.run_due().await.unwrap();
    let paused = s.until_status(&id, "paused", Duration::from_secs(5)).await;
    assert_eq!(paused["pause_reason"], "kill switch");
    let (status, v) = s.post("/v1/workflows/napper/executions", json!({})).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("kill_switch_on")),
        "{v}"
    );
    let (status, v) = s.put("/v1/kill-switch", json!({"on": false})).await;
    assert_eq!((status, v["resumed"].as_i64()), (200, Some(1)), "{v}");
    let done = s
        .until_status(&id, "completed", Duration::from_secs(5))
        .await;
    assert_eq!(done["output"], json!({"n": 2}));

    // A running execution: the step under way finishes, then the execution pauses.
    let gate = Gate::for_http_request(&s).await;
    s.apply(&format!(
        "name: busy\nsteps:\n  - {{ id: work, action: http_request, input: {{ url: \"http://127.0.0.1:{}/gate\" }} }}\n  - {{ id: after, action: increment, input: {{ n: 41 }} }}\n",
        gate.port
    ))
    .await;
    let (_, v) = s.post("/v1/workflows/busy/executions", json!({})).await;
    let id = v["id"].as_str().unwrap().to_string();
    gate.arrived().await;
    let (_, v) = s
        .put("/v1/workflows/busy/kill-switch", json!({"on": true}))
        .await;
    assert_eq!(
        (v["workflow"].as_str(), v["pausing"].as_u64()),
        (Some("busy"), Some(1)),
        "{v}"
    );
    gate.release();
    let paused = s.until_status(&id, "paused", Duration::from_secs(5)).await;
    assert_eq!(
        (paused["pause_reason"].as_str(), paused["position"].as_str()),
        (Some("kill switch"), Some("after"))
    );
    assert_eq!(summary(&paused), pairs(&[("work", "completed")]));
    let (status, v) = s
        .post(&format!("/v1/executions/{id}/resume"), json!({}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("kill_switch_on")),
        "cannot resume under a kill switch: {v}"
    );
    s.put("/v1/workflows/busy/kill-switch", json!({"on": false}))
        .await;
    let done = s
        .until_status(&id, "completed", Duration::from_secs(5))
        .await;
    assert_eq!(done["output"], json!({"n": 42}));
}

async fn goals_take_met_or_not_met(db: Db) {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000);
    let clock = ManualClock::new(start);
    let s = TestServer::start_with_clock(db, Arc::new(clock.clone())).await;
    s.define_object("name: lead\nfields: {}\n").await;
    for id in ["l-1", "l-2"] {
        s.create_record("lead", id, json!({})).await;
    }
    s.apply(
        "
name: nurture
scope: { object: lead }
steps:
  - id: replied
    goal: { within: 3d, met: won, not_met: lost }
  - { id: won, stop: { output: { result: met } } }
  - { id: lost, stop: { output: { result: not_met } } }
",
    )
    .await;
    let start_one = |record: &'static str| {
        let s = &s;
        async move {
            let (status, v) = s
                .post(
                    "/v1/workflows/nurture/executions",
                    json!({"record_id": record}),
                )
                .await;
            assert_eq!(status, 202, "{v}");
            let id = v["id"].as_str().unwrap().to_string();
            s.until_status(&id, "waiting", Duration::from_secs(5)).await;
            id
        }
    };
    let met = start_one("l-1").await;
    let missed = start_one("l-2").await;
    let (status, v) = s
        .post(
            &format!("/v1/executions/{met}/goals/replied/meet"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let done = s
        .until_status(&met, "completed", Duration::from_secs(5))
        .await;
    assert_eq!(done["output"], json!({"result": "met"}));
    assert_eq!(steps(&done)[0]["detail"]["path"], "met");
    let (status, v) = s
        .post(
            &format!("/v1/executions/{met}/goals/replied/meet"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("not_waiting_on_goal")),
        "{v}"
    );

    clock.set(start + Duration::from_secs(3 * 86_400 + 1));
    s.engine.run_due().await.unwrap();
    let done = s
        .until_status(&missed, "completed", Duration::from_secs(5))
        .await;
    assert_eq!(done["output"], json!({"result": "not_met"}));
}

async fn children_and_actions_on_other_workflows(db: Db) {
    let s = server_with_increment(db).await;
    s.define_object(DEAL).await;
    s.create_record("deal", "d-1", json!({})).await;
    s.apply(
        "
name: follow-up
scope: { object: deal }
steps:
  - { id: bump, action: increment }
  - { id: wait, delay: { for: 1h } }
",
    )
    .await;
    s.apply(
        "
name: sleeper
scope: { object: deal }
steps:
  - { id: wait, delay: { for: 1h } }
",
    )
    .await;
    s.apply(
        r#"
name: parent
scope: { object: deal }
steps:
  - id: kick
    start_workflow: { workflow: follow-up, input: { n: "{{ input.n }}" } }
  - { id: silence, cancel_workflow: sleeper }
"#,
    )
    .await;
    let (_, sleeper) = s
        .post(
            "/v1/workflows/sleeper/executions",
            json!({"record_id": "d-1"}),
        )
        .await;
    let sleeper = sleeper["id"].as_str().unwrap().to_string();
    s.until_status(&sleeper, "waiting", Duration::from_secs(5))
        .await;
    let parent = s
        .run("parent", json!({"record_id": "d-1", "input": {"n": 5}}))
        .await;
    assert_eq!(parent["status"], "completed", "{parent}");
    let parent = s.execution(parent["id"].as_str().unwrap()).await;
    let child = steps(&parent)[0]["detail"]["child"]
        .as_str()
        .unwrap()
        .to_string();
    let child_v = s
        .until_status(&child, "waiting", Duration::from_secs(5))
        .await;
    assert_eq!(child_v["parent_id"], parent["id"]);
    assert_eq!(child_v["record"], json!({"object": "deal", "id": "d-1"}));
    assert_eq!(steps(&child_v)[0]["output"], json!({"n": 6}));
    assert_eq!(steps(&parent)[1]["detail"]["executions"], json!([sleeper]));
    s.until_status(&sleeper, "cancelled", Duration::from_secs(5))
        .await;
}

async fn record_scoped_workflows(db: Db) {
    let s = server_with_increment(db).await;
    s.define_object(DEAL).await;
    let (status, v) = s
        .put(
            "/v1/records/deal/d-9",
            json!({"amount": 1200, "renewal": "2020-01-01"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    s.create_record("deal", "nobody", json!({})).await;
    s.apply(
        r#"
name: renewals
scope: { object: deal }
settings: { reentry: true }
variables:
  - { name: amount, type: number, required: true, sources: ["{{ record.amount }}"] }
steps:
  - { id: before, delay: { field: renewal, offset: -2d } }
  - id: big
    condition: "vars.amount > 1000 and record.id == 'd-9'"
    then: bump
    else: end
  - { id: bump, action: increment, input: { n: "{{ vars.amount }}" } }
"#,
    )
    .await;
    let v = s.run("renewals", json!({"record_id": "d-9"})).await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["output"], json!({"n": 1201}));
    assert_eq!(v["record"], json!({"object": "deal", "id": "d-9"}));
    let v = s.execution(v["id"].as_str().unwrap()).await;
    assert_eq!(
        steps(&v)[0]["detail"]["waited"],
        false,
        "a date in the past does not wait"
    );

    let (status, v) = s.post("/v1/workflows/renewals/executions", json!({})).await;
    assert_error(status, &v, 422, "wrong_scope");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("record"),
        "{v}"
    );
    // A record that does not exist.
    let (status, v) = s
        .post(
            "/v1/workflows/renewals/executions",
            json!({"record_id": "ghost"}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("record_not_found")),
        "{v}"
    );
    // A record without the required field: the execution fails, saying which variable.
    let v = s.run("renewals", json!({"record_id": "nobody"})).await;
    assert_eq!(v["status"], "failed");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`amount` is required"),
        "{v}"
    );

    let (status, v) = s
        .post(
            "/v1/workflows/renewals/executions/bulk",
            json!({"record_ids": ["d-9", "d-9"]}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["executions"].as_array().unwrap().len(), 2);
    let (_, page) = s
        .get("/v1/executions?workflow=renewals&record_id=d-9")
        .await;
    assert_eq!(page["executions"].as_array().unwrap().len(), 3);
}

async fn versions_and_listing(db: Db) {
    let s = server_with_increment(db).await;
    s.apply(
        "
name: evolving
steps:
  - { id: wait, delay: { for: 300ms } }
  - { id: one, action: increment }
",
    )
    .await;
    let (_, old) = s
        .post(
            "/v1/workflows/evolving/executions",
            json!({"input": {"n": 0}}),
        )
        .await;
    let old = old["id"].as_str().unwrap().to_string();
    assert_eq!(s.apply("name: evolving\nsteps:\n  - { id: wait, delay: { for: 300ms } }\n  - { id: one, action: increment }\n").await["created"], false);
    let v2 = s
        .apply(
            "
name: evolving
steps:
  - { id: wait, delay: { for: 300ms } }
  - { id: one, action: increment }
  - { id: two, action: increment }
",
        )
        .await;
    assert_eq!(v2["version"], 2);
    let new = s.run("evolving", json!({"input": {"n": 0}})).await;
    assert_eq!(
        (new["version"].as_i64(), new["output"].clone()),
        (Some(2), json!({"n": 2}))
    );
    let old = s
        .until_status(&old, "completed", Duration::from_secs(10))
        .await;
    assert_eq!(
        (old["version"].as_i64(), old["output"].clone()),
        (Some(1), json!({"n": 1})),
        "finishes on its version"
    );
    let (_, versions) = s.get("/v1/workflows/evolving/versions").await;
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);
    let (_, w) = s.get("/v1/workflows/evolving?version=1").await;
    assert_eq!(w["definition"]["steps"].as_array().unwrap().len(), 2);

    for _ in 0..3 {
        s.run("evolving", json!({"input": {"n": 0}})).await;
    }
    let (_, page1) = s
        .get("/v1/executions?workflow=evolving&status=completed&limit=3")
        .await;
    let (_, page2) = s
        .get(&format!(
            "/v1/executions?workflow=evolving&status=completed&limit=3&cursor={}",
            page1["next_cursor"].as_str().unwrap()
        ))
        .await;
    let ids: Vec<&str> = page1["executions"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["executions"].as_array().unwrap())
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 5, "pages do not overlap");
    assert!(page2["next_cursor"].is_null());
    let (_, none) = s
        .get("/v1/executions?workflow=evolving&since=2100-01-01T00:00:00Z")
        .await;
    assert_eq!(none["executions"].as_array().unwrap().len(), 0);
}

async fn bad_requests_get_json_errors(db: Db) {
    let s = server_with_increment(db).await;
    s.apply(SEQ3).await;
    // Invalid definitions: every problem, each pointing at its step.
    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "
name: broken
steps:
  - { id: a, action: no-such-module }
  - { id: b, condition: 'vars.x >', then: nowhere, else: end }
  - { id: a, delay: { for: soon } }
  - { id: c, action: increment, retry: { attempts: 0 } }
  - { id: d }
",
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_definition");
    let all = crate::common::problems(&v).join("\n");
    for needle in [
        "steps[1] (id \"b\").condition: syntax error",
        "steps[1] (id \"b\").then: there is no step `nowhere`",
        "steps[2] (id \"a\"): step id `a` is used twice",
        "steps[2] (id \"a\").delay.for: `soon` is not a duration",
        "steps[3] (id \"c\").retry.attempts",
        "steps[4] (id \"d\"): a step has exactly one of",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: nomodule\nsteps:\n  - { id: a, action: ghost }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no step module `ghost`"),
        "{v}"
    );
    let (status, v) = s.post_raw("/v1/workflows", "{not json").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("invalid_definition")),
        "{v}"
    );
    let (status, v) = s
        .post_raw("/v1/workflows", "name: x\nsteps: []\nsurprise: 1\n")
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("surprise"),
        "{v}"
    );

    // Unknown ids.
    for (path, code) in [
        ("/v1/executions/nope", "execution_not_found"),
        ("/v1/workflows/nope", "workflow_not_found"),
        ("/v1/records/deal/nope", "object_not_found"),
        ("/v1/steps/nope", "module_not_found"),
        ("/v1/nothing-here", "route_not_found"),
    ] {
        let (status, v) = s.get(path).await;
        assert_error(status, &v, 404, code);
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "{v}"
        );
    }
    let (status, v) = s.post("/v1/workflows/nope/executions", json!({})).await;
    assert_error(status, &v, 404, "workflow_not_found");
    let (status, v) = s.post("/v1/executions/nope/pause", json!({})).await;
    assert_error(status, &v, 404, "execution_not_found");

    // The start body is optional: none, or `null`, is an empty one.
    let (status, v) = s.post_raw("/v1/workflows/seq3/executions", "null").await;
    assert_eq!(status, 202, "{v}");

    // Malformed bodies and queries.
    let (status, v) = s
        .post_raw("/v1/workflows/seq3/executions", "{\"input\": ")
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_body")),
        "{v}"
    );
    let (status, v) = s
        .post("/v1/workflows/seq3/executions", json!({"inptu": {}}))
        .await;
    assert_error(status, &v, 400, "invalid_body");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("inptu"),
        "{v}"
    );
    let (status, v) = s
        .post("/v1/workflows/seq3/executions?wait=forever", json!({}))
        .await;
    assert_error(status, &v, 400, "invalid_query");
    let (status, v) = s.get("/v1/executions?status=sleeping").await;
    assert_error(status, &v, 400, "invalid_query");
    let (status, v) = s.get("/v1/executions?cursor=garbage").await;
    assert_error(status, &v, 400, "invalid_query");
    let (status, v) = s.put("/v1/kill-switch", json!({"on": "yes"})).await;
    assert_error(status, &v, 400, "invalid_body");
    let (status, v) = s
        .post("/v1/workflows/seq3/executions", json!({"record_id": "x"}))
        .await;
    assert_error(status, &v, 422, "wrong_scope"); // a global workflow takes no record

    // Step modules: not a component, ungranted imports (listed), unknown capabilities.
    let (status, v) = s
        .call_put_bytes("/v1/steps/junk", b"not wasm".to_vec())
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("not_a_component")),
        "{v}"
    );
    let (status, v) = s.upload("caller", "http_call", &[]).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("ungranted_imports")),
        "{v}"
    );
    assert_eq!(
        v["error"]["details"]["missing"],
        json!(["flowbox:step/http@0.1.0 (grant: http)"])
    );
    let (status, v) = s.upload("caller", "http_call", &["sockets"]).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("unknown_capability")),
        "{v}"
    );
    let (status, v) = s.upload("caller", "http_call", &["http"]).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["grants"], json!(["http"]));
}

impl TestServer {
    async fn call_put_bytes(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.call(self.http.put(format!("{}{path}", self.url)).body(body))
            .await
    }
}

async fn steps_write_records_with_their_result(db: Db) {
    let s = TestServer::start(db).await;
    let (status, v) = s.upload("touch", "record_touch", &["records"]).await;
    assert_eq!(status, 201, "{v}");
    s.define_object(DEAL).await;
    s.define_object(NOTE).await;
    s.create_record("deal", "d-1", json!({"stage": "new", "amount": 10}))
        .await;
    s.apply(
        r#"
name: touch
scope: { object: deal }
steps:
  - { id: win, action: touch, input: { field: stage, value: won } }
  - id: check
    condition: "record.stage == 'won'"
    then: end
    else: wrong
  - { id: wrong, stop: { failed: true, reason: "the next step did not see the write" } }
"#,
    )
    .await;
    let v = s.run("touch", json!({"record_id": "d-1"})).await;
    assert_eq!(v["status"], "completed", "{v}");
    let out = s.execution(v["id"].as_str().unwrap()).await["steps"][0]["output"].clone();
    assert_eq!(
        (out["before"].as_str(), out["after"].as_str()),
        (Some("new"), Some("won")),
        "the step reads its own write"
    );
    let (_, record) = s.get("/v1/records/deal/d-1").await;
    assert_eq!(record["fields"], json!({"stage": "won", "amount": 10}));
    let (status, note) = s
        .get(&format!(
            "/v1/records/note/{}",
            out["note"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(note["fields"], json!({"text": "touched", "deal": "d-1"}));

    // The write left its event, caused by the execution's step.
    let (_, evs) = s.get("/v1/records/deal/d-1/events").await;
    let ev = &evs["events"][0];
    assert_eq!(ev["kind"], "updated", "{evs}");
    assert_eq!(
        ev["changes"],
        json!({"stage": {"old": "new", "new": "won"}})
    );
    assert_eq!(
        (
            ev["cause"]["kind"].as_str(),
            ev["cause"]["execution"].as_str(),
            ev["cause"]["step"].as_str()
        ),
        (Some("execution"), v["id"].as_str(), Some("win"))
    );

    // A step that fails after writing leaves no trace of its writes.
    s.create_record("deal", "d-2", json!({"stage": "new"}))
        .await;
    s.apply("name: touch-fail\nscope: { object: deal }\nsteps:\n  - { id: t, action: touch, input: { field: stage, value: lost, fail_after: true } }\n").await;
    let v = s.run("touch-fail", json!({"record_id": "d-2"})).await;
    assert_eq!(v["status"], "failed");
    let (_, record) = s.get("/v1/records/deal/d-2").await;
    assert_eq!(record["fields"], json!({"stage": "new"}));
    let (_, evs) = s.get("/v1/records/deal/d-2/events").await;
    assert_eq!(
        evs["events"].as_array().unwrap().len(),
        1,
        "only its creation: {evs}"
    );
    // A write the object type refuses: the host says which field, and the step fails cleanly.
    s.apply("name: touch-bad\nscope: { object: deal }\nsteps:\n  - { id: t, action: touch, input: { field: colour, value: red } }\n").await;
    let v = s.run("touch-bad", json!({"record_id": "d-2"})).await;
    assert_eq!(v["status"], "failed");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`deal` has no field `colour`"),
        "{v}"
    );
}

async fn resume_paused_pause_others_until_and_silence(db: Db) {
    let s = server_with_increment(db).await;
    s.define_object(DEAL).await;
    s.create_record("deal", "d-5", json!({})).await;
    s.upload("fail", "fail", &[]).await;
    s.apply(
        "
name: nap
scope: { object: deal }
steps:
  - { id: z, delay: { for: 1h } }
",
    )
    .await;
    s.apply(
        "
name: blocked
scope: { object: deal }
steps:
  - { id: f, action: fail, input: { kind: permanent, succeed_on_attempt: 99 }, on_failure: pause }
",
    )
    .await;
    s.apply(
        r#"
name: coordinator
scope: { object: deal }
steps:
  - { id: hush, pause_workflow: nap }
  - { id: wake, start_workflow: { workflow: blocked, resume_paused: true } }
  - { id: shrug, action: fail, input: { kind: permanent }, on_failure: continue_silently }
  - { id: at, delay: { until: "{{ input.when }}" } }
"#,
    )
    .await;
    let (_, nap) = s
        .post("/v1/workflows/nap/executions", json!({"record_id": "d-5"}))
        .await;
    let nap = nap["id"].as_str().unwrap().to_string();
    s.until_status(&nap, "waiting", Duration::from_secs(5))
        .await;
    let (_, blocked) = s
        .post(
            "/v1/workflows/blocked/executions",
            json!({"record_id": "d-5"}),
        )
        .await;
    let blocked = blocked["id"].as_str().unwrap().to_string();
    s.until_status(&blocked, "paused", Duration::from_secs(5))
        .await;

    let v = s
        .run(
            "coordinator",
            json!({"record_id": "d-5", "input": {"when": "2000-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(v["status"], "completed", "{v}");
    let v = s.execution(v["id"].as_str().unwrap()).await;
    let runs = steps(&v);
    assert_eq!(runs[0]["detail"]["executions"], json!([nap]));
    assert_eq!(
        runs[1]["detail"]["resumed"],
        json!(blocked),
        "resumed instead of starting a new one"
    );
    assert_eq!(
        (
            runs[2]["status"].as_str(),
            runs[2]["detail"]["continued"].as_bool()
        ),
        (Some("failed"), Some(true))
    );
    assert!(runs[2]["detail"]["notified"].is_null(), "silently");
    assert_eq!(
        runs[3]["detail"]["waited"], false,
        "a time in the past does not wait"
    );
    s.until_status(&nap, "paused", Duration::from_secs(5)).await;
    // The resumed execution ran its failing step again and paused again.
    let again = s
        .until_status(&blocked, "paused", Duration::from_secs(5))
        .await;
    assert_eq!(steps(&again).len(), 2);
    let (_, page) = s.get("/v1/executions?workflow=blocked").await;
    assert_eq!(
        page["executions"].as_array().unwrap().len(),
        1,
        "no second execution was started"
    );
}

async fn workflows_are_deleted_when_idle_and_changes_are_audited(db: Db) {
    let s = server_with_increment(db).await;
    s.apply("name: gone\nsteps:\n  - { id: one, action: increment }\n  - { id: nap, delay: { for: 1h } }\n")
        .await;
    let (_, v) = s
        .post("/v1/workflows/gone/executions", json!({"input": {"n": 1}}))
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    s.until_status(&id, "waiting", Duration::from_secs(5)).await;
    // Refused while an execution is unfinished; the module it uses cannot go either.
    let (status, v) = s.delete("/v1/workflows/gone").await;
    assert_error(status, &v, 409, "workflow_in_use");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 unfinished"),
        "{v}"
    );
    s.post(&format!("/v1/executions/{id}/cancel"), json!({}))
        .await;
    let (status, v) = s.delete("/v1/workflows/gone").await;
    assert_eq!((status, v["deleted"].as_bool()), (200, Some(true)), "{v}");
    let (status, _) = s.get("/v1/workflows/gone").await;
    assert_eq!(status, 404);
    let (status, v) = s.delete("/v1/workflows/gone").await;
    assert_error(status, &v, 404, "workflow_not_found");
    // Its history stays; its module is free to go.
    assert_eq!(s.execution(&id).await["status"], "cancelled");
    let (status, v) = s.delete("/v1/steps/increment").await;
    assert_eq!(status, 200, "{v}");
    // Saved again, it goes on from its last version.
    s.upload("increment", "increment", &[]).await;
    let v = s
        .apply("name: gone\nsteps:\n  - { id: two, action: increment }\n")
        .await;
    assert_eq!(v["version"], 2, "{v}");
    s.put("/v1/workflows/gone/enabled", json!({"on": false}))
        .await;
    s.define_object("name: lead\nfields:\n  email: { type: text }\n")
        .await;

    // The audit log has each change, filtered and paged.
    let (status, log) = s.get("/v1/audit?action=workflow").await;
    assert_eq!(status, 200, "{log}");
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "workflow.enabled",
            "workflow.save",
            "workflow.delete",
            "workflow.save"
        ],
        "{log}"
    );
    let (_, log) = s.get("/v1/audit?action=object.create").await;
    assert_eq!(log["entries"][0]["target"], "lead", "{log}");
    let (_, page) = s.get("/v1/audit?action=workflow&limit=3").await;
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let (_, rest) = s
        .get(&format!(
            "/v1/audit?action=workflow&limit=3&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["entries"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["entries"][0]["action"], "workflow.save", "{rest}");
    let (_, none) = s.get("/v1/audit?actor=nobody").await;
    assert_eq!(none["entries"], json!([]), "{none}");
    let (status, v) = s.get("/v1/audit?cursor=garbage").await;
    assert_error(status, &v, 400, "invalid_query");
}

async fn typed_variables_name_what_exists(db: Db) {
    let s = TestServer::start(db).await;
    s.define_object("name: deal\nfields:\n  title: { type: text }\n")
        .await;
    s.create_record("deal", "d1", json!({})).await;
    let (status, v) = s
        .put("/v1/teams/sales", json!({"members": ["ann@example.com"]}))
        .await;
    assert_eq!(status, 200, "{v}");
    s.apply("name: assign\nvariables:\n  - { name: deal, type: record }\n  - { name: rep, type: team_member }\nsteps:\n  - { id: done, stop: {} }\n")
        .await;
    let start = |vars: Value| {
        let s = &s;
        async move { s.run("assign", json!({"variables": vars})).await }
    };
    let v = start(json!({"deal": {"object": "deal", "id": "d1"}, "rep": "ann@example.com"})).await;
    assert_eq!(v["status"], "completed", "{v}");
    let v = start(json!({"deal": {"object": "deal", "id": "nope"}})).await;
    assert_eq!(
        (v["status"].as_str(), v["error"]["code"].as_str()),
        (Some("failed"), Some("invalid_variable")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no `deal` record `nope`"),
        "{v}"
    );
    let v = start(json!({"rep": "bob@example.com"})).await;
    assert_eq!(v["error"]["code"], "invalid_variable", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a member of any team"),
        "{v}"
    );
}
