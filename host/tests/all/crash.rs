//! The crash test: a real `flowbox serve` process is SIGKILLed while it drives a few hundred
//! executions with steps and short delays; after a restart every acknowledged execution
//! completes with its correct output, and no step of any execution completed twice.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, Db, fresh_db_url, guest_path, on_both_databases, root};

on_both_databases!(acknowledged_executions_survive_sigkill);

const WORKFLOW: &str = "
name: crashy
steps:
  - { id: a, action: increment }
  - { id: nap1, delay: { for: 150ms } }
  - { id: b, action: increment }
  - { id: c, action: increment }
  - { id: nap2, delay: { for: 100ms } }
  - { id: d, action: increment }
";
const STEPS: [&str; 6] = ["a", "nap1", "b", "c", "nap2", "d"];

struct Server {
    child: Child,
    url: String,
}

impl Server {
    async fn start(db_url: &str, data: &std::path::Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_flowbox"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--db",
                db_url,
                "--lease-secs",
                "2",
                "--data-dir",
            ])
            .arg(data)
            .env("FLOWBOX_ADMIN_TOKEN", ADMIN_TOKEN)
            .env(
                "FLOWBOX_CACHE_DIR",
                root().join("target/test-cache/compiled"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start flowbox serve");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{url}/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, url }
    }

    fn kill(mut self) {
        // SIGKILL: no shutdown, no flush.
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn acknowledged_executions_survive_sigkill(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_db_url(db, dir.path()).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let server = Server::start(&db_url, dir.path()).await;
    let bytes = std::fs::read(guest_path("increment")).unwrap();
    let r = http
        .put(format!("{}/v1/steps/increment", server.url))
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{}/v1/workflows", server.url))
        .body(WORKFLOW)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // 16 clients start executions as fast as they can, remembering what was acknowledged.
    let url = server.url.clone();
    let mut clients = Vec::new();
    for client in 0..16 {
        let (http, url) = (http.clone(), url.clone());
        clients.push(tokio::spawn(async move {
            let mut acked: Vec<(String, i64)> = Vec::new();
            for i in 0..40 {
                let n = client * 1000 + i;
                let sent = http
                    .post(format!("{url}/v1/workflows/crashy/executions"))
                    .json(&json!({"input": {"n": n}}))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 202 => {
                        let v: Value = r.json().await.unwrap();
                        acked.push((v["id"].as_str().unwrap().to_string(), n));
                    }
                    _ => break, // the server is gone: this start was not acknowledged
                }
            }
            acked
        }));
    }
    // Kill it mid-run: some executions finished, some wait, some run a step.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let waiting: Value = http
        .get(format!(
            "{}/v1/executions?status=waiting&limit=1000",
            server.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.kill();
    let in_flight = waiting["executions"].as_array().map(Vec::len).unwrap_or(0);
    assert!(
        in_flight > 0,
        "the kill should come mid-run, with executions waiting"
    );
    let mut acked: HashMap<String, i64> = HashMap::new();
    for c in clients {
        acked.extend(c.await.unwrap());
    }
    assert!(
        acked.len() >= 50,
        "only {} starts were acknowledged before the kill",
        acked.len()
    );

    let server = Server::start(&db_url, dir.path()).await;
    let mut unfinished: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (id, n) in &acked {
        loop {
            let v: Value = http
                .get(format!("{}/v1/executions/{id}?wait=30", server.url))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["status"] == "completed" {
                assert_eq!(v["output"], json!({"n": n + 4}), "execution {id}");
                let steps = v["steps"].as_array().unwrap();
                let mut completed: HashMap<&str, usize> = HashMap::new();
                for s in steps {
                    if s["status"] == "completed" {
                        *completed.entry(s["step_id"].as_str().unwrap()).or_default() += 1;
                    }
                }
                for step in STEPS {
                    assert_eq!(
                        completed.get(step),
                        Some(&1),
                        "execution {id}: step {step} completed {:?} times: {v}",
                        completed.get(step)
                    );
                }
                let seqs: Vec<i64> = steps.iter().map(|s| s["seq"].as_i64().unwrap()).collect();
                assert_eq!(
                    seqs,
                    (1..=steps.len() as i64).collect::<Vec<_>>(),
                    "execution {id}"
                );
                break;
            }
            assert_ne!(v["status"], "failed", "execution {id} failed: {v}");
            if Instant::now() > deadline {
                unfinished.push(format!("{id}: {}", v["status"]));
                break;
            }
        }
    }
    assert!(
        unfinished.is_empty(),
        "not finished after the restart: {unfinished:?}"
    );
}
