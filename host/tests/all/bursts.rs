//! Bursts of due work: many executions coming due at once are driven within the node's
//! in-flight bound, each exactly once; and a live node keeps its claims without renewing them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use flowbox::clock::ManualClock;
use serde_json::{Value, json};

use flowbox::store::{Commit, Store};

use crate::common::{Db, TestServer, fresh_db_url, on_both_databases, queued_execution};

const BURST: &str = "
name: burst
steps:
  - { id: wait, delay: { until: \"{{ input.at }}\" } }
  - { id: add, action: increment }
";

async fn a_burst_is_driven_within_the_bound_each_once(db: Db) {
    const N: usize = 60;
    const BOUND: usize = 4;
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000);
    let due = start + Duration::from_secs(3600);
    let clock = ManualClock::new(start);
    let s = Arc::new(
        TestServer::start_with(db, |c| {
            c.clock = Arc::new(clock.clone());
            c.max_in_flight = BOUND;
        })
        .await,
    );
    s.upload("increment", "increment", &[]).await;
    s.apply(BURST).await;
    let at = flowbox::time::format(due.into());

    // All at once: each start waits for a slot in turn, none is refused.
    let mut starts = Vec::new();
    for i in 0..N {
        let (s, at) = (s.clone(), at.clone());
        starts.push(tokio::spawn(async move {
            s.post(
                "/v1/workflows/burst/executions",
                json!({"input": {"at": at, "n": i}}),
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    for start in starts {
        let (status, v) = start.await.unwrap();
        assert_eq!(status, 202, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let waiting = || async {
        s.engine
            .store()
            .count_by_status()
            .await
            .unwrap()
            .into_iter()
            .find(|(status, _)| status == "waiting")
            .map_or(0, |(_, n)| n)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while waiting().await < N as i64 {
        assert!(tokio::time::Instant::now() < deadline, "not all waiting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // All due at once.
    clock.set(due);
    s.engine.run_due().await.unwrap();
    for (i, id) in ids.iter().enumerate() {
        let done = s
            .until_status(id, "completed", Duration::from_secs(30))
            .await;
        assert_eq!(done["output"]["n"], json!(i + 1), "{done}");
        let runs: Vec<(&str, i64)> = done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["step_id"].as_str().unwrap(),
                    r["attempt"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(runs, [("wait", 1), ("add", 1)], "{done}");
    }
    let (now, peak) = s.engine.in_flight();
    assert_eq!(now, 0);
    assert!(
        peak <= BOUND,
        "{peak} executions in flight, over the bound of {BOUND}"
    );
    assert!(peak >= 2, "the burst ran one at a time: peak {peak}");
    let completed: Vec<(String, i64)> = s.engine.store().count_by_status().await.unwrap();
    assert_eq!(completed, vec![("completed".to_string(), N as i64)]);
}

/// A node that is alive keeps what it claimed, however long a step takes, without renewing
/// each lease: another node does not take it over (the request would go out twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_postgres_node_keeps_its_claims_past_their_lease() {
    let db = Db::Postgres;
    let short = |c: &mut flowbox::engine::EngineConfig| c.lease = Duration::from_secs(1);
    let a = TestServer::start_with(db, short).await;
    let _b = a.join_with(short).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(3500)).await;
            "{}"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, v) = a
        .call(
            a.http
                .put(format!("{}/v1/steps/http_request", a.url))
                .query(&[("grant", "http"), ("http_host", host.as_str())])
                .body(crate::common::guest("http_request")),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    a.apply(&format!(
        "name: slow\nsteps:\n  - {{ id: call, action: http_request, input: {{ url: \"http://{host}/slow\" }} }}\n"
    ))
    .await;
    // Started without waiting: its row is in the database from the start, for B to see.
    let (status, v) = a.post("/v1/workflows/slow/executions", json!({})).await;
    assert_eq!(status, 202, "{v}");
    let v = a
        .until_status(
            v["id"].as_str().unwrap(),
            "completed",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the request went out once");
    let runs: Vec<Value> = v["steps"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 1, "{v}");
    assert_eq!(runs[0]["attempt"], 1, "{v}");
}

/// Timers of one workflow all due at once do not hold back another workflow's timer due a
/// second later: each workflow with due waits gets its share of a claim.
async fn a_burst_of_timers_does_not_hold_back_another_workflow(db: Db) {
    const N: usize = 40;
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000);
    let due = start + Duration::from_secs(3600);
    let clock = ManualClock::new(start);
    let s = TestServer::start_with(db, |c| c.clock = Arc::new(clock.clone())).await;
    s.upload("increment", "increment", &[]).await;
    s.apply(BURST).await;
    s.apply(&BURST.replace("name: burst", "name: steady")).await;
    let at = flowbox::time::format(due.into());
    for i in 0..N {
        let (status, v) = s
            .post(
                "/v1/workflows/burst/executions",
                json!({"input": {"at": at, "n": i}}),
            )
            .await;
        assert_eq!(status, 202, "{v}");
    }
    let later = flowbox::time::format((due + Duration::from_secs(1)).into());
    let (status, v) = s
        .post(
            "/v1/workflows/steady/executions",
            json!({"input": {"at": later, "n": 0}}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let steady = v["id"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let counts = s.engine.store().count_by_status().await.unwrap();
        if counts == vec![("waiting".to_string(), N as i64 + 1)] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all waiting: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A claim of 4 when all are due (the node's clock is left before them, so only this claim
    // takes any): the steady workflow's timer is in it, though 40 others are older.
    let now = (due + Duration::from_secs(1))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let claimed = s
        .engine
        .store()
        .claim_due("fairness-test", now, now + 600_000, now, 4)
        .await
        .unwrap();
    let ids: Vec<&str> = claimed.rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(
        ids.contains(&steady.as_str()),
        "the steady workflow's timer waited behind the burst: claimed {ids:?}"
    );
    let burst = claimed
        .rows
        .iter()
        .filter(|r| r.workflow == "burst")
        .count();
    assert_eq!(burst, 3, "the rest of the claim goes to the burst");
}

/// Starts of one workflow queued by the thousand (a schedule over every record) do not hold
/// back another workflow's start queued after them: each workflow with a queue gets its share
/// of a claim. A throttled workflow's queue is left to its limits.
async fn a_queue_of_one_workflow_does_not_hold_back_another(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&fresh_db_url(db, dir.path()).await)
        .await
        .unwrap();
    for name in ["bulk", "steady", "throttled"] {
        let definition = format!("name: {name}\nsteps: [{{ id: add, action: increment }}]");
        store.save_workflow(name, &definition, 1).await.unwrap();
    }
    store
        .set_throttle("throttled", Some(1), None)
        .await
        .unwrap();
    let queue = |id: String, workflow: &str, at: i64| {
        let mut row = queued_execution(&id, workflow);
        row.created_at = at;
        store.writer().commit(Commit::insert(row))
    };
    for i in 0..40 {
        assert!(
            queue(format!("bulk-{i}"), "bulk", 10 + i)
                .await
                .unwrap()
                .applied
        );
    }
    assert!(queue("held".into(), "throttled", 1).await.unwrap().applied);
    assert!(queue("steady".into(), "steady", 100).await.unwrap().applied);

    let claimed = store
        .claim_due("fairness-test", 1_000, 601_000, 1_000, 4)
        .await
        .unwrap();
    let ids: Vec<&str> = claimed.rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(
        ids.contains(&"steady"),
        "the steady workflow's start waited behind the bulk queue: claimed {ids:?}"
    );
    assert!(
        !ids.contains(&"held"),
        "a throttled queue was claimed: {ids:?}"
    );
    // The rest goes to the bulk queue, oldest first.
    let mut bulk: Vec<&str> = ids.iter().copied().filter(|id| *id != "steady").collect();
    bulk.sort_by_key(|id| id[5..].parse::<u32>().unwrap());
    assert_eq!(bulk, ["bulk-0", "bulk-1", "bulk-2"]);
}

on_both_databases!(
    a_burst_is_driven_within_the_bound_each_once,
    a_burst_of_timers_does_not_hold_back_another_workflow,
    a_queue_of_one_workflow_does_not_hold_back_another,
);
