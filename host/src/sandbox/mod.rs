//! The step sandbox: runs one step component with fuel, memory, time and output limits.
//!
//! Every run gets a fresh store and instance (from the pooling allocator, instantiated from an
//! `InstancePre` cached by the component's content hash), so nothing leaks from one run to the
//! next. A step reaches the world only through the `flowbox:step` imports its module was
//! granted, and WASI linked with an empty context.
//!
//! Limits and how they are enforced:
//! - fuel: wasmtime fuel metering (the engine can be built without it for speed);
//! - memory: a resource limiter that traps on growth past the limit;
//! - time: epoch interruption, ticked by a background thread every [`SandboxConfig::epoch_tick`],
//!   plus a timer around host calls; a running step also yields to the async runtime every tick,
//!   so a long step never holds a worker thread;
//! - output: the returned JSON text is measured before it is parsed.

mod bindings;
mod capabilities;
mod config;
mod error;
mod output;
mod pool;
mod registry;
mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};

pub use self::capabilities::{
    AudioBackend, Backends, Capability, ChatMessage, ChatRequest, ChatResponse, EmailBackend,
    EmailMessage, FileInfo, FilesBackend, Grants, HostError, HttpBackend, HttpRequest,
    HttpResponse, LlmBackend, LogLevel, LogLine, LogSource, RecordsBackend, TeamsBackend,
    Transcription, TranscriptionRequest, UnknownCapability,
};
pub use self::config::{Limits, SandboxConfig};
pub use self::error::{GuestErrorKind, LoadError, StepFailure};
pub use self::pool::PoolNeeds;
pub use self::registry::{ImportInfo, ImportKind, ModuleInfo, StepModule, content_hash};

use self::bindings::flowbox::step::types as wit;
use self::capabilities::LogBuffer;
use self::registry::Registry;
use self::state::{MemoryLimitHit, StepState};

/// A reference to one record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordRef {
    /// The object type.
    pub object: String,
    /// The record's id.
    pub id: String,
}

impl From<wit::RecordRef> for RecordRef {
    fn from(r: wit::RecordRef) -> Self {
        RecordRef {
            object: r.object,
            id: r.id,
        }
    }
}

impl From<RecordRef> for wit::RecordRef {
    fn from(r: RecordRef) -> Self {
        wit::RecordRef {
            object: r.object,
            id: r.id,
        }
    }
}

/// Where a step runs; passed to the step as its `context`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepContext {
    /// The execution.
    pub execution_id: String,
    /// The workflow.
    pub workflow_id: String,
    /// The step's id in the workflow.
    pub step_id: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// The record, for a record-scoped execution.
    pub record: Option<RecordRef>,
}

/// One run of a step: its input, context, the execution's variables, limits and backends.
#[derive(Debug, Clone)]
pub struct StepRequest {
    /// The input, as JSON text.
    pub input: String,
    /// Where the step runs.
    pub context: StepContext,
    /// The execution's variables as the step starts.
    pub variables: Arc<Map<String, Value>>,
    /// Limits for this run.
    pub limits: Limits,
    /// Backends for records, http and llm.
    pub backends: Backends,
}

impl StepRequest {
    /// A request with default limits, an empty context and no variables or backends.
    pub fn new(input: impl Into<String>) -> Self {
        StepRequest {
            input: input.into(),
            context: StepContext {
                attempt: 1,
                ..StepContext::default()
            },
            variables: Arc::default(),
            limits: Limits::default(),
            backends: Backends::default(),
        }
    }
}

/// What a run produced: the result and everything the history keeps about it.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// The output, or why there is none.
    pub result: Result<Value, StepFailure>,
    /// The step's log: `log` lines, then captured stdout and stderr.
    pub logs: Vec<LogLine>,
    /// Variables the step set; to be committed with its result (discarded if it failed).
    pub variable_writes: Vec<(String, Value)>,
    /// Fuel consumed (0 when the sandbox does not meter fuel).
    pub fuel_used: u64,
    /// The largest linear memory the step grew to, in bytes.
    pub memory_peak: u64,
    /// Wall time of the run, instantiation included.
    pub duration: Duration,
}

/// The wasmtime engine, the linker with every host interface, and the component registry.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<StepState>,
    registry: Registry,
    room: pool::PoolRoom,
    config: SandboxConfig,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.config)
            .finish()
    }
}

/// Bytes of each linear memory and table kept mapped between steps and reset in place.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// Fuel between two yields to the async runtime, when fuel is metered.
const FUEL_YIELD_INTERVAL: u64 = 10_000_000;

