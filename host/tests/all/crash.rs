//! Crashes and storage failures of real `flowbox serve` processes.
//!
//! - The load test: clients start executions as fast as they can (plain starts, starts on
//!   records whose steps read-modify-write and increment a counter, and start-and-waits that run
//!   out) while the server is SIGKILLed twice; afterwards every acknowledged execution completed
//!   once with its correct output, no step position committed twice, and each record's counter
//!   equals the increments its executions made.
//! - A full disk (a small loop filesystem): writes answer 503 `storage_unavailable`, `/readyz`
//!   fails, `/healthz` says why; once there is room again everything writes, without a restart.
//! - A PostgreSQL node restarted with its stable id takes its executions back at once; with
//!   three nodes and one killed, the others take its executions over after its lease.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, Db, fresh_db_url, guest_path, on_both_databases, root};

on_both_databases!(acknowledged_executions_survive_sigkills);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_heals_without_a_restart() {
    full_disk().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_takes_its_executions_back_at_once() {
    restarted_node().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_killed_the_others_take_over() {
    three_nodes().await
}

const CRASHY: &str = "
name: crashy
steps:
  - { id: a, action: increment }
  - { id: nap1, delay: { for: 150ms } }
  - { id: b, action: increment }
  - { id: c, action: increment }
  - { id: nap2, delay: { for: 100ms } }
  - { id: d, action: increment }
";
const CRASHY_STEPS: [&str; 6] = ["a", "nap1", "b", "c", "nap2", "d"];

const ACCOUNT: &str = "name: acct\nfields:\n  count: { type: number }\n";

/// Two increments of the record's counter: one read-modify-write, one atomic.
const TALLY: &str = "
name: tally
scope: { object: acct }
settings: { reentry: true }
steps:
  - { id: rmw, action: counter, input: { mode: read-modify-write } }
  - { id: nap, delay: { for: 100ms } }
  - { id: inc, action: counter, input: { mode: increment } }
";
const TALLY_STEPS: [&str; 3] = ["rmw", "nap", "inc"];

/// A `flowbox serve` process.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
    /// Where its standard error goes.
    pub(crate) log: PathBuf,
}

impl Server {
    /// Start one on `db_url`, with `data` as its data directory (its node id lives there), on
    /// `port` (0: any free port).
    pub(crate) async fn start(db_url: &str, data: &Path, port: u16, extra: &[&str]) -> Server {
        Self::start_with_env(db_url, data, port, extra, &[]).await
    }

    /// [`Server::start`], with these variables in its environment.
    pub(crate) async fn start_with_env(
        db_url: &str,
        data: &Path,
        port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        flowbox::install_tls_provider();
        let port = if port == 0 { free_port() } else { port };
        // Its log, beside the data (where a loop filesystem may be full: then none).
        let log_path = std::env::temp_dir().join(format!("flowbox-test-{port}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_flowbox"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--db",
                db_url,
                "--data-dir",
            ])
            .arg(data)
            .args(extra)
            // Short leases, unless the test chose one.
            .args(if extra.contains(&"--lease-secs") {
                &[][..]
            } else {
                &["--lease-secs", "2"][..]
            })
            .env("FLOWBOX_ADMIN_TOKEN", ADMIN_TOKEN)
            .env(
                "FLOWBOX_CACHE_DIR",
                root().join("target/test-cache/compiled"),
            )
            .env("RUST_LOG", "flowbox=info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .expect("start flowbox serve");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{url}/healthz")).await.is_err() {
            assert!(
                Instant::now() < deadline && child.try_wait().unwrap().is_none(),
                "the server did not come up: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server {
            child,
            url,
            log: log_path,
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub(crate) fn kill(mut self) {
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

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn admin_client() -> reqwest::Client {
    flowbox::install_tls_provider();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

pub(crate) async fn call(
    http: &reqwest::Client,
    method: &str,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method.parse().unwrap(), url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(crate) async fn upload(http: &reqwest::Client, url: &str, name: &str, grants: &[&str]) {
    let q: Vec<(&str, &str)> = grants.iter().map(|g| ("grant", *g)).collect();
    let r = http
        .put(format!("{url}/v1/steps/{name}"))
        .query(&q)
        .body(std::fs::read(guest_path(name)).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

pub(crate) async fn post_text(http: &reqwest::Client, url: String, text: &str) -> (u16, Value) {
    let r = http.post(url).body(text.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// What a client had acknowledged: execution id -> what it must end with.
#[derive(Debug, Clone)]
enum Expect {
    /// crashy with input n: output n + 4.
    Crashy(i64),
    /// tally on a record.
    Tally(String),
}

/// One client: starts until the server is gone, returning what was acknowledged.
async fn client(
    http: reqwest::Client,
    url: String,
    client: i64,
    round: i64,
    count: Arc<AtomicUsize>,
) -> Vec<(String, Expect)> {
    let mut acked = Vec::new();
    for i in 0..60 {
        let n = round * 100_000 + client * 1000 + i;
        let record = format!("r{client}");
        let (path, body, expect) = match i % 3 {
            0 => (
                "crashy/executions",
                json!({"input": {"n": n}}),
                Expect::Crashy(n),
            ),
            1 => (
                "tally/executions",
                json!({"record_id": record}),
                Expect::Tally(record),
            ),
            // A start-and-wait that runs out: its 202 must name a recorded execution.
            _ => (
                "crashy/executions?wait=0.01",
                json!({"input": {"n": n}}),
                Expect::Crashy(n),
            ),
        };
        let sent = http
            .post(format!("{url}/v1/workflows/{path}"))
            .json(&body)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 202 || r.status() == 200 => match r.json::<Value>().await {
                Ok(v) => {
                    acked.push((v["id"].as_str().unwrap().to_string(), expect));
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => break, // the answer was cut: not acknowledged
            },
            _ => break, // the server is gone: this start was not acknowledged
        }
    }
    acked
}

/// Steps completed exactly once each, positions committed once each.
fn check_history(id: &str, v: &Value, steps: &[&str]) {
    let runs = v["steps"].as_array().unwrap();
    let mut completed: HashMap<&str, usize> = HashMap::new();
    for s in runs {
        if s["status"] == "completed" {
            *completed.entry(s["step_id"].as_str().unwrap()).or_default() += 1;
        }
    }
    for step in steps {
        assert_eq!(
            completed.get(step),
            Some(&1),
            "execution {id}: step {step} completed {:?} times: {v}",
            completed.get(step)
        );
    }
    let seqs: Vec<i64> = runs.iter().map(|s| s["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=runs.len() as i64).collect::<Vec<_>>(),
        "execution {id}"
    );
}

async fn acknowledged_executions_survive_sigkills(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_db_url(db, dir.path()).await;
    let http = admin_client();
    let mut server = Server::start(&db_url, dir.path(), 0, &[]).await;
    let url = server.url.clone();
    upload(&http, &url, "increment", &[]).await;
    upload(&http, &url, "counter", &["records"]).await;
    assert_eq!(
        post_text(&http, format!("{url}/v1/objects"), ACCOUNT)
            .await
            .0,
        201
    );
    for w in [CRASHY, TALLY] {
        assert_eq!(
            post_text(&http, format!("{url}/v1/workflows"), w).await.0,
            201
        );
    }
    const CLIENTS: i64 = 12;
    for c in 0..CLIENTS {
        let (status, v) = call(
            &http,
            "POST",
            format!("{url}/v1/records/acct"),
            Some(json!({"id": format!("r{c}"), "fields": {"count": 0}})),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }

    // Two rounds: clients start as fast as they can, the server is killed mid-run.
    let mut acked: HashMap<String, Expect> = HashMap::new();
    for round in 0..2 {
        let mut clients = Vec::new();
        let count = Arc::new(AtomicUsize::new(0));
        for c in 0..CLIENTS {
            let count = count.clone();
            clients.push(tokio::spawn(client(
                http.clone(),
                url.clone(),
                c,
                round,
                count,
            )));
        }
        // Kill it mid-run, once a good number of starts were acknowledged (however busy the
        // machine is).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, waiting) = call(
                &http,
                "GET",
                format!("{url}/v1/executions?status=waiting&limit=1"),
                None,
            )
            .await;
            let mid_run = !waiting["executions"].as_array().unwrap().is_empty();
            if mid_run && count.load(Ordering::Relaxed) >= 100 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no moment with executions waiting and 100 starts acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let port = server.port();
        server.kill();
        let before = acked.len();
        for c in clients {
            acked.extend(c.await.unwrap());
        }
        assert!(
            acked.len() - before >= 40,
            "only {} starts were acknowledged in round {round}",
            acked.len() - before
        );
        server = Server::start(&db_url, dir.path(), port, &[]).await;
    }

    // Every acknowledged execution completed, once, with its output.
    let deadline = Instant::now() + Duration::from_secs(90);
    for (id, expect) in &acked {
        loop {
            let (status, v) = call(
                &http,
                "GET",
                format!("{url}/v1/executions/{id}?wait=30"),
                None,
            )
            .await;
            assert_eq!(status, 200, "acknowledged execution {id} is gone: {v}");
            if v["status"] == "completed" {
                match expect {
                    Expect::Crashy(n) => {
                        assert_eq!(v["output"], json!({"n": n + 4}), "execution {id}");
                        check_history(id, &v, &CRASHY_STEPS);
                    }
                    Expect::Tally(record) => {
                        assert_eq!(v["record"]["id"], json!(record), "execution {id}");
                        check_history(id, &v, &TALLY_STEPS);
                    }
                }
                break;
            }
            assert_ne!(v["status"], "failed", "execution {id} failed: {v}");
            assert!(
                Instant::now() < deadline,
                "execution {id} is still {}",
                v["status"]
            );
        }
    }

    let mut total_tally = 0;
    // Each counter counts two per tally execution on its record (acknowledged or not: a start
    // recorded just before a kill runs too), every one of which completed.
    for c in 0..CLIENTS {
        let record = format!("r{c}");
        let (_, list) = call(
            &http,
            "GET",
            format!("{url}/v1/executions?workflow=tally&record_id={record}&limit=1000"),
            None,
        )
        .await;
        let runs = list["executions"].as_array().unwrap();
        total_tally += runs.len();
        for e in runs {
            let id = e["id"].as_str().unwrap();
            let (_, v) = call(
                &http,
                "GET",
                format!("{url}/v1/executions/{id}?wait=30"),
                None,
            )
            .await;
            assert_eq!(v["status"], "completed", "{v}");
        }
        let (_, r) = call(
            &http,
            "GET",
            format!("{url}/v1/records/acct/{record}"),
            None,
        )
        .await;
        assert_eq!(
            r["fields"]["count"],
            json!(2 * runs.len()),
            "record {record}: {} tally executions",
            runs.len()
        );
    }
    eprintln!(
        "{db:?}, 2 SIGKILLs: {} starts acknowledged, 0 lost, 0 steps run twice; {total_tally} tally executions, counters exact",
        acked.len()
    );
}

/// A small ext4 filesystem on a loop device, unmounted when dropped.
struct SmallDisk {
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (with a message) where this process may not mount one.
    fn mount(megabytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();
        std::fs::File::create(&image)
            .unwrap()
            .set_len(megabytes << 20)
            .unwrap();
        let ok = |c: &mut Command| {
            c.stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))
            || !ok(Command::new("mount")
                .args(["-o", "loop"])
                .arg(&image)
                .arg(&mount))
        {
            eprintln!(
                "skipped: this process may not make and mount a loop filesystem (needs root and mkfs.ext4)"
            );
            return None;
        }
        Some(SmallDisk { mount, _dir: dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// Fill the filesystem with a file until it refuses even one more byte.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for size in [64 << 10, 4 << 10, 1] {
        let chunk = vec![0u8; size];
        while f.write_all(&chunk).is_ok() && f.sync_all().is_ok() {}
    }
}

async fn full_disk() {
    let Some(disk) = SmallDisk::mount(24) else {
        return;
    };
    let data = disk.mount.join("data");
    let db_url = format!("sqlite://{}", data.join("flowbox.db").display());
    let http = admin_client();
    let server = Server::start(&db_url, &data, 0, &[]).await;
    let url = server.url.clone();
    upload(&http, &url, "increment", &[]).await;
    assert_eq!(
        post_text(
            &http,
            format!("{url}/v1/objects"),
            "name: item\nfields:\n  note: { type: text }\n"
        )
        .await
        .0,
        201
    );
    let noticed = "name: noticed\nscope: { object: item }\ntriggers:\n  - record_created: {}\nsteps:\n  - { id: a, action: increment, input: { n: 1 } }\n";
    assert_eq!(
        post_text(&http, format!("{url}/v1/workflows"), noticed)
            .await
            .0,
        201
    );

    let (status, v) = call(
        &http,
        "POST",
        format!("{url}/v1/records/item"),
        Some(json!({"id": "before", "fields": {"note": "room"}})),
    )
    .await;
    assert_eq!(status, 201, "{v}");

    // Fill the disk, then write until the database cannot.
    let filler = disk.mount.join("filler");
    fill(&filler);
    let note = "x".repeat(16 << 10);
    let mut refused = None;
    for i in 0..2000 {
        let (status, v) = call(
            &http,
            "POST",
            format!("{url}/v1/records/item"),
            Some(json!({"id": format!("i{i}"), "fields": {"note": note}})),
        )
        .await;
        if status != 201 {
            refused = Some((status, v));
            break;
        }
    }
    let (status, v) = refused.expect("the disk never filled up");
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "storage_unavailable", "{v}");
    // Whatever the failed write gave back is taken too.
    fill(&filler);
    let (status, v) = call(&http, "GET", format!("{url}/readyz"), None).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "storage_unavailable", "{v}");
    let (status, v) = call(&http, "GET", format!("{url}/healthz"), None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "degraded", "{v}");
    assert_eq!(v["storage"]["writable"], false, "{v}");
    // Saving workflows fails the same way, each time (every pooled connection gets a failed
    // commit: none may stay broken afterwards).
    for i in 0..8 {
        let w = noticed.replace("name: noticed", &format!("name: full{i}"));
        let (status, v) = post_text(&http, format!("{url}/v1/workflows"), &w).await;
        assert_eq!(status, 503, "{v}");
        assert_eq!(v["error"]["code"], "storage_unavailable", "{v}");
    }
    // A start-and-wait gets the same answer at once instead of waiting.
    let asked = Instant::now();
    let r = http
        .post(format!("{url}/v1/workflows/noticed/executions?wait=20"))
        .json(&json!({"record_id": "before"}))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .expect("a start-and-wait hung while the disk was full");
    assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
    assert!(asked.elapsed() < Duration::from_secs(10));

    // Room again: everything writes, no restart.
    std::fs::remove_file(&filler).unwrap();
    for i in 0..8 {
        let w = noticed.replace("name: noticed", &format!("name: again{i}"));
        let (status, v) = post_text(&http, format!("{url}/v1/workflows"), &w).await;
        assert_eq!(
            status, 201,
            "saving a workflow after the disk had room again: {v}"
        );
    }
    let second = noticed.replace("name: noticed", "name: noticed2");
    let (status, v) = post_text(&http, format!("{url}/v1/workflows"), &second).await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = call(&http, "GET", format!("{url}/readyz"), None).await;
    assert_eq!(status, 200, "{v}");
    let (_, v) = call(&http, "GET", format!("{url}/healthz"), None).await;
    assert_eq!(v["status"], "ok", "{v}");
    let (status, v) = call(
        &http,
        "POST",
        format!("{url}/v1/records/item"),
        Some(json!({"id": "after", "fields": {"note": "room again"}})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    // Its event is evaluated: both workflows start on it and run.
    for workflow in ["noticed", "noticed2"] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, list) = call(
                &http,
                "GET",
                format!("{url}/v1/executions?workflow={workflow}&record_id=after"),
                None,
            )
            .await;
            if list["executions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["status"] == "completed")
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the record's event never started {workflow}: {list}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    drop(server);
}

/// Start `n` executions of a slow one-step workflow; return their ids.
async fn start_slow(http: &reqwest::Client, url: &str, workflow: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (status, v) = call(
            http,
            "POST",
            format!("{url}/v1/workflows/{workflow}/executions"),
            Some(json!({"input": {"ms": 1500, "n": i}})),
        )
        .await;
        assert_eq!(status, 202, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Wait until every execution completed; how long that took.
async fn until_completed(
    http: &reqwest::Client,
    url: &str,
    ids: &[String],
    within: Duration,
) -> Duration {
    let started = Instant::now();
    for id in ids {
        loop {
            let (_, v) = call(http, "GET", format!("{url}/v1/executions/{id}"), None).await;
            if v["status"] == "completed" {
                check_history(id, &v, &["nap"]);
                break;
            }
            assert!(
                started.elapsed() < within,
                "execution {id} is {} after {within:?}",
                v["status"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    started.elapsed()
}

/// For each step run of an execution, whether it says it may be a re-run after a takeover.
async fn reruns(http: &reqwest::Client, url: &str, id: &str) -> Vec<bool> {
    let (_, v) = call(http, "GET", format!("{url}/v1/executions/{id}"), None).await;
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["detail"]["rerun"]["reason"].is_string())
        .collect()
}

const SLOW: &str = "name: slowpoke\nsteps:\n  - { id: nap, action: slow }\n";

async fn restarted_node() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_db_url(Db::Postgres, dir.path()).await;
    let http = admin_client();
    // A long lease: after a crash, another node would wait 60 s for these executions.
    let long = ["--lease-secs", "60"];
    let server = Server::start(&db_url, dir.path(), 0, &long).await;
    let url = server.url.clone();
    let node = std::fs::read_to_string(dir.path().join("node-id")).unwrap();
    let (_, health) = call(&http, "GET", format!("{url}/healthz"), None).await;
    assert_eq!(health["node"], json!(node.trim()), "{health}");
    upload(&http, &url, "slow", &[]).await;
    assert_eq!(
        post_text(&http, format!("{url}/v1/workflows"), SLOW)
            .await
            .0,
        201
    );
    let ids = start_slow(&http, &url, "slowpoke", 6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let port = server.port();
    server.kill();
    // The same data directory, so the same node id: its executions are its own at once.
    let server = Server::start(&db_url, dir.path(), port, &long).await;
    let took = until_completed(&http, &server.url, &ids, Duration::from_secs(20)).await;
    assert!(took < Duration::from_secs(20));
    // Each step ran when the node was killed, and ran again: its history says so.
    for id in &ids {
        assert_eq!(reruns(&http, &server.url, id).await, [true], "{id}");
    }

    // A node id must be one a lease can name.
    let out = Command::new(env!("CARGO_BIN_EXE_flowbox"))
        .args(["serve", "--db", &db_url, "--node-id", "no spaces please"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--node-id"));
}

async fn three_nodes() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let db_url = fresh_db_url(Db::Postgres, dirs[0].path()).await;
    let http = admin_client();
    let mut nodes = Vec::new();
    for d in &dirs {
        nodes.push(Server::start(&db_url, d.path(), 0, &[]).await);
    }
    let url0 = nodes[0].url.clone();
    upload(&http, &url0, "slow", &[]).await;
    assert_eq!(
        post_text(&http, format!("{url0}/v1/workflows"), SLOW)
            .await
            .0,
        201
    );
    // Each node starts (and so drives) some.
    let mut ids = Vec::new();
    for n in &nodes {
        ids.extend(start_slow(&http, &n.url, "slowpoke", 8).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let victim = nodes.remove(1);
    victim.kill();
    let killed = Instant::now();
    // Its executions are taken over once its lease (2 s) runs out.
    until_completed(&http, &url0, &ids, Duration::from_secs(30)).await;
    // Only the steps the killed node was running say they may have run twice.
    for (i, id) in ids.iter().enumerate() {
        let taken_over = (8..16).contains(&i);
        assert_eq!(reruns(&http, &url0, id).await, [taken_over], "{id}");
    }
    eprintln!(
        "three nodes, one killed: all {} executions completed {:.1} s after the kill (lease 2 s)",
        ids.len(),
        killed.elapsed().as_secs_f64()
    );
}
