//! The cost of a Python code step: the runner (a pre-initialised CPython component) gets a
//! fresh instance per call, like every step, and the code is compiled by the interpreter inside
//! it on each call.
//!
//! - `compile`: turning the 25 MB component into machine code, once per component (then cached
//!   on disk by its hash);
//! - `load`: reading it back from that cache, in a new process;
//! - `first call`: the first call after a load (the instance pool's slot is fresh);
//! - `warm call`: every later call.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use flowbox::engine::definition::python_limits;
use flowbox::sandbox::{Capability, Grants, Sandbox, SandboxConfig, StepRequest};

use crate::stats::{Latencies, micros};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Python runner component.
    #[arg(long, default_value = "target/wasm/python.wasm")]
    component: PathBuf,
    /// Warm calls per code (after 100 warm-up calls).
    #[arg(long, default_value_t = 2_000)]
    iters: usize,
    /// Fresh loads from the disk cache, for the first-call figures.
    #[arg(long, default_value_t = 20)]
    loads: usize,
}

/// The codes measured: a trivial one, and one that works a little.
const CODES: &[(&str, &str)] = &[
    ("trivial", "outputs['n'] = inputs['n'] + 1"),
    (
        "json+pytz",
        "import json, pytz, datetime\n\
         t = datetime.datetime(2026, 1, 1, tzinfo=pytz.utc).astimezone(pytz.timezone('Asia/Tokyo'))\n\
         rows = [{'i': i, 'sq': i * i} for i in range(100)]\n\
         outputs['when'] = t.isoformat()\n\
         outputs['sum'] = sum(r['sq'] for r in json.loads(json.dumps(rows)))",
    ),
];

fn request(code: &str) -> StepRequest {
    let mut r = StepRequest::new(serde_json::json!({"code": code, "inputs": {"n": 1}}).to_string());
    r.limits = python_limits();
    r
}

fn grants() -> Grants {
    [
        Capability::Log,
        Capability::Variables,
        Capability::Records,
        Capability::Http,
        Capability::Clock,
    ]
    .into_iter()
    .collect()
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.component).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (run scripts/build-guests.sh)",
            args.component.display()
        )
    })?;
    let cache = std::env::temp_dir().join(format!("flowbox-bench-python-{}", std::process::id()));
    let config = || SandboxConfig {
        cache_dir: Some(cache.clone()),
        ..SandboxConfig::default()
    };
    println!(
        "component: {} ({} bytes), fuel on, limits 1 GiB / 30 s",
        args.component.display(),
        bytes.len()
    );

    let t = Instant::now();
    let sandbox = Sandbox::new(config())?;
    sandbox.load(&bytes, &grants())?;
    println!(
        "compile (once per component):   {:>8.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let mut loads = Vec::new();
    let mut firsts = Vec::new();
    for _ in 0..args.loads {
        let t = Instant::now();
        let sandbox = Sandbox::new(config())?;
        let module = sandbox.load(&bytes, &grants())?;
        loads.push(t.elapsed());
        let t = Instant::now();
        sandbox.run(&module, request(CODES[0].1)).await.result?;
        firsts.push(t.elapsed());
    }
    let loads = Latencies::new(loads);
    println!(
        "load from the disk cache:       {:>8.1} ms p50, {:.1} ms p99 ({} loads)",
        millis(loads.quantile(0.5)),
        millis(loads.quantile(0.99)),
        args.loads
    );
    let firsts = Latencies::new(firsts);
    println!(
        "first call after a load:        {:>8.2} ms p50, {:.2} ms p99",
        millis(firsts.quantile(0.5)),
        millis(firsts.quantile(0.99)),
    );

    let sandbox = Sandbox::new(config())?;
    let module = sandbox.load(&bytes, &grants())?;
    println!(
        "{:<12} {:>9} {:>9} {:>10} {:>12}",
        "warm call", "p50 ms", "p99 ms", "calls/s", "fuel/call"
    );
    for (name, code) in CODES {
        for _ in 0..100 {
            sandbox.run(&module, request(code)).await.result?;
        }
        let mut samples = Vec::with_capacity(args.iters);
        let mut fuel = 0;
        let started = Instant::now();
        for _ in 0..args.iters {
            let t = Instant::now();
            let outcome = sandbox.run(&module, request(code)).await;
            samples.push(t.elapsed());
            fuel = outcome.fuel_used;
            outcome.result?;
        }
        let total = started.elapsed();
        let lat = Latencies::new(samples);
        println!(
            "{:<12} {:>9.2} {:>9.2} {:>10.0} {:>12}",
            name,
            micros(lat.quantile(0.5)) / 1e3,
            micros(lat.quantile(0.99)) / 1e3,
            args.iters as f64 / total.as_secs_f64(),
            fuel
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
    Ok(())
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
