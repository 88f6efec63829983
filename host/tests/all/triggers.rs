//! Triggers over HTTP, on SQLite and PostgreSQL: record events start the right workflow on the
//! right record, once; switched-off workflows ignore what happened meanwhile; goals are met by
//! events; re-entry is refused; the loop guard stops chains of workflows that trigger each
//! other.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use flowbox::clock::ManualClock;
use serde_json::{Value, json};

use crate::common::{Db, TestServer, assert_error, on_both_databases};

on_both_databases!(
    record_events_start_the_right_workflow_on_the_right_record,
    two_matching_triggers_start_once_and_switched_off_workflows_ignore_events,
    goals_are_met_by_record_events_or_not_when_the_window_closes,
    the_loop_guard_stops_chains_by_reentry_and_by_depth,
    a_record_is_in_a_workflow_once_unless_reentry_is_allowed,
    bulk_starts_over_a_filter,
    throttled_starts_queue_and_all_run,
    each_event_says_why_each_watching_workflow_did_or_did_not_start,
    events_a_step_writes_are_evaluated_at_once,
    the_history_of_waits_goals_and_gotos_tells_the_truth,
);

const DEAL: &str = "
name: deal
fields:
  title: { type: text }
  amount: { type: number }
  stage: { type: stage, stages: [lead, won, lost] }
  a: { type: number }
  b: { type: number }
";

async fn server(db: Db) -> TestServer {
    server_with(db, |_| {}).await
}

async fn server_with(
    db: Db,
    adjust: impl FnOnce(&mut flowbox::engine::EngineConfig),
) -> TestServer {
    let s = TestServer::start_with(db, adjust).await;
    s.define_object(DEAL).await;
    let (status, v) = s
        .upload("update_record", "update_record", &["records"])
        .await;
    assert_eq!(status, 201, "{v}");
    s
}

/// Executions of `workflow` on `record`, newest first.
async fn executions(s: &TestServer, workflow: &str, record: &str) -> Vec<Value> {
    let (status, v) = s
        .get(&format!(
            "/v1/executions?workflow={workflow}&record_id={record}"
        ))
        .await;
    assert_eq!(status, 200, "{v}");
    v["executions"].as_array().unwrap().clone()
}

