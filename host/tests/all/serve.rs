//! `flowbox serve` as a process: secrets stay out of what it prints, and its memory stays
//! bounded while clients send bodies built to blow up when parsed.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, Db, assert_error, fresh_db_url, postgres_url};
use crate::crash::{Server, admin_client, call, post_text, upload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_is_never_printed() {
    database_password().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_bodies_that_blow_up_when_parsed() {
    bounded_memory().await
}

/// `--log-format json` writes one JSON object per line, with an access line per request that
/// names the token but never shows it; the text format has no colours when written to a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_with_an_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_db_url(Db::Sqlite, dir.path()).await;
    let server = Server::start(&db_url, dir.path(), 0, &["--log-format", "json"]).await;
    let http = admin_client();
    let (status, v) = call(&http, "GET", format!("{}/v1/workflows", server.url), None).await;
    assert_eq!(status, 200, "{v}");
    let wrong = reqwest::Client::new()
        .get(format!("{}/v1/workflows", server.url))
        .bearer_auth("not-a-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let log_path = server.log.clone();
    drop(server);

    let log = std::fs::read_to_string(log_path).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "flowbox::access" && l["route"] == "/v1/workflows")
        .collect();
    let statuses: Vec<(i64, &str)> = access
        .iter()
        .map(|l| (l["status"].as_i64().unwrap(), l["token"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [(200, "bootstrap"), (401, "-")],
        "one access line per request, with the token's name: {log}"
    );
    assert_eq!(access[0]["method"], "GET");
    assert_eq!(access[0]["level"], "INFO");
    assert!(access[0]["duration_ms"].as_f64().unwrap() >= 0.0, "{log}");
    assert!(access[0]["timestamp"].is_string(), "{log}");
    assert!(!log.contains(ADMIN_TOKEN), "a token was logged: {log}");
    assert!(
        !log.contains("not-a-token-at-all"),
        "a token was logged: {log}"
    );

    // Text, to a file: no colour codes.
    let server = Server::start(&db_url, dir.path(), 0, &[]).await;
    let (status, _) = call(
        &admin_client(),
        "GET",
        format!("{}/v1/workflows", server.url),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let log_path = server.log.clone();
    drop(server);
    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(log.contains("flowbox::access"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in a log file: {log:?}");
}

/// A PostgreSQL database reached as a role with a password.
async fn database_with_password(password: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_db_url(Db::Postgres, dir.path()).await;
    let name = url.rsplit('/').next().unwrap().to_string();
    let pool = sqlx::PgPool::connect(postgres_url()).await.unwrap();
    let role = format!("r_{name}");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{password}'"
    )))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} OWNER TO {role}"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    // postgres://postgres@HOST:PORT/... -> postgres://ROLE:PASSWORD@HOST:PORT/NAME
    let host = postgres_url()
        .split_once('@')
        .unwrap()
        .1
        .split_once('/')
        .unwrap()
        .0;
    format!("postgres://{role}:{password}@{host}/{name}")
}

async fn database_password() {
    let password = "pw-Zq8mR3vX7t";
    let url = database_with_password(password).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&url, dir.path(), 0, &[]).await;
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("database: postgres://"), "{log}");
    assert!(log.contains(":***@"), "{log}");
    assert!(!log.contains(password), "the password was printed: {log}");
    drop(server);

    // Nor in `--help`, given through the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_flowbox"))
        .args(["serve", "--help"])
        .env("FLOWBOX_DB", &url)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--db"), "{help}");
    assert!(
        !help.contains(password),
        "--help shows the password: {help}"
    );

    // Nor when the database refuses the connection (the test server trusts local passwords:
    // a role that does not exist is refused).
    let (user, rest) = url["postgres://".len()..].split_once('@').unwrap();
    let wrong = format!(
        "postgres://{}-gone:pw-wrong-Qk2@{rest}",
        user.split(':').next().unwrap()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_flowbox"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            &wrong,
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot open postgres://"), "{stderr}");
    assert!(
        !stderr.contains("pw-wrong-Qk2"),
        "the password was printed: {stderr}"
    );
}

/// The server's peak resident memory, in MB.
fn peak_rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb / 1024
}

async fn bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_db_url(Db::Sqlite, dir.path()).await;
    let http = admin_client();
    let server = Server::start(&db_url, dir.path(), 0, &[]).await;
    let url = server.url.clone();
    upload(&http, &url, "increment", &[]).await;
    let hooked = "name: hooked\ntriggers:\n  - webhook: {}\nsteps:\n  - { id: a, action: increment, input: { n: 1 } }\n";
    assert_eq!(
        post_text(&http, format!("{url}/v1/workflows"), hooked)
            .await
            .0,
        201
    );
    let (_, hooks) = call(
        &http,
        "GET",
        format!("{url}/v1/workflows/hooked/webhooks"),
        None,
    )
    .await;
    let hook = format!("{url}{}", hooks["webhooks"][0]["path"].as_str().unwrap());
    let secret = hooks["webhooks"][0]["secret"].as_str().unwrap().to_string();
    let before = peak_rss_mb(server.child.id());

    // Eight at a time: JSON start inputs of 520,000 small objects (4 MB each) and webhook
    // CSVs of a million rows (2 MB each), three rounds.
    let json_body = format!("{{\"input\": [{}]}}", vec!["{}"; 520_000].join(","));
    let csv_body = format!("a\n{}", "1\n".repeat(1_000_000));
    for _ in 0..3 {
        let mut calls = Vec::new();
        for i in 0..8 {
            let req = if i % 2 == 0 {
                http.post(format!("{url}/v1/workflows/hooked/executions"))
                    .header("content-type", "application/json")
                    .body(json_body.clone())
            } else {
                http.post(&hook)
                    .header("content-type", "text/csv")
                    .header("x-flowbox-secret", &secret)
                    .body(csv_body.clone())
            };
            calls.push(tokio::spawn(async move {
                let r = req.timeout(Duration::from_secs(60)).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }));
        }
        for c in calls {
            let (status, v) = c.await.unwrap();
            assert_error(status, &v, 413, "body_too_large");
            assert_eq!(v["error"]["code"], "body_too_large", "{v}");
        }
    }
    let after = peak_rss_mb(server.child.id());
    eprintln!("server peak RSS: {before} MB before the abuse, {after} MB after");
    // Eight 4 MB bodies in flight at once cost tens of MB; parsing them would have cost GBs.
    assert!(
        after < before + 150,
        "peak RSS grew from {before} MB to {after} MB"
    );
    // It still works.
    let (status, v) = call(
        &http,
        "POST",
        format!("{url}/v1/workflows/hooked/executions?wait=30"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}
