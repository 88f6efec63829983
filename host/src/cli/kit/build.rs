//! `flowbox step build`: one project to `target/NAME.wasm`, with the toolchain it needs
//! installed first (idempotently).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::{Language, Project};
use crate::cli::{EXIT_FAILED, Failure};

/// Installs Debian's rustc-web route for wasm32-wasip2 if it is missing (a no-op otherwise).
const RUST_TOOLCHAIN: &str = include_str!("../../../../scripts/guest-toolchain.sh");

/// Variables a surrounding cargo (a `cargo test`, a `cargo run`) sets that must not leak into
/// the guest build, which uses another compiler.
const OUTER_CARGO: &[&str] = &[
    "CARGO",
    "RUSTC",
    "RUSTDOC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
];

/// Build the project in `dir`; returns it and where the component is.
pub(crate) fn build(dir: &Path) -> Result<(Project, PathBuf), Failure> {
    let project = Project::open(dir)?;
    let started = Instant::now();
    match project.manifest.language {
        Language::Rust => build_rust(&project)?,
        Language::Python | Language::Js => {
            if !super::componentize::build(&project)? {
                let wasm = project.wasm();
                eprintln!("{} is up to date", wasm.display());
                return Ok((project, wasm));
            }
        }
    }
    let wasm = project.wasm();
    let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "built {} ({} KiB) in {:.1} s",
        wasm.display(),
        size / 1024,
        started.elapsed().as_secs_f64()
    );
    Ok((project, wasm))
}

fn run(what: &str, cmd: &mut Command) -> Result<(), Failure> {
    let status = cmd
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| Failure::new(EXIT_FAILED, format!("error: cannot run {what}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::new(
            EXIT_FAILED,
            format!("error: {what} failed ({status})"),
        ))
    }
}

fn build_rust(project: &Project) -> Result<(), Failure> {
    // Output of the installer goes to stderr: stdout stays the command's own.
    let mut install = Command::new("bash");
    install.arg("-c").arg(RUST_TOOLCHAIN).stdout(Stdio::null());
    run("the guest toolchain install (apt)", &mut install)?;

    let target = project.dir.join("target");
    // Projects may share their compiled dependencies (std rebuilt for the target, the SDK's
    // crates): the first build of a project then takes seconds, not minutes.
    let cargo_target = std::env::var_os("FLOWBOX_STEP_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("cargo"));
    let mut cargo = Command::new("/usr/bin/cargo");
    for var in OUTER_CARGO {
        cargo.env_remove(var);
    }
    cargo
        .current_dir(&project.dir)
        .env("RUSTC", "/usr/bin/rustc")
        .env("RUSTDOC", "/usr/bin/rustdoc")
        .env("RUSTC_BOOTSTRAP", "1")
        .env(
            "RUSTFLAGS",
            "-C link-self-contained=no -L native=/usr/lib/wasm32-wasi",
        )
        .env("CARGO_TARGET_DIR", &cargo_target)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-Zbuild-std=std,panic_abort",
            "--manifest-path",
        ])
        .arg(project.dir.join("Cargo.toml"));
    run("cargo build", &mut cargo)?;
    let built = cargo_target
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", project.manifest.name));
    let out = project.wasm();
    std::fs::create_dir_all(&target).map_err(|e| {
        Failure::new(
            EXIT_FAILED,
            format!("error: cannot create {}: {e}", target.display()),
        )
    })?;
    let same = std::fs::read(&built).ok() == std::fs::read(&out).ok();
    if !same {
        std::fs::copy(&built, &out).map_err(|e| {
            Failure::new(
                EXIT_FAILED,
                format!(
                    "error: cannot copy {} to {}: {e}",
                    built.display(),
                    out.display()
                ),
            )
        })?;
    }
    Ok(())
}
