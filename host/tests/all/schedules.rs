//! Timed triggers over HTTP with a controllable clock (no sleeps), on SQLite and PostgreSQL:
//! cron in a time zone, cron over the records a filter picks, runs on or around a date field
//! (moved by a business day, moved when the date changes, never retroactive), activities past
//! due, and nothing retroactive for a workflow switched back on.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flowbox::clock::ManualClock;
use serde_json::{Value, json};

use crate::common::{Db, TestServer, assert_error, on_both_databases};

on_both_databases!(
    cron_in_a_time_zone_runs_once_per_occurrence,
    cron_over_the_records_a_filter_picks,
    date_field_runs_move_with_the_date_and_are_never_retroactive,
    activities_past_due_start_their_workflow,
);

/// 2026-03-02T07:30:00Z, a Monday (Paris is UTC+1 then).
fn monday() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_772_436_600)
}

async fn server(db: Db, clock: &ManualClock) -> TestServer {
    let clock = clock.clone();
    TestServer::start_with(db, move |c| c.clock = Arc::new(clock)).await
}

/// Move the clock, then let the engine act: timed triggers, events, due executions.
async fn at(s: &TestServer, clock: &ManualClock, t: SystemTime) {
    clock.set(t);
    s.engine.run_due().await.unwrap();
    s.engine.evaluate_events().await.unwrap();
    s.engine.run_due().await.unwrap();
}

async fn executions(s: &TestServer, workflow: &str) -> Vec<Value> {
    let (status, v) = s
        .get(&format!("/v1/executions?workflow={workflow}&limit=1000"))
        .await;
    assert_eq!(status, 200, "{v}");
    v["executions"].as_array().unwrap().clone()
}

