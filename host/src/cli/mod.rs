//! Command definitions and dispatch.

mod client;
mod serve;
mod step;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: the step ran and failed (trap, limit, step error, bad output).
pub const EXIT_STEP_FAILED: u8 = 1;
/// Exit code: bad arguments or input (clap also uses 2).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the component could not be loaded (not a component, wrong exports, ungranted imports).
pub const EXIT_LOAD: u8 = 3;
/// Exit code: flowbox itself failed.
pub const EXIT_INTERNAL: u8 = 4;

/// flowbox: an automation engine whose steps run as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "flowbox", version, about)]
pub struct Cli {
    /// Where compiled components are cached [default: ~/.cache/flowbox/compiled].
    #[arg(long, global = true, env = "FLOWBOX_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not read or write the compiled-component cache.
    #[arg(long, global = true)]
    no_cache: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine and its HTTP API.
    Serve(serve::ServeArgs),
    /// Inspect and run step components locally; upload them to a server.
    #[command(subcommand)]
    Step(step::StepCommand),
    /// Manage workflow definitions on a server.
    Workflow {
        #[command(flatten)]
        server: client::ServerArg,
        #[command(subcommand)]
        command: client::WorkflowCommand,
    },
    /// Start an execution of a workflow on a server (and wait for it).
    Run {
        #[command(flatten)]
        server: client::ServerArg,
        #[command(flatten)]
        args: client::RunArgs,
    },
    /// Show, list and control executions on a server.
    Execution {
        #[command(flatten)]
        server: client::ServerArg,
        #[command(subcommand)]
        command: client::ExecutionCommand,
    },
}

/// Run the parsed command; errors are printed as one line on stderr.
pub async fn run(cli: Cli) -> ExitCode {
    let cache = CacheChoice {
        dir: cli.cache_dir,
        disabled: cli.no_cache,
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(args, &cache).await,
        Command::Step(step::StepCommand::Upload(args)) => client::upload(args).await,
        Command::Step(cmd) => step::run(cmd, &cache).await,
        Command::Workflow { server, command } => client::workflow(command, &server).await,
        Command::Run { server, args } => client::run(args, &server).await,
        Command::Execution { server, command } => client::execution(command, &server).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Where the CLI keeps compiled components.
#[derive(Debug)]
struct CacheChoice {
    dir: Option<PathBuf>,
    disabled: bool,
}

impl CacheChoice {
    fn apply(&self, config: &mut flowbox::sandbox::SandboxConfig) {
        if self.disabled {
            config.cache_dir = None;
        } else if let Some(dir) = &self.dir {
            config.cache_dir = Some(dir.clone());
        }
    }
}

/// A failed command: the one line to print and the exit code.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}
