//! Per-step overhead: a fresh store and instance per call, as every flowbox step runs.
//!
//! Three ways, same component and input, one after the other on one thread:
//! - `floor`: raw wasmtime (pooling allocator, `InstancePre`, WASI context, typed call): the least
//!   any host can pay per isolated call;
//! - `flowbox`, `flowbox+fuel`: `Sandbox::run`, which adds limits, log capture, output checks.
//!
//! Then `flowbox+fuel` again from many tasks at once, for calls/s on every core.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowbox::sandbox::{Grants, Sandbox, SandboxConfig, StepRequest};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::stats::{Latencies, micros};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component to run (a trivial step).
    #[arg(long, default_value = "target/wasm/increment.wasm")]
    component: PathBuf,
    /// Calls per measurement (after 1,000 warm-up calls).
    #[arg(long, default_value_t = 20_000)]
    iters: usize,
    /// Tasks for the concurrent measurement.
    #[arg(long, default_value_t = 64)]
    tasks: usize,
}

const INPUT: &str = r#"{"n": 3}"#;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.component).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (run scripts/build-guests.sh)",
            args.component.display()
        )
    })?;
    println!(
        "component: {} ({} bytes), {} calls each, 1 thread",
        args.component.display(),
        bytes.len(),
        args.iters
    );
    println!(
        "{:<16} {:>9} {:>9} {:>10}",
        "mode", "p50 µs", "p99 µs", "calls/s"
    );

    report("floor", floor(&bytes, args.iters)?);
    for fuel in [false, true] {
        let sandbox = Sandbox::new(SandboxConfig {
            fuel_metering: fuel,
            cache_dir: None,
            ..SandboxConfig::default()
        })?;
        let module = sandbox.load(&bytes, &Grants::none())?;
        for _ in 0..1000 {
            sandbox.run(&module, StepRequest::new(INPUT)).await.result?;
        }
        let mut samples = Vec::with_capacity(args.iters);
        let started = Instant::now();
        for _ in 0..args.iters {
            let t = Instant::now();
            let outcome = sandbox.run(&module, StepRequest::new(INPUT)).await;
            samples.push(t.elapsed());
            outcome.result?;
        }
        report(
            if fuel { "flowbox+fuel" } else { "flowbox" },
            (samples, started.elapsed()),
        );
    }

    let sandbox = Arc::new(Sandbox::new(SandboxConfig {
        cache_dir: None,
        ..SandboxConfig::default()
    })?);
    let module = sandbox.load(&bytes, &Grants::none())?;
    let started = Instant::now();
    let per_task = args.iters / args.tasks.max(1);
    let mut handles = Vec::new();
    for _ in 0..args.tasks {
        let (sandbox, module) = (sandbox.clone(), module.clone());
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                sandbox.run(&module, StepRequest::new(INPUT)).await.result?;
            }
            anyhow::Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let calls = per_task * args.tasks;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{:<16} {:>9} {:>9} {:>10.0}   ({} tasks on {} threads)",
        "flowbox+fuel",
        "-",
        "-",
        calls as f64 / secs,
        args.tasks,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    Ok(())
}

fn report(mode: &str, (samples, total): (Vec<Duration>, Duration)) {
    let n = samples.len();
    let lat = Latencies::new(samples);
    println!(
        "{:<16} {:>9.1} {:>9.1} {:>10.0}",
        mode,
        micros(lat.quantile(0.50)),
        micros(lat.quantile(0.99)),
        n as f64 / total.as_secs_f64()
    );
}

mod raw {
    wasmtime::component::bindgen!({ world: "step", path: "../wit", imports: { default: trappable } });
}
use raw::StepPre;

struct Floor {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Floor {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn floor(bytes: &[u8], iters: usize) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let e = |e: wasmtime::Error| anyhow::anyhow!("{e:#}");
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(100)
        .total_memories(100)
        .total_tables(100)
        .total_core_instances(400);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config).map_err(e)?;
    let component = Component::new(&engine, bytes).map_err(e)?;
    let mut linker = Linker::<Floor>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(e)?;
    // The trivial step imports only WASI and types; the flowbox interfaces are left unlinked.
    linker
        .define_unknown_imports_as_traps(&component)
        .map_err(e)?;
    let pre = StepPre::new(linker.instantiate_pre(&component).map_err(e)?).map_err(e)?;
    let ctx = raw::flowbox::step::types::Context {
        execution_id: String::new(),
        workflow_id: String::new(),
        step_id: String::new(),
        attempt: 1,
        record: None,
    };
    let mut samples = Vec::with_capacity(iters);
    let mut started = Instant::now();
    for i in 0..iters + 1000 {
        if i == 1000 {
            samples.clear();
            started = Instant::now();
        }
        let t = Instant::now();
        let mut store = Store::new(
            &engine,
            Floor {
                wasi: WasiCtxBuilder::new().build(),
                table: ResourceTable::new(),
            },
        );
        let step = pre.instantiate(&mut store).map_err(e)?;
        let out = step.call_run(&mut store, &ctx, INPUT).map_err(e)?;
        anyhow::ensure!(out.is_ok(), "floor call failed: {out:?}");
        drop(store);
        samples.push(t.elapsed());
    }
    Ok((samples, started.elapsed()))
}
