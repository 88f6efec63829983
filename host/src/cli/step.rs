//! `flowbox step inspect` and `flowbox step run`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use flowbox::sandbox::{
    Capability, Grants, ImportKind, Limits, Sandbox, SandboxConfig, StepRequest,
};

use super::{CacheChoice, EXIT_FAILED, EXIT_REFUSED, EXIT_USAGE, Failure};

#[derive(Debug, Subcommand)]
pub(super) enum StepCommand {
    /// Print a component's exports, imports (the capabilities it asks for), size and hash.
    Inspect {
        /// The component (.wasm).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run a component once and print its output JSON on stdout.
    ///
    /// On failure, prints one line naming the failure and its cause on stderr and exits with
    /// 1 (the step failed, or flowbox did), 2 (bad arguments) or 4 (the component was refused:
    /// not a component, wrong exports, ungranted imports).
    Run(RunArgs),
    /// Make a step project in a new folder: the step (it greets `input.name`), `step.toml`,
    /// `tests.yaml`, the WIT contract and the SDK, ready to build anywhere on disk.
    New(super::kit::NewArgs),
    /// Build a step project into DIR/target/NAME.wasm (installing its toolchain on first use).
    Build {
        /// The project [default: .].
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Build a step project, then run its tests.yaml in the local sandbox; exits 1 if a case
    /// fails, with a diff.
    Test {
        /// The project [default: .].
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Also the steps' logs and the record writes and notifications they made.
        #[arg(long, short)]
        verbose: bool,
    },
    #[command(flatten)]
    Server(super::client::StepServerCommand),
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// The component (.wasm).
    file: PathBuf,
    /// The step's input as JSON text (`-` reads it from stdin).
    #[arg(long, default_value = "{}")]
    input: String,
    /// Fuel for the run (about one unit per wasm instruction).
    #[arg(long, default_value_t = Limits::DEFAULT_FUEL)]
    fuel: u64,
    /// Do not meter fuel at all (faster; --fuel is then ignored).
    #[arg(long)]
    no_fuel: bool,
    /// Memory limit in MiB.
    #[arg(long, default_value_t = Limits::DEFAULT_MEMORY_BYTES >> 20)]
    memory_mb: u64,
    /// Wall-time limit in milliseconds.
    #[arg(long, default_value_t = Limits::DEFAULT_TIMEOUT.as_millis() as u64)]
    timeout_ms: u64,
    /// Output size limit in KiB.
    #[arg(long, default_value_t = Limits::DEFAULT_OUTPUT_BYTES >> 10)]
    output_kb: u64,
    /// Grant a capability: log, variables, records, files, teams, email, http, llm, audio, clock (or the interface name,
    /// e.g. flowbox:step/http). Repeat for several.
    #[arg(long = "grant", value_name = "INTERFACE")]
    grants: Vec<String>,
    /// Execution variables visible to the step, as a JSON object.
    #[arg(long, default_value = "{}")]
    variables: String,
    /// Print the step's log and its resource use on stderr.
    #[arg(long, short)]
    verbose: bool,
}

pub(super) async fn run(cmd: StepCommand, cache: &CacheChoice) -> Result<(), Failure> {
    match cmd {
        StepCommand::Inspect { file, json } => inspect(&file, json, cache),
        StepCommand::Run(args) => run_step(args, cache).await,
        StepCommand::Server(cmd) => super::client::step_server(cmd).await,
        StepCommand::New(args) => super::kit::new(args),
        StepCommand::Build { dir } => super::kit::build(&dir).map(|_| ()),
        StepCommand::Test { dir, verbose } => super::kit::test(&dir, verbose, cache).await,
    }
}

fn read_component(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| {
        Failure::new(
            EXIT_USAGE,
            format!("error: cannot read {}: {e}", path.display()),
        )
    })
}

fn sandbox(cache: &CacheChoice, fuel: bool) -> Result<Sandbox, Failure> {
    let mut config = SandboxConfig {
        fuel_metering: fuel,
        max_concurrent: 4,
        ..SandboxConfig::default()
    };
    cache.apply(&mut config);
    Sandbox::new(config).map_err(|e| Failure::new(EXIT_FAILED, format!("error: {e:#}")))
}

fn inspect(file: &Path, json: bool, cache: &CacheChoice) -> Result<(), Failure> {
    let bytes = read_component(file)?;
    let sandbox = sandbox(cache, true)?;
    let info = sandbox
        .inspect(&bytes)
        .map_err(|e| Failure::new(EXIT_REFUSED, format!("error: {e}")))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info).unwrap_or_default()
        );
        return Ok(());
    }
    println!("file:    {}", file.display());
    println!("size:    {} bytes", info.size);
    println!("sha256:  {}", info.hash);
    println!("exports:");
    for e in &info.exports {
        println!("  {e}");
    }
    println!("imports:");
    for i in &info.imports {
        let what = match i.kind {
            ImportKind::Capability => "capability, needs a grant",
            ImportKind::Wasi => "WASI, locked down",
            ImportKind::Types => "types",
            ImportKind::Forbidden => "forbidden",
        };
        println!("  {} ({what})", i.name);
    }
    let caps: Vec<&str> = info.capabilities.iter().map(|c| c.name()).collect();
    println!(
        "capabilities: {}",
        if caps.is_empty() {
            "none".to_string()
        } else {
            caps.join(", ")
        }
    );
    Ok(())
}