impl Sandbox {
    /// Build the engine (pooling allocator, fuel, epochs) and the linker, and start the epoch
    /// ticker thread (it stops when the sandbox is dropped).
    pub fn new(config: SandboxConfig) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        let n = config.max_concurrent;
        // A Rust step is one component instance with a handful of core instances; a Python step
        // has a few dozen. Slots are virtual memory until used; `pool::PoolRoom` makes each step
        // wait for the room its component takes.
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(pool::CORE_INSTANCES_PER_SLOT))
            .total_memories(n.saturating_mul(pool::MEMORIES_PER_SLOT))
            .total_tables(n.saturating_mul(pool::TABLES_PER_SLOT))
            .total_stacks(n)
            .max_core_instances_per_component(pool::MAX_CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(pool::MAX_MEMORIES_PER_COMPONENT)
            .max_tables_per_component(pool::MAX_TABLES_PER_COMPONENT)
            .max_memory_size(config.max_memory_bytes as usize)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            // Reset a used slot by rewriting only its resident pages (found with the PAGEMAP_SCAN
            // ioctl where the kernel has it) instead of madvise: madvise costs a TLB shootdown
            // across every core per step, which dominated per-step time.
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES)
            .pagemap_scan(Enabled::Auto);

        let mut wasm = Config::new();
        wasm.consume_fuel(config.fuel_metering)
            .epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm)
            .map_err(|e| anyhow::anyhow!("cannot build the wasm engine: {e:#}"))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        bindings::Step::add_to_linker::<_, HasSelf<StepState>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;

        spawn_epoch_ticker(&engine, config.epoch_tick);
        let registry = Registry::new(&engine, config.cache_dir.clone());
        Ok(Sandbox {
            engine,
            linker,
            registry,
            room: pool::PoolRoom::new(n),
            config,
        })
    }

    /// The configuration the sandbox was built with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Validate and compile a component (cached by content hash) and describe it.
    pub fn inspect(&self, bytes: &[u8]) -> Result<ModuleInfo, LoadError> {
        self.registry.inspect(&self.engine, &self.linker, bytes)
    }

    /// Load a component as a step with the given grants. Fails if it is not a step component or
    /// imports a capability it was not granted (the error lists them).
    pub fn load(&self, bytes: &[u8], grants: &Grants) -> Result<StepModule, LoadError> {
        let module = self
            .registry
            .load(&self.engine, &self.linker, bytes, grants)?;
        if let Some(why) = self.room.never_fits(module.pool_needs()) {
            return Err(LoadError::Invalid {
                reason: format!("too large for the instance pool: {why}"),
            });
        }
        Ok(module)
    }

    /// Core instances the pool has free now (every step running holds some).
    pub fn free_core_instances(&self) -> usize {
        self.room.free_core_instances()
    }

    /// Run a loaded step once. Never panics and never returns early: every failure is in the
    /// outcome's `result`.
    pub async fn run(&self, module: &StepModule, request: StepRequest) -> StepOutcome {
        // Wait for room in the pool (not counted in the step's time); held until the instance
        // is gone at the end of this call.
        let _room = self.room.take(module.pool_needs()).await;
        let started = Instant::now();
        let limits = request.limits;
        let memory_limit = limits.memory_bytes.min(self.config.max_memory_bytes);
        let state = StepState::new(
            request.context.clone(),
            request.variables,
            request.backends,
            self.config.clock.clone(),
            memory_limit,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        if self.config.fuel_metering {
            // Neither call can fail on an engine with fuel enabled.
            let _ = store.set_fuel(limits.fuel);
            let _ = store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL));
        }
        let deadline = started + limits.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineHit))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let ctx = wit::Context {
            execution_id: request.context.execution_id,
            workflow_id: request.context.workflow_id,
            step_id: request.context.step_id,
            attempt: request.context.attempt,
            record: request.context.record.map(Into::into),
        };
        let pre = &module.compiled.pre;
        let call = async {
            let step = pre.instantiate_async(&mut store).await?;
            step.call_run(&mut store, &ctx, &request.input).await
        };
        // The epoch callback stops running wasm; this timer stops a step waiting in a host call.
        let returned = tokio::time::timeout(limits.timeout + self.config.epoch_tick, call).await;

        let fuel_used = if self.config.fuel_metering {
            limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0))
        } else {
            0
        };
        let state = store.into_data();
        let (stdout, stdout_dropped) = state.stdout.take();
        let (stderr, stderr_dropped) = state.stderr.take();
        let result = match returned {
            Err(_elapsed) => Err(StepFailure::DeadlineExceeded {
                timeout: limits.timeout,
            }),
            Ok(Err(error)) => Err(classify_trap(
                error,
                &limits,
                self.config.max_wasm_stack,
                &stderr,
            )),
            Ok(Ok(Err(e))) => Err(guest_failure(e)),
            Ok(Ok(Ok(text))) => parse_output(&text, limits.output_bytes),
        };
        let variable_writes = if result.is_ok() {
            state.variable_writes.into_iter().collect()
        } else {
            Vec::new()
        };
        let logs = collect_logs(state.log, &stdout, stdout_dropped, &stderr, stderr_dropped);
        StepOutcome {
            result,
            logs,
            variable_writes,
            fuel_used,
            memory_peak: state.limiter.peak,
            duration: started.elapsed(),
        }
    }
}

