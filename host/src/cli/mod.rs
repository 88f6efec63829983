//! Command definitions and dispatch.

mod client;
mod kit;
mod serve;
mod step;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use client::ClientArgs;

/// Exit code: a step or an execution failed, or flowbox did.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad arguments or input (clap also uses 2).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: what the command names does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// Exit code: refused: no valid token, a role too low, a conflict (a kill switch, a module in
/// use), or a component that cannot be loaded.
pub const EXIT_REFUSED: u8 = 4;
/// Exit code: the server could not be reached.
pub const EXIT_UNREACHABLE: u8 = 5;

/// flowbox: an automation engine whose steps run as sandboxed WebAssembly components.
///
/// Exit codes: 0 done, 1 failed (a step, an execution, or flowbox), 2 usage (bad arguments or
/// input), 3 not found, 4 refused (token, role, conflict, component), 5 server unreachable.
#[derive(Debug, Parser)]
#[command(name = "flowbox", version, about)]
pub struct Cli {
    /// Where compiled components are cached [default: ~/.cache/flowbox/compiled].
    #[arg(long, global = true, env = "FLOWBOX_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not read or write the compiled-component cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// How log lines are written to stderr: `text` for people, `json` (one object per line)
    /// for a log pipeline. Which lines: `RUST_LOG` (default `warn`; `flowbox::access=info`
    /// adds a line per API request).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "FLOWBOX_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Whether this runs the server (the one command that makes spans to export).
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }
}

/// The log's line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine and its HTTP API.
    Serve(serve::ServeArgs),
    /// Inspect and run step components locally; upload and manage step modules on a server.
    #[command(subcommand)]
    Step(step::StepCommand),
    /// List, show, apply, switch and compare workflow definitions.
    Workflow {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::WorkflowCommand,
    },
    /// Start an execution of a workflow (and wait for it), or one per record in bulk.
    Run {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: client::RunArgs,
    },
    /// List, show, follow and control executions.
    Execution {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::ExecutionCommand,
    },
    /// Records: list, get, create, patch, archive, delete, import; their events and executions.
    Record {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::RecordCommand,
    },
    /// Object types: the typed fields records carry.
    Object {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::ObjectCommand,
    },
    /// Activities on records: log, schedule, complete.
    Activity {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::ActivityCommand,
    },
    /// Events across records: what changed, and what it started.
    Event {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::EventCommand,
    },
    /// Teams: members (round-robin), channels, notifications.
    Team {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::TeamCommand,
    },
    /// API tokens (admin).
    Token {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::TokenCommand,
    },
    /// LLM providers (admin).
    Provider {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::ProviderCommand,
    },
    /// The global kill switch (admin): pause everything at once.
    KillSwitch {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::KillSwitchCommand,
    },
    /// The audit log (admin).
    Audit {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: client::AuditCommand,
    },
    /// Check a token against a server and keep both as a profile in the config file
    /// (~/.config/flowbox/config.yaml, or FLOWBOX_CONFIG; readable by you only).
    Login(client::LoginArgs),
    /// Print a shell completion script: `source <(flowbox completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (flowbox.1 and one per command) into a folder.
    Man {
        /// The folder [default: .].
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

/// Run the parsed command; errors are printed on stderr (a message, and maybe a hint).
pub async fn run(cli: Cli) -> ExitCode {
    let cache = CacheChoice {
        dir: cli.cache_dir,
        disabled: cli.no_cache,
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(args, &cache).await,
        Command::Step(cmd) => step::run(cmd, &cache).await,
        Command::Workflow { client, command } => client::workflow(command, &client).await,
        Command::Run { client, args } => client::run(args, &client).await,
        Command::Execution { client, command } => client::execution(command, &client).await,
        Command::Record { client, command } => client::record(command, &client).await,
        Command::Object { client, command } => client::object(command, &client).await,
        Command::Activity { client, command } => client::activity(command, &client).await,
        Command::Event { client, command } => client::event(command, &client).await,
        Command::Team { client, command } => client::team(command, &client).await,
        Command::Token { client, command } => client::token(command, &client).await,
        Command::Provider { client, command } => client::provider(command, &client).await,
        Command::KillSwitch { client, command } => client::kill_switch(command, &client).await,
        Command::Audit { client, command } => client::audit(command, &client).await,
        Command::Login(args) => client::login(args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "flowbox",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man { dir } => man(&dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn man(dir: &std::path::Path) -> Result<(), Failure> {
    let failed = |e: std::io::Error| {
        Failure::new(
            EXIT_FAILED,
            format!("error: cannot write man pages into {}: {e}", dir.display()),
        )
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(failed)?;
    println!("man pages written to {}", dir.display());
    Ok(())
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

/// A failed command: what to print and the exit code.
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
