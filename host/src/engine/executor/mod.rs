//! Drives one execution, step by step, while this node holds its lease. Each step's result is
//! committed (with the execution's new position, variables and side writes) before the next
//! step starts; a wait ends the task and leaves a row with a wake-up time.

mod action;
mod progress;
mod steps;
mod waits;

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::sync::{Notify, OwnedSemaphorePermit};

use super::definition::{Step, Target, Workflow};
use super::state::{State, Waiting, control, status};
use super::{Inner, notify_finished, variables};
use crate::expr::Scope;
use crate::sandbox::RecordRef;
use crate::store::{
    Commit, Conflict, ExecutionRow, Guard, RecordRead, RecordVersion, SideWrite, StepRunRow,
    StoreError, millis,
};

/// What this node knows of an execution it is driving.
pub(crate) struct Local {
    requested: Mutex<Option<String>>,
    cancel: Notify,
    current: Mutex<Option<StepRunRow>>,
    /// Whether the execution's row is in the database. A start-and-wait leaves the insert to
    /// the first commit (one commit fewer), unless its wait runs out first: then the caller
    /// records the row before answering. This lock, held across either insert, makes sure
    /// exactly one of them inserts it.
    recorded: tokio::sync::Mutex<bool>,
    /// Started through the API (someone may be waiting): its commits go ahead of background
    /// work's in the writer.
    interactive: bool,
    /// Taken over from a lapsed lease, and no step has run here since: the next action step's
    /// run says it may be a re-run.
    taken_over: std::sync::atomic::AtomicBool,
}

impl Local {
    fn new(recorded: bool, interactive: bool) -> Local {
        Local {
            interactive,
            requested: Mutex::default(),
            cancel: Notify::new(),
            current: Mutex::default(),
            recorded: tokio::sync::Mutex::new(recorded),
            taken_over: Default::default(),
        }
    }

