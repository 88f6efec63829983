//! Failure notifications (`settings.notify`): a step failure handled by `fail`, `pause` or
//! `continue` is told once to a team's channel, an email address (a real SMTP server) and a
//! webhook (signed with HMAC), retried while the target is down, and its delivery is shown in
//! the execution.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{Db, SmtpServer, TestServer, assert_error, on_both_databases, problems};

on_both_databases!(
    failures_are_told_once_to_every_target_and_retried,
    a_notification_that_cannot_be_sent_shows_in_its_execution,
);

const KEY: &str = "a-test-signing-key-of-32-bytes!!";

/// A webhook receiver on a loopback port: it answers 503 to its first `fail_first` requests,
/// then 204, and keeps every request it got.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<(HeaderMap, String, u16)>>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let got: Arc<Mutex<Vec<(HeaderMap, String, u16)>>> = Arc::default();
        let kept = got.clone();
        let app = axum::Router::new().route(
            "/hooks/{secret}",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let kept = kept.clone();
                async move {
                    let mut got = kept.lock().unwrap();
                    let status = if got.len() < fail_first {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::NO_CONTENT
                    };
                    got.push((headers, body, status.as_u16()));
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { port, got }
    }

    fn requests(&self) -> Vec<(HeaderMap, String, u16)> {
        self.got.lock().unwrap().clone()
    }
}

