//! The engine: workflow definitions, executions, and the scheduler that runs them.
//!
//! Rooms: [`definition`] (parsing and validating workflows), `executor` (one execution, step by
//! step), `scheduler` (claiming due work), `evaluator` and `schedules` (events and timed
//! triggers into executions), `chains` (the loop guard), `waiters` (start-and-wait), and the
//! API's facades: `admin` (workflows, modules, kill switches), `executions`, `record_api`,
//! `webhooks`, `providers`, `teams`, `files`.
//!
//! An execution is a row. The node that starts it (or claims it after a wake-up, a restart or
//! an expired lease) drives it step by step in a task; every step's result, the execution's
//! new position and variables, and the writes the step asked for are committed together by the
//! store's group-commit writer before the next step starts. Waits (delays, goals, retry
//! backoffs) are rows with a wake-up time, not sleeping tasks.

mod admin;
mod chains;
mod data_model;
pub mod definition;
mod delay;
pub(crate) mod error;
mod evaluator;
mod executions;
mod executor;
mod files;
mod modules;
pub(crate) mod notices;
mod providers;
mod record_api;
mod scheduler;
mod schedules;
pub mod state;
mod teams;
pub mod variables;
mod waiters;
pub mod webhooks;
mod workflows;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Notify;

pub use self::definition::{DefinitionError, InvalidDefinition, Workflow};
pub use self::error::EngineError;
pub(crate) use self::evaluator::verdict as event_verdict;
pub use self::modules::ModuleInfoView;
use self::modules::Modules;
use self::workflows::Workflows;
use crate::clock::{Clock, SystemClock};
use crate::records::Objects;
use crate::sandbox::{RecordRef, Sandbox};
use crate::services::email::Mailer;
use crate::services::llm::RateLimits;
use crate::store::{ExecutionRow, Store, millis};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This node's name in leases. Default: a random id.
    pub node_id: String,
    /// How long a claim lasts: a node not heard from for this long (its heartbeat every third of
    /// it) is gone, and its executions are taken over. Default: 30 s.
    pub lease: Duration,
    /// How often the scheduler looks for due work when it knows of none sooner. Default: 500 ms.
    pub poll_interval: Duration,
    /// How long cached workflow heads, modules and kill switches are trusted before they are
    /// read again (other nodes' changes show up within this). Default: 2 s.
    pub cache_ttl: Duration,
    /// The clock for timers, leases and history.
    pub clock: Arc<dyn Clock>,
    /// The longest chain of workflows triggering each other through record changes; a start
    /// that would make it longer is stopped by the loop guard. Default: 8.
    pub max_chain_depth: usize,
    /// The SMTP server behind the `email` capability; none: steps' email is unavailable.
    pub mailer: Option<Arc<Mailer>>,
    /// Executions this node drives at once, at most (each holds a slot from its claim or start
    /// until it ends, waits or pauses). Due work beyond it stays in the database until a slot
    /// frees, so a burst of due work costs memory by this bound, not by its size.
    /// Default: [`default_max_in_flight`].
    pub max_in_flight: usize,
    /// The most fuel, memory, time and output a step may be given: a definition asking for
    /// more is refused at save, and a stored one is held to them when it runs. Default:
    /// [`crate::sandbox::Limits::DEFAULT_CEILINGS`].
    pub step_ceilings: crate::sandbox::Limits,
    /// The key failure notifications sent to webhooks are signed with (HMAC-SHA256); none:
    /// a workflow that names a `notify.webhook` is refused at save.
    pub notify_secret: Option<String>,
    /// The bearer token `GET /metrics` asks for (a secret of its own: a scraper holding it
    /// gets no API access). None: `/metrics` is open, like `/healthz`.
    pub metrics_token: Option<String>,
    /// How failure notifications link to an execution: `<public_url>/v1/executions/<id>`.
    /// Default: none (the notification carries the path alone).
    pub public_url: Option<String>,
    /// How long a failure notification waits before its first retry; each retry waits twice
    /// as long as the one before, up to an hour. Default: 10 s.
    pub notice_retry: Duration,
    /// How many times a failure notification is tried before it is given up on (and shown as
    /// `failed` in its execution). Default: 10 (about 1 h 25 min of retries with the default
    /// `notice_retry`).
    pub notice_attempts: u32,
    /// For tests only (no flag sets it): a step with this id panics its executor task, as a
    /// bug would, to prove that such a panic fails its execution and frees its slot.
    #[doc(hidden)]
    pub panic_at_step: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            node_id: format!("node-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            cache_ttl: Duration::from_secs(2),
            clock: Arc::new(SystemClock),
            max_chain_depth: 8,
            max_in_flight: default_max_in_flight(),
            step_ceilings: crate::sandbox::Limits::DEFAULT_CEILINGS,
            mailer: None,
            notify_secret: None,
            metrics_token: None,
            public_url: None,
            notice_retry: Duration::from_secs(10),
            notice_attempts: 10,
            panic_at_step: None,
        }
    }
}

