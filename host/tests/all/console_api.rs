//! The API the console stands on: who the caller is, the long poll on changes, counts by
//! status, the cause filter, and a workflow's graph (served, and from a definition being
//! validated).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Db, TestServer, on_both_databases};

on_both_databases!(counts_and_the_cause_filter_match_the_list);

const TWO: &str = "name: two\nsteps:\n  - { id: a, action: increment, input: { n: 1 } }\n";
const PARENT: &str = "name: parent\nsteps:\n  - { id: a, start_workflow: { workflow: two } }\n  - { id: b, start_workflow: { workflow: two } }\n";
const BROKE: &str =
    "name: broke\nsteps:\n  - { id: a, action: fail, input: { kind: permanent, message: no } }\n";

async fn counts_and_the_cause_filter_match_the_list(db: Db) {
    let s = TestServer::start(db).await;
    s.upload("increment", "increment", &[]).await;
    s.upload("fail", "fail", &[]).await;
    for def in [TWO, BROKE] {
        let (status, body) = s.post_raw("/v1/workflows", def).await;
        assert_eq!(status, 201, "{body}");
    }
    for _ in 0..3 {
        let (status, _) = s
            .post("/v1/workflows/two/executions?wait=10", json!({}))
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = s
        .post("/v1/workflows/broke/executions?wait=10", json!({}))
        .await;
    assert_eq!(status, 200);

    let (status, all) = s.get("/v1/executions/counts").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["total"], 4, "{all}");
    assert_eq!(all["counts"]["completed"], 3, "{all}");
    assert_eq!(all["counts"]["failed"], 1, "{all}");
    assert_eq!(all["counts"]["waiting"], 0, "every status is listed: {all}");
    let (_, two) = s.get("/v1/executions/counts?workflow=two").await;
    assert_eq!(two["total"], 3, "{two}");
    assert_eq!(two["counts"]["failed"], 0, "{two}");

    // Every start here was an API call: `cause=api` finds them all, `trigger` none.
    let (status, api) = s.get("/v1/executions?cause=api").await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(api["executions"].as_array().unwrap().len(), 4, "{api}");
    let (_, none) = s.get("/v1/executions?cause=trigger").await;
    assert_eq!(none["executions"].as_array().unwrap().len(), 0, "{none}");
    let (_, none) = s.get("/v1/executions/counts?cause=schedule").await;
    assert_eq!(none["total"], 0, "{none}");
    // An execution's children: the executions its `start_workflow` steps started.
    let (status, body) = s.post_raw("/v1/workflows", PARENT).await;
    assert_eq!(status, 201, "{body}");
    let (_, parent) = s
        .post("/v1/workflows/parent/executions?wait=10", json!({}))
        .await;
    let id = parent["id"].as_str().unwrap();
    let (status, kids) = s.get(&format!("/v1/executions?parent={id}")).await;
    assert_eq!(status, 200, "{kids}");
    let kids = kids["executions"].as_array().unwrap();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(
        kids.iter()
            .all(|k| k["workflow"] == "two" && k["parent_id"] == id)
    );
    let (_, by_cause) = s.get("/v1/executions?cause=workflow").await;
    assert_eq!(
        by_cause["executions"].as_array().unwrap().len(),
        2,
        "{by_cause}"
    );
    let (_, counted) = s.get(&format!("/v1/executions/counts?parent={id}")).await;
    assert_eq!(counted["total"], 2, "{counted}");
    let (_, none) = s.get("/v1/executions?parent=nobody").await;
    assert_eq!(none["executions"].as_array().unwrap().len(), 0, "{none}");
    // Filters combine: the parent's workflow on its own, then with a status it does not have.
    let (_, one) = s
        .get("/v1/executions?workflow=parent&status=completed")
        .await;
    assert_eq!(one["executions"].as_array().unwrap().len(), 1, "{one}");
    let (_, none) = s.get("/v1/executions?workflow=parent&status=failed").await;
    assert_eq!(none["executions"].as_array().unwrap().len(), 0, "{none}");

    // A cause that is not one, or a pattern, is refused, not matched.
    for bad in ["robot", "%25", "api%25"] {
        let (status, body) = s.get(&format!("/v1/executions?cause={bad}")).await;
        assert_eq!(status, 400, "cause={bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_the_token_and_its_role() {
    let s = TestServer::start(Db::Sqlite).await;
    let (status, me) = s.get("/v1/whoami").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "admin");
    let (_, made) = s
        .post("/v1/tokens", json!({"name": "viewer", "role": "client"}))
        .await;
    let token = made["token"].as_str().unwrap();
    let (status, me) = s
        .call(
            s.http
                .get(format!("{}/v1/whoami", s.url))
                .bearer_auth(token),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["name"], "viewer");
    assert_eq!(me["role"], "client");
    assert_eq!(me["id"], made["id"]);
    let (status, body) = s
        .call(
            s.http
                .get(format!("{}/v1/whoami", s.url))
                .bearer_auth("fbx_wrong"),
        )
        .await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_on_changes_answers_when_something_is_written() {
    let s = TestServer::start(Db::Sqlite).await;
    s.upload("increment", "increment", &[]).await;
    let (_, first) = s.get("/v1/changes").await;
    let version = first["version"].as_str().unwrap().to_string();

    // Nothing written: the wait runs out, with the same version.
    let started = Instant::now();
    let (status, same) = s
        .get(&format!("/v1/changes?after={version}&wait=0.5"))
        .await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["version"], version.as_str());
    assert!(started.elapsed() >= Duration::from_millis(450), "it waited");

    // A write during the wait ends it with a new version, long before the wait runs out.
    let poll = {
        let s2 = s.http.clone();
        let url = format!("{}/v1/changes?after={version}&wait=30", s.url);
        let admin = s.admin.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let r = s2.get(url).bearer_auth(admin).send().await.unwrap();
            let body: Value = r.json().await.unwrap();
            (started.elapsed(), body)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = s.post_raw("/v1/workflows", TWO).await;
    assert_eq!(status, 201);
    let (status, _) = s
        .post("/v1/workflows/two/executions?wait=10", json!({}))
        .await;
    assert_eq!(status, 200);
    let (took, changed) = poll.await.unwrap();
    assert_ne!(changed["version"], version.as_str(), "{changed}");
    assert!(
        took < Duration::from_secs(10),
        "answered at the write, took {took:?}"
    );

    // An old version (another process's, or from before a restart) answers at once.
    let (_, now) = s.get("/v1/changes?after=0-0&wait=30").await;
    assert_ne!(now["version"], "0-0");
    let long = format!("after={}", "0".repeat(101));
    for bad in ["wait=61", "wait=-1", "wait=x", "since=1", &long] {
        let (status, body) = s.get(&format!("/v1/changes?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_has_every_edge_a_step_can_take() {
    let s = TestServer::start(Db::Sqlite).await;
    s.upload("increment", "increment", &[]).await;
    let def = "
name: edges
steps:
  - { id: a, action: increment, branches: { hot: d }, on_failure_goto: e }
  - { id: b, condition: 'true', then: c, else: end }
  - { id: c, goto: a, max_iterations: 3 }
  - { id: d, delay: { for: 2s } }
  - { id: e, goto: a, max_iterations: 2, on_cap: fail }
  - { id: f, stop: { output: { ok: true } } }
";
    let (status, valid) = s.post_raw("/v1/workflows/validate", def).await;
    assert_eq!(status, 200, "{valid}");
    let (status, _) = s.post_raw("/v1/workflows", def).await;
    assert_eq!(status, 201);
    let (_, shown) = s.get("/v1/workflows/edges").await;
    assert_eq!(
        shown["graph"], valid["graph"],
        "the same graph, saved or validated"
    );
    assert_eq!(shown["enabled"], true);
    let g = &shown["graph"];
    let nodes: Vec<(&str, &str)> = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        nodes,
        [
            ("a", "action"),
            ("b", "condition"),
            ("c", "goto"),
            ("d", "delay"),
            ("e", "goto"),
            ("f", "stop")
        ]
    );
    assert_eq!(g["nodes"][3]["label"], "for 2s");
    let mut edges: Vec<String> = g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let label = e["label"]
                .as_str()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            format!(
                "{}-{}->{}{label}",
                e["from"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["to"].as_str().unwrap()
            )
        })
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        [
            "a-branch->d (hot)",
            "a-next->b",
            "a-on_failure->e",
            "b-else->end",
            "b-then->c",
            "c-goto->a (max 3)",
            "c-next->d",
            "d-next->e",
            // A goto that fails at its cap never goes on.
            "e-goto->a (max 2)",
            "f-next->end",
        ]
    );
}
