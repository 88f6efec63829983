//! flowbox's benchmarks. Run them in release mode, on an otherwise idle machine:
//!
//! ```text
//! scripts/build-guests.sh
//! cargo run --release -p flowbox-bench -- step-overhead
//! cargo run --release -p flowbox-bench -- code-step --language python
//! ```

mod code_step;
mod stats;
mod step_module;
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
    /// A code step's cost (`--language python|javascript`): compiling the runner, loading it
    /// from the cache, the first call after a load, and warm calls (p50/p99).
    CodeStep(code_step::Args),
    /// A step module's cost (a project's `target/NAME.wasm`, any language): compile, load from
    /// the cache, first call after a load, warm calls (p50/p99), fuel.
    StepModule(step_module::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::StepOverhead(args) => runtime.block_on(step_overhead::run(args)),
        Command::CodeStep(args) => runtime.block_on(code_step::run(args)),
        Command::StepModule(args) => runtime.block_on(step_module::run(args)),
    }
}