/// 512 executions in flight per core: enough to fill the group commit's batches, while a
/// burst of due work stays at a few tens of MB.
pub fn default_max_in_flight() -> usize {
    512 * std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// How to start an execution.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    /// The execution's input.
    pub input: Value,
    /// The record, for a record-scoped workflow.
    pub record: Option<RecordRef>,
    /// Variables set at start (they win over the declared sources).
    pub variables: Map<String, Value>,
    /// The execution that starts this one.
    pub parent_id: Option<String>,
    /// When the event that caused the start happened (Unix ms); default: now.
    pub event_at: Option<i64>,
    /// Who or what starts it (JSON object; default `{"kind": "api"}`). Its `chain` (the
    /// workflows that led here) is completed with this execution.
    pub cause: Option<Value>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) sandbox: Arc<Sandbox>,
    pub(crate) config: EngineConfig,
    pub(crate) workflows: Workflows,
    pub(crate) modules: Modules,
    pub(crate) objects: Objects,
    /// The HTTP client steps' requests share.
    pub(crate) http: reqwest::Client,
    /// Each model provider's requests of the last minute.
    pub(crate) llm_limits: Arc<RateLimits>,
    /// Executions this node is driving now.
    pub(crate) running: Mutex<HashMap<String, Arc<executor::Local>>>,
    /// The slots of [`EngineConfig::max_in_flight`]. API starts wait for one in turn; the
    /// scheduler only takes the free ones, so a burst of due work never makes an API caller wait
    /// behind it.
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    /// Told when an execution gives its slot back.
    pub(crate) slot_freed: Notify,
    /// The most executions this node drove at once.
    pub(crate) in_flight_peak: std::sync::atomic::AtomicUsize,
    /// Callers waiting for executions to finish.
    pub(crate) waiters: waiters::Waiters,
    /// Wakes the scheduler early (new queued work, an earlier timer).
    pub(crate) wake_scheduler: Notify,
    /// Wakes the trigger evaluator early (new record events).
    pub(crate) wake_evaluator: Notify,
    /// The earliest wake-up time the scheduler should act on (Unix ms).
    pub(crate) next_timer: Mutex<Option<i64>>,
}

impl Inner {
    /// The engine's clock, in Unix ms.
    pub(crate) fn now_ms(&self) -> i64 {
        millis(self.config.clock.now())
    }

    /// One of this node's in-flight slots, for an API start: the caller waits its turn, ahead
    /// of the scheduler (which only takes free slots).
    pub(crate) async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the slots are never closed")
    }

    /// A wait was committed: make sure the scheduler wakes for it.
    pub(crate) fn timer_added(&self, at: i64) {
        let mut next = self.next_timer.lock().unwrap_or_else(|e| e.into_inner());
        if next.is_none_or(|n| at < n) {
            *next = Some(at);
            self.wake_scheduler.notify_one();
        }
    }
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("node", &self.inner.config.node_id)
            .finish()
    }
}