/// The execution, once none of its notifications is pending any more.
async fn settled(s: &TestServer, id: &str) -> Value {
    for _ in 0..200 {
        let v = s.execution(id).await;
        let pending = v["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["status"] == "pending");
        if !pending {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "notifications still pending after 10 s: {}",
        s.execution(id).await
    );
}

async fn failures_are_told_once_to_every_target_and_retried(db: Db) {
    let smtp = SmtpServer::start().await;
    let mailer = flowbox::services::email::Mailer::new(
        &format!("smtp://127.0.0.1:{}", smtp.port),
        "Flowbox <flowbox@example.com>",
    )
    .unwrap();
    let hook = Receiver::start(2).await;
    let s = TestServer::start_with(db, |c| {
        c.mailer = Some(Arc::new(mailer));
        c.notify_secret = Some(KEY.into());
        c.public_url = Some("https://flowbox.example.com".into());
        c.notice_retry = Duration::from_millis(50);
    })
    .await;
    s.upload("fail", "fail", &[]).await;
    let (status, v) = s
        .put(
            "/v1/teams/ops",
            json!({"members": ["ana"], "channels": ["general", "alerts"]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    s.apply(&format!(
        r#"
name: nightly
settings:
  notify: {{ team: ops, channel: alerts, email: oncall@example.com, webhook: "http://127.0.0.1:{}/hooks/s3cr3t" }}
steps:
  - {{ id: a, action: fail, input: {{ kind: permanent, message: boom }}, on_failure: continue }}
  - {{ id: b, action: fail, input: {{ kind: permanent, message: quiet }}, on_failure: continue_silently }}
  - {{ id: c, action: fail, input: {{ kind: permanent, message: last }} }}
"#,
        hook.port
    ))
    .await;
    let v = s.run("nightly", json!({})).await;
    assert_eq!(v["status"], "failed", "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let v = settled(&s, &id).await;

    // One notification per target for each told failure (`a`, `c`), none for the silent `b`.
    let notices = v["notifications"].as_array().unwrap();
    let told: Vec<(&str, &str, &str)> = notices
        .iter()
        .map(|n| {
            (
                n["step_id"].as_str().unwrap(),
                n["kind"].as_str().unwrap(),
                n["status"].as_str().unwrap(),
            )
        })
        .collect();
    let mut want = vec![];
    for step in ["a", "c"] {
        for kind in ["team", "email", "webhook"] {
            want.push((step, kind, "sent"));
        }
    }
    assert_eq!(told, want, "{v}");
    // The webhook's path holds its secret: answers show its origin only.
    let webhook = notices.iter().find(|n| n["kind"] == "webhook").unwrap();
    assert_eq!(
        webhook["target"],
        format!("http://127.0.0.1:{}/…", hook.port)
    );
    assert!(!v.to_string().contains("s3cr3t"), "{v}");
    let attempts: i64 = notices
        .iter()
        .filter(|n| n["kind"] == "webhook")
        .map(|n| n["attempts"].as_i64().unwrap())
        .sum();
    assert_eq!(attempts, 4, "two 503s were retried: {v}");
    assert_eq!(
        v["steps"][0]["detail"]["notify"].as_array().unwrap().len(),
        3
    );
    assert!(v["steps"][1]["detail"].get("notify").is_none(), "{v}");

    // The team's channel got each once, with a link to the execution.
    let (_, posts) = s.get("/v1/teams/ops/notifications?channel=alerts").await;
    let mut posts = posts["notifications"].as_array().unwrap().clone();
    assert_eq!(posts.len(), 2, "{posts:?}");
    // Delivered concurrently: in any order.
    posts.sort_by_key(|p| p["step_id"].as_str().unwrap().to_string());
    let link = format!("https://flowbox.example.com/v1/executions/{id}");
    for (post, step) in posts.iter().zip(["a", "c"]) {
        assert_eq!(post["step_id"], step);
        assert_eq!(post["execution_id"], id.as_str());
        let text = post["text"].as_str().unwrap();
        assert!(
            text.contains(&format!("failed at step `{step}`")) && text.contains(&link),
            "{text}"
        );
    }

    // Two emails, one per failure.
    let mail = smtp.messages();
    assert_eq!(mail.len(), 2, "{mail:?}");
    for m in &mail {
        // The body is quoted-printable: join its soft line breaks.
        let m = m.replace("=\r\n", "").replace("=\n", "");
        assert!(m.contains("To: oncall@example.com"), "{m}");
        assert!(
            m.contains("Subject: flowbox: workflow `nightly` failed at step"),
            "{m}"
        );
        assert!(m.contains(&link), "{m}");
    }

    // The webhook: two 503s, then one accepted delivery per failure, each signed.
    let got = hook.requests();
    assert_eq!(got.len(), 4, "{got:?}");
    let accepted: Vec<&(HeaderMap, String, u16)> = got.iter().filter(|r| r.2 == 204).collect();
    assert_eq!(accepted.len(), 2);
    let mut deliveries = vec![];
    for (headers, body, _) in &accepted {
        let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(headers["x-flowbox-signature"], want.as_str());
        deliveries.push(headers["x-flowbox-delivery"].to_str().unwrap().to_string());
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["event"], "step_failed");
        assert_eq!(payload["workflow"], "nightly");
        assert_eq!(payload["execution"], id.as_str());
        assert_eq!(payload["error"]["code"], "step_failed");
        assert_eq!(payload["link"], link.as_str());
        let handling = if payload["step"] == "a" {
            "continue"
        } else {
            "fail"
        };
        assert_eq!(payload["handling"], handling, "{payload}");
    }
    deliveries.sort();
    deliveries.dedup();
    assert_eq!(deliveries.len(), 2, "two distinct deliveries");

    // Nothing more arrives later: each failure was told once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.requests().len(), 4);
    assert_eq!(smtp.messages().len(), 2);
}

async fn a_notification_that_cannot_be_sent_shows_in_its_execution(db: Db) {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = TestServer::start_with(db, |c| {
        c.notify_secret = Some(KEY.into());
        c.notice_retry = Duration::from_millis(20);
        c.notice_attempts = 3;
    })
    .await;
    s.upload("fail", "fail", &[]).await;
    s.apply(&format!(
        r#"
name: stuck
settings: {{ notify: {{ webhook: "http://127.0.0.1:{port}/down" }} }}
steps:
  - {{ id: x, action: fail, input: {{ kind: permanent, message: nope }}, on_failure: pause }}
"#
    ))
    .await;
    let (_, v) = s.post("/v1/workflows/stuck/executions", json!({})).await;
    let id = v["id"].as_str().unwrap().to_string();
    s.until_status(&id, "paused", Duration::from_secs(5)).await;
    let v = settled(&s, &id).await;
    let n = &v["notifications"][0];
    assert_eq!(n["status"], "failed", "{v}");
    assert_eq!(n["attempts"], 3, "{v}");
    assert!(
        n["last_error"]
            .as_str()
            .unwrap()
            .contains("POST http://127.0.0.1"),
        "{v}"
    );
    assert!(
        n["sent_at"].is_null() && n["next_attempt_at"].is_null(),
        "{v}"
    );
    // The execution itself is as its failure handling left it.
    assert_eq!(v["status"], "paused");
}

/// What a server cannot reach is refused at save, every problem at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_settings_are_checked_at_save() {
    let s = TestServer::start(Db::Sqlite).await;
    s.upload("fail", "fail", &[]).await;
    s.put(
        "/v1/teams/ops",
        json!({"members": [], "channels": ["general"]}),
    )
    .await;
    let refused = |settings: &str| {
        format!(
            "name: n\nsettings: {{ notify: {settings} }}\nsteps:\n  - {{ id: x, action: fail }}\n"
        )
    };
    let save = |text: String| {
        let s = &s;
        async move { s.post_raw("/v1/workflows", &text).await }
    };
    let (status, v) = save(refused(
        r#"{ team: nope, email: "not an address", webhook: "ftp://x/y" }"#,
    ))
    .await;
    assert_error(status, &v, 422, "invalid_definition");
    let got = problems(&v);
    for want in [
        "settings.notify.email: `not an address` is not an email address",
        "settings.notify.webhook: must be an http(s) URL",
    ] {
        assert!(
            got.iter().any(|p| p.starts_with(want)),
            "{want:?} in {got:?}"
        );
    }
    let (status, v) = save(refused(
        r#"{ team: nope, email: ops@example.com, webhook: "https://hooks.example.com/x" }"#,
    ))
    .await;
    assert_error(status, &v, 422, "invalid_definition");
    let got = problems(&v);
    for want in [
        "settings.notify.team: there is no team `nope`",
        "settings.notify.email: this server sends no email: start it with --smtp-url",
        "settings.notify.webhook: this server has no key to sign webhooks with",
    ] {
        assert!(
            got.iter().any(|p| p.starts_with(want)),
            "{want:?} in {got:?}"
        );
    }
    let (status, v) = save(refused("{ team: ops, channel: alerts }")).await;
    assert_error(status, &v, 422, "invalid_definition");
    assert!(
        problems(&v)[0].contains("team `ops` has no channel `alerts` (its channels: general)"),
        "{v}"
    );
    let (status, v) = save(refused("{ channel: alerts }")).await;
    assert_error(status, &v, 422, "invalid_definition");
    assert!(
        problems(&v)
            .iter()
            .any(|p| p.contains("name the `team` too")),
        "{v}"
    );
    let (status, v) = save(refused("{}")).await;
    assert_error(status, &v, 422, "invalid_definition");
    let (status, v) = save(refused("{ team: ops }")).await;
    assert_eq!(status, 201, "the team's first channel by default: {v}");
}