async fn run_step(args: RunArgs, cache: &CacheChoice) -> Result<(), Failure> {
    let usage = |m: String| Failure::new(EXIT_USAGE, format!("error: {m}"));
    let grants: Grants = args
        .grants
        .iter()
        .map(|g| g.parse::<Capability>())
        .collect::<Result<_, _>>()
        .map_err(|e| usage(e.to_string()))?;
    let input = if args.input == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| usage(format!("cannot read stdin: {e}")))?
    } else {
        args.input
    };
    serde_json::from_str::<serde_json::Value>(&input)
        .map_err(|e| usage(format!("--input is not JSON: {e}")))?;
    let variables = match serde_json::from_str(&args.variables) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => return Err(usage("--variables must be a JSON object".into())),
        Err(e) => return Err(usage(format!("--variables is not JSON: {e}"))),
    };
    if args.memory_mb == 0 || args.timeout_ms == 0 {
        return Err(usage(
            "--memory-mb and --timeout-ms must be more than 0".into(),
        ));
    }

    let bytes = read_component(&args.file)?;
    let sandbox = sandbox(cache, !args.no_fuel)?;
    let module = sandbox
        .load(&bytes, &grants)
        .map_err(|e| Failure::new(EXIT_REFUSED, format!("error: {e}")))?;
    let mut request = StepRequest::new(input);
    request.context.execution_id = "cli".into();
    request.context.workflow_id = "cli".into();
    request.context.step_id = args
        .file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("step")
        .to_string();
    request.variables = std::sync::Arc::new(variables);
    request.limits = Limits {
        fuel: args.fuel,
        memory_bytes: args.memory_mb << 20,
        timeout: Duration::from_millis(args.timeout_ms),
        output_bytes: args.output_kb << 10,
    };
    let outcome = sandbox.run(&module, request).await;
    if args.verbose {
        for line in &outcome.logs {
            eprintln!("[{:?} {:?}] {}", line.source, line.level, line.message);
        }
        for (name, value) in &outcome.variable_writes {
            eprintln!("[set] {name} = {value}");
        }
        eprintln!(
            "[stats] fuel used: {}, memory peak: {} bytes, duration: {:?}",
            outcome.fuel_used, outcome.memory_peak, outcome.duration
        );
    }
    match outcome.result {
        Ok(output) => {
            println!("{output}");
            Ok(())
        }
        Err(failure) => Err(Failure::new(EXIT_FAILED, format!("error: {failure}"))),
    }
}
