//! `flowbox serve`: the engine and its HTTP API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use flowbox::engine::{Engine, EngineConfig};
use flowbox::sandbox::{Sandbox, SandboxConfig};
use flowbox::store::Store;

use super::{CacheChoice, EXIT_FAILED, EXIT_USAGE, Failure};

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "FLOWBOX_LISTEN")]
    listen: SocketAddr,
    /// Database: sqlite://PATH (the default, one process) or postgres://USER:PASS@HOST/DB.
    #[arg(long, env = "FLOWBOX_DB", hide_env_values = true)]
    db: Option<String>,
    /// Folder for the default SQLite database.
    #[arg(long, default_value = "data", env = "FLOWBOX_DATA")]
    data_dir: PathBuf,
    /// This node's id in leases. It must stay the same across restarts (a restarted node then
    /// takes back at once what it was running) and differ between processes sharing one
    /// PostgreSQL database. Default: the id kept in DATA_DIR/node-id, made on first start.
    #[arg(long, env = "FLOWBOX_NODE_ID")]
    node_id: Option<String>,
    /// Seconds a claim lasts without word from its node: this process writes a heartbeat every
    /// third of it; after a crash, other processes (PostgreSQL) take its executions over after
    /// this long.
    #[arg(long, default_value_t = 30.0)]
    lease_secs: f64,
    /// Steps that may run at once in this process: the sandbox's instance pool holds this many
    /// step slots, with 8 core instances, 2 memories and 4 tables each, shared. A Rust step takes
    /// a few core instances, a Python step 14: a step waits for the room its component takes.
    #[arg(long, default_value_t = 1000)]
    max_concurrent_steps: u32,
    /// Executions driven at once in this process, at most (default: 512 per core). Due work
    /// beyond it (a burst of timers, a bulk start) waits in the database until a slot frees, so
    /// memory follows this bound, not the size of the burst. API starts take their slot ahead
    /// of due work.
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// The longest chain of workflows triggering each other through record changes; the loop
    /// guard stops a start that would make one longer.
    #[arg(long, default_value_t = 8)]
    max_chain_depth: usize,
    /// The budget of one expression or template (minijinja fuel: about one operation, or 64
    /// bytes of data made, per unit). Past it, the expression fails with `expression_limit`.
    #[arg(long, default_value_t = flowbox::expr::DEFAULT_FUEL)]
    expression_fuel: u64,
    /// The most fuel a step's `limits.fuel` may ask for (default: 100 times the default).
    #[arg(long, default_value_t = flowbox::sandbox::Limits::DEFAULT_CEILINGS.fuel)]
    max_step_fuel: u64,
    /// The most memory, in MiB, a step's `limits.memory_mb` may ask for.
    #[arg(long, default_value_t = flowbox::sandbox::Limits::DEFAULT_CEILINGS.memory_bytes >> 20)]
    max_step_memory_mb: u64,
    /// The longest `limits.timeout` a step may ask for, in seconds.
    #[arg(long, default_value_t = flowbox::sandbox::Limits::DEFAULT_CEILINGS.timeout.as_secs())]
    max_step_timeout_secs: u64,
    /// The largest output, in KiB, a step's `limits.output_kb` may ask for.
    #[arg(long, default_value_t = flowbox::sandbox::Limits::DEFAULT_CEILINGS.output_bytes >> 10)]
    max_step_output_kb: u64,
    /// Connections open at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Seconds a client may take to send a request's headers.
    #[arg(long, default_value_t = 10.0)]
    header_timeout_secs: f64,
    /// Seconds a client may take to send a request's body.
    #[arg(long, default_value_t = 60.0)]
    body_timeout_secs: f64,
    /// The SMTP server for steps granted `email`: smtp://HOST:PORT (plain),
    /// smtp://HOST?tls=required (STARTTLS), smtps://USER:PASSWORD@HOST (TLS). Credentials need
    /// TLS, unless the URL adds allow_plain_auth=true. None: steps cannot send email.
    #[arg(long, env = "FLOWBOX_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The sender of steps' email.
    #[arg(
        long,
        env = "FLOWBOX_SMTP_FROM",
        default_value = "flowbox <flowbox@localhost>"
    )]
    smtp_from: String,
    /// The key failure notifications sent to a workflow's `settings.notify.webhook` are signed
    /// with (X-Flowbox-Signature: sha256=HMAC-SHA256 of the body). At least 16 bytes. None: a
    /// workflow that names a webhook to notify is refused at save.
    #[arg(long, env = "FLOWBOX_NOTIFY_SECRET", hide_env_values = true)]
    notify_secret: Option<String>,
    /// This server's address as its users reach it (e.g. https://flowbox.example.com): failure
    /// notifications link to an execution under it. Default: http://LISTEN.
    #[arg(long, env = "FLOWBOX_PUBLIC_URL")]
    public_url: Option<String>,
    /// The token `GET /metrics` asks for (Authorization: Bearer TOKEN), a secret of its own: a
    /// scraper holding it gets no API access. At least 16 bytes. None: /metrics is open, like
    /// /healthz (keep the listen address private, or set this).
    #[arg(long, env = "FLOWBOX_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
}

