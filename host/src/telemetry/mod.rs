//! Prometheus metrics: what the host counts, and the text `GET /metrics` serves.
//!
//! One recorder per process (the `metrics` facade is global), installed on first use. Labels
//! are bounded: workflow and module names, statuses, outcomes, routes; never an execution or
//! record id. Gauges of executions by status are read from the store when scraped.

pub mod traces;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, OnceLock, RwLock};
use std::time::Duration;

use metrics::{Counter, Histogram, counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds: from a sub-millisecond step to a long HTTP call.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Fuel units: a trivial Rust step uses thousands, a Python one millions.
const FUEL: &[f64] = &[1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];
/// Bytes of linear memory.
const BYTES: &[f64] = &[
    65536.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
];
/// How often histogram samples are folded in.
const UPKEEP: Duration = Duration::from_secs(5);

/// Commits per group-commit transaction.
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The process's recorder; installs it on first call. `None` if another recorder was installed
/// first (an embedding program's own): flowbox then records into that one and serves nothing.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("flowbox_step_fuel".into()), FUEL)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("flowbox_step_memory_bytes".into()),
                        BYTES,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("flowbox_commit_batch_size".into()),
                        BATCH,
                    )
                })
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            // Histogram samples wait in buckets until upkeep folds them in: without it, a
            // server nobody scrapes would keep every sample.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("flowbox-metrics".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "no metrics upkeep thread: histograms are folded in at each scrape only");
            }
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(
        "flowbox_executions_started_total",
        "Executions started, by workflow"
    );
    describe_counter!(
        "flowbox_executions_finished_total",
        "Executions that ended on this node, by workflow and final status"
    );
    describe_counter!(
        "flowbox_step_attempts_total",
        "Step module runs, by module and outcome (completed, or the failure's code)"
    );
    describe_histogram!(
        "flowbox_step_duration_seconds",
        "Step module run time, by module"
    );
    describe_histogram!(
        "flowbox_step_fuel",
        "Fuel a step module run used, by module"
    );
    describe_histogram!(
        "flowbox_step_memory_bytes",
        "Peak linear memory of a step module run, by module"
    );
    describe_counter!(
        "flowbox_http_requests_total",
        "API requests, by method, route and status"
    );
    describe_histogram!(
        "flowbox_http_request_duration_seconds",
        "API request time, by method and route"
    );
    describe_counter!(
        "flowbox_leases_taken_over_total",
        "Executions this node took over from a node that stopped (or let them go)"
    );
    describe_histogram!(
        "flowbox_timer_lateness_seconds",
        "How late a wait (a delay, a goal's deadline, a retry) was when this node claimed it, by workflow"
    );
    describe_histogram!(
        "flowbox_trigger_lag_seconds",
        "From a record event's write to its evaluation against the triggers, by object type"
    );
    describe_counter!(
        "flowbox_llm_calls_total",
        "Model calls by provider, kind (chat, transcribe) and outcome (ok, error)"
    );
    describe_counter!(
        "flowbox_llm_tokens_total",
        "Tokens spent by provider and kind (prompt, completion)"
    );
    describe_histogram!(
        "flowbox_commit_batch_size",
        "Commits per group-commit transaction"
    );
    describe_histogram!(
        "flowbox_commit_seconds",
        "Time to apply one group-commit transaction"
    );
}

/// An execution was created (queued or running).
pub fn execution_started(workflow: &str) {
    counter!("flowbox_executions_started_total", "workflow" => workflow.to_string()).increment(1);
}

/// An execution ended here with `status` (completed, failed or cancelled).
pub fn execution_finished(workflow: &str, status: &str) {
    counter!(
        "flowbox_executions_finished_total",
        "workflow" => workflow.to_string(),
        "status" => status.to_string()
    )
    .increment(1);
}

/// A module's step metrics, made once: a run then costs a few atomic operations, not a
/// lookup of each metric by its name and labels.
struct StepMetrics {
    module: String,
    completed: Counter,
    duration: Histogram,
    fuel: Histogram,
    memory: Histogram,
}