    /// What runs next here cannot have run on the node it was taken over from.
    fn not_a_rerun(&self) {
        self.taken_over
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Make sure the execution's row (as it started: `row`) is in the database.
    pub(crate) async fn ensure_recorded(
        &self,
        inner: &Inner,
        row: &ExecutionRow,
    ) -> Result<(), StoreError> {
        let mut recorded = self.recorded.lock().await;
        if !*recorded {
            inner
                .store
                .writer()
                .commit(Commit::insert(row.clone()))
                .await?;
            *recorded = true;
        }
        Ok(())
    }

    /// A pause or cancel asked through this node's API.
    pub(crate) fn request(&self, what: &str) {
        *self.requested.lock().unwrap_or_else(|e| e.into_inner()) = Some(what.to_string());
        if what == control::CANCEL {
            self.cancel.notify_one();
        }
    }

    fn take_request(&self) -> Option<String> {
        self.requested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The step running now, as a history entry.
    pub(crate) fn current(&self) -> Option<StepRunRow> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_current(&self, run: Option<StepRunRow>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = run;
    }
}

/// Where a drive comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A start through the API: a caller may be waiting.
    Api,
    /// Claimed by the scheduler (due or queued).
    Claimed,
    /// Claimed while it was running under a lease that lapsed: the step at its position may
    /// have run before, in part or whole (its node stopped before committing the result).
    TakenOver,
}

/// Drive `row` (running, leased to this node) in a new task, holding `slot` until it ends,
/// unless this node already is (then `slot` is given back). `stored`: whether the row is in
/// the database yet; if not, the first commit inserts it. Returns what this node knows of the
/// execution.
pub(crate) fn spawn(
    inner: Arc<Inner>,
    row: ExecutionRow,
    stored: bool,
    origin: Origin,
    slot: OwnedSemaphorePermit,
) -> Arc<Local> {
    let local = {
        let mut running = inner.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(local) = running.get(&row.id) {
            drop(slot);
            inner.slot_freed.notify_one();
            return local.clone();
        }
        let local = Arc::new(Local::new(stored, origin == Origin::Api));
        local.taken_over.store(
            origin == Origin::TakenOver,
            std::sync::atomic::Ordering::Relaxed,
        );
        running.insert(row.id.clone(), local.clone());
        inner
            .in_flight_peak
            .fetch_max(running.len(), std::sync::atomic::Ordering::Relaxed);
        local
    };
    let driven = local.clone();
    // A child of the execution's `start` span, which is kept with it: every run of it, here or
    // on another node, after any wait, is in the trace it started in.
    let span = tracing::info_span!(
        target: crate::telemetry::traces::TARGET,
        "execution",
        otel.name = format!("execution {}", row.workflow),
        execution.id = row.id,
        workflow = row.workflow,
        workflow.version = row.version,
        status = tracing::field::Empty,
    );
    if let Some(trace) = &row.trace {
        crate::telemetry::traces::follow_execution(&span, trace);
    }
    tokio::spawn(async move {
        let id = row.id.clone();
        // Driven in a task of its own, so that whatever happens to it (a panic too), the
        // execution leaves this node's `running` map and its waiters hear of it.
        let task = {
            let inner = inner.clone();
            let span = span.clone();
            tokio::spawn(tracing::Instrument::instrument(
                async move { drive(&inner, row, stored, &driven).await },
                span,
            ))
        };
        let ended = match task.await {
            Ok(ended) => ended,
            // A bug: running it again would hit it again, so the execution fails (its stored
            // history kept), and says where to look.
            Err(e) => {
                let cause = if e.is_panic() {
                    let p = e.into_panic();
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                } else {
                    e.to_string()
                };
                tracing::error!(execution = %id, %cause, "the executor task panicked: the execution fails");
                match inner.store.execution(&id).await {
                    Ok(Some(row)) if !status::is_final(&row.status) => {
                        let message = "the host failed while driving this execution (logged)";
                        Ended::Row(Box::new(
                            fail_for_good(&inner, row, "internal", message.into()).await,
                        ))
                    }
                    _ => Ended::Stopped,
                }
            }
        };
        if let Ended::Row(row) = &ended {
            span.record("status", row.status.as_str());
        }
        inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        drop(slot);
        inner.slot_freed.notify_one();
        match ended {
            Ended::Row(row) if status::is_final(&row.status) => notify_finished(&inner, &row),
            Ended::StorageFailed(cause) => inner.waiters.failed(&id, &cause),
            _ => {}
        }
    });
    local
}

/// How driving an execution ended.
enum Ended {
    /// As the row says (finished, waiting, paused).
    Row(Box<ExecutionRow>),
    /// The storage could not write: the execution resumes from its last commit once it can.
    StorageFailed(String),
    /// Driving stopped (the lease was lost, or a failure that is logged).
    Stopped,
}

/// Why driving stopped early.
#[derive(Debug, thiserror::Error)]
enum DriveError {
    #[error("lost the lease (another node took over, or the execution was changed)")]
    LostLease,
    /// A record the step read changed before its commit, or its write was refused by then:
    /// nothing was written, and the step runs again.
    #[error("the step's record reads or writes conflicted at commit: {0:?}")]
    Conflict(Conflict),
    #[error(transparent)]
    Store(#[from] StoreError),
}

enum Flow {
    Continue,
    Done,
}

async fn drive(inner: &Arc<Inner>, row: ExecutionRow, stored: bool, local: &Local) -> Ended {
    let id = row.id.clone();
    let mut run = match Run::load(inner, local, row, stored).await {
        Ok(run) => run,
        Err(row) => return Ended::Row(Box::new(row)),
    };
    loop {
        match run.advance().await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Done) => return Ended::Row(Box::new(run.row)),
            Err(e) => {
                tracing::warn!(execution = %id, error = %e, "stopped driving execution");
                if let Err(e) = inner.store.release_lease(&id, &inner.config.node_id).await {
                    tracing::warn!(execution = %id, error = %e, "could not release the lease; it will expire");
                }
                return match e {
                    DriveError::Store(e) if e.is_unavailable() => {
                        Ended::StorageFailed(e.to_string())
                    }
                    _ => Ended::Stopped,
                };
            }
        }
    }
}

struct Run<'a> {
    inner: &'a Arc<Inner>,
    local: &'a Local,
    wf: Arc<Workflow>,
    row: ExecutionRow,
    committed_seq: i64,
    /// Whether the execution's row exists in the database (a start-and-wait inserts it with its
    /// first step's result, saving a commit).
    stored: bool,
    state: State,
    input: Value,
    /// The record's fields with `id` and `object`, read when the run (re)starts, after waits, and
    /// after a step changed records.
    record: Option<Value>,
    /// The record's version when `record` was read (`None`: no record, or it was gone).
    record_seen: Option<RecordVersion>,
    records_changed: bool,
    owner: String,
    /// How often the step at the position ran again because its record reads went stale.
    reruns: u32,
    /// Why it last did.
    last_conflict: Option<String>,
}

/// A step's result before it is committed.
struct Outcome {
    runs: Vec<StepRunRow>,
    side_writes: Vec<SideWrite>,
    /// The records the step read (checked at commit when it writes records).
    reads: Vec<RecordRead>,
    next: Next,
}