pub(super) async fn run(args: ServeArgs, cache: &CacheChoice) -> Result<(), Failure> {
    let internal = |m: String| Failure::new(EXIT_FAILED, format!("error: {m}"));
    flowbox::expr::set_fuel(args.expression_fuel);
    let node_id = match args.node_id.clone() {
        Some(id) => id,
        None => node_id_in(&args.data_dir).map_err(|e| {
            Failure::new(
                EXIT_USAGE,
                format!(
                    "error: cannot keep this node's id in {}: {e} (or give --node-id)",
                    args.data_dir.join("node-id").display()
                ),
            )
        })?,
    };
    if !valid_node_id(&node_id) {
        return Err(Failure::new(
            EXIT_USAGE,
            format!("error: --node-id `{node_id}`: use 1-64 of a-z, A-Z, 0-9, `.`, `_`, `-`"),
        ));
    }
    let url = args
        .db
        .unwrap_or_else(|| format!("sqlite://{}", args.data_dir.join("flowbox.db").display()));
    // The URL may hold a password: it is never printed.
    let shown = flowbox::secrets::redact_url(&url);
    let store = Store::open(&url)
        .await
        .map_err(|e| internal(format!("cannot open {shown}: {e}")))?;
    if args.max_step_fuel == 0
        || args.max_step_memory_mb == 0
        || args.max_step_timeout_secs == 0
        || args.max_step_output_kb == 0
    {
        return Err(Failure::new(
            EXIT_USAGE,
            "error: --max-step-fuel, --max-step-memory-mb, --max-step-timeout-secs and --max-step-output-kb must be at least 1",
        ));
    }
    let step_ceilings = flowbox::sandbox::Limits {
        fuel: args.max_step_fuel,
        memory_bytes: args.max_step_memory_mb.saturating_mul(1 << 20),
        timeout: std::time::Duration::from_secs(args.max_step_timeout_secs),
        output_bytes: args.max_step_output_kb.saturating_mul(1 << 10),
    };
    let defaults = SandboxConfig::default();
    let mut config = SandboxConfig {
        max_concurrent: args.max_concurrent_steps,
        // Each step slot reserves (virtual) room for the largest memory a step may be given.
        max_memory_bytes: defaults.max_memory_bytes.max(step_ceilings.memory_bytes),
        ..defaults
    };
    cache.apply(&mut config);
    let sandbox = Arc::new(Sandbox::new(config).map_err(|e| internal(format!("{e:#}")))?);
    if !(args.lease_secs.is_finite() && args.lease_secs >= 1.0) {
        return Err(Failure::new(
            EXIT_USAGE,
            "error: --lease-secs must be at least 1",
        ));
    }
    if args.max_in_flight == Some(0) {
        return Err(Failure::new(
            EXIT_USAGE,
            "error: --max-in-flight must be at least 1",
        ));
    }
    if args.max_chain_depth == 0 {
        return Err(Failure::new(
            EXIT_USAGE,
            "error: --max-chain-depth must be at least 1",
        ));
    }
    let mailer = match &args.smtp_url {
        Some(url) => Some(Arc::new(
            flowbox::services::email::Mailer::new(url, &args.smtp_from)
                .map_err(|e| Failure::new(EXIT_USAGE, format!("error: {e}")))?,
        )),
        None => None,
    };
    if args.metrics_token.as_ref().is_some_and(|k| k.len() < 16) {
        return Err(Failure::new(
            EXIT_USAGE,
            "error: --metrics-token must be at least 16 bytes (e.g. `openssl rand -hex 32`)",
        ));
    }
    if args.notify_secret.as_ref().is_some_and(|k| k.len() < 16) {
        return Err(Failure::new(
            EXIT_USAGE,
            "error: --notify-secret must be at least 16 bytes (e.g. `openssl rand -hex 32`)",
        ));
    }
    let public_url = match &args.public_url {
        Some(u) => match reqwest::Url::parse(u) {
            Ok(p) if matches!(p.scheme(), "http" | "https") => u.trim_end_matches('/').to_string(),
            _ => {
                return Err(Failure::new(
                    EXIT_USAGE,
                    format!("error: --public-url `{u}` is not an http(s) URL"),
                ));
            }
        },
        None => format!("http://{}", args.listen),
    };
    let config = EngineConfig {
        node_id,
        notify_secret: args.notify_secret.clone(),
        metrics_token: args.metrics_token.clone(),
        public_url: Some(public_url),
        lease: std::time::Duration::from_secs_f64(args.lease_secs),
        max_chain_depth: args.max_chain_depth,
        max_in_flight: args
            .max_in_flight
            .unwrap_or_else(flowbox::engine::default_max_in_flight),
        step_ceilings,
        mailer,
        ..EngineConfig::default()
    };
    let now = flowbox::store::millis(std::time::SystemTime::now());
    let env_token = std::env::var("FLOWBOX_ADMIN_TOKEN").ok();
    match flowbox::api::auth::bootstrap(&store, env_token.as_deref(), now).await {
        Ok(Some(token)) => eprintln!(
            "flowbox: first start: created the bootstrap admin token (shown this once; set FLOWBOX_ADMIN_TOKEN to choose it):\n  {token}"
        ),
        Ok(None) => {}
        Err(e) => {
            return Err(internal(format!(
                "cannot create the bootstrap admin token: {e}"
            )));
        }
    }
    let engine = Engine::new(store, sandbox, config);
    engine
        .start_scheduler()
        .await
        .map_err(|e| internal(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            Failure::new(
                EXIT_USAGE,
                format!("error: cannot listen on {}: {e}", args.listen),
            )
        })?;
    tracing::info!(listen = %args.listen, db = %shown, "flowbox is serving");
    eprintln!(
        "flowbox listening on http://{} (database: {shown})",
        args.listen
    );
    let limits = flowbox::api::serve::ServeLimits {
        header_timeout: seconds("--header-timeout-secs", args.header_timeout_secs)?,
        body_timeout: seconds("--body-timeout-secs", args.body_timeout_secs)?,
        max_connections: args.max_connections,
    };
    flowbox::api::serve::serve(listener, flowbox::api::app(engine), limits, shutdown())
        .await
        .map_err(|e| internal(e.to_string()))
}

fn seconds(flag: &str, value: f64) -> Result<std::time::Duration, Failure> {
    if value.is_finite() && value > 0.0 {
        Ok(std::time::Duration::from_secs_f64(value))
    } else {
        Err(Failure::new(
            EXIT_USAGE,
            format!("error: {flag} must be a positive number of seconds"),
        ))
    }
}

/// The node id kept in `dir/node-id`, made (random) on first use.
fn node_id_in(dir: &std::path::Path) -> std::io::Result<String> {
    let path = dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) => return Ok(id.trim().to_string()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    std::fs::create_dir_all(dir)?;
    let id = format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    std::fs::write(&path, format!("{id}\n"))?;
    Ok(id)
}

fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    eprintln!("flowbox: shutting down");
}
