//! The engine: workflow definitions, executions, and the scheduler that runs them.
//!
//! An execution is a row. The node that starts it (or claims it after a wake-up, a restart or
//! an expired lease) drives it step by step in a task; every step's result, the execution's
//! new position and variables, and the writes the step asked for are committed together by the
//! store's group-commit writer before the next step starts. Waits (delays, goals, retry
//! backoffs) are rows with a wake-up time, not sleeping tasks.

pub mod definition;
mod delay;
mod email;
mod executor;
pub mod expr;
mod files;
mod http;
mod llm;
mod modules;
pub mod records;
mod scheduler;
pub mod state;
mod teams;
pub mod triggers;
pub mod variables;
mod waiters;
mod workflows;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Notify;

pub use self::definition::{DefinitionError, InvalidDefinition, Workflow};
pub use self::email::{Mailer, MailerError};
pub use self::files::MAX_FILE_BYTES;
pub use self::llm::{DEFAULT_PROVIDER, ProviderSettings, ProviderView};
pub use self::modules::ModuleInfoView;
use self::modules::Modules;
use self::state::{State, status};
pub use self::teams::{DEFAULT_CHANNEL, TeamView};
use self::workflows::Workflows;
use crate::clock::{Clock, SystemClock};
use crate::sandbox::{Grants, LoadError, RecordRef, Sandbox};
use crate::store::{
    Commit, ExecutionFilter, ExecutionPage, ExecutionRow, StepRunRow, Store, StoreError, millis,
};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This node's name in leases. Default: a random id.
    pub node_id: String,
    /// How long a claimed execution stays this node's without renewal. Default: 30 s.
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
            mailer: None,
        }
    }
}

