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
