//! The API's contract as every client sees it: one time format everywhere.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Db, TestServer};

/// Whether a key names a time.
fn is_time_key(key: &str) -> bool {
    key.ends_with("_at") || matches!(key, "since" | "until")
}

/// Every time in `value`, at any depth (answers, history details, step inputs and outputs), is
/// RFC 3339 in UTC (`...Z`) or null; returns where one is not.
fn times_not_rfc3339(value: &Value, path: &str, wrong: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = format!("{path}.{key}");
                if is_time_key(key) && !v.is_null() && !v.is_object() {
                    let ok = v.as_str().is_some_and(|t| {
                        t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok()
                    });
                    if !ok {
                        wrong.push(format!("{here} = {v}"));
                    }
                }
                times_not_rfc3339(v, &here, wrong);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                times_not_rfc3339(v, &format!("{path}[{i}]"), wrong);
            }
        }
        _ => {}
    }
}

fn assert_times(value: &Value, what: &str) {
    let mut wrong = vec![];
    times_not_rfc3339(value, what, &mut wrong);
    assert!(wrong.is_empty(), "times that are not RFC 3339: {wrong:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_time_in_every_answer_is_rfc3339() {
    let s = TestServer::start(Db::Sqlite).await;
    s.upload("schedule_activity", "schedule_activity", &["records"])
        .await;
    s.define_object("name: lead\nfields:\n  name: { type: text }\n")
        .await;
    s.create_record("lead", "l1", json!({"name": "Ada"})).await;
    s.apply(
        r#"
name: times
scope: { object: lead }
steps:
  - { id: call, action: schedule_activity, input: { type: call, due_in: 2d } }
  - { id: wait, delay: { for: 1h } }
"#,
    )
    .await;
    s.apply(
        "
name: chase
scope: { object: lead }
steps:
  - { id: replied, goal: { within: 3d, met: won, not_met: won } }
  - { id: won, stop: {} }
",
    )
    .await;

    let mut ids = vec![];
    for workflow in ["times", "chase"] {
        let (status, v) = s
            .post(
                &format!("/v1/workflows/{workflow}/executions"),
                json!({"record_id": "l1"}),
            )
            .await;
        assert_eq!(status, 202, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        s.until_status(&id, "waiting", Duration::from_secs(10))
            .await;
        ids.push(id);
    }

    // A delay's wake-up and a goal's window, in the execution and its history.
    let delayed = s.execution(&ids[0]).await;
    let steps = delayed["steps"].as_array().unwrap();
    let call = steps.iter().find(|r| r["step_id"] == "call").unwrap();
    assert!(call["output"]["due_at"].is_string(), "{call}");
    let wait = steps.iter().find(|r| r["step_id"] == "wait").unwrap();
    assert!(wait["detail"]["wake_at"].is_string(), "{wait}");
    let goal = s.execution(&ids[1]).await;
    assert_eq!(goal["waiting"]["kind"], "goal", "{goal}");
    assert!(goal["waiting"]["since"].is_string(), "{goal}");
    let replied = &goal["steps"][0];
    assert!(replied["detail"]["until"].is_string(), "{replied}");

    let mut answers = vec![
        ("execution (delay)".to_string(), delayed),
        ("execution (goal)".to_string(), goal),
    ];
    for path in [
        "/v1/executions?limit=10",
        "/v1/records/lead/l1/events",
        "/v1/records/lead/l1/activities",
        "/v1/steps",
        "/v1/steps/schedule_activity",
        "/v1/workflows/times",
        "/v1/workflows/times/versions",
    ] {
        let (status, v) = s.get(path).await;
        assert_eq!(status, 200, "{path}: {v}");
        answers.push((path.to_string(), v));
    }
    for (what, v) in &answers {
        assert_times(v, what);
    }
    // The checker finds what it looks for.
    let mut wrong = vec![];
    times_not_rfc3339(
        &json!({"a": [{"due_at": 1_772_438_400_000_i64}]}),
        "",
        &mut wrong,
    );
    assert_eq!(wrong, [".a[0].due_at = 1772438400000"]);
}
