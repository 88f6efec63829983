//! Shared helpers: where the test guests are, and sandboxes to run them in.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flowbox::sandbox::{
    Grants, Limits, Sandbox, SandboxConfig, StepModule, StepOutcome, StepRequest,
};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Path of a guest component built by scripts/build-guests.sh.
pub fn guest_path(name: &str) -> PathBuf {
    let path = root().join("target/wasm").join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-guests.sh first",
        path.display()
    );
    path
}

/// The bytes of a guest component.
pub fn guest(name: &str) -> Vec<u8> {
    std::fs::read(guest_path(name)).expect("readable guest")
}

/// A sandbox with a small pool, caching compiled components in a directory shared by the tests
/// (so the suite compiles each guest once).
pub fn sandbox() -> Sandbox {
    sandbox_with(|_| {})
}

pub fn sandbox_with(adjust: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut config = SandboxConfig {
        cache_dir: Some(root().join("target/test-cache/compiled")),
        max_concurrent: 64,
        ..SandboxConfig::default()
    };
    adjust(&mut config);
    Sandbox::new(config).expect("sandbox")
}

pub fn load(sandbox: &Sandbox, name: &str, grants: Grants) -> StepModule {
    sandbox
        .load(&guest(name), &grants)
        .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// Run `module` on `input` with `limits`.
pub async fn run(
    sandbox: &Sandbox,
    module: &StepModule,
    input: &str,
    limits: Limits,
) -> StepOutcome {
    let mut request = StepRequest::new(input);
    request.limits = limits;
    sandbox.run(module, request).await
}

/// Limits small enough that hostile guests fail fast.
pub fn tight() -> Limits {
    Limits {
        fuel: 500_000_000,
        memory_bytes: 32 << 20,
        timeout: Duration::from_secs(5),
        output_bytes: 64 << 10,
    }
}

pub fn variables(v: serde_json::Value) -> Arc<serde_json::Map<String, serde_json::Value>> {
    match v {
        serde_json::Value::Object(m) => Arc::new(m),
        _ => panic!("variables must be an object"),
    }
}

// ---- Servers over real databases ----

use std::sync::OnceLock;

use flowbox::clock::Clock;
use flowbox::engine::{Engine, EngineConfig};
use flowbox::store::Store;
use serde_json::Value;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The test PostgreSQL server's URL (started once per test run by scripts/test-postgres.sh).
pub fn postgres_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("FLOWBOX_TEST_PG") {
            return url;
        }
        let out = std::process::Command::new("bash")
            .arg(root().join("scripts/test-postgres.sh"))
            .output()
            .expect("run scripts/test-postgres.sh");
        assert!(
            out.status.success(),
            "could not start PostgreSQL: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
}

/// A fresh database: a SQLite file in `dir`, or a new PostgreSQL database.
pub async fn fresh_db_url(db: Db, dir: &std::path::Path) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}", dir.join("flowbox.db").display()),
        Db::Postgres => {
            let admin = postgres_url();
            let name = format!("t_{}", uuid_simple());
            let pool = sqlx::PgPool::connect(admin)
                .await
                .expect("connect to the test PostgreSQL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .expect("create database");
            pool.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
            format!("{base}/{name}")
        }
    }
}

fn uuid_simple() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        t % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new execution of `workflow`, queued at time 1, to insert straight into a store.
pub fn queued_execution(id: &str, workflow: &str) -> flowbox::store::ExecutionRow {
    flowbox::store::ExecutionRow {
        id: id.into(),
        workflow: workflow.into(),
        version: 1,
        status: "queued".into(),
        record_object: None,
        record_id: None,
        parent_id: None,
        input: "{}".into(),
        output: None,
        error: None,
        state: "{}".into(),
        seq: 0,
        wake_at: None,
        control: None,
        pause_reason: None,
        lease_owner: None,
        lease_until: None,
        event_at: 1,
        created_at: 1,
        updated_at: 1,
        ended_at: None,
        cause: None,
        exclusive: false,
        trace: None,
    }
}

/// An engine and its HTTP API on a loopback port, over a fresh database.
pub struct TestServer {
    pub url: String,
    pub engine: Engine,
    pub http: reqwest::Client,
    /// The bootstrap admin token every helper sends.
    pub admin: String,
    /// The database it runs on.
    pub db_url: String,
    _dir: tempfile::TempDir,
}

/// The admin token test servers start with.
pub const ADMIN_TOKEN: &str = "fbx_test_admin_token";

impl TestServer {
    pub async fn start(db: Db) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with_clock(db: Db, clock: Arc<dyn Clock>) -> TestServer {
        Self::start_with(db, move |c| c.clock = clock).await
    }

