//! Durability at the engine's edges, on SQLite and PostgreSQL: a 202 means recorded; a start
//! whose caller goes away still runs; read-modify-write through steps loses no update; a commit
//! whose reads went stale (or whose record write is refused) leaves nothing behind; a waiter
//! hears of an end that happened on another node.

use std::time::{Duration, Instant};

use flowbox::store::{
    Commit, Conflict, Guard, RecordAction, RecordOp, RecordRead, RecordSchema, RecordVersion,
    SideWrite, Store,
};
use serde_json::{Value, json};

use crate::common::{Db, TestServer, fresh_db_url, on_both_databases, queued_execution};

on_both_databases!(
    a_202_after_a_wait_means_recorded,
    a_start_whose_caller_went_away_still_runs,
    read_modify_write_through_steps_loses_no_update,
    atomic_increments_all_count,
    a_stale_read_or_a_refused_write_undoes_the_whole_commit,
    a_panic_while_driving_fails_the_execution_and_frees_its_slot,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_hears_of_an_end_on_another_node() {
    start_and_wait_across_nodes().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_item_fails_only_itself() {
    bad_item_in_a_batch().await
}

/// A bug that panics the task driving an execution fails that execution (`internal`, its
/// history kept) instead of leaving it held by this node until a restart; the node goes on
/// driving others, the same workflow included.
async fn a_panic_while_driving_fails_the_execution_and_frees_its_slot(db: Db) {
    let s = TestServer::start_with(db, |c| c.panic_at_step = Some("boom".into())).await;
    assert_eq!(s.upload("increment", "increment", &[]).await.0, 201);
    s.apply("name: buggy\nsteps:\n  - { id: one, action: increment }\n  - { id: boom, action: increment }\n")
        .await;
    s.apply("name: fine\nsteps:\n  - { id: one, action: increment }\n")
        .await;
    for _ in 0..3 {
        let v = s.run("buggy", json!({"input": {"n": 0}})).await;
        assert_eq!(v["status"], "failed", "{v}");
        assert_eq!(v["error"]["code"], "internal", "{v}");
        let id = v["id"].as_str().unwrap();
        let v = s.execution(id).await;
        assert_eq!(v["steps"][0]["step_id"], "one", "{v}");
        assert_eq!(v["steps"][0]["status"], "completed", "{v}");
        assert!(
            !s.engine.is_running_here(id),
            "the execution still holds a slot on this node"
        );
    }
    let v = s.run("fine", json!({"input": {"n": 0}})).await;
    assert_eq!(v["status"], "completed", "{v}");
}

/// A global workflow whose first step outlasts the caller's wait: the 202 names an execution
/// that is already recorded (before the fix it was written with the first step's result, and
/// was 404 until then: a SIGKILL in between lost it).
async fn a_202_after_a_wait_means_recorded(db: Db) {
    let s = TestServer::start(db).await;
    assert_eq!(s.upload("slow", "slow", &[]).await.0, 201);
    s.apply("name: slowstart\nsteps:\n  - { id: nap, action: slow, input: { ms: 1500 } }\n")
        .await;
    let (status, v) = s
        .post(
            "/v1/workflows/slowstart/executions?wait=0.2",
            json!({"input": {}}),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["status"], "running", "{v}");
    let id = v["id"].as_str().unwrap();
    // Recorded now, while its first step still runs.
    let (status, row) = s.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(
        status, 200,
        "a 202 named an execution that is not recorded: {row}"
    );
    assert_eq!(row["status"], "running", "{row}");
    // And it runs to its end once (its row was inserted once, then advanced).
    let done = s
        .until_status(id, "completed", Duration::from_secs(20))
        .await;
    assert_eq!(done["output"], json!({"slept": 1500, "n": 1}), "{done}");
    assert_eq!(done["steps"].as_array().unwrap().len(), 1, "{done}");
}

/// Callers that give up at every moment of a start (a client hanging up): whatever got
/// recorded is driven at once, not after its lease (30 s) runs out.
async fn a_start_whose_caller_went_away_still_runs(db: Db) {
    let s = TestServer::start(db).await;
    assert_eq!(s.upload("increment", "increment", &[]).await.0, 201);
    s.apply("name: quick\nsteps:\n  - { id: a, action: increment }\n")
        .await;
    let mut dropped = 0;
    for i in 0..200u64 {
        let start = s.engine.start(
            "quick",
            flowbox::engine::StartRequest {
                input: json!({"n": i}),
                ..Default::default()
            },
        );
        // From 0 to 4 ms: some give up before the insert, some while it is in flight, some
        // after it.
        if tokio::time::timeout(Duration::from_micros(i * 20), start)
            .await
            .is_err()
        {
            dropped += 1;
        }
    }
    assert!(dropped > 0, "no start was given up");
    // One caller that waits, so that something is recorded even when every caller above gave
    // up before its insert (a loaded machine).
    s.engine
        .start(
            "quick",
            flowbox::engine::StartRequest {
                input: json!({"n": -1}),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = s.get("/v1/executions?workflow=quick&limit=1000").await;
        let items = v["executions"].as_array().unwrap();
        let stuck: Vec<&Value> = items
            .iter()
            .filter(|e| e["status"] != "completed")
            .collect();
        if stuck.is_empty() {
            assert!(!items.is_empty());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} recorded executions are not driven ({dropped} callers gave up): {:?}",
            stuck.len(),
            items.len(),
            stuck.first()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const TALLY: &str = "
name: tally
fields:
  count: { type: number }
  label: { type: text }
";

async fn with_tally(db: Db) -> TestServer {
    let s = TestServer::start(db).await;
    s.define_object(TALLY).await;
    assert_eq!(s.upload("counter", "counter", &["records"]).await.0, 201);
    s.create_record("tally", "t1", json!({"count": 0})).await;
    s
}

/// Start `n` executions of `workflow` on tally/t1 at once and wait for all of them.
async fn run_concurrently(s: &TestServer, workflow: &str, n: usize) {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (http, url, token) = (s.http.clone(), s.url.clone(), s.admin.clone());
        let workflow = workflow.to_string();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{url}/v1/workflows/{workflow}/executions?wait=60"))
                .bearer_auth(token)
                .json(&json!({"record_id": "t1"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v)
        }));
    }
    for t in tasks {
        let (status, v) = t.await.unwrap();
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["status"], "completed", "{v}");
    }
}

/// The record's `count`, and its update events oldest first as (old, new).
async fn count_and_changes(s: &TestServer) -> (Value, Vec<(i64, i64)>) {
    let (_, record) = s.get("/v1/records/tally/t1").await;
    let (_, v) = s.get("/v1/records/tally/t1/events?limit=1000").await;
    let mut changes: Vec<(i64, i64)> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "updated")
        .map(|e| {
            let c = &e["changes"]["count"];
            (c["old"].as_i64().unwrap(), c["new"].as_i64().unwrap())
        })
        .collect();
    changes.reverse();
    (record["fields"]["count"].clone(), changes)
}

/// 20 executions at once, each adding 1 to one record's counter in four steps that read it
/// and write it back: all 80 count, and its events never move it backwards.
async fn read_modify_write_through_steps_loses_no_update(db: Db) {
    let s = with_tally(db).await;
    s.apply(
        "name: bump
scope: { object: tally }
settings: { reentry: true }
steps:
  - { id: a, action: counter, input: { mode: read-modify-write } }
  - { id: b, action: counter, input: { mode: read-modify-write } }
  - { id: c, action: counter, input: { mode: read-modify-write } }
  - { id: d, action: counter, input: { mode: read-modify-write } }
",
    )
    .await;
    run_concurrently(&s, "bump", 20).await;
    let (count, changes) = count_and_changes(&s).await;
    assert_eq!(count, json!(80), "updates were lost");
    let expected: Vec<(i64, i64)> = (0..80).map(|i| (i, i + 1)).collect();
    assert_eq!(changes, expected, "the events moved the counter backwards");
    // A step that ran again says so (and was not counted as an attempt).
    let (_, list) = s.get("/v1/executions?workflow=bump&limit=100").await;
    for e in list["executions"].as_array().unwrap() {
        let e = s.execution(e["id"].as_str().unwrap()).await;
        for step in e["steps"].as_array().unwrap() {
            assert_eq!(step["attempt"], 1, "{step}");
            if let Some(reruns) = step["detail"].get("reruns") {
                assert!(reruns["count"].as_u64().unwrap() >= 1, "{step}");
                assert!(
                    reruns["reason"]
                        .as_str()
                        .unwrap()
                        .contains("changed after the step read it"),
                    "{step}"
                );
            }
        }
    }
}

/// The same with the atomic `increment`: four per step, 20 at once, all count.
async fn atomic_increments_all_count(db: Db) {
    let s = with_tally(db).await;
    s.apply(
        "name: bumpi\nscope: { object: tally }\nsettings: { reentry: true }\nsteps:\n  - { id: a, action: counter, input: { mode: increment, times: 4 } }\n",
    )
    .await;
    run_concurrently(&s, "bumpi", 20).await;
    let (count, changes) = count_and_changes(&s).await;
    assert_eq!(count, json!(80), "increments were lost");
    assert_eq!(changes.len(), 80);
    for (old, new) in &changes {
        assert_eq!(new - old, 1, "{changes:?}");
    }
    // A field that is not a number cannot be incremented: the step fails and names it.
    s.apply(
        "name: badinc\nscope: { object: tally }\nsettings: { reentry: true }\nsteps:\n  - { id: a, action: counter, input: { mode: increment, field: label } }\n",
    )
    .await;
    let (status, v) = s
        .post(
            "/v1/workflows/badinc/executions?wait=30",
            json!({"record_id": "t1"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "failed", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("`label` is a text field"), "{message}");
}

fn op(object: &str, id: &str, action: RecordAction) -> RecordOp {
    RecordOp {
        object: object.into(),
        id: id.into(),
        action,
        schema: RecordSchema::default(),
        cause: "{}".into(),
        now: 1,
    }
}

fn fields(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Straight at the store: a commit whose read went stale, or one of whose record writes is
/// refused, writes nothing (not its step run, not its other record writes, not the
/// execution's progress) and says why; the same commit with a fresh read applies.
async fn a_stale_read_or_a_refused_write_undoes_the_whole_commit(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&fresh_db_url(db, dir.path()).await)
        .await
        .unwrap();
    let writer = store.writer();
    let create = |id: &str| {
        op(
            "tally",
            id,
            RecordAction::Create {
                fields: fields(json!({"count": 0})),
                form: None,
            },
        )
    };
    for r in writer
        .records(vec![create("a"), create("b")])
        .await
        .unwrap()
    {
        r.unwrap();
    }
    let seen_a = store.record("tally", "a").await.unwrap().unwrap();
    assert_eq!(seen_a.version, 1);
    // Someone else writes `a` after our step read it.
    writer
        .records(vec![op(
            "tally",
            "a",
            RecordAction::Update {
                fields: fields(json!({"count": 5})),
                form: None,
            },
        )])
        .await
        .unwrap()
        .remove(0)
        .unwrap();

    let execution = flowbox::store::ExecutionRow {
        status: "running".into(),
        lease_owner: Some("n1".into()),
        lease_until: Some(i64::MAX),
        ..queued_execution("e1", "w")
    };
    assert!(
        writer
            .commit(Commit::insert(execution.clone()))
            .await
            .unwrap()
            .applied
    );
    let step_run = flowbox::store::StepRunRow {
        execution_id: "e1".into(),
        seq: 1,
        step_id: "s".into(),
        kind: "action".into(),
        status: "completed".into(),
        attempt: 1,
        input: None,
        output: None,
        error: None,
        detail: None,
        logs: None,
        fuel: None,
        memory_peak: None,
        started_at: 1,
        ended_at: Some(2),
    };
    let progress = |reads: Vec<RecordRead>, side_writes: Vec<SideWrite>| Commit {
        guard: Guard::Advance {
            seq: 0,
            owner: "n1".into(),
        },
        execution: flowbox::store::ExecutionRow {
            seq: 1,
            ..execution.clone()
        },
        clear_control: false,
        step_runs: vec![step_run.clone()],
        side_writes,
        reads,
        urgent: false,
    };
    let bump_b = || {
        SideWrite::Record(Box::new(op(
            "tally",
            "b",
            RecordAction::Update {
                fields: fields(json!({"count": 1})),
                form: None,
            },
        )))
    };
    let read_a = |version| RecordRead {
        object: "tally".into(),
        id: "a".into(),
        seen: Some(RecordVersion {
            version,
            created_at: seen_a.created_at,
        }),
    };
    let nothing_written = |what: &str| {
        let what = what.to_string();
        let store = store.clone();
        async move {
            let e = store.execution("e1").await.unwrap().unwrap();
            assert_eq!(e.seq, 0, "{what}: the execution advanced");
            assert!(store.step_runs("e1").await.unwrap().is_empty(), "{what}");
            let b = store.record("tally", "b").await.unwrap().unwrap();
            assert_eq!(b.fields, r#"{"count":0}"#, "{what}: `b` was written");
            assert_eq!(b.version, 1, "{what}");
        }
    };

    // Read at version 1, now at 2: stale.
    let outcome = writer
        .commit(progress(vec![read_a(1)], vec![bump_b()]))
        .await
        .unwrap();
    assert!(!outcome.applied);
    assert_eq!(
        outcome.conflict,
        Some(Conflict::StaleRead {
            record: "tally/a".into()
        })
    );
    nothing_written("stale read").await;

    // A write refused at commit (creating a record that exists) undoes the writes before it.
    let outcome = writer
        .commit(progress(
            vec![],
            vec![bump_b(), SideWrite::Record(Box::new(create("a")))],
        ))
        .await
        .unwrap();
    assert!(!outcome.applied);
    assert!(
        matches!(outcome.conflict, Some(Conflict::Refused(_))),
        "{outcome:?}"
    );
    nothing_written("refused write").await;

    // With what is there now, it applies, whole.
    let outcome = writer
        .commit(progress(vec![read_a(2)], vec![bump_b()]))
        .await
        .unwrap();
    assert!(outcome.applied, "{outcome:?}");
    assert_eq!(outcome.conflict, None);
    assert_eq!(store.execution("e1").await.unwrap().unwrap().seq, 1);
    assert_eq!(store.step_runs("e1").await.unwrap().len(), 1);
    let b = store.record("tally", "b").await.unwrap().unwrap();
    assert_eq!((b.fields.as_str(), b.version), (r#"{"count":1}"#, 2));
}

/// Two nodes on one PostgreSQL database: executions started-and-waited on one node, resumed
/// after a delay by whichever node claims them first; every caller hears of the end at once.
async fn start_and_wait_across_nodes() {
    let a = TestServer::start(Db::Postgres).await;
    let b = a.join().await;
    assert_eq!(a.upload("increment", "increment", &[]).await.0, 201);
    a.apply("name: napper\nsteps:\n  - { id: nap, delay: { for: 300ms } }\n  - { id: inc, action: increment }\n")
        .await;
    let mut calls = Vec::new();
    for i in 0..16 {
        let (http, url, token) = (a.http.clone(), a.url.clone(), a.admin.clone());
        calls.push(tokio::spawn(async move {
            let started = Instant::now();
            let r = http
                .post(format!("{url}/v1/workflows/napper/executions?wait=20"))
                .bearer_auth(token)
                .json(&json!({"input": {"n": i}}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v, started.elapsed())
        }));
    }
    for c in calls {
        let (status, v, took) = c.await.unwrap();
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["status"], "completed", "{v}");
        assert!(
            took < Duration::from_secs(8),
            "the caller heard of the end after {took:?}"
        );
    }
    drop(b);
}

/// Fifty commits reach the PostgreSQL writer at once; one of them holds text PostgreSQL refuses
/// (a NUL character). That one fails; the 49 others, which shared its batch, are written.
async fn bad_item_in_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&fresh_db_url(Db::Postgres, dir.path()).await)
        .await
        .unwrap();
    let commits = (0..50).map(|i| {
        let workflow = if i == 25 { "bad\0name" } else { "good" };
        store
            .writer()
            .commit(Commit::insert(queued_execution(&format!("e{i}"), workflow)))
    });
    let outcomes = futures::future::join_all(commits).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        if i == 25 {
            let e = outcome.as_ref().unwrap_err();
            assert!(!e.is_unavailable(), "{e}");
        } else {
            assert!(outcome.as_ref().unwrap().applied, "commit {i}: {outcome:?}");
        }
    }
    for i in (0..50).filter(|&i| i != 25) {
        assert!(store.execution(&format!("e{i}")).await.unwrap().is_some());
    }
    // The writer is healthy: the next commit goes through.
    assert!(
        store
            .writer()
            .commit(Commit::insert(queued_execution("after", "good")))
            .await
            .unwrap()
            .applied
    );
    assert!(store.health().degraded().is_none());
}