impl Engine {
    /// An engine over a store and a sandbox. Call [`Engine::start_scheduler`] to run due work.
    pub fn new(store: Store, sandbox: Arc<Sandbox>, config: EngineConfig) -> Engine {
        let ttl = config.cache_ttl;
        let slots = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1)));
        let inner = Inner {
            workflows: Workflows::new(store.clone(), ttl),
            modules: Modules::new(store.clone(), sandbox.clone(), ttl),
            objects: Objects::new(store.clone(), ttl),
            http: crate::services::http::client(),
            llm_limits: Arc::default(),
            store,
            sandbox,
            config,
            running: Mutex::default(),
            slots,
            slot_freed: Notify::new(),
            in_flight_peak: Default::default(),
            waiters: waiters::Waiters::default(),
            wake_scheduler: Notify::new(),
            wake_evaluator: Notify::new(),
            next_timer: Mutex::new(None),
        };
        Engine {
            inner: Arc::new(inner),
        }
    }

    /// Start the scheduler (timers, queued work, recovery of executions a crash left behind)
    /// and the node heartbeat. Returns at once; they run until the process ends.
    pub async fn start_scheduler(&self) -> Result<(), EngineError> {
        let store = &self.inner.store;
        let orphans = if store.is_sqlite() {
            // This process holds the SQLite database's lock: whatever was running belonged to a
            // process that is gone.
            store.expire_all_leases().await?
        } else {
            // What this node id held belonged to this node before it stopped (node ids are
            // stable across restarts): no need to wait for those leases to expire.
            store.expire_leases_of(&self.inner.config.node_id).await?
        };
        if orphans > 0 {
            tracing::info!(
                orphans,
                node = %self.inner.config.node_id,
                "resuming executions left running by a previous process"
            );
        }
        scheduler::spawn(self.inner.clone());
        evaluator::spawn(self.inner.clone());
        notices::spawn(self.inner.clone());
        let inner = Arc::downgrade(&self.inner);
        store.on_events_committed(move || {
            if let Some(inner) = inner.upgrade() {
                inner.wake_evaluator.notify_one();
            }
        });
        waiters::watch(self.inner.clone());
        Ok(())
    }

    /// Whether the storage writes now: a tiny write through the group-commit writer (this
    /// node's `seen_at`). For readiness probes.
    pub async fn probe_storage(&self) -> Result<(), EngineError> {
        let now = self.now_ms();
        Ok(self
            .inner
            .store
            .writer()
            .probe(&self.inner.config.node_id, now)
            .await?)
    }

    /// This node's id in leases.
    pub fn node_id(&self) -> &str {
        &self.inner.config.node_id
    }

    /// Evaluate pending record events now (triggers and goals). Returns how many were
    /// evaluated. For tests; the evaluator does this by itself.
    pub async fn evaluate_events(&self) -> Result<usize, EngineError> {
        evaluator::evaluate_all(&self.inner).await
    }

    /// Run one scheduler pass now: claim and start whatever is due. For tests that move a
    /// manual clock.
    pub async fn run_due(&self) -> Result<usize, EngineError> {
        scheduler::pass(&self.inner).await
    }

    /// Executions this node drives now, and the most it drove at once.
    pub fn in_flight(&self) -> (usize, usize) {
        let now = self
            .inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        let peak = self
            .inner
            .in_flight_peak
            .load(std::sync::atomic::Ordering::Relaxed);
        (now, peak)
    }

    /// Whether this node is driving the execution now (it holds one of this node's slots).
    pub fn is_running_here(&self, id: &str) -> bool {
        self.inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(id)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The token `/metrics` asks for, if any.
    pub fn metrics_token(&self) -> Option<&str> {
        self.inner.config.metrics_token.as_deref()
    }

    /// The engine's clock.
    pub fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }
}

/// Hand a finished execution to whoever waits for it.
pub(crate) fn notify_finished(inner: &Inner, row: &ExecutionRow) {
    crate::telemetry::execution_finished(&row.workflow, &row.status);
    inner.waiters.finished(row);
}