    pub async fn start_with(db: Db, adjust: impl FnOnce(&mut EngineConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_url = fresh_db_url(db, dir.path()).await;
        Self::start_on(db_url, dir, adjust).await
    }

    /// Another node on this server's (PostgreSQL) database, with an engine and API of its own.
    pub async fn join(&self) -> TestServer {
        self.join_with(|_| {}).await
    }

    /// Another node, with its settings adjusted.
    pub async fn join_with(&self, adjust: impl FnOnce(&mut EngineConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_on(self.db_url.clone(), dir, adjust).await
    }

    async fn start_on(
        db_url: String,
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut EngineConfig),
    ) -> TestServer {
        let store = Store::open(&db_url).await.expect("open store");
        let mut config = EngineConfig {
            poll_interval: Duration::from_millis(50),
            ..EngineConfig::default()
        };
        adjust(&mut config);
        let sandbox = Arc::new(sandbox_with(|c| {
            c.max_concurrent = 32;
            c.max_memory_bytes = 512 << 20;
            c.clock = config.clock.clone();
        }));
        flowbox::api::auth::bootstrap(&store, Some(ADMIN_TOKEN), 0)
            .await
            .expect("bootstrap token");
        let engine = Engine::new(store, sandbox, config);
        engine.start_scheduler().await.expect("scheduler");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = flowbox::api::app(engine.clone());
        // Short client timeouts, so that the tests of slow clients are quick.
        let limits = flowbox::api::serve::ServeLimits {
            header_timeout: Duration::from_secs(3),
            body_timeout: Duration::from_secs(3),
            ..Default::default()
        };
        tokio::spawn(flowbox::api::serve::serve(
            listener,
            app,
            limits,
            std::future::pending(),
        ));
        TestServer {
            url,
            engine,
            http: reqwest::Client::new(),
            admin: ADMIN_TOKEN.to_string(),
            db_url,
            _dir: dir,
        }
    }

    /// Send with the admin token (unless the request already has an Authorization header).
    pub async fn call(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let req = req.build().expect("request");
        let req = if req.headers().contains_key("authorization") {
            reqwest::RequestBuilder::from_parts(self.http.clone(), req)
        } else {
            reqwest::RequestBuilder::from_parts(self.http.clone(), req).bearer_auth(&self.admin)
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("the answer is not JSON ({status}): {text:?}"));
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(self.http.get(format!("{}{path}", self.url)))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(self.http.post(format!("{}{path}", self.url)).json(&body))
            .await
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        self.call(
            self.http
                .post(format!("{}{path}", self.url))
                .body(body.to_string()),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(self.http.put(format!("{}{path}", self.url)).json(&body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(self.http.patch(format!("{}{path}", self.url)).json(&body))
            .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(self.http.delete(format!("{}{path}", self.url)))
            .await
    }

    /// Define an object type (YAML or JSON text); panics unless it is accepted.
    pub async fn define_object(&self, definition: &str) -> Value {
        let (status, body) = self.post_raw("/v1/objects", definition).await;
        assert!(
            status == 201 || status == 200,
            "object type refused: {status} {body}"
        );
        body
    }

    /// Create a record (panics unless it is created); returns it.
    pub async fn create_record(&self, object: &str, id: &str, fields: Value) -> Value {
        let (status, body) = self
            .post(
                &format!("/v1/records/{object}"),
                serde_json::json!({"id": id, "fields": fields}),
            )
            .await;
        assert_eq!(status, 201, "record {object}/{id} refused: {body}");
        body
    }

    /// Upload a test guest as a step module.
    pub async fn upload(&self, name: &str, guest_name: &str, grants: &[&str]) -> (u16, Value) {
        let q: Vec<(&str, &str)> = grants.iter().map(|g| ("grant", *g)).collect();
        self.call(
            self.http
                .put(format!("{}/v1/steps/{name}", self.url))
                .query(&q)
                .body(guest(guest_name)),
        )
        .await
    }

    /// Save a workflow (YAML or JSON text); panics unless it is accepted.
    pub async fn apply(&self, definition: &str) -> Value {
        let (status, body) = self.post_raw("/v1/workflows", definition).await;
        assert!(
            status == 201 || status == 200,
            "workflow refused: {status} {body}"
        );
        body
    }

    /// Start an execution and wait for it to finish.
    pub async fn run(&self, workflow: &str, body: Value) -> Value {
        let (status, v) = self
            .post(
                &format!("/v1/workflows/{workflow}/executions?wait=30"),
                body,
            )
            .await;
        assert!(
            status == 200 || status == 202,
            "start refused: {status} {v}"
        );
        v
    }

    /// An execution with its steps.
    pub async fn execution(&self, id: &str) -> Value {
        let (status, v) = self.get(&format!("/v1/executions/{id}")).await;
        assert_eq!(status, 200, "{v}");
        v
    }

    /// Poll until the execution's status is `want` (or fail after `within`).
    pub async fn until_status(&self, id: &str, want: &str, within: Duration) -> Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let v = self.execution(id).await;
            if v["status"] == want {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "execution {id} is {} after {within:?}, wanted {want}: {v}",
                v["status"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Define each listed test (an `async fn(Db)` in the parent module) once per database.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Db::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;

/// An RFC 3339 time as Unix ms.
pub fn rfc3339_ms(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap_or_else(|e| panic!("`{t}` is not RFC 3339: {e}"))
        .timestamp_millis()
}

/// A test server with a code-step runner (`python` or `javascript`, from target/wasm/) uploaded
/// under its own name, with the grants it imports and `hosts` on its allow-list.
pub async fn with_runner(db: Db, runner: &str, hosts: &[&str]) -> TestServer {
    let s = TestServer::start(db).await;
    let q: Vec<(&str, &str)> = ["log", "variables", "records", "http", "clock"]
        .iter()
        .map(|g| ("grant", *g))
        .chain(hosts.iter().map(|h| ("http_host", *h)))
        .collect();
    let (status, v) = s
        .call(
            s.http
                .put(format!("{}/v1/steps/{runner}", s.url))
                .query(&q)
                .body(guest(runner)),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    s
}

/// Run a one-step workflow `name` whose step `code` is a `language:` step of `code` (`extra`:
/// more YAML lines of the step, indented by four), with `input` as the execution input; return
/// the step run.
pub async fn run_code(
    s: &TestServer,
    language: &str,
    name: &str,
    code: &str,
    extra: &str,
    input: Value,
) -> Value {
    let code: String = code.lines().map(|l| format!("      {l}\n")).collect();
    s.apply(&format!(
        "name: {name}\nsteps:\n  - id: code\n{extra}    {language}: |\n{code}"
    ))
    .await;
    let v = s.run(name, serde_json::json!({ "input": input })).await;
    let v = s.execution(v["id"].as_str().unwrap()).await;
    v["steps"][0].clone()
}

/// Save a one-step workflow of `code` that does not compile: refused at save (422), the
/// definition error at its step's `code`. Returns that error's message.
pub async fn code_refused(s: &TestServer, language: &str, name: &str, code: &str) -> String {
    let code: String = code.lines().map(|l| format!("      {l}\n")).collect();
    let text = format!("name: {name}\nsteps:\n  - id: code\n    {language}: |\n{code}");
    let (status, v) = s.post_raw("/v1/workflows", &text).await;
    assert_error(status, &v, 422, "invalid_definition");
    let found = v["error"]["details"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["path"] == "steps (id \"code\").code")
        .unwrap_or_else(|| panic!("no error at the step's code: {v}"));
    // The validate-only call says the same, and saves nothing either way.
    let (status, checked) = s.post_raw("/v1/workflows/validate", &text).await;
    assert_error(status, &checked, 422, "invalid_definition");
    let (status, _) = s.get(&format!("/v1/workflows/{name}")).await;
    assert_eq!(status, 404, "a refused definition is not saved");
    found["message"].as_str().unwrap().to_string()
}

/// The problems of a 422 `invalid_definition`, as `path: message` lines.
pub fn problems(v: &Value) -> Vec<String> {
    v["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {v}"))
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d["path"].as_str().unwrap(),
                d["message"].as_str().unwrap()
            )
        })
        .collect()
}

/// An error answer: its status and its stable code checked together, so that a test names the
/// condition it expects, not only the status.
#[track_caller]
pub fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (want_status, Some(want_code)),
        "{body}"
    );
}

/// A real SMTP server (Python's aiosmtpd, from Debian's python3-aiosmtpd) on a loopback port,
/// keeping what it receives in a maildir. Stopped when dropped.
pub struct SmtpServer {
    pub port: u16,
    maildir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let maildir = tempfile::tempdir().unwrap();
        let child = tokio::process::Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .kill_on_drop(true)
            .spawn()
            .expect("python3 -m aiosmtpd (apt install python3-aiosmtpd; scripts/test.sh does)");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return SmtpServer {
                    port,
                    maildir,
                    _child: child,
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not listen on {port} within 10 s");
    }

    /// Every message received, as raw text.
    pub fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("mail/new");
        let mut out = vec![];
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            out.push(std::fs::read_to_string(e.path()).unwrap());
        }
        out
    }
}