/// Why an engine call failed; the API maps each to a status code.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A definition did not validate.
    #[error(transparent)]
    InvalidDefinition(#[from] InvalidDefinition),
    /// A step module did not load.
    #[error(transparent)]
    InvalidModule(#[from] LoadError),
    /// Something asked for does not exist.
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// A request that does not fit the workflow or the execution's state.
    #[error("{0}")]
    Invalid(String),
    /// An expression (a filter) ran out of its budget.
    #[error("{0}")]
    ExpressionLimit(String),
    /// The request conflicts with the current state (a kill switch, a finished execution).
    #[error("{0}")]
    Conflict(String),
    /// A record's (or an object type's) fields do not fit; each error names its field.
    #[error("invalid fields{}: {}", if object.is_empty() { String::new() } else { format!(" for `{object}`") }, errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidFields {
        object: String,
        errors: Vec<records::FieldError>,
    },
    /// The caller did not prove it may do this (a webhook's secret or signature).
    #[error("{0}")]
    Unauthorized(String),
    /// The method is not one this endpoint takes.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request's content does not parse.
    #[error("{0}")]
    Malformed(String),
    /// The request's content parses into more than the host takes (values, rows, depth).
    #[error("{0}")]
    TooLarge(String),
    /// A unique field's value is taken by another record.
    #[error("`{field}` must be unique: {object}/{other} already has `{value}`")]
    Duplicate {
        object: String,
        field: String,
        value: String,
        other: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    pub(crate) objects: records::Objects,
    /// The HTTP client steps' requests share.
    pub(crate) http: reqwest::Client,
    /// Each model provider's requests of the last minute.
    pub(crate) llm_limits: Arc<llm::RateLimits>,
    /// Executions this node is driving now.
    pub(crate) running: Mutex<HashMap<String, Arc<executor::Local>>>,
    /// Callers waiting for executions to finish.
    pub(crate) waiters: waiters::Waiters,
    /// Wakes the scheduler early (new queued work, an earlier timer).
    pub(crate) wake_scheduler: Notify,
    /// Wakes the trigger evaluator early (new record events).
    pub(crate) wake_evaluator: Notify,
    /// The earliest wake-up time the scheduler should act on (Unix ms).
    pub(crate) next_timer: Mutex<Option<i64>>,
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
        let inner = Inner {
            workflows: Workflows::new(store.clone(), ttl),
            modules: Modules::new(store.clone(), sandbox.clone(), ttl),
            objects: records::Objects::new(store.clone(), ttl),
            http: http::client(),
            llm_limits: Arc::default(),
            store,
            sandbox,
            config,
            running: Mutex::default(),
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
    /// and the lease keeper. Returns at once; they run until the process ends.
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
        triggers::spawn(self.inner.clone());
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
        triggers::evaluate_all(&self.inner).await
    }

    /// Run one scheduler pass now: claim and start whatever is due. For tests that move a
    /// manual clock.
    pub async fn run_due(&self) -> Result<usize, EngineError> {
        scheduler::pass(&self.inner).await
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The engine's clock.
    pub fn now_ms(&self) -> i64 {
        millis(self.inner.config.clock.now())
    }

    // ---- Workflows ----

    /// Validate and save a definition (JSON or YAML). Returns the workflow's name, its version
    /// and whether the version is new (an unchanged definition keeps its version).
    pub async fn apply_workflow(&self, text: &str) -> Result<(String, i64, bool), EngineError> {
        let workflow = definition::parse(text)?;
        self.inner
            .workflows
            .check_references(&workflow, &self.inner.modules)
            .await?;
        let saved = serde_json::to_string(&workflow.source).unwrap_or_default();
        let (version, created) = self
            .inner
            .store
            .save_workflow(&workflow.name, &saved, self.now_ms())
            .await?;
        self.inner.workflows.forget(&workflow.name);
        self.ensure_webhooks(&workflow).await?;
        if created {
            let s = &workflow.settings;
            self.inner
                .store
                .set_throttle(
                    &workflow.name,
                    s.max_concurrent.map(i64::from),
                    s.max_starts_per_minute.map(i64::from),
                )
                .await?;
            triggers::schedules::sync(&self.inner, &workflow.name).await?;
            self.inner.wake_scheduler.notify_one();
        }
        Ok((workflow.name, version, created))
    }

    /// A workflow version (newest with `None`).
    pub async fn workflow(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<(i64, Arc<Workflow>), EngineError> {
        match version {
            None => self.inner.workflows.latest(name).await,
            Some(v) => self.inner.workflows.version(name, v).await.map(|w| (v, w)),
        }
    }

    /// Flip a workflow's kill switch (`None`: the global one). Turning it on stops new starts and
    /// pauses running executions at their next step; turning it off resumes what it paused.
    pub async fn set_kill_switch(
        &self,
        workflow: Option<&str>,
        on: bool,
    ) -> Result<u64, EngineError> {
        let now = self.now_ms();
        match workflow {
            Some(name) => {
                if !self.inner.store.set_workflow_killed(name, on, now).await? {
                    return Err(EngineError::NotFound {
                        what: "workflow",
                        id: name.to_string(),
                    });
                }
            }
            None => self.inner.store.set_global_killed(on).await?,
        }
        self.inner.workflows.refresh_kill_switches().await?;
        if on {
            return Ok(0);
        }
        let resumed = self.inner.store.resume_killed(workflow, now).await?;
        if resumed > 0 {
            self.inner.wake_scheduler.notify_one();
        }
        Ok(resumed)
    }

    /// Switch a workflow's triggers on or off. While off, its triggers start nothing, and what
    /// happened meanwhile is ignored once it is on again.
    pub async fn set_enabled(&self, workflow: &str, on: bool) -> Result<(), EngineError> {
        if !self
            .inner
            .store
            .set_workflow_enabled(workflow, on, self.now_ms())
            .await?
        {
            return Err(EngineError::NotFound {
                what: "workflow",
                id: workflow.to_string(),
            });
        }
        self.inner.workflows.forget(workflow);
        if on {
            // Timed triggers count from now: nothing missed while off runs.
            triggers::schedules::sync(&self.inner, workflow).await?;
            self.inner.wake_scheduler.notify_one();
        }
        Ok(())
    }

    /// Whether new starts of `workflow` are refused, and why.
    pub async fn killed(&self, workflow: &str) -> Result<Option<String>, EngineError> {
        self.inner.workflows.killed(workflow).await
    }

    // ---- Step modules ----

    /// Validate a component and save it as a step module with its grants (and, with `http`,
    /// the hosts it may call).
    pub async fn upload_module(
        &self,
        name: &str,
        bytes: &[u8],
        grants: Grants,
        http_hosts: Vec<String>,
    ) -> Result<ModuleInfoView, EngineError> {
        self.inner
            .modules
            .upload(name, bytes, grants, http_hosts, self.now_ms())
            .await
    }

    /// Grant a module these capabilities (and only these) and these hosts. Refused, with the
    /// list, when its component imports what would no longer be granted.
    pub async fn set_module_grants(
        &self,
        name: &str,
        grants: Grants,
        http_hosts: Vec<String>,
    ) -> Result<ModuleInfoView, EngineError> {
        self.inner
            .modules
            .set_grants(name, grants, http_hosts)
            .await
    }

    /// A step module, its versions (by content hash, oldest first) and the workflows whose
    /// newest version uses it.
    pub async fn module(
        &self,
        name: &str,
    ) -> Result<
        (
            ModuleInfoView,
            Vec<crate::store::ModuleVersionRow>,
            Vec<String>,
        ),
        EngineError,
    > {
        let view = self.inner.modules.one(name).await?;
        let versions = self.inner.store.module_versions(name).await?;
        let users = self.inner.workflows.using_module(name).await?;
        Ok((view, versions, users))
    }

    /// Delete a step module; refused while a workflow's newest version uses it.
    pub async fn delete_module(&self, name: &str) -> Result<(), EngineError> {
        let users = self.inner.workflows.using_module(name).await?;
        if !users.is_empty() {
            return Err(EngineError::Conflict(format!(
                "step module `{name}` is used by workflow{} {}: change {} first",
                if users.len() == 1 { "" } else { "s" },
                users.join(", "),
                if users.len() == 1 { "it" } else { "them" }
            )));
        }
        if !self.inner.store.delete_module(name).await? {
            return Err(EngineError::NotFound {
                what: "step module",
                id: name.to_string(),
            });
        }
        self.inner.modules.forget(name);
        Ok(())
    }

    /// Every step module.
    pub async fn modules(&self) -> Result<Vec<ModuleInfoView>, EngineError> {
        self.inner.modules.list().await
    }

    // ---- Executions ----

    /// Start an execution of the newest version of `workflow`. Returns once the execution is
    /// durably recorded (it then runs in the background).
    pub async fn start(
        &self,
        workflow: &str,
        request: StartRequest,
    ) -> Result<ExecutionRow, EngineError> {
        let row = self.prepare_start(workflow, request).await?;
        self.launch(row).await
    }

    /// Start and wait (up to `wait`) for the execution to finish. Returns the execution as it
    /// is when it finished, or when the wait ran out (then it is recorded: it runs on).
    pub async fn start_and_wait(
        &self,
        workflow: &str,
        request: StartRequest,
        wait: Duration,
    ) -> Result<ExecutionRow, EngineError> {
        let row = self.prepare_start(workflow, request).await?;
        if row.exclusive || row.status == status::QUEUED {
            // Its insert may be refused (the record is in the workflow), or it waits its turn
            // in the queue: record it first.
            let row = self.launch(row).await?;
            return self.wait(&row.id, wait).await;
        }
        // Nobody learns of this execution before it ends or the wait runs out, so its row is
        // written with the first step's result: one commit fewer. If the wait runs out first,
        // the row is recorded before the answer (a 202 means recorded).
        let id = row.id.clone();
        let ended = self.inner.waiters.add(&id);
        let local = executor::spawn(self.inner.clone(), row.clone(), false);
        match tokio::time::timeout(wait, ended).await {
            Ok(Ok(end)) => end.map_err(|cause| StoreError::Unavailable(cause).into()),
            _ => {
                self.inner.waiters.drop_gone(&id);
                local.ensure_recorded(&self.inner, &row).await?;
                self.execution(&id).await
            }
        }
    }

    /// Wait (up to `wait`) for an execution to finish. Returns it as it is then.
    pub async fn wait(&self, id: &str, wait: Duration) -> Result<ExecutionRow, EngineError> {
        let ended = self.inner.waiters.add(id);
        let row = self.execution(id).await;
        if row.as_ref().map_or(true, |r| status::is_final(&r.status)) {
            self.inner.waiters.drop_gone(id);
            return row;
        }
        match tokio::time::timeout(wait, ended).await {
            Ok(Ok(end)) => end.map_err(|cause| StoreError::Unavailable(cause).into()),
            _ => {
                self.inner.waiters.drop_gone(id);
                self.execution(id).await
            }
        }
    }

    async fn prepare_start(
        &self,
        workflow: &str,
        request: StartRequest,
    ) -> Result<ExecutionRow, EngineError> {
        if let Some(reason) = self.killed(workflow).await? {
            return Err(EngineError::Conflict(reason));
        }
        let (version, wf) = self.inner.workflows.latest(workflow).await?;
        let now = self.now_ms();
        let record = match (&wf.scope, request.record) {
            (definition::Scope::Global, None) => None,
            (definition::Scope::Global, Some(_)) => {
                return Err(EngineError::Invalid(format!(
                    "workflow `{workflow}` is global: start it without a record"
                )));
            }
            (definition::Scope::Record(object), Some(r)) if &r.object == object => {
                if self.inner.store.record(&r.object, &r.id).await?.is_none() {
                    return Err(EngineError::NotFound {
                        what: "record",
                        id: format!("{}/{}", r.object, r.id),
                    });
                }
                Some(r)
            }
            (definition::Scope::Record(object), Some(r)) => {
                return Err(EngineError::Invalid(format!(
                    "workflow `{workflow}` runs on `{object}` records, not `{}`",
                    r.object
                )));
            }
            (definition::Scope::Record(object), None) => {
                return Err(EngineError::Invalid(format!(
                    "workflow `{workflow}` runs on a record: give a `{object}` record id"
                )));
            }
        };
        let first = wf.steps.first().map(|s| s.id.clone()).unwrap_or_default();
        let state = State::start(&first, request.variables);
        let mut cause = match request.cause {
            Some(Value::Object(c)) => c,
            _ => Map::from_iter([("kind".to_string(), Value::String("api".into()))]),
        };
        let mut chain = match cause.remove("chain") {
            Some(Value::Array(c)) => c,
            _ => vec![],
        };
        chain.push(triggers::link(&wf.name, record.as_ref()));
        cause.insert("chain".into(), Value::Array(chain));
        let exclusive = record.is_some() && !wf.settings.reentry;
        // A throttled workflow's starts leave the queue when its limits allow.
        let throttled = wf.settings.throttled();
        Ok(ExecutionRow {
            id: uuid::Uuid::now_v7().to_string(),
            workflow: wf.name.clone(),
            version,
            status: if throttled {
                status::QUEUED
            } else {
                status::RUNNING
            }
            .into(),
            record_object: record.as_ref().map(|r| r.object.clone()),
            record_id: record.map(|r| r.id),
            parent_id: request.parent_id,
            input: request.input.to_string(),
            output: None,
            error: None,
            state: serde_json::to_string(&state).unwrap_or_default(),
            seq: 0,
            wake_at: None,
            control: None,
            pause_reason: None,
            lease_owner: (!throttled).then(|| self.inner.config.node_id.clone()),
            lease_until: (!throttled).then(|| now + self.inner.config.lease.as_millis() as i64),
            event_at: request.event_at.unwrap_or(now),
            created_at: now,
            updated_at: now,
            ended_at: None,
            cause: Some(Value::Object(cause).to_string()),
            exclusive,
        })
    }

    /// Record a new (running, leased to this node) execution, then drive it.
    async fn launch(&self, row: ExecutionRow) -> Result<ExecutionRow, EngineError> {
        // In a task of its own: a caller that goes away (a client hanging up) while the insert
        // is in flight cannot leave a recorded execution that nothing drives until its lease
        // runs out.
        let inner = self.inner.clone();
        tokio::spawn(async move { launch(inner, row).await })
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Write(format!("starting the execution failed: {e}")).into())
            })
    }

    /// One execution.
    pub async fn execution(&self, id: &str) -> Result<ExecutionRow, EngineError> {
        self.inner
            .store
            .execution(id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: "execution",
                id: id.to_string(),
            })
    }

    /// An execution's step history, with the step running now (on this node) last.
    pub async fn history(&self, id: &str) -> Result<Vec<StepRunRow>, EngineError> {
        let mut runs = self.inner.store.step_runs(id).await?;
        let local = self
            .inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        if let Some(current) = local.and_then(|l| l.current()) {
            runs.push(current);
        }
        Ok(runs)
    }

    /// Executions matching a filter.
    pub async fn list(&self, filter: &ExecutionFilter) -> Result<ExecutionPage, EngineError> {
        Ok(self.inner.store.list_executions(filter).await?)
    }

    /// Pause an execution: a running one stops before its next step; a waiting or queued one
    /// at once. Resuming continues where it stopped.
    pub async fn pause(&self, id: &str) -> Result<ExecutionRow, EngineError> {
        self.control(id, state::control::PAUSE).await
    }

    /// Cancel an execution: a running step is stopped.
    pub async fn cancel(&self, id: &str) -> Result<ExecutionRow, EngineError> {
        self.control(id, state::control::CANCEL).await
    }

    async fn control(&self, id: &str, what: &str) -> Result<ExecutionRow, EngineError> {
        let row = self.execution(id).await?;
        if status::is_final(&row.status) {
            return Err(EngineError::Conflict(format!(
                "execution {id} is already {}",
                row.status
            )));
        }
        if what == state::control::PAUSE && row.status == status::PAUSED {
            return Ok(row);
        }
        if !self.inner.store.control(id, what, self.now_ms()).await? {
            let row = self.execution(id).await?;
            return Err(EngineError::Conflict(format!(
                "execution {id} is already {}",
                row.status
            )));
        }
        let local = self
            .inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        if let Some(local) = local {
            local.request(what);
        }
        let row = self.execution(id).await?;
        if status::is_final(&row.status) {
            self.notify_finished(&row);
        }
        Ok(row)
    }

    /// Resume a paused execution where it stopped.
    pub async fn resume(&self, id: &str) -> Result<ExecutionRow, EngineError> {
        let row = self.execution(id).await?;
        if row.status != status::PAUSED {
            return Err(EngineError::Conflict(format!(
                "execution {id} is {}, not paused",
                row.status
            )));
        }
        if let Some(reason) = self.killed(&row.workflow).await? {
            return Err(EngineError::Conflict(format!("cannot resume: {reason}")));
        }
        self.inner.store.resume(id, None, self.now_ms()).await?;
        self.inner.wake_scheduler.notify_one();
        self.execution(id).await
    }

    /// Meet the goal an execution waits on at `step`: it goes down the goal's `met` path.
    pub async fn meet_goal(&self, id: &str, step: &str) -> Result<ExecutionRow, EngineError> {
        let row = self.execution(id).await?;
        let state: State = serde_json::from_str(&row.state).unwrap_or_default();
        match (&row.status[..], &state.waiting) {
            (status::WAITING, Some(state::Waiting::Goal { step: waiting, .. }))
                if waiting == step => {}
            _ => {
                return Err(EngineError::Conflict(format!(
                    "execution {id} is not waiting on goal `{step}` (it is {})",
                    row.status
                )));
            }
        }
        self.inner
            .store
            .signal(id, state::control::MET, self.now_ms())
            .await?;
        self.inner.wake_scheduler.notify_one();
        self.execution(id).await
    }

    pub(crate) fn notify_finished(&self, row: &ExecutionRow) {
        notify_finished(&self.inner, row);
    }
}

/// Hand a finished execution to whoever waits for it.
pub(crate) fn notify_finished(inner: &Inner, row: &ExecutionRow) {
    inner.waiters.finished(row);
}

/// Record a new (running, leased to this node) execution, then drive it.
async fn launch(inner: Arc<Inner>, row: ExecutionRow) -> Result<ExecutionRow, EngineError> {
    let outcome = inner
        .store
        .writer()
        .commit(Commit::insert(row.clone()))
        .await?;
    if !outcome.applied {
        let (object, id) = (
            row.record_object.clone().unwrap_or_default(),
            row.record_id.clone().unwrap_or_default(),
        );
        let other = inner
            .store
            .active_on_record(&row.workflow, &object, &id)
            .await?;
        return Err(EngineError::Conflict(format!(
            "record {object}/{id} is already in workflow `{}`{}; it does not allow re-entry (settings.reentry)",
            row.workflow,
            other
                .first()
                .map(|o| format!(" (execution {})", o.id))
                .unwrap_or_default()
        )));
    }
    if row.status == status::QUEUED {
        inner.wake_scheduler.notify_one();
    } else {
        executor::spawn(inner.clone(), row.clone(), true);
    }
    Ok(row)
}
