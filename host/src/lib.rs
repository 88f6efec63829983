//! flowbox: an automation engine whose steps run as sandboxed WebAssembly components.
//!
//! This crate is the host. Its [`sandbox`] runs one step component with fuel, memory, time and
//! output limits, granting it only the capabilities (WIT interfaces) its module was given.
//!
//! # The house
//!
//! One concern per top-level module, each using only the ones below it:
//!
//! | module | what it holds |
//! |---|---|
//! | [`api`] (and `cli`) | the HTTP API (axum), the web console it serves (`api/console.rs`, files in `host/console/`) and the server loop; the `flowbox` command |
//! | [`engine`] | the workflow runtime: definitions, the executor, the scheduler, the trigger evaluator, the API's facade over everything below |
//! | [`records`] | the record domain: object types and field checks, the `records` capability's backend, trigger specs and how an event matches one |
//! | [`services`] | the host side of the other capabilities: LLM providers, email, HTTP, teams, files |
//! | [`sandbox`] | running one step component: limits, the component registry, the WIT imports |
//! | [`store`] | all SQL (SQLite and PostgreSQL), the group-commit writers |
//! | [`expr`], [`limits`], [`time`], [`clock`], [`secrets`], [`telemetry`] | leaves: the expression language, the host's own limits, dates, the clock, redaction, metrics |
//!
//! Direction of use: `api -> engine -> (records, services) -> (sandbox, store) -> leaves`.
//! `records` and `services` never use the executor: the engine hands their backends to steps
//! and turns their events into executions (`records` borrows only the engine's error type and
//! the definitions' shared names). No file imports one that imports it back.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use flowbox::sandbox::{Grants, Limits, Sandbox, SandboxConfig, StepRequest};
//!
//! let sandbox = Sandbox::new(SandboxConfig::default())?;
//! let bytes = std::fs::read("target/wasm/increment.wasm")?;
//! let module = sandbox.load(&bytes, &Grants::none())?;
//! let outcome = sandbox.run(&module, StepRequest::new(r#"{"n": 1}"#)).await;
//! assert_eq!(outcome.result?, serde_json::json!({"n": 2}));
//! # Ok(()) }
//! ```

pub mod api;
pub mod clock;
pub mod engine;
pub mod expr;
pub mod limits;
pub mod records;
pub mod sandbox;
pub mod secrets;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod time;

/// Make ring the process's TLS provider (HTTP clients, SMTP). Every TLS client needs one;
/// installing it again is a no-op.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