fn iso(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

const HOUR: u64 = 3600;

async fn cron_in_a_time_zone_runs_once_per_occurrence(db: Db) {
    let clock = ManualClock::new(monday());
    let s = server(db, &clock).await;
    s.apply(
        r#"
name: morning
triggers:
  - schedule: { cron: "0 9 * * 1-5", timezone: Europe/Paris }
steps:
  - { id: s, stop: { output: { at: "{{ input.scheduled_at }}" } } }
"#,
    )
    .await;
    // 09:00 in Paris is 08:00 UTC.
    let eight = monday() + Duration::from_secs(30 * 60);
    let (_, timers) = s.get("/v1/workflows/morning/timers").await;
    assert_eq!(
        timers["schedules"][0]["next_at"],
        json!(iso(eight)),
        "{timers}"
    );

    at(&s, &clock, eight - Duration::from_secs(1)).await;
    assert_eq!(executions(&s, "morning").await.len(), 0, "not yet");
    at(&s, &clock, eight + Duration::from_secs(1)).await;
    at(&s, &clock, eight + Duration::from_secs(2)).await;
    let runs = executions(&s, "morning").await;
    assert_eq!(runs.len(), 1, "once per occurrence");
    assert_eq!(runs[0]["cause"]["kind"], "schedule");
    assert_eq!(
        runs[0]["event_at"],
        json!(iso(eight)),
        "the scheduled time is the event time"
    );
    let done = s
        .until_status(
            runs[0]["id"].as_str().unwrap(),
            "completed",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(
        done["output"]["at"],
        json!(iso(eight)),
        "the input's scheduled_at is RFC 3339"
    );

    // Tuesday, then a gap of several days: the missed runs happen once, not one by one.
    at(&s, &clock, eight + Duration::from_secs(24 * HOUR + 1)).await;
    assert_eq!(executions(&s, "morning").await.len(), 2);
    at(&s, &clock, eight + Duration::from_secs(5 * 24 * HOUR + 1)).await;
    assert_eq!(
        executions(&s, "morning").await.len(),
        3,
        "one late run for the gap"
    );
    let (_, timers) = s.get("/v1/workflows/morning/timers").await;
    assert_eq!(
        timers["schedules"][0]["next_at"],
        json!(iso(eight + Duration::from_secs(7 * 24 * HOUR))),
        "next Monday (the weekend is skipped): {timers}"
    );

    // Switched off over Monday, back on after: Monday's run does not happen late.
    s.put("/v1/workflows/morning/enabled", json!({"on": false}))
        .await;
    at(&s, &clock, eight + Duration::from_secs(7 * 24 * HOUR + 1)).await;
    s.put("/v1/workflows/morning/enabled", json!({"on": true}))
        .await;
    at(&s, &clock, eight + Duration::from_secs(7 * 24 * HOUR + 2)).await;
    assert_eq!(
        executions(&s, "morning").await.len(),
        3,
        "nothing retroactive"
    );
    at(&s, &clock, eight + Duration::from_secs(8 * 24 * HOUR + 1)).await;
    assert_eq!(executions(&s, "morning").await.len(), 4);

    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: bad\ntriggers:\n  - schedule: { cron: \"61 * * * *\", timezone: Mars/Olympus }\n  - schedule: { cron: \"* * * * *\", filter: \"record.x\" }\nsteps:\n  - { id: s, stop: {} }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    let paths: Vec<&str> = v["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "triggers[0].schedule.cron",
            "triggers[0].schedule.timezone",
            "triggers[1].schedule.filter"
        ]
    );
}

async fn cron_over_the_records_a_filter_picks(db: Db) {
    let clock = ManualClock::new(monday());
    let s = server(db, &clock).await;
    s.define_object("name: deal\nfields:\n  stage: { type: text }\n")
        .await;
    for (id, stage) in [("d1", "open"), ("d2", "closed"), ("d3", "open")] {
        s.create_record("deal", id, json!({"stage": stage})).await;
    }
    s.post("/v1/records/deal/d3/archive", json!({})).await;
    s.apply(
        r#"
name: hourly
scope: { object: deal }
triggers:
  - schedule: { cron: "0 * * * *", filter: "record.stage == 'open'" }
steps:
  - { id: s, stop: {} }
"#,
    )
    .await;
    at(&s, &clock, monday() + Duration::from_secs(30 * 60 + 1)).await;
    let runs = executions(&s, "hourly").await;
    let records: Vec<&str> = runs
        .iter()
        .map(|e| e["record"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(records, ["d1"], "open and not archived");
}

async fn date_field_runs_move_with_the_date_and_are_never_retroactive(db: Db) {
    let clock = ManualClock::new(monday());
    let s = server(db, &clock).await;
    s.define_object("name: deal\nfields:\n  renewal: { type: date }\n  title: { type: text }\n")
        .await;
    // d1: renewal Fri 20 March -> a week before, Fri 13 March 09:00.
    // d2: renewal Sun 15 March -> Sun 8 March, moved to Monday 9 March.
    // d3: renewal 1 March -> 22 February: past, no run.
    for (id, renewal) in [
        ("d1", "2026-03-20"),
        ("d2", "2026-03-15"),
        ("d3", "2026-03-01"),
    ] {
        s.create_record("deal", id, json!({"renewal": renewal}))
            .await;
    }
    s.apply(
        r#"
name: renew
scope: { object: deal }
triggers:
  - date: { field: renewal, days: -7, time: "09:00", business_days: next }
steps:
  - { id: s, stop: { output: { renewal: "{{ record.renewal }}" } } }
"#,
    )
    .await;
    let runs = |v: &Value| -> Vec<(String, String)> {
        v["date_runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["record"]["id"].as_str().unwrap().to_string(),
                    r["run_at"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (_, timers) = s.get("/v1/workflows/renew/timers").await;
    assert_eq!(
        runs(&timers),
        [
            ("d2".to_string(), "2026-03-09T09:00:00.000Z".to_string()),
            ("d1".to_string(), "2026-03-13T09:00:00.000Z".to_string())
        ]
    );
    // Changing the date moves the run; a new record gets one; a date in the past has none.
    s.patch("/v1/records/deal/d1", json!({"renewal": "2026-03-27"}))
        .await;
    s.create_record("deal", "d4", json!({"renewal": "2026-03-11"}))
        .await;
    s.patch("/v1/records/deal/d2", json!({"title": "no date change"}))
        .await;
    s.engine.evaluate_events().await.unwrap();
    let (_, timers) = s.get("/v1/workflows/renew/timers").await;
    assert_eq!(
        runs(&timers),
        [
            ("d4".to_string(), "2026-03-04T09:00:00.000Z".to_string()),
            ("d2".to_string(), "2026-03-09T09:00:00.000Z".to_string()),
            ("d1".to_string(), "2026-03-20T09:00:00.000Z".to_string())
        ]
    );

    let t = |iso: &str| -> SystemTime {
        let ms = chrono::DateTime::parse_from_rfc3339(iso)
            .unwrap()
            .timestamp_millis();
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64)
    };
    at(&s, &clock, t("2026-03-09T09:00:01Z")).await;
    let mut done: Vec<String> = executions(&s, "renew")
        .await
        .iter()
        .map(|e| e["record"]["id"].as_str().unwrap().to_string())
        .collect();
    done.sort();
    assert_eq!(done, ["d2", "d4"]);
    at(&s, &clock, t("2026-03-13T09:00:01Z")).await;
    assert_eq!(
        executions(&s, "renew").await.len(),
        2,
        "d1's run moved a week on"
    );
    at(&s, &clock, t("2026-03-20T09:00:01Z")).await;
    at(&s, &clock, t("2026-03-21T09:00:01Z")).await;
    let all = executions(&s, "renew").await;
    assert_eq!(all.len(), 3, "one run per record");
    assert_eq!(all[0]["record"]["id"], "d1");
    // An edit after the run, with the date now past, schedules nothing.
    s.patch("/v1/records/deal/d1", json!({"title": "after"}))
        .await;
    s.engine.evaluate_events().await.unwrap();
    let (_, timers) = s.get("/v1/workflows/renew/timers").await;
    assert_eq!(runs(&timers), Vec::<(String, String)>::new());

    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: bad\nscope: { object: deal }\ntriggers:\n  - date: { field: renewal, time: \"25:00\", business_days: sometimes }\nsteps:\n  - { id: s, stop: {} }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
}

async fn activities_past_due_start_their_workflow(db: Db) {
    let clock = ManualClock::new(monday());
    let s = server(db, &clock).await;
    s.define_object("name: deal\nfields: {}\n").await;
    s.create_record("deal", "d1", json!({})).await;
    s.apply(
        r#"
name: chase
scope: { object: deal }
settings: { reentry: true }
triggers:
  - activity_past_due: { type: task }
steps:
  - { id: s, stop: { output: "{{ input.event.detail.activity.subject }}" } }
"#,
    )
    .await;
    let due = iso(monday() + Duration::from_secs(HOUR));
    for (kind, subject) in [
        ("task", "send the quote"),
        ("call", "not a task"),
        ("task", "done in time"),
    ] {
        let (status, v) = s
            .post(
                "/v1/records/deal/d1/activities",
                json!({"type": kind, "subject": subject, "due_at": due}),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        if subject == "done in time" {
            let id = v["id"].as_str().unwrap();
            s.post(&format!("/v1/activities/{id}/complete"), json!({}))
                .await;
        }
    }
    at(&s, &clock, monday() + Duration::from_secs(HOUR - 1)).await;
    assert_eq!(executions(&s, "chase").await.len(), 0);
    at(&s, &clock, monday() + Duration::from_secs(HOUR + 1)).await;
    at(&s, &clock, monday() + Duration::from_secs(HOUR + 2)).await;
    let runs = executions(&s, "chase").await;
    assert_eq!(runs.len(), 1, "{}", Value::Array(runs.clone()));
    let done = s
        .until_status(
            runs[0]["id"].as_str().unwrap(),
            "completed",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(done["output"], "send the quote");
    let (_, list) = s.get("/v1/records/deal/d1/activities").await;
    let past_due: Vec<&str> = list["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["past_due_at"].is_string())
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    assert_eq!(past_due.len(), 2, "the open task and the open call: {list}");
}