/// Raised by the epoch callback when a step's deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
struct DeadlineHit;

fn spawn_epoch_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("flowbox-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    if let Err(e) = spawned {
        // Without the ticker, deadlines are still enforced around host calls by the timer.
        tracing::error!(error = %e, "cannot start the epoch ticker thread");
    }
}

fn guest_failure(e: wit::StepError) -> StepFailure {
    let (kind, message) = match e {
        wit::StepError::InvalidInput(m) => (GuestErrorKind::InvalidInput, m),
        wit::StepError::Permanent(m) => (GuestErrorKind::Permanent, m),
        wit::StepError::Retryable(m) => (GuestErrorKind::Retryable, m),
    };
    StepFailure::Guest { kind, message }
}

fn parse_output(text: &str, limit: u64) -> Result<Value, StepFailure> {
    let size = text.len() as u64;
    if size > limit {
        return Err(StepFailure::OutputTooLarge { size, limit });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| StepFailure::OutputNotJson {
        reason: e.to_string(),
    })?;
    // Outputs are kept in the execution's state, which must read back.
    let depth = crate::limits::json_depth(&value);
    if depth > crate::limits::MAX_JSON_DEPTH {
        return Err(StepFailure::OutputNotJson {
            reason: format!(
                "it nests {depth} levels deep; an output nests at most {} (limit: json depth)",
                crate::limits::MAX_JSON_DEPTH
            ),
        });
    }
    Ok(value)
}

fn classify_trap(
    error: wasmtime::Error,
    limits: &Limits,
    stack: usize,
    stderr: &str,
) -> StepFailure {
    if let Some(hit) = error.downcast_ref::<MemoryLimitHit>() {
        return StepFailure::MemoryLimit {
            requested: hit.requested,
            limit: hit.limit,
        };
    }
    if error.downcast_ref::<DeadlineHit>().is_some() {
        return StepFailure::DeadlineExceeded {
            timeout: limits.timeout,
        };
    }
    let backtrace = error
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|bt| bt.to_string());
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => StepFailure::FuelExhausted { limit: limits.fuel },
        Some(Trap::StackOverflow) => StepFailure::StackOverflow { limit: stack },
        Some(Trap::Interrupt) => StepFailure::DeadlineExceeded {
            timeout: limits.timeout,
        },
        Some(trap) => {
            let mut message = trap.to_string();
            if let Some(said) = last_words(stderr) {
                message.push_str(&format!("; the guest wrote: {said}"));
            }
            StepFailure::Trap { message, backtrace }
        }
        None if error
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some() =>
        {
            StepFailure::Host {
                message: format!("no free instance slot: {error:#}"),
            }
        }
        None => StepFailure::Trap {
            message: format!("{error:#}"),
            backtrace,
        },
    }
}

/// The end of what a guest wrote to stderr before it trapped (a panic message), on one line.
fn last_words(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" ");
    (!tail.is_empty()).then(|| tail.chars().take(2000).collect())
}

fn collect_logs(
    log: LogBuffer,
    stdout: &str,
    stdout_dropped: usize,
    stderr: &str,
    stderr_dropped: usize,
) -> Vec<LogLine> {
    let mut lines = log.finish();
    for (text, dropped, source, level) in [
        (stdout, stdout_dropped, LogSource::Stdout, LogLevel::Info),
        (stderr, stderr_dropped, LogSource::Stderr, LogLevel::Warn),
    ] {
        lines.extend(text.lines().map(|l| LogLine {
            level,
            source,
            message: l.to_string(),
        }));
        if dropped > 0 {
            lines.push(LogLine {
                level: LogLevel::Warn,
                source: LogSource::Host,
                message: format!("{dropped} bytes of {source:?} dropped past the capture limit")
                    .to_lowercase(),
            });
        }
    }
    lines
}