impl Outcome {
    fn of(runs: Vec<StepRunRow>, next: Next) -> Outcome {
        Self::with_writes(runs, vec![], next)
    }

    fn with_writes(runs: Vec<StepRunRow>, side_writes: Vec<SideWrite>, next: Next) -> Outcome {
        Outcome {
            runs,
            side_writes,
            reads: vec![],
            next,
        }
    }
}

/// How often a step whose record reads went stale runs again before it fails (`record_conflict`).
/// Each round, one of the steps contending for a record commits, so a step is re-run at most
/// once per contender ahead of it.
const MAX_RERUNS: u32 = 100;

enum Next {
    /// Go on to a step (or the end).
    Go(Target),
    /// Wait until a time.
    Wait { wake_at: i64, waiting: Waiting },
    /// Pause at the current step.
    Pause { reason: &'static str },
    /// Finish now.
    Finish {
        status: &'static str,
        output: Option<Value>,
        error: Option<Value>,
    },
}

impl<'a> Run<'a> {
    async fn load(
        inner: &'a Arc<Inner>,
        local: &'a Local,
        row: ExecutionRow,
        stored: bool,
    ) -> Result<Run<'a>, ExecutionRow> {
        let wf = match inner.workflows.version(&row.workflow, row.version).await {
            Ok(wf) => wf,
            Err(e) => {
                tracing::error!(execution = %row.id, error = %e, "cannot load the execution's workflow");
                return Err(row);
            }
        };
        let parsed = serde_json::from_str::<State>(&row.state)
            .map_err(|e| format!("its state does not read back: {e}"))
            .and_then(|state| {
                serde_json::from_str::<Value>(&row.input)
                    .map(|input| (state, input))
                    .map_err(|e| format!("its input does not read back: {e}"))
            });
        let (state, input) = match parsed {
            Ok(parsed) => parsed,
            Err(message) => return Err(Self::unreadable(inner, row, message).await),
        };
        let mut run = Run {
            inner,
            local,
            wf,
            committed_seq: row.seq,
            stored,
            owner: inner.config.node_id.clone(),
            row,
            state,
            input,
            record: None,
            record_seen: None,
            records_changed: false,
            reruns: 0,
            last_conflict: None,
        };
        if let Err(e) = run.read_record().await {
            tracing::error!(execution = %run.row.id, error = %e, "cannot read the execution's record");
            return Err(run.row);
        }
        Ok(run)
    }

    fn now(&self) -> i64 {
        millis(self.inner.config.clock.now())
    }

    /// An execution whose stored state cannot be read fails, loudly, keeping what is stored
    /// (going on from a made-up state would skip or repeat steps).
    async fn unreadable(inner: &Inner, row: ExecutionRow, message: String) -> ExecutionRow {
        fail_for_good(inner, row, "state_unreadable", message).await
    }

    /// Read the execution's record afresh. A record that cannot be read now stops the drive
    /// (the execution is driven again later): a step must never see a made-up empty record.
    async fn read_record(&mut self) -> Result<(), DriveError> {
        let (Some(object), Some(id)) = (&self.row.record_object, &self.row.record_id) else {
            return Ok(());
        };
        self.record_seen = None;
        let mut fields = match self.inner.store.record(object, id).await? {
            Some(r) => {
                self.record_seen = Some(RecordVersion {
                    version: r.version,
                    created_at: r.created_at,
                });
                serde_json::from_str::<Map<String, Value>>(&r.fields).map_err(|e| {
                    StoreError::Corrupt(format!("record {object}/{id}: its fields: {e}"))
                })?
            }
            None => Map::new(),
        };
        fields.insert("id".into(), Value::String(id.clone()));
        fields.insert("object".into(), Value::String(object.clone()));
        self.record = Some(Value::Object(fields));
        Ok(())
    }

    fn record_ref(&self) -> Option<RecordRef> {
        Some(RecordRef {
            object: self.row.record_object.clone()?,
            id: self.row.record_id.clone()?,
        })
    }