/// Wait until `workflow` has `n` executions on `record` (and no more show up for a moment).
async fn expect_executions(s: &TestServer, workflow: &str, record: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        s.engine.evaluate_events().await.unwrap();
        let found = executions(s, workflow, record).await;
        if found.len() >= n {
            assert_eq!(
                found.len(),
                n,
                "{workflow} on {record}: {}",
                Value::Array(found.clone())
            );
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{workflow} on {record}: {} executions, expected {n}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event evaluated, then: `workflow` has exactly `n` executions on `record`.
async fn settled(s: &TestServer, workflow: &str, record: &str, n: usize) -> Vec<Value> {
    s.engine.evaluate_events().await.unwrap();
    let found = executions(s, workflow, record).await;
    assert_eq!(
        found.len(),
        n,
        "{workflow} on {record}: {}",
        Value::Array(found.clone())
    );
    found
}

async fn record_events_start_the_right_workflow_on_the_right_record(db: Db) {
    let s = server(db).await;
    let wf = |name: &str, trigger: &str| {
        format!(
            "name: {name}\nscope: {{ object: deal }}\nsettings: {{ reentry: true }}\ntriggers:\n  - {trigger}\nsteps:\n  - {{ id: done, stop: {{ output: {{ id: \"{{{{ record.id }}}}\", stage: \"{{{{ record.stage }}}}\" }} }} }}\n"
        )
    };
    for (name, trigger) in [
        ("on-create", "record_created: {}"),
        (
            "big-deals",
            "record_created: { when: \"record.amount > 1000\" }",
        ),
        (
            "lead-won",
            "field_updated: { field: stage, from: lead, to: won }",
        ),
        ("any-title", "field_updated: { field: title }"),
        ("lost", "stage_updated: { to: lost }"),
        ("calls", "activity_logged: { type: call }"),
        ("signups", "form_submitted: { form: signup }"),
        ("back", "record_created: { on: unarchive }"),
    ] {
        s.apply(&wf(name, trigger)).await;
    }
    s.create_record("deal", "d1", json!({"amount": 5, "stage": "lead"}))
        .await;
    s.create_record("deal", "d2", json!({"amount": 5000, "stage": "lead"}))
        .await;
    let created = expect_executions(&s, "on-create", "d1", 1).await;
    expect_executions(&s, "on-create", "d2", 1).await;
    expect_executions(&s, "big-deals", "d2", 1).await;
    settled(&s, "big-deals", "d1", 0).await;

    // The execution says what started it, when the event happened and when it was evaluated.
    let done = s
        .until_status(
            created[0]["id"].as_str().unwrap(),
            "completed",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(done["output"], json!({"id": "d1", "stage": "lead"}));
    assert_eq!(done["cause"]["kind"], "trigger");
    assert_eq!(done["cause"]["trigger"], "record_created");
    assert_eq!(done["input"]["event"]["kind"], "created");
    assert!(done["event_at"].as_str().unwrap() <= done["created_at"].as_str().unwrap());
    let (_, evs) = s.get("/v1/records/deal/d1/events").await;
    let ev = &evs["events"][0];
    assert!(ev["evaluated_at"].is_string(), "{ev}");
    let started: Vec<&str> = ev["outcome"]["started"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["workflow"].as_str().unwrap())
        .collect();
    assert_eq!(started, ["on-create"], "{ev}");
    assert_eq!(done["cause"]["event"], ev["id"]);

    // Transitions: lead -> won matches, won -> lost does not (but `lost` does).
    s.patch("/v1/records/deal/d1", json!({"stage": "won"}))
        .await;
    expect_executions(&s, "lead-won", "d1", 1).await;
    s.patch("/v1/records/deal/d1", json!({"stage": "lost"}))
        .await;
    expect_executions(&s, "lost", "d1", 1).await;
    settled(&s, "lead-won", "d1", 1).await;
    settled(&s, "lost", "d2", 0).await;
    // Any change of a field, and none when it does not change.
    s.patch("/v1/records/deal/d2", json!({"title": "T"})).await;
    expect_executions(&s, "any-title", "d2", 1).await;
    s.patch("/v1/records/deal/d2", json!({"title": "T", "amount": 1}))
        .await;
    settled(&s, "any-title", "d2", 1).await;
    // An activity of the right type; another type starts nothing.
    s.post("/v1/records/deal/d2/activities", json!({"type": "email"}))
        .await;
    settled(&s, "calls", "d2", 0).await;
    s.post("/v1/records/deal/d2/activities", json!({"type": "call"}))
        .await;
    expect_executions(&s, "calls", "d2", 1).await;
    // Forms, and unarchiving.
    s.patch("/v1/records/deal/d2?form=other", json!({})).await;
    settled(&s, "signups", "d2", 0).await;
    s.patch("/v1/records/deal/d2?form=signup", json!({"title": "U"}))
        .await;
    expect_executions(&s, "signups", "d2", 1).await;
    s.post("/v1/records/deal/d2/archive", json!({})).await;
    settled(&s, "back", "d2", 0).await;
    s.post("/v1/records/deal/d2/unarchive", json!({})).await;
    expect_executions(&s, "back", "d2", 1).await;
    settled(&s, "on-create", "d2", 1).await;
}

async fn two_matching_triggers_start_once_and_switched_off_workflows_ignore_events(db: Db) {
    let s = server(db).await;
    s.apply(
        "
name: twice
scope: { object: deal }
settings: { reentry: true }
triggers:
  - field_updated: { field: stage, to: won }
  - stage_updated: { to: won }
  - id: big
    field_updated: { field: stage, when: \"record.amount > 10\" }
steps:
  - { id: s, stop: {} }
",
    )
    .await;
    s.create_record("deal", "d1", json!({"stage": "lead", "amount": 50}))
        .await;
    s.patch("/v1/records/deal/d1", json!({"stage": "won"}))
        .await;
    let found = expect_executions(&s, "twice", "d1", 1).await;
    assert_eq!(
        found[0]["cause"]["trigger"], "field_updated",
        "the first match wins"
    );

    let (status, v) = s
        .put("/v1/workflows/twice/enabled", json!({"on": false}))
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, list) = s.get("/v1/workflows").await;
    assert_eq!(list["workflows"][0]["enabled"], false);
    s.patch("/v1/records/deal/d1", json!({"stage": "lead"}))
        .await;
    s.patch("/v1/records/deal/d1", json!({"stage": "won"}))
        .await;
    // Switched back on before the evaluator saw those events: they are still ignored.
    s.put("/v1/workflows/twice/enabled", json!({"on": true}))
        .await;
    settled(&s, "twice", "d1", 1).await;
    s.patch("/v1/records/deal/d1", json!({"stage": "lost"}))
        .await;
    expect_executions(&s, "twice", "d1", 2).await;
    let (status, v) = s
        .put("/v1/workflows/nope/enabled", json!({"on": true}))
        .await;
    assert_error(status, &v, 404, "workflow_not_found");

    // Bad triggers are refused with where they are.
    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: bad\nscope: { object: deal }\ntriggers:\n  - field_updated: { when: \"x\" }\nsteps:\n  - { id: s, stop: {} }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    assert_eq!(
        v["error"]["details"][0]["path"],
        "triggers[0].field_updated"
    );
    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: bad\ntriggers:\n  - record_created: {}\nsteps:\n  - { id: s, stop: {} }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition"); // a global workflow has no record events
}

async fn goals_are_met_by_record_events_or_not_when_the_window_closes(db: Db) {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000);
    let clock = ManualClock::new(start);
    let s = server_with(db, {
        let clock = clock.clone();
        move |c| c.clock = Arc::new(clock)
    })
    .await;
    s.apply(
        r#"
name: close
scope: { object: deal }
steps:
  - id: wait-won
    goal: { within: 3d, event: { field_updated: { field: stage, to: won } }, met: yes, not_met: no }
  - { id: yes, stop: { output: { result: met } } }
  - { id: no, stop: { output: { result: not_met } } }
"#,
    )
    .await;
    s.apply(
        r#"
name: grow
scope: { object: deal }
steps:
  - id: big
    goal: { within: 3d, condition: "record.amount > 100", met: yes, not_met: no }
  - { id: yes, stop: { output: { result: met } } }
  - { id: no, stop: { output: { result: not_met } } }
"#,
    )
    .await;
    for id in ["d1", "d2", "d3"] {
        s.create_record("deal", id, json!({"stage": "lead", "amount": 1}))
            .await;
    }
    let start_on = |workflow: &'static str, record: &'static str| {
        let s = &s;
        async move {
            let (status, v) = s
                .post(
                    &format!("/v1/workflows/{workflow}/executions"),
                    json!({"record_id": record}),
                )
                .await;
            assert_eq!(status, 202, "{v}");
            let id = v["id"].as_str().unwrap().to_string();
            s.until_status(&id, "waiting", Duration::from_secs(10))
                .await;
            id
        }
    };
    let won = start_on("close", "d1").await;
    let grown = start_on("grow", "d2").await;
    let missed = start_on("close", "d3").await;

    // Events that do not match leave them waiting.
    s.patch("/v1/records/deal/d1", json!({"stage": "lost"}))
        .await;
    s.patch("/v1/records/deal/d2", json!({"amount": 50})).await;
    s.engine.evaluate_events().await.unwrap();
    for id in [&won, &grown] {
        assert_eq!(s.execution(id).await["status"], "waiting");
    }
    s.patch("/v1/records/deal/d1", json!({"stage": "won"}))
        .await;
    s.patch("/v1/records/deal/d2", json!({"amount": 500})).await;
    s.engine.evaluate_events().await.unwrap();
    s.engine.run_due().await.unwrap();
    for id in [&won, &grown] {
        let done = s
            .until_status(id, "completed", Duration::from_secs(10))
            .await;
        assert_eq!(done["output"], json!({"result": "met"}), "{done}");
        assert_eq!(done["steps"][0]["detail"]["path"], "met");
    }
    let (_, evs) = s.get("/v1/records/deal/d1/events").await;
    assert_eq!(
        evs["events"][0]["outcome"]["goals_met"][0]["execution"],
        json!(won)
    );

    // d3's window closes.
    clock.set(start + Duration::from_secs(3 * 86_400 + 1));
    s.engine.run_due().await.unwrap();
    let done = s
        .until_status(&missed, "completed", Duration::from_secs(10))
        .await;
    assert_eq!(done["output"], json!({"result": "not_met"}));

    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: bad\nscope: { object: deal }\nsteps:\n  - { id: g, goal: { within: 1d, event: { teleported: {} } } }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    assert!(
        v["error"]["details"][0]["path"]
            .as_str()
            .unwrap()
            .contains("goal.event"),
        "{v}"
    );
}

const PING: &str = r#"
name: ping
scope: { object: deal }
settings: { reentry: true, reenter_in_chain: REENTER }
triggers:
  - field_updated: { field: a }
steps:
  - { id: set-b, action: update_record, input: { fields: { b: "{{ record.b + 1 }}" } } }
"#;

const PONG: &str = r#"
name: pong
scope: { object: deal }
settings: { reentry: true, reenter_in_chain: REENTER }
triggers:
  - field_updated: { field: b }
steps:
  - { id: set-a, action: update_record, input: { fields: { a: "{{ record.a + 1 }}" } } }
"#;

/// Wait until the chain on `record` has stopped: `n` executions of ping and pong together, the
/// last one stopped by the loop guard. Returns them, oldest first.
async fn chain(s: &TestServer, record: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        s.engine.evaluate_events().await.unwrap();
        let mut all = executions(s, "ping", record).await;
        all.extend(executions(s, "pong", record).await);
        all.sort_by(|x, y| x["created_at"].as_str().cmp(&y["created_at"].as_str()));
        let finished = all
            .iter()
            .all(|e| ["completed", "cancelled", "failed"].contains(&e["status"].as_str().unwrap()));
        if all.len() >= n && finished {
            assert_eq!(all.len(), n, "{}", Value::Array(all.clone()));
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "the chain on {record} did not stop: {}",
            Value::Array(all)
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn the_loop_guard_stops_chains_by_reentry_and_by_depth(db: Db) {
    // Re-entry: ping -> pong -> ping again on the same record is stopped.
    let s = server(db).await;
    s.apply(&PING.replace("REENTER", "false")).await;
    s.apply(&PONG.replace("REENTER", "false")).await;
    s.create_record("deal", "d1", json!({"a": 0, "b": 0})).await;
    s.patch("/v1/records/deal/d1", json!({"a": 1})).await;
    let all = chain(&s, "d1", 3).await;
    let statuses: Vec<(&str, &str)> = all
        .iter()
        .map(|e| {
            (
                e["workflow"].as_str().unwrap(),
                e["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("ping", "completed"),
            ("pong", "completed"),
            ("ping", "cancelled")
        ]
    );
    let stopped = &all[2];
    assert_eq!(stopped["error"]["code"], "loop_guard");
    let reason = stopped["error"]["message"].as_str().unwrap();
    assert!(
        reason.contains("would run again on deal/d1")
            && reason.contains("ping on deal/d1 -> pong on deal/d1 -> ping on deal/d1"),
        "{reason}"
    );
    assert_eq!(stopped["cause"]["chain"].as_array().unwrap().len(), 3);
    let (_, record) = s.get("/v1/records/deal/d1").await;
    assert_eq!(record["fields"], json!({"a": 2, "b": 1}));

    // Depth: with re-entry allowed, the chain stops past the limit (4 here).
    let s = server_with(db, |c| c.max_chain_depth = 4).await;
    s.apply(&PING.replace("REENTER", "true")).await;
    s.apply(&PONG.replace("REENTER", "true")).await;
    s.create_record("deal", "d1", json!({"a": 0, "b": 0})).await;
    s.patch("/v1/records/deal/d1", json!({"a": 1})).await;
    let all = chain(&s, "d1", 5).await;
    let statuses: Vec<&str> = all.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        [
            "completed",
            "completed",
            "completed",
            "completed",
            "cancelled"
        ]
    );
    let reason = all[4]["error"]["message"].as_str().unwrap();
    assert!(reason.contains("5 long, over the limit of 4"), "{reason}");
    let (_, record) = s.get("/v1/records/deal/d1").await;
    assert_eq!(record["fields"], json!({"a": 3, "b": 2}));
}

async fn a_record_is_in_a_workflow_once_unless_reentry_is_allowed(db: Db) {
    let s = server(db).await;
    s.apply(
        "
name: nurture
scope: { object: deal }
triggers:
  - field_updated: { field: title }
steps:
  - { id: wait, delay: { for: 1h } }
",
    )
    .await;
    s.apply("name: open\nscope: { object: deal }\nsettings: { reentry: true }\nsteps:\n  - { id: wait, delay: { for: 1h } }\n").await;
    s.create_record("deal", "d1", json!({})).await;
    s.patch("/v1/records/deal/d1", json!({"title": "one"}))
        .await;
    let first = expect_executions(&s, "nurture", "d1", 1).await;
    s.patch("/v1/records/deal/d1", json!({"title": "two"}))
        .await;
    settled(&s, "nurture", "d1", 1).await;
    let (_, evs) = s.get("/v1/records/deal/d1/events").await;
    let skipped = &evs["events"][0]["outcome"]["skipped"][0];
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("already in the workflow"),
        "{evs}"
    );
    let (status, v) = s
        .post(
            "/v1/workflows/nurture/executions",
            json!({"record_id": "d1"}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("reentry")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("re-entry"),
        "{v}"
    );
    let (status, v) = s
        .post(
            "/v1/workflows/nurture/executions?wait=1",
            json!({"record_id": "d1"}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("reentry")),
        "start-and-wait too: {v}"
    );
    // Once it has left the workflow, the record may come in again.
    let id = first[0]["id"].as_str().unwrap();
    s.post(&format!("/v1/executions/{id}/cancel"), json!({}))
        .await;
    // (A running execution acts on the cancel at its next step.)
    s.until_status(id, "cancelled", Duration::from_secs(10))
        .await;
    let (status, v) = s
        .post(
            "/v1/workflows/nurture/executions",
            json!({"record_id": "d1"}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    // With re-entry allowed, twice at once.
    for _ in 0..2 {
        let (status, v) = s
            .post("/v1/workflows/open/executions", json!({"record_id": "d1"}))
            .await;
        assert_eq!(status, 202, "{v}");
    }
}

async fn bulk_starts_over_a_filter(db: Db) {
    let s = server(db).await;
    s.apply("name: sweep\nscope: { object: deal }\nsettings: { reentry: true }\nsteps:\n  - { id: s, stop: { output: { amount: \"{{ record.amount }}\" } } }\n").await;
    for i in 0..6 {
        s.create_record("deal", &format!("d{i}"), json!({"amount": i * 100}))
            .await;
    }
    let (status, v) = s
        .post(
            "/v1/workflows/sweep/executions/bulk",
            json!({"filter": "record.amount >= 300"}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let mut ids: Vec<&str> = v["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["d3", "d4", "d5"]);
    let (status, v) = s
        .post(
            "/v1/workflows/sweep/executions/bulk",
            json!({"filter": "record.amount >= 300", "record_ids": ["d1"]}),
        )
        .await;
    assert_error(status, &v, 400, "invalid_body");
}

async fn count(s: &TestServer, workflow: &str, status: &str) -> usize {
    let (_, v) = s
        .get(&format!(
            "/v1/executions?workflow={workflow}&status={status}&limit=1000"
        ))
        .await;
    v["executions"].as_array().unwrap().len()
}

/// Drive the engine (timers, claims) until `workflow` has `want` executions in `status`.
async fn until_count(s: &TestServer, workflow: &str, status: &str, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        s.engine.run_due().await.unwrap();
        let n = count(s, workflow, status).await;
        if n == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{workflow}: {n} {status}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn throttled_starts_queue_and_all_run(db: Db) {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000);
    let clock = ManualClock::new(start);
    let s = server_with(db, {
        let clock = clock.clone();
        move |c| c.clock = Arc::new(clock)
    })
    .await;
    s.apply("name: slow\nsettings: { max_concurrent: 2 }\nsteps:\n  - { id: nap, delay: { for: 1h } }\n").await;
    s.apply(
        "name: paced\nsettings: { max_starts_per_minute: 2 }\nsteps:\n  - { id: s, stop: {} }\n",
    )
    .await;
    for _ in 0..5 {
        let (status, v) = s.post("/v1/workflows/slow/executions", json!({})).await;
        assert_eq!((status, v["status"].as_str()), (202, Some("queued")), "{v}");
    }
    until_count(&s, "slow", "waiting", 2).await;
    assert_eq!(
        count(&s, "slow", "queued").await,
        3,
        "the rest wait in the queue"
    );
    // Each hour the two in flight finish and two more leave the queue.
    for (hours, completed) in [(1, 2), (2, 4), (3, 5)] {
        clock.set(start + Duration::from_secs(hours * 3600 + 1));
        until_count(&s, "slow", "completed", completed).await;
        until_count(&s, "slow", "waiting", (5 - completed).min(2)).await;
    }
    assert_eq!(count(&s, "slow", "queued").await, 0);

    // Two starts a minute: start-and-wait answers 202 while its start waits in the queue.
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (status, v) = s
            .post("/v1/workflows/paced/executions?wait=0.05", json!({}))
            .await;
        assert!(status == 200 || status == 202, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    until_count(&s, "paced", "completed", 2).await;
    s.engine.run_due().await.unwrap();
    assert_eq!(
        count(&s, "paced", "queued").await,
        3,
        "the rate holds within the minute"
    );
    for (minutes, completed) in [(1, 4), (2, 5)] {
        clock.set(start + Duration::from_secs(3 * 3600 + 1 + minutes * 61));
        until_count(&s, "paced", "completed", completed).await;
    }
    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: bad\nsettings: { max_concurrent: 0 }\nsteps:\n  - { id: s, stop: {} }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
}

/// The verdict of each event in `GET /v1/events?workflow=NAME`, newest first.
async fn verdicts(s: &TestServer, workflow: &str) -> Vec<Value> {
    let (status, v) = s.get(&format!("/v1/events?workflow={workflow}")).await;
    assert_eq!(status, 200, "{v}");
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["verdict"].clone())
        .collect()
}

async fn each_event_says_why_each_watching_workflow_did_or_did_not_start(db: Db) {
    let s = server(db).await;
    s.apply("name: big\nscope: { object: deal }\ntriggers:\n  - stage_updated: { to: won, when: \"record.amount > 1000 and record.title != ''\" }\nsteps:\n  - { id: wait, delay: { for: 1h } }\n").await;
    s.apply("name: titles\nscope: { object: deal }\ntriggers:\n  - field_updated: { field: title, to: hello }\nsteps:\n  - { id: wait, delay: { for: 1h } }\n").await;
    s.apply("name: asleep\nscope: { object: deal }\ntriggers:\n  - record_created: {}\nsteps:\n  - { id: wait, delay: { for: 1h } }\n").await;
    s.apply("name: stopped\nscope: { object: deal }\ntriggers:\n  - stage_updated: {}\nsteps:\n  - { id: wait, delay: { for: 1h } }\n").await;
    s.apply("name: global\nsteps:\n  - { id: wait, delay: { for: 1h } }\n")
        .await;
    let (status, v) = s
        .put("/v1/workflows/asleep/enabled", json!({"on": false}))
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = s
        .put("/v1/workflows/stopped/kill-switch", json!({"on": true}))
        .await;
    assert_eq!(status, 200, "{v}");

    s.create_record("deal", "d1", json!({"title": "x", "amount": 5}))
        .await;
    s.patch("/v1/records/deal/d1", json!({"stage": "won"}))
        .await;
    s.engine.evaluate_events().await.unwrap();

    // The stage change: one entry per watching workflow, none of them started.
    let (_, evs) = s.get("/v1/records/deal/d1/events").await;
    let outcome = &evs["events"][0]["outcome"];
    assert!(outcome.get("started").is_none(), "{outcome}");
    let by_workflow = |name: &str| {
        outcome["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["workflow"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no entry for {name}: {outcome}"))
    };
    let big = by_workflow("big");
    assert_eq!(big["code"], "condition_false", "{big}");
    assert_eq!(
        big["triggers"][0]["values"],
        json!({"record.amount": 5, "record.title": "x"}),
        "the values the condition saw: {big}"
    );
    let titles = by_workflow("titles");
    assert_eq!(titles["code"], "no_trigger_matched", "{titles}");
    let why = titles["triggers"][0]["reason"].as_str().unwrap();
    assert!(
        why.contains("field_updated of `title` to \"hello\"") && why.contains("stage_changed"),
        "{why}"
    );
    assert_eq!(by_workflow("asleep")["code"], "switched_off");
    let stopped = by_workflow("stopped");
    assert_eq!(
        (stopped["code"].as_str(), stopped["reason"].as_str()),
        (
            Some("kill_switch"),
            Some("the kill switch of workflow `stopped` is on")
        ),
        "{stopped}"
    );

    // Across records, for one workflow: a big enough deal starts it.
    s.create_record("deal", "d2", json!({"title": "y", "amount": 5000}))
        .await;
    s.patch("/v1/records/deal/d2", json!({"stage": "won"}))
        .await;
    let started = expect_executions(&s, "big", "d2", 1).await;
    let v = verdicts(&s, "big").await;
    assert_eq!(v[0]["result"], "started", "{v:?}");
    assert_eq!(v[0]["execution"], started[0]["id"], "{v:?}");
    assert_eq!(
        (v[1]["result"].as_str(), v[1]["code"].as_str()),
        (Some("skipped"), Some("no_trigger_matched")),
        "d2's creation: {v:?}"
    );
    assert_eq!(v[2]["code"], "condition_false", "{v:?}");
    assert_eq!(v.len(), 4, "{v:?}");

    // Filters and pages.
    let (_, page) = s
        .get("/v1/events?object=deal&kind=stage_changed&limit=1")
        .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["events"][0]["record_id"], "d2", "{page}");
    let next = page["next_before"].as_i64().expect("a next page");
    let (_, page) = s
        .get(&format!(
            "/v1/events?object=deal&kind=stage_changed&before={next}"
        ))
        .await;
    let ids: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d1"], "{page}");
    assert_eq!(page["next_before"], Value::Null, "{page}");
    let (_, later) = s.get("/v1/events?since=2999-01-01T00:00:00Z").await;
    assert_eq!(later["events"], json!([]), "{later}");

    // Hostile or mistaken queries: each a clear error.
    let (status, v) = s.get("/v1/events?kind=exploded").await;
    assert_error(status, &v, 400, "invalid_query");
    let (status, v) = s.get("/v1/events?since=yesterday").await;
    assert_error(status, &v, 400, "invalid_query");
    let (status, v) = s.get("/v1/events?workflow=nope").await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = s.get("/v1/events?object=nope").await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = s.get("/v1/events?workflow=global").await;
    assert_error(status, &v, 422, "wrong_scope");
    s.define_object("name: lead\nfields:\n  email: { type: text }\n")
        .await;
    let (status, v) = s.get("/v1/events?workflow=big&object=lead").await;
    assert_error(status, &v, 422, "wrong_scope");
}

/// Wait (without evaluating events by hand) until `workflow` has an execution on `record`.
async fn started_on_its_own(s: &TestServer, workflow: &str, record: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = executions(s, workflow, record).await;
        if !found.is_empty() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{workflow} never started on {record}: the event waits for a poll"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A step's record write wakes the evaluator as an API write does: with a poll of an hour, the
/// workflow it triggers still starts at once.
async fn events_a_step_writes_are_evaluated_at_once(db: Db) {
    let s = server_with(db, |c| c.poll_interval = Duration::from_secs(3600)).await;
    s.apply("name: writer\nscope: { object: deal }\nsteps:\n  - { id: set, action: update_record, input: { fields: { title: done } } }\n").await;
    s.apply("name: follower\nscope: { object: deal }\ntriggers:\n  - field_updated: { field: title, to: done }\nsteps:\n  - { id: wait, delay: { for: 1h } }\n").await;
    s.create_record("deal", "d1", json!({"title": "new"})).await;
    let (status, v) = s
        .post(
            "/v1/workflows/writer/executions?wait=10",
            json!({"record_id": "d1"}),
        )
        .await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("completed")),
        "{v}"
    );
    let started = started_on_its_own(&s, "follower", "d1").await;
    assert_eq!(started.len(), 1, "{started:?}");
}

/// On PostgreSQL, a node hears of events another node wrote (LISTEN/NOTIFY), and evaluates them
/// at once, not at its next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_hear_of_events_written_elsewhere() {
    let a = server_with(Db::Postgres, |c| {
        c.poll_interval = Duration::from_secs(3600)
    })
    .await;
    let b = a
        .join_with(|c| c.poll_interval = Duration::from_secs(3600))
        .await;
    a.apply("name: greeter\nscope: { object: deal }\ntriggers:\n  - record_created: {}\nsteps:\n  - { id: wait, delay: { for: 1h } }\n").await;
    // A third process's write: a store with no engine, so no evaluator of its own to wake.
    let store = flowbox::store::Store::open(&a.db_url).await.unwrap();
    let op = flowbox::store::RecordOp {
        object: "deal".into(),
        id: "d9".into(),
        action: flowbox::store::RecordAction::Create {
            fields: serde_json::Map::new(),
            form: None,
        },
        schema: Default::default(),
        cause: json!({"kind": "api", "name": "elsewhere"}).to_string(),
        now: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    };
    let written = store.writer().records(vec![op]).await.unwrap();
    assert!(written[0].is_ok(), "{written:?}");
    started_on_its_own(&b, "greeter", "d9").await;
}

/// The step runs of an execution, in order.
async fn history(s: &TestServer, id: &str) -> Vec<Value> {
    s.execution(id).await["steps"].as_array().unwrap().clone()
}

async fn the_history_of_waits_goals_and_gotos_tells_the_truth(db: Db) {
    let s = server(db).await;
    s.apply(
        "
name: story
scope: { object: deal }
settings: { reentry: true }
steps:
  - { id: nap, delay: { for: 200ms } }
  - { id: again, goto: nap, max_iterations: 1 }
  - id: hope
    goal: { event: { field_updated: { field: title } }, within: 1h }
  - { id: strict, goto: hope, max_iterations: 1, on_cap: fail }
",
    )
    .await;
    s.create_record("deal", "d1", json!({})).await;
    let (_, v) = s
        .post("/v1/workflows/story/executions", json!({"record_id": "d1"}))
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    s.until_status(&id, "waiting", Duration::from_secs(5)).await;
    // Wait for the goal (after two naps): meet it with an event.
    let deadline = Instant::now() + Duration::from_secs(10);
    while history(&s, &id).await.len() < 4 {
        assert!(Instant::now() < deadline, "{:?}", history(&s, &id).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.patch("/v1/records/deal/d1", json!({"title": "hello"}))
        .await;
    s.engine.evaluate_events().await.unwrap();
    // The goal met by the event; `strict` jumps back to it once: met by hand this time.
    let deadline = Instant::now() + Duration::from_secs(10);
    while history(&s, &id).await.len() < 6 {
        assert!(Instant::now() < deadline, "{:?}", history(&s, &id).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // `strict`'s run shows before the execution is back at the goal: meet it once it waits.
    s.until_status(&id, "waiting", Duration::from_secs(10))
        .await;
    let (status, v) = s
        .post(&format!("/v1/executions/{id}/goals/hope/meet"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let done = s.until_status(&id, "failed", Duration::from_secs(10)).await;
    assert_eq!(done["error"]["code"], "goto_cap", "{done}");
    let runs = history(&s, &id).await;
    let of = |i: usize| {
        (
            runs[i]["step_id"].as_str().unwrap(),
            runs[i]["status"].as_str().unwrap(),
        )
    };
    assert_eq!(
        (0..runs.len()).map(of).collect::<Vec<_>>(),
        [
            ("nap", "completed"),
            ("again", "completed"),
            ("nap", "completed"),
            ("again", "completed"),
            ("hope", "completed"),
            ("strict", "completed"),
            ("hope", "completed"),
            ("strict", "failed"),
        ],
        "{runs:?}"
    );
    // A delay keeps its wake-up time once it woke.
    assert!(runs[0]["detail"]["wake_at"].is_string(), "{}", runs[0]);
    assert_eq!(runs[0]["detail"]["waited"], true, "{}", runs[0]);
    // A goto at its cap says so; with on_cap: fail it fails the execution.
    assert_eq!(runs[3]["detail"]["capped"], true, "{}", runs[3]);
    assert_eq!(runs[7]["detail"]["capped"], true, "{}", runs[7]);
    assert_eq!(runs[7]["error"]["code"], "goto_cap", "{}", runs[7]);
    // A goal says what met it, and keeps its window.
    let (_, evs) = s.get("/v1/records/deal/d1/events").await;
    let event = evs["events"][0]["id"].as_i64().unwrap();
    assert_eq!(
        runs[4]["detail"]["met"],
        json!({"by": "event", "event": event}),
        "{}",
        runs[4]
    );
    assert_eq!(
        runs[6]["detail"]["met"],
        json!({"by": "api"}),
        "{}",
        runs[6]
    );
    assert!(runs[6]["detail"]["until"].is_string(), "{}", runs[6]);

    // Cancelling a waiting execution closes its wait.
    let (_, v) = s
        .post("/v1/workflows/story/executions", json!({"record_id": "d1"}))
        .await;
    let id = v["id"].as_str().unwrap().to_string();
    s.until_status(&id, "waiting", Duration::from_secs(5)).await;
    let (status, v) = s
        .post(&format!("/v1/executions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    let runs = history(&s, &id).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["status"], "cancelled", "{}", runs[0]);
    assert!(runs[0]["ended_at"].is_string(), "{}", runs[0]);
    assert!(runs[0]["detail"]["wake_at"].is_string(), "{}", runs[0]);
}
