//! The cost of a code step (Python or JavaScript): the runner (a pre-initialised interpreter
//! component) gets a fresh instance per call, like every step, and the code is compiled by the
//! interpreter inside it on each call.
//!
//! - `compile`: turning the 25 MB component into machine code, once per component (then cached
//!   on disk by its hash);
//! - `load`: reading it back from that cache, in a new process;
//! - `first call`: the first call after a load (the instance pool's slot is fresh);
//! - `warm call`: every later call.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flowbox::engine::definition::CodeLanguage;
use flowbox::sandbox::{Capability, Grants, Sandbox, SandboxConfig, StepRequest};

use crate::stats::{Latencies, micros};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Language {
    Python,
    Javascript,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The language: its runner is target/wasm/<language>.wasm.
    #[arg(long, value_enum, default_value = "python")]
    language: Language,
    /// The runner component (default: target/wasm/<language>.wasm).
    #[arg(long)]
    component: Option<PathBuf>,
    /// Warm calls per code (after 100 warm-up calls).
    #[arg(long, default_value_t = 2_000)]
    iters: usize,
    /// Fresh loads from the disk cache, for the first-call figures.
    #[arg(long, default_value_t = 20)]
    loads: usize,
}

/// The codes measured, per language: a trivial one, and one that works a little.
const PYTHON: &[(&str, &str)] = &[
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
const JAVASCRIPT: &[(&str, &str)] = &[
    ("trivial", "outputs.n = inputs.n + 1;"),
    (
        "json+dates",
        "const rows = Array.from({length: 100}, (_, i) => ({i, sq: i * i}));\n\
         outputs.when = new Date(Date.UTC(2026, 0, 1)).toISOString();\n\
         outputs.sum = JSON.parse(JSON.stringify(rows)).reduce((a, r) => a + r.sq, 0);",
    ),
];

fn request(language: CodeLanguage, code: &str) -> StepRequest {
    let mut r = StepRequest::new(serde_json::json!({"code": code, "inputs": {"n": 1}}).to_string());
    r.limits = language.limits();
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

impl Language {
    fn code(self) -> (CodeLanguage, &'static [(&'static str, &'static str)]) {
        match self {
            Language::Python => (CodeLanguage::Python, PYTHON),
            Language::Javascript => (CodeLanguage::JavaScript, JAVASCRIPT),
        }
    }

    /// The runner's component as `scripts/build-guests.sh` builds it.
    pub fn runner(self) -> PathBuf {
        PathBuf::from(format!("target/wasm/{}.wasm", self.code().0.runner()))
    }

    /// The runner's request for the trivial code, and the grants the runner is loaded with.
    pub fn trivial(self) -> (StepRequest, Grants) {
        let (language, codes) = self.code();
        (request(language, codes[0].1), grants())
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (language, codes) = args.language.code();
    let component = args
        .component
        .clone()
        .unwrap_or_else(|| args.language.runner());
    let cases = codes
        .iter()
        .map(|&(name, code)| (name, request(language, code)))
        .collect();
    measure(&component, &grants(), cases, args.iters, args.loads).await
}

/// Compile, load from the disk cache, first call after a load, warm calls (the first case is
/// the one the first calls run).
pub async fn measure(
    component: &Path,
    grants: &Grants,
    cases: Vec<(&str, StepRequest)>,
    iters: usize,
    loads: usize,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(component).map_err(|e| {
        anyhow::anyhow!("{}: {e} (run scripts/build-guests.sh)", component.display())
    })?;
    let cache = std::env::temp_dir().join(format!("flowbox-bench-code-{}", std::process::id()));
    let config = || SandboxConfig {
        cache_dir: Some(cache.clone()),
        ..SandboxConfig::default()
    };
    println!(
        "component: {} ({} bytes), fuel on",
        component.display(),
        bytes.len()
    );

    let t = Instant::now();
    let sandbox = Sandbox::new(config())?;
    sandbox.load(&bytes, grants)?;
    println!(
        "compile (once per component):   {:>8.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let mut load_times = Vec::new();
    let mut firsts = Vec::new();
    for _ in 0..loads {
        let t = Instant::now();
        let sandbox = Sandbox::new(config())?;
        let module = sandbox.load(&bytes, grants)?;
        load_times.push(t.elapsed());
        let t = Instant::now();
        sandbox.run(&module, cases[0].1.clone()).await.result?;
        firsts.push(t.elapsed());
    }
    let load_times = Latencies::new(load_times);
    println!(
        "load from the disk cache:       {:>8.1} ms p50, {:.1} ms p99 ({} loads)",
        millis(load_times.quantile(0.5)),
        millis(load_times.quantile(0.99)),
        loads
    );
    let firsts = Latencies::new(firsts);
    println!(
        "first call after a load:        {:>8.2} ms p50, {:.2} ms p99",
        millis(firsts.quantile(0.5)),
        millis(firsts.quantile(0.99)),
    );

    let sandbox = Sandbox::new(config())?;
    let module = sandbox.load(&bytes, grants)?;
    println!(
        "{:<12} {:>9} {:>9} {:>10} {:>12}",
        "warm call", "p50 ms", "p99 ms", "calls/s", "fuel/call"
    );
    for (name, req) in cases {
        for _ in 0..100 {
            sandbox.run(&module, req.clone()).await.result?;
        }
        let mut samples = Vec::with_capacity(iters);
        let mut fuel = 0;
        let started = Instant::now();
        for _ in 0..iters {
            let t = Instant::now();
            let outcome = sandbox.run(&module, req.clone()).await;
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
            iters as f64 / total.as_secs_f64(),
            fuel
        );
    }
    let _ = std::fs::remove_dir_all(&cache);
    Ok(())
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
