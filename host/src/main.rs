//! The `flowbox` command line: parse arguments, call the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use flowbox::telemetry::traces;

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let args = cli::Cli::parse();
    // The API client and the server's outgoing HTTP and SMTP all use TLS.
    flowbox::install_tls_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_FAILED);
        }
    };
    let traces = (args.serves() && traces::wanted())
        .then(|| traces::Traces::start(runtime.handle().clone()));
    let traces = match traces.transpose() {
        Ok(traces) => traces,
        Err(e) => {
            eprintln!("error: cannot export traces: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    init_logs(args.log_format, traces.as_ref());
    let code = runtime.block_on(cli::run(args));
    if let Some(traces) = traces {
        traces.shutdown();
    }
    code
}

/// Log lines to stderr, filtered by `RUST_LOG` (default `warn`); colours only on a terminal.
/// With traces, flowbox's spans also go to the exporter, whatever `RUST_LOG` says.
fn init_logs(format: cli::LogFormat, traces: Option<&traces::Traces>) {
    use std::io::IsTerminal;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        cli::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).boxed(),
        // Each line one JSON object: time, level, target, the message and fields at the top
        // level, the spans it is in.
        cli::LogFormat::Json => logs.json().flatten_event(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces.map(|t| t.layer()))
        .init();
}

/// `flowbox ... | head` closes the pipe early: printing then fails with a broken pipe, which
/// `println!` turns into a panic. That is the reader's choice, not an error: end quietly, as
/// other command-line tools do, and let every other panic report as usual.
fn quiet_on_broken_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        report(info)
    }));
}