impl StepMetrics {
    fn new(module: &str) -> Self {
        let m = module.to_string();
        StepMetrics {
            completed: counter!("flowbox_step_attempts_total", "module" => m.clone(), "outcome" => "completed"),
            duration: histogram!("flowbox_step_duration_seconds", "module" => m.clone()),
            fuel: histogram!("flowbox_step_fuel", "module" => m.clone()),
            memory: histogram!("flowbox_step_memory_bytes", "module" => m.clone()),
            module: m,
        }
    }
}

/// One run of a step module; `outcome` is `completed` or the failure's code.
pub fn step_attempt(module: &str, outcome: &'static str, took: Duration, fuel: u64, memory: u64) {
    static MODULES: LazyLock<RwLock<HashMap<String, Arc<StepMetrics>>>> =
        LazyLock::new(RwLock::default);
    let known = MODULES.read().ok().and_then(|m| m.get(module).cloned());
    let metrics = match known {
        Some(m) => m,
        None => {
            let made = Arc::new(StepMetrics::new(module));
            if let Ok(mut m) = MODULES.write() {
                m.entry(module.to_string()).or_insert_with(|| made.clone());
            }
            made
        }
    };
    if outcome == "completed" {
        metrics.completed.increment(1);
    } else {
        counter!("flowbox_step_attempts_total", "module" => metrics.module.clone(), "outcome" => outcome)
            .increment(1);
    }
    metrics.duration.record(took.as_secs_f64());
    metrics.fuel.record(fuel as f64);
    metrics.memory.record(memory as f64);
}

/// One API request.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    counter!(
        "flowbox_http_requests_total",
        "method" => method.to_string(),
        "route" => route.to_string(),
        "status" => status.to_string()
    )
    .increment(1);
    histogram!(
        "flowbox_http_request_duration_seconds",
        "method" => method.to_string(),
        "route" => route.to_string()
    )
    .record(took.as_secs_f64());
}

/// Executions taken over from another node (or a previous process).
pub fn leases_taken_over(n: usize) {
    counter!("flowbox_leases_taken_over_total").increment(n as u64);
}

/// A due wait of `workflow` claimed `late` after its time.
pub fn timer_fired(workflow: &str, late: Duration) {
    histogram!("flowbox_timer_lateness_seconds", "workflow" => workflow.to_string())
        .record(late.as_secs_f64());
}

/// A record event of `object` (its type) evaluated `lag` after it was written.
pub fn trigger_evaluated(object: &str, lag: Duration) {
    histogram!("flowbox_trigger_lag_seconds", "object" => object.to_string())
        .record(lag.as_secs_f64());
}

/// One model call (its retries included) to `provider`; providers are few and named by an
/// admin, so they make a bounded label.
pub fn llm_call(provider: &str, kind: &'static str, ok: bool, prompt: u32, completion: u32) {
    counter!(
        "flowbox_llm_calls_total",
        "provider" => provider.to_string(),
        "kind" => kind,
        "outcome" => if ok { "ok" } else { "error" }
    )
    .increment(1);
    for (part, n) in [("prompt", prompt), ("completion", completion)] {
        if n > 0 {
            counter!(
                "flowbox_llm_tokens_total",
                "provider" => provider.to_string(),
                "kind" => part
            )
            .increment(u64::from(n));
        }
    }
}

/// One group-commit transaction.
pub fn commit(batch: usize, took: Duration) {
    histogram!("flowbox_commit_batch_size").record(batch as f64);
    histogram!("flowbox_commit_seconds").record(took.as_secs_f64());
}

/// The exposition text: the recorded metrics, then the store's gauge of executions by status.
pub fn render(executions: &[(&str, i64)]) -> String {
    let mut text = handle().map(|h| h.render()).unwrap_or_default();
    text.push_str(
        "# HELP flowbox_executions Unfinished executions in the store, by status (read when scraped)\n",
    );
    text.push_str("# TYPE flowbox_executions gauge\n");
    for (status, n) in executions {
        text.push_str(&format!("flowbox_executions{{status=\"{status}\"}} {n}\n"));
    }
    text
}
