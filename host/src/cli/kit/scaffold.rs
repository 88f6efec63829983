//! `flowbox step new`: a standalone step project, with everything it needs to build copied out
//! of the binary (the WIT contract, the SDK, a lock file of known-good versions).

use std::path::{Path, PathBuf};

use clap::Args;

use super::sdk::{JS_SDK, PYTHON_SDK, RUST_SDK, WIT};
use super::{Language, check_name};
use crate::cli::{EXIT_FAILED, EXIT_USAGE, Failure};

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The step's name (what it is uploaded as): a-z, 0-9 and `_`.
    name: String,
    /// The language of the step.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Language,
    /// The folder to create [default: NAME]; it must not exist.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The versions the built-in steps build with: a new project starts from them, so its first
/// build needs nothing the machine has not fetched already (cargo drops what it does not use).
const RUST_LOCK: &str = include_str!("../../../../steps/Cargo.lock");

const RUST_SDK_MANIFEST: &str = r#"# The flowbox Rust SDK, copied here by `flowbox step new` (flowbox VERSION).
[package]
name = "flowbox-guest"
version = "0.1.0"
edition = "2024"
license = "Apache-2.0"

[dependencies]
serde = { version = "1", features = ["derive"] }
serde_json = "1"
wit-bindgen = "0.63"
"#;

const RUST_MANIFEST: &str = r#"[package]
name = "NAME"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
flowbox-guest = { path = "sdk/flowbox-guest" }

# A project of its own, not a member of any workspace around it.
[workspace]

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
# Keep the name section: traps then show the step's function names.
strip = "debuginfo"
"#;

const RUST_STEP: &str = r#"//! NAME: a flowbox step. `flowbox step build` makes target/NAME.wasm, `flowbox step test` runs
//! tests.yaml against it, `flowbox step upload NAME .` puts it on a server.
use flowbox_guest::{Context, StepError, Value, export_step, json, log};

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let name = input["name"]
        .as_str()
        .ok_or_else(|| StepError::invalid_input("`name` must be a string"))?;
    log::info(&format!("greeting {name} from step {}", ctx.step_id));
    Ok(json!({ "greeting": format!("Hello, {name}!") }))
}

export_step!(run);
"#;

const MANIFEST: &str = r#"# What this step is and what it asks for. `flowbox step upload NAME .` grants exactly these
# capabilities, so what the module may do is reviewed where it is declared.
name = "NAME"
language = "LANG"
# The capabilities its code uses: log, variables, records, files, teams, email, http, llm, audio,
# clock. A module that imports one not listed here is refused at upload.
capabilities = ["log"]
# With "http": the hosts it may call (`host`, `host:port`, `*.domain`).
http_hosts = []

# Limits for `flowbox step test` (a workflow sets its own for each step, within the server's).
[limits]
fuel = 100_000_000
memory_mb = 64
timeout_ms = 5_000
"#;

const TESTS: &str = r#"# The cases `flowbox step test` runs in the local sandbox: each input, and the output (or the
# error) it must give. Capabilities are fakes fed from here: `variables` (for every case, or per
# case), `records` (what records.get answers, by "object/id"), `teams` (members, in rotation
# order), `http` (answers by method and URL:
#   - { method: GET, url: "https://api.example.com/v1/x", status: 200, body: { ok: true } }).
# Anything else the step calls is refused.
variables: {}
records: {}
teams: {}
http: []
cases:
  - name: greets by name
    input: { name: Ada }
    output: { greeting: "Hello, Ada!" }
  - name: refuses an input without a name
    input: {}
    error: { code: invalid_input, message: "`name` must be a string" }
"#;

const PYTHON_STEP: &str = r#""""NAME: a flowbox step. `flowbox step build` makes target/NAME.wasm, `flowbox step test`
runs tests.yaml against it, `flowbox step upload NAME .` puts it on a server.

