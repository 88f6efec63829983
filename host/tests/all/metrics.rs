//! `GET /metrics`: after a known workload, the counters, histograms and gauges hold exactly
//! what happened. The recorder is the process's (shared by every test here), so each test
//! counts under names no other test uses.

use std::collections::BTreeMap;

use serde_json::json;

use crate::common::{Db, TestServer};

/// One sample of the exposition text: name, labels, value.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once("=\"").expect("label=\"value\"");
                            (k.to_string(), v.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
                None => (series.to_string(), BTreeMap::new()),
            };
            (name, labels, value.parse().expect("a number"))
        })
        .collect()
}

/// The value of the one sample named `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = samples(text)
        .into_iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one sample of {name} {labels:?} in:\n{text}"
    );
    found[0]
}

async fn scrape(s: &TestServer, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("{}/metrics", s.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_known_workload() {
    let s = TestServer::start(Db::Sqlite).await;
    assert_eq!(s.upload("m_inc", "increment", &[]).await.0, 201);
    assert_eq!(s.upload("m_spin", "spin", &[]).await.0, 201);
    s.apply("name: m_ok\nsteps:\n  - { id: a, action: m_inc }\n")
        .await;
    s.apply("name: m_fuel\nsteps:\n  - { id: a, action: m_spin, limits: { fuel: 10000000 } }\n")
        .await;
    s.apply("name: m_wait\nsteps:\n  - { id: nap, delay: { for: 1h } }\n")
        .await;
    for n in 0..5 {
        let (status, v) = s
            .post(
                "/v1/workflows/m_ok/executions?wait=10",
                json!({"input": {"n": n}}),
            )
            .await;
        assert_eq!(
            (status, v["status"].as_str()),
            (200, Some("completed")),
            "{v}"
        );
    }
    for _ in 0..2 {
        let (status, v) = s
            .post("/v1/workflows/m_fuel/executions?wait=10", json!({}))
            .await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (200, Some("fuel_exhausted")),
            "{v}"
        );
    }
    let (status, v) = s
        .post("/v1/workflows/m_wait/executions?wait=1", json!({}))
        .await;
    assert_eq!(
        (status, v["status"].as_str()),
        (202, Some("waiting")),
        "{v}"
    );

    let (status, text) = scrape(&s, None).await;
    assert_eq!(status, 200, "{text}");
    let finished = "flowbox_executions_finished_total";
    assert_eq!(
        value(
            &text,
            finished,
            &[("workflow", "m_ok"), ("status", "completed")]
        ),
        5.0
    );
    assert_eq!(
        value(
            &text,
            finished,
            &[("workflow", "m_fuel"), ("status", "failed")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "flowbox_executions_started_total",
            &[("workflow", "m_wait")]
        ),
        1.0
    );
    assert_eq!(
        value(&text, "flowbox_executions", &[("status", "waiting")]),
        1.0,
        "this server's store"
    );
    assert_eq!(
        value(&text, "flowbox_executions", &[("status", "paused")]),
        0.0
    );
    let attempts = "flowbox_step_attempts_total";
    assert_eq!(
        value(
            &text,
            attempts,
            &[("module", "m_inc"), ("outcome", "completed")]
        ),
        5.0
    );
    assert_eq!(
        value(
            &text,
            attempts,
            &[("module", "m_spin"), ("outcome", "fuel_exhausted")]
        ),
        2.0
    );
    assert_eq!(
        value(&text, "flowbox_step_fuel_count", &[("module", "m_inc")]),
        5.0
    );
    assert!(value(&text, "flowbox_step_fuel_sum", &[("module", "m_spin")]) >= 2.0 * 10_000_000.0);
    assert_eq!(
        value(
            &text,
            "flowbox_step_memory_bytes_count",
            &[("module", "m_inc")]
        ),
        5.0
    );
    // Routes by their template, never an id; at least this test's starts.
    let starts = value(
        &text,
        "flowbox_http_requests_total",
        &[
            ("method", "POST"),
            ("route", "/v1/workflows/{name}/executions"),
            ("status", "200"),
        ],
    );
    assert!(starts >= 7.0, "{starts}");
    assert!(
        !text.contains(v["id"].as_str().unwrap()),
        "no execution id as a label"
    );
    assert!(value(&text, "flowbox_commit_batch_size_count", &[]) >= 1.0);
    assert!(value(&text, "flowbox_commit_seconds_count", &[]) >= 1.0);
}

/// How late timers fire (by workflow), how long events wait for the triggers (by object type),
/// and model calls and tokens by provider, against what the history says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_timers_triggers_and_model_calls() {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    let fake = crate::llm::FakeOpenAi::start().await;
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_608_000);
    let clock = flowbox::clock::ManualClock::new(start);
    let s = TestServer::start_with(Db::Sqlite, |c| c.clock = Arc::new(clock.clone())).await;
    assert_eq!(s.upload("m_inc2", "increment", &[]).await.0, 201);
    let (status, v) = s.upload("llm_call", "llm_call", &["llm", "records"]).await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = s
        .put(
            "/v1/llm/providers/m_provider",
            json!({"base_url": fake.base_url(), "api_key_env": "FLOWBOX_LLM_KEY_TEST", "default_model": "fake-small"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");

    // A timer claimed 5 s after its time.
    s.apply("name: m_timer\nsteps:\n  - { id: nap, delay: { for: 1h } }\n  - { id: a, action: m_inc2, input: { n: 1 } }\n")
        .await;
    let (status, v) = s
        .post("/v1/workflows/m_timer/executions?wait=1", json!({}))
        .await;
    assert_eq!(
        (status, v["status"].as_str()),
        (202, Some("waiting")),
        "{v}"
    );
    clock.set(start + Duration::from_secs(3605));
    s.engine.run_due().await.unwrap();
    s.until_status(
        v["id"].as_str().unwrap(),
        "completed",
        Duration::from_secs(20),
    )
    .await;

    // A record event, evaluated against a trigger.
    s.define_object("name: m_thing\nfields:\n  name: { type: text }\n")
        .await;
    s.apply("name: m_on_thing\nscope: { object: m_thing }\ntriggers:\n  - record_created: {}\nsteps:\n  - { id: a, action: m_inc2, input: { n: 1 } }\n")
        .await;
    s.create_record("m_thing", "t1", json!({"name": "one"}))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, v) = s.get("/v1/executions?workflow=m_on_thing").await;
        if v["executions"].as_array().is_some_and(|l| !l.is_empty()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the trigger did not start: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // One model call; its tokens as the history has them.
    s.apply("name: m_ask\nsteps:\n  - { id: ask, action: llm_call, input: { provider: m_provider, prompt: Say yes please. } }\n")
        .await;
    let (status, v) = s
        .post("/v1/workflows/m_ask/executions?wait=10", json!({}))
        .await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("completed")),
        "{v}"
    );
    let v = s
        .until_status(
            v["id"].as_str().unwrap(),
            "completed",
            Duration::from_secs(5),
        )
        .await;
    let llm = &v["steps"][0]["detail"]["llm"];
    let (prompt, completion) = (
        llm["prompt_tokens"].as_f64().unwrap(),
        llm["completion_tokens"].as_f64().unwrap(),
    );
    assert!(prompt > 0.0 && completion > 0.0, "{v}");

    let (_, text) = scrape(&s, None).await;
    let late = [("workflow", "m_timer")];
    assert_eq!(
        value(&text, "flowbox_timer_lateness_seconds_count", &late),
        1.0
    );
    let sum = value(&text, "flowbox_timer_lateness_seconds_sum", &late);
    assert!((sum - 5.0).abs() < 0.01, "5 s late: {sum}");
    assert_eq!(
        value(
            &text,
            "flowbox_trigger_lag_seconds_count",
            &[("object", "m_thing")]
        ),
        1.0
    );
    let provider = ("provider", "m_provider");
    assert_eq!(
        value(
            &text,
            "flowbox_llm_calls_total",
            &[provider, ("kind", "chat"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "flowbox_llm_tokens_total",
            &[provider, ("kind", "prompt")]
        ),
        prompt
    );
    assert_eq!(
        value(
            &text,
            "flowbox_llm_tokens_total",
            &[provider, ("kind", "completion")]
        ),
        completion
    );
}

/// A real Prometheus (Debian's, which scripts/test.sh installs) scrapes the server with the
/// scrape config docs/operations.md shows, and answers PromQL over what it scraped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_server() {
    use std::time::Duration;

    let prometheus = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("no prometheus: scripts/test.sh installs Debian's `prometheus`");
    let s = TestServer::start(Db::Sqlite).await;
    assert_eq!(s.upload("m_prom_inc", "increment", &[]).await.0, 201);
    s.apply("name: m_prom\nsteps:\n  - { id: a, action: m_prom_inc }\n")
        .await;
    for n in 0..3 {
        let (status, v) = s
            .post(
                "/v1/workflows/m_prom/executions?wait=10",
                json!({"input": {"n": n}}),
            )
            .await;
        assert_eq!(
            (status, v["status"].as_str()),
            (200, Some("completed")),
            "{v}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let target = s.url.trim_start_matches("http://");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s }}\nscrape_configs:\n  - job_name: flowbox\n    static_configs: [{{ targets: [\"{target}\"] }}]\n"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _child = tokio::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");

    let query = |q: &'static str| {
        let url = format!("http://127.0.0.1:{port}/api/v1/query");
        async move {
            let v: serde_json::Value = reqwest::Client::new()
                .get(url)
                .query(&[("query", q)])
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            v["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_string)
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let finished = r#"sum(flowbox_executions_finished_total{job="flowbox",workflow="m_prom",status="completed"})"#;
    loop {
        if query(finished).await.as_deref() == Some("3") {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let log =
                std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
            panic!(
                "Prometheus never saw 3 completed executions: {:?}\n{log}",
                query(finished).await
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(query(r#"up{job="flowbox"}"#).await.as_deref(), Some("1"));
    assert_eq!(
        query(r#"sum(flowbox_step_attempts_total{module="m_prom_inc",outcome="completed"})"#)
            .await
            .as_deref(),
        Some("3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_guards_the_endpoint() {
    let token = "metrics-secret-0123456789";
    let s = TestServer::start_with(Db::Sqlite, |c| c.metrics_token = Some(token.into())).await;
    for given in [
        None,
        Some("wrong-secret-0123456789"),
        Some(crate::common::ADMIN_TOKEN),
    ] {
        let (status, text) = scrape(&s, given).await;
        assert_eq!(status, 401, "{given:?}: {text}");
        let body: serde_json::Value = serde_json::from_str(&text).expect("a JSON error");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let (status, text) = scrape(&s, Some(token)).await;
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE flowbox_executions gauge"), "{text}");
}
