//! flowbox's benchmarks. Run them in release mode, on an otherwise idle machine:
//!
//! ```text
//! scripts/build-guests.sh
//! cargo run --release -p flowbox-bench -- step-overhead
//! ```

mod stats;
mod step_overhead;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "flowbox-bench", about = "flowbox's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Per-step sandbox overhead (instantiate, call, drop) of a trivial step, with and without
    /// fuel, beside the raw-wasmtime floor.
    StepOverhead(step_overhead::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::StepOverhead(args) => runtime.block_on(step_overhead::run(args)),
    }
}