    /// What expressions see.
    fn scope(&self) -> Scope {
        let steps: Map<String, Value> = self
            .state
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), json!({ "output": v })))
            .collect();
        Scope::new(Arc::new(json!({
            "input": self.input,
            "vars": self.state.variables,
            "steps": steps,
            "record": self.record,
            "execution": {"id": self.row.id, "workflow": self.row.workflow, "version": self.row.version},
            "failure": self.state.failure,
        })))
    }

    fn new_run(&self, step: &Step, status: &str, started_at: i64) -> StepRunRow {
        StepRunRow {
            execution_id: self.row.id.clone(),
            seq: self.committed_seq + 1,
            step_id: step.id.clone(),
            kind: step.kind.name().to_string(),
            status: status.to_string(),
            attempt: self.state.attempt as i64,
            input: None,
            output: None,
            error: None,
            detail: None,
            logs: None,
            fuel: None,
            memory_peak: None,
            started_at,
            ended_at: Some(self.now()),
        }
    }

    /// Why a declared `record` or `team_member` variable names nothing (a record that does not
    /// exist, someone in no team), if one does.
    async fn missing_referents(&self) -> Result<Option<String>, StoreError> {
        let mut teams = None;
        for v in &self.wf.variables {
            let value = &self
                .state
                .variables
                .get(&v.name)
                .cloned()
                .unwrap_or_default();
            match v.ty {
                variables::VarType::Record if !value.is_null() => {
                    let (object, id) = (
                        value["object"].as_str().unwrap_or_default(),
                        value["id"].as_str().unwrap_or_default(),
                    );
                    if self.inner.store.record(object, id).await?.is_none() {
                        return Ok(Some(format!(
                            "variable `{}`: there is no `{object}` record `{id}`",
                            v.name
                        )));
                    }
                }
                variables::VarType::TeamMember if !value.is_null() => {
                    if teams.is_none() {
                        teams = Some(self.inner.store.teams().await?);
                    }
                    let member = value.as_str().unwrap_or_default();
                    let known = teams.iter().flatten().any(|t| {
                        serde_json::from_str::<Vec<String>>(&t.members)
                            .is_ok_and(|m| m.iter().any(|x| x == member))
                    });
                    if !known {
                        return Ok(Some(format!(
                            "variable `{}`: `{member}` is not a member of any team",
                            v.name
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// One move: act on a control request, finish a wait, or run the step at the position.
    async fn advance(&mut self) -> Result<Flow, DriveError> {
        if let Some(flow) = self.handle_control().await? {
            return Ok(flow);
        }
        if let Some(waiting) = self.state.waiting.take() {
            return self.wake(waiting).await;
        }
        if !self.state.resolved {
            let given = std::mem::take(&mut self.state.variables);
            match variables::resolve(&self.wf.variables, given, &self.scope()) {
                Ok(vars) => {
                    self.state.variables = vars;
                    self.state.resolved = true;
                }
                Err(e) => {
                    let error = json!({"code": e.code_or("variables"), "message": e.to_string()});
                    return self.end_failed(error).await;
                }
            }
            if let Some(message) = self.missing_referents().await? {
                let error = json!({"code": "invalid_variable", "message": message});
                return self.end_failed(error).await;
            }
        }
        let Some(position) = self.state.position.clone() else {
            let output = self.state.last_output.clone();
            return self
                .apply(Outcome::of(
                    vec![],
                    Next::Finish {
                        status: status::COMPLETED,
                        output,
                        error: None,
                    },
                ))
                .await;
        };
        let Some(index) = self.wf.position(&position) else {
            let error = json!({"code": "bad_position", "message": format!("step `{position}` is not in workflow {}@{}", self.wf.name, self.row.version)});
            return self.end_failed(error).await;
        };
        let wf = self.wf.clone();
        self.run_and_apply(&wf.steps[index]).await
    }
}

/// Fail an execution that cannot go on (its history kept as stored), if this node still holds
/// it; answers the row as it now is.
async fn fail_for_good(
    inner: &Inner,
    mut row: ExecutionRow,
    code: &str,
    message: String,
) -> ExecutionRow {
    tracing::error!(execution = %row.id, %message, "the execution cannot go on");
    let now = millis(inner.config.clock.now());
    let before = row.clone();
    row.status = status::FAILED.into();
    row.error = Some(json!({"code": code, "message": message}).to_string());
    row.wake_at = None;
    row.lease_owner = None;
    row.lease_until = None;
    row.updated_at = now;
    row.ended_at = Some(now);
    let commit = Commit {
        guard: Guard::Advance {
            seq: before.seq,
            owner: inner.config.node_id.clone(),
        },
        execution: row.clone(),
        clear_control: true,
        step_runs: vec![],
        side_writes: vec![],
        reads: vec![],
        urgent: true,
    };
    match inner.store.writer().commit(commit).await {
        Ok(outcome) if outcome.applied => row,
        Ok(_) => before,
        Err(e) => {
            tracing::error!(execution = %row.id, error = %e, "could not record the failure");
            before
        }
    }
}
