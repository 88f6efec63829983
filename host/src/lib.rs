//! flowbox: an automation engine whose steps run as sandboxed WebAssembly components.
//!
//! This crate is the host. Its [`sandbox`] runs one step component with fuel, memory, time and
//! output limits, granting it only the capabilities (WIT interfaces) its module was given.
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
pub mod limits;
pub mod sandbox;
pub mod secrets;
pub mod store;

/// Make ring the process's TLS provider (HTTP clients, SMTP). Every TLS client needs one;
/// installing it again is a no-op.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
