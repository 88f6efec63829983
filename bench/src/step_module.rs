//! A step module's cost, as a project built with `flowbox step build` (any language): compiling
//! it, loading it from the disk cache, the first call after a load, warm calls. The same
//! figures as `code-step`, so a Python or JavaScript module can be set beside the code-step
//! runner of its language.

use std::path::PathBuf;
use std::time::Instant;

use flowbox::sandbox::{Capability, Grants, Sandbox, SandboxConfig, StepRequest};

use crate::code_step::Language;
use crate::stats::{Latencies, micros};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component (`target/NAME.wasm` of a step project).
    #[arg(long)]
    component: PathBuf,
    /// The input of every call.
    #[arg(long, default_value = r#"{"name": "Ada"}"#)]
    input: String,
    /// A capability to grant (repeat); default: log.
    #[arg(long = "grant", value_parser = parse_capability)]
    grants: Vec<Capability>,
    /// Warm calls (after 100 warm-up calls).
    #[arg(long, default_value_t = 2_000)]
    iters: usize,
    /// Fresh loads from the disk cache, for the first-call figures.
    #[arg(long, default_value_t = 20)]
    loads: usize,
    /// Also time the module against this language's code-step runner (its trivial code), in
    /// alternating blocks of calls in one process, so that both meet the same machine.
    #[arg(long, value_enum)]
    beside: Option<Language>,
}

fn parse_capability(s: &str) -> Result<Capability, String> {
    s.parse::<Capability>().map_err(|e| e.to_string())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let grants: Grants = if args.grants.is_empty() {
        [Capability::Log].into_iter().collect()
    } else {
        args.grants.iter().copied().collect()
    };
    let cases = vec![("trivial", StepRequest::new(args.input.clone()))];
    crate::code_step::measure(&args.component, &grants, cases, args.iters, args.loads).await?;
    if let Some(language) = args.beside {
        side_by_side(&args, &grants, language).await?;
    }
    Ok(())
}

/// The module's trivial call and the runner's, alternating in blocks of 50 calls: the p50 of
/// one run of a benchmark moves by 20% or more between runs on this machine, more than the gap
/// being measured, while alternating blocks share every slowdown. Fuel is exact either way.
async fn side_by_side(args: &Args, grants: &Grants, language: Language) -> anyhow::Result<()> {
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    };
    let module = sandbox.load(&read(&args.component)?, grants)?;
    let (runner_request, runner_grants) = language.trivial();
    let runner = sandbox.load(&read(&language.runner())?, &runner_grants)?;
    let request = StepRequest::new(args.input.clone());
    let sides = [
        ("module", &module, &request),
        ("runner", &runner, &runner_request),
    ];
    let mut samples = [Vec::new(), Vec::new()];
    let mut fuel = [0; 2];
    for block in 0..(args.iters / 50).max(1) + 2 {
        for (i, (_, m, req)) in sides.iter().enumerate() {
            for _ in 0..50 {
                let t = Instant::now();
                let outcome = sandbox.run(m, (*req).clone()).await;
                // The first two blocks warm both up.
                if block >= 2 {
                    samples[i].push(t.elapsed());
                }
                fuel[i] = outcome.fuel_used;
                outcome.result?;
            }
        }
    }
    println!(
        "beside the {language:?} runner, alternating blocks of 50 calls ({} each):",
        samples[0].len()
    );
    let mut p50 = [0.0; 2];
    for (i, (name, _, _)) in sides.iter().enumerate() {
        let lat = Latencies::new(std::mem::take(&mut samples[i]));
        p50[i] = micros(lat.quantile(0.5)) / 1e3;
        println!(
            "  {name:<8} {:>7.2} ms p50 {:>7.2} ms p99 {:>10} fuel/call",
            p50[i],
            micros(lat.quantile(0.99)) / 1e3,
            fuel[i]
        );
    }
    println!(
        "  module / runner: {:.2}x the time at p50, {:.2}x the fuel",
        p50[0] / p50[1],
        fuel[0] as f64 / fuel[1] as f64
    );
    Ok(())
}