The component imports only the host interfaces this code names (flowbox.log, flowbox.records,
flowbox.http, ...): list the same ones in step.toml's capabilities.
"""
import flowbox


def run(input, ctx):
    name = input.get("name") if isinstance(input, dict) else None
    if not isinstance(name, str):
        raise flowbox.InvalidInput("`name` must be a string")
    flowbox.log.info(f"greeting {name} from step {ctx.step_id}")
    return {"greeting": f"Hello, {name}!"}
"#;

const JS_STEP: &str = r#"// NAME: a flowbox step. `flowbox step build` makes target/NAME.wasm, `flowbox step test` runs
// tests.yaml against it, `flowbox step upload NAME .` puts it on a server.
//
// The component imports only the host interfaces this code names (log, records, http, ... from
// 'flowbox'): list the same ones in step.toml's capabilities.
import { log, InvalidInput } from 'flowbox';

export async function run(input, ctx) {
  const name = input?.name;
  if (typeof name !== 'string') throw new InvalidInput('`name` must be a string');
  log.info(`greeting ${name} from step ${ctx.stepId}`);
  return { greeting: `Hello, ${name}!` };
}
"#;

/// Write the project; refuses an existing folder rather than touch it.
pub(crate) fn new(args: NewArgs) -> Result<(), Failure> {
    check_name(&args.name)?;
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "error: {} already exists; pick another name or --dir",
                dir.display()
            ),
        ));
    }
    let name = args.name.as_str();
    let mut files: Vec<(PathBuf, String)> = vec![
        (
            "step.toml".into(),
            MANIFEST
                .replace("NAME", name)
                .replace("LANG", args.lang.as_str()),
        ),
        ("tests.yaml".into(), TESTS.to_string()),
        ("wit/step.wit".into(), WIT.to_string()),
    ];
    let source = match args.lang {
        Language::Rust => {
            files.extend([
                ("Cargo.toml".into(), RUST_MANIFEST.replace("NAME", name)),
                ("Cargo.lock".into(), RUST_LOCK.to_string()),
                ("src/lib.rs".into(), RUST_STEP.replace("NAME", name)),
                (".gitignore".into(), "/target\n".to_string()),
                (
                    "sdk/flowbox-guest/Cargo.toml".into(),
                    RUST_SDK_MANIFEST.replace("VERSION", env!("CARGO_PKG_VERSION")),
                ),
            ]);
            for (file, text) in RUST_SDK {
                // In the repository the SDK reads `wit/` beside it; here it is the project's.
                let text = text.replace("path: \"../wit\"", "path: \"../../wit\"");
                files.push((Path::new("sdk/flowbox-guest/src").join(file), text));
            }
            "src/lib.rs"
        }
        Language::Python => {
            files.extend([
                ("step.py".into(), PYTHON_STEP.replace("NAME", name)),
                (".gitignore".into(), "/target\n__pycache__/\n".to_string()),
            ]);
            for (file, text) in PYTHON_SDK {
                files.push((Path::new("sdk/flowbox").join(file), text.to_string()));
            }
            "step.py"
        }
        Language::Js => {
            files.extend([
                ("step.js".into(), JS_STEP.replace("NAME", name)),
                (".gitignore".into(), "/target\n".to_string()),
            ]);
            for (file, text) in JS_SDK {
                files.push((Path::new("sdk/flowbox").join(file), text.to_string()));
            }
            "step.js"
        }
    };
    for (file, text) in files {
        let path = dir.join(&file);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        written.map_err(|e| {
            Failure::new(
                EXIT_FAILED,
                format!("error: cannot write {}: {e}", path.display()),
            )
        })?;
    }
    println!(
        "created a {} step project in {}",
        args.lang.title(),
        dir.display()
    );
    println!("  {source:<12} the step: greets input.name");
    println!("  step.toml    its name and the capabilities it asks for");
    println!("  tests.yaml   inputs and the outputs they must give");
    println!("  sdk/         the flowbox SDK it builds with");
    println!(
        "next: cd {} && flowbox step build && flowbox step test",
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_vendored_sdk_reads_the_projects_wit() {
        let lib = super::RUST_SDK[0].1;
        assert!(
            lib.contains("path: \"../wit\""),
            "the rewrite in `new` must still match"
        );
    }
}
