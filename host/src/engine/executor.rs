//! Drives one execution, step by step, while this node holds its lease. Each step's result is
//! committed (with the execution's new position, variables and side writes) before the next
//! step starts; a wait ends the task and leaves a row with a wake-up time.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use super::definition::{OnFailure, Step, StepKind, Target, Workflow};
use super::expr::Scope;
use super::state::{State, Waiting, control, pause_reason, status, step_status};
use super::{Inner, delay, notify_finished, variables};
use crate::sandbox::{RecordRef, StepContext, StepFailure, StepRequest};
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
}

impl Local {
    fn new(recorded: bool) -> Local {
        Local {
            requested: Mutex::default(),
            cancel: Notify::new(),
            current: Mutex::default(),
            recorded: tokio::sync::Mutex::new(recorded),
        }
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

/// Drive `row` (running, leased to this node) in a new task, unless this node already is.
/// `stored`: whether the row is in the database yet; if not, the first commit inserts it.
/// Returns what this node knows of the execution.
pub(crate) fn spawn(inner: Arc<Inner>, row: ExecutionRow, stored: bool) -> Arc<Local> {
    let local = {
        let mut running = inner.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(local) = running.get(&row.id) {
            return local.clone();
        }
        let local = Arc::new(Local::new(stored));
        running.insert(row.id.clone(), local.clone());
        local
    };
    let driven = local.clone();
    tokio::spawn(async move {
        let id = row.id.clone();
        // Driven in a task of its own, so that whatever happens to it (a panic too), the
        // execution leaves this node's `running` map and its waiters hear of it.
        let task = {
            let inner = inner.clone();
            tokio::spawn(async move { drive(&inner, row, stored, &driven).await })
        };
        let ended = task.await.unwrap_or_else(|e| {
            tracing::error!(execution = %id, error = %e, "the executor task failed; the execution is retried after its lease");
            Ended::Stopped
        });
        inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
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
        run.read_record().await;
        Ok(run)
    }

    fn now(&self) -> i64 {
        millis(self.inner.config.clock.now())
    }

    /// An execution whose stored state cannot be read fails, loudly, keeping what is stored
    /// (going on from a made-up state would skip or repeat steps).
    async fn unreadable(inner: &Inner, mut row: ExecutionRow, message: String) -> ExecutionRow {
        tracing::error!(execution = %row.id, %message, "the execution cannot go on");
        let now = millis(inner.config.clock.now());
        let before = row.clone();
        row.status = status::FAILED.into();
        row.error = Some(json!({"code": "state_unreadable", "message": message}).to_string());
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

    async fn read_record(&mut self) {
        let (Some(object), Some(id)) = (&self.row.record_object, &self.row.record_id) else {
            return;
        };
        self.record_seen = None;
        let mut fields = match self.inner.store.record(object, id).await {
            Ok(Some(r)) => {
                self.record_seen = Some(RecordVersion {
                    version: r.version,
                    created_at: r.created_at,
                });
                serde_json::from_str::<Map<String, Value>>(&r.fields).unwrap_or_default()
            }
            Ok(None) => Map::new(),
            Err(e) => {
                tracing::warn!(execution = %self.row.id, error = %e, "cannot read the execution's record");
                Map::new()
            }
        };
        fields.insert("id".into(), Value::String(id.clone()));
        fields.insert("object".into(), Value::String(object.clone()));
        self.record = Some(Value::Object(fields));
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

    /// Commit the run's state with `runs` and `side_writes`; afterwards the row is as stored.
    async fn commit(
        &mut self,
        runs: Vec<StepRunRow>,
        side_writes: Vec<SideWrite>,
        reads: Vec<RecordRead>,
        clear_control: bool,
    ) -> Result<(), DriveError> {
        let now = self.now();
        self.row.seq = runs
            .iter()
            .map(|r| r.seq)
            .max()
            .unwrap_or(0)
            .max(self.committed_seq);
        self.row.updated_at = now;
        if clear_control {
            self.row.control = None;
        }
        let mut commit = Commit {
            guard: Guard::Advance {
                seq: self.committed_seq,
                owner: self.owner.clone(),
            },
            execution: self.row.clone(),
            clear_control,
            step_runs: runs,
            side_writes,
            reads,
        };
        let outcome = if self.stored {
            self.inner.store.writer().commit(commit).await?
        } else {
            // Not inserted yet, unless a start-and-wait whose wait ran out recorded it.
            let mut recorded = self.local.recorded.lock().await;
            if !*recorded {
                commit.guard = Guard::Insert;
            }
            let outcome = self.inner.store.writer().commit(commit).await?;
            *recorded |= outcome.applied;
            outcome
        };
        if let Some(conflict) = outcome.conflict {
            return Err(DriveError::Conflict(conflict));
        }
        if !outcome.applied {
            return Err(DriveError::LostLease);
        }
        self.committed_seq = self.row.seq;
        self.stored = true;
        self.row.control = outcome.control;
        Ok(())
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
                    return self
                        .apply(Outcome::of(
                            vec![],
                            Next::Finish {
                                status: status::FAILED,
                                output: None,
                                error: Some(error),
                            },
                        ))
                        .await;
                }
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
            return self
                .apply(Outcome::of(
                    vec![],
                    Next::Finish {
                        status: status::FAILED,
                        output: None,
                        error: Some(error),
                    },
                ))
                .await;
        };
        let wf = self.wf.clone();
        self.run_and_apply(&wf.steps[index]).await
    }

    /// Run a step and commit what it did. A step whose record reads went stale (or whose record
    /// write was refused) by its commit left nothing behind: it runs again on fresh data, from
    /// the state before it ran, without counting as an attempt.
    async fn run_and_apply(&mut self, step: &Step) -> Result<Flow, DriveError> {
        loop {
            let before = self.snapshot_if_writes_records(step).await;
            let outcome = self.run_step(step).await?;
            match self.apply(outcome).await {
                Err(DriveError::Conflict(conflict)) if before.is_some() => {
                    if let Some((state, row)) = before {
                        let input = std::mem::take(&mut self.row.input);
                        self.state = state;
                        self.row = ExecutionRow { input, ..row };
                    }
                    self.records_changed = false;
                    self.reruns += 1;
                    tracing::debug!(execution = %self.row.id, step = %step.id, reruns = self.reruns, %conflict, "a record changed under the step: running it again");
                    self.last_conflict = Some(conflict.to_string());
                    self.read_record().await;
                    if self.reruns > MAX_RERUNS {
                        let outcome = self.too_many_reruns(step);
                        self.reruns = 0;
                        return self.apply(outcome).await;
                    }
                }
                result => {
                    self.reruns = 0;
                    self.last_conflict = None;
                    if std::mem::take(&mut self.records_changed) {
                        self.read_record().await;
                    }
                    return result;
                }
            }
        }
    }

    /// What a re-run goes back to, for an action step whose module may write records: the state
    /// and the row as they are before it runs (without the input and the state's text, which
    /// no step changes and a commit writes anew).
    async fn snapshot_if_writes_records(&mut self, step: &Step) -> Option<(State, ExecutionRow)> {
        let StepKind::Action { module, .. } = &step.kind else {
            return None;
        };
        let writes = matches!(self.inner.modules.get(module).await,
            Ok(Some(m)) if m.module.grants().contains(crate::sandbox::Capability::Records));
        if !writes {
            return None;
        }
        let input = std::mem::take(&mut self.row.input);
        let state_text = std::mem::take(&mut self.row.state);
        let row = self.row.clone();
        self.row.input = input;
        self.row.state = state_text;
        Some((self.state.clone(), row))
    }

    /// The step's reads kept going stale: it fails, as its failure handling says.
    fn too_many_reruns(&mut self, step: &Step) -> Outcome {
        let run = self.new_run(step, step_status::FAILED, self.now());
        let (on_failure, goto) = match &step.kind {
            StepKind::Action {
                on_failure,
                on_failure_goto,
                ..
            } => (*on_failure, on_failure_goto.clone()),
            _ => (OnFailure::Fail, None),
        };
        let message = format!(
            "the records it read kept changing before it could commit ({MAX_RERUNS} re-runs; last: {})",
            self.last_conflict.as_deref().unwrap_or("?")
        );
        self.step_failed(step, run, "record_conflict", message, on_failure, goto)
    }

    /// Pause, cancel or a kill switch: act before anything else.
    async fn handle_control(&mut self) -> Result<Option<Flow>, DriveError> {
        let requested = self
            .local
            .take_request()
            .or_else(|| self.row.control.clone().filter(|c| c != control::MET));
        let killed = self
            .inner
            .workflows
            .killed(&self.row.workflow)
            .await
            .unwrap_or(None);
        let next = match requested.as_deref() {
            Some(control::CANCEL) => Next::Finish {
                status: status::CANCELLED,
                output: None,
                error: Some(json!({"code": "cancelled", "message": "cancelled on request"})),
            },
            Some(control::PAUSE) => Next::Pause {
                reason: pause_reason::REQUESTED,
            },
            _ if killed.is_some() => Next::Pause {
                reason: pause_reason::KILL_SWITCH,
            },
            _ => return Ok(None),
        };
        // A wait interrupted by a pause stays a wait (resume goes back to waiting); a cancelled
        // one closes its step run.
        let mut runs = Vec::new();
        if let (
            Next::Finish { .. },
            Some(Waiting::Delay { step, seq } | Waiting::Goal { step, seq, .. }),
        ) = (&next, &self.state.waiting)
        {
            runs.push(self.closed_wait(step, *seq, step_status::CANCELLED, None));
        }
        let flow = self.apply_with(Outcome::of(runs, next), true).await?;
        Ok(Some(flow))
    }

    fn closed_wait(
        &self,
        step_id: &str,
        seq: i64,
        status: &str,
        detail: Option<Value>,
    ) -> StepRunRow {
        let kind = self
            .wf
            .position(step_id)
            .map(|i| self.wf.steps[i].kind.name())
            .unwrap_or("delay");
        StepRunRow {
            execution_id: self.row.id.clone(),
            seq,
            step_id: step_id.to_string(),
            kind: kind.to_string(),
            status: status.to_string(),
            attempt: 1,
            input: None,
            output: None,
            error: None,
            detail: detail.map(|d| d.to_string()),
            logs: None,
            fuel: None,
            memory_peak: None,
            started_at: self.row.updated_at,
            ended_at: Some(self.now()),
        }
    }

    /// The execution was woken: finish the wait it was in.
    async fn wake(&mut self, waiting: Waiting) -> Result<Flow, DriveError> {
        // Time passed: the record may have changed.
        self.read_record().await;
        let step_index = self.wf.position(waiting.step());
        let Some(index) = step_index else {
            let error = json!({"code": "bad_position", "message": format!("waiting step `{}` is gone", waiting.step())});
            return self
                .apply(Outcome::of(
                    vec![],
                    Next::Finish {
                        status: status::FAILED,
                        output: None,
                        error: Some(error),
                    },
                ))
                .await;
        };
        let wf = self.wf.clone();
        let step = &wf.steps[index];
        match waiting {
            Waiting::Retry { .. } => {
                // Run the step again (its attempt number was raised when it failed).
                self.run_and_apply(step).await
            }
            Waiting::Delay { seq, .. } => {
                let run = self.closed_wait(&step.id, seq, step_status::COMPLETED, None);
                self.state.attempt = 1;
                self.apply(Outcome::of(vec![run], Next::Go(step.next.clone())))
                    .await
            }
            Waiting::Goal { seq, .. } => {
                let met = self.row.control.as_deref() == Some(control::MET);
                let StepKind::Goal {
                    met: met_path,
                    not_met,
                    ..
                } = &step.kind
                else {
                    return Ok(Flow::Done);
                };
                let (path, target) = if met {
                    ("met", met_path.clone())
                } else {
                    ("not_met", not_met.clone())
                };
                let run = self.closed_wait(
                    &step.id,
                    seq,
                    step_status::COMPLETED,
                    Some(json!({"path": path})),
                );
                self.apply_with(Outcome::of(vec![run], Next::Go(target)), met)
                    .await
            }
        }
    }

    async fn apply(&mut self, outcome: Outcome) -> Result<Flow, DriveError> {
        self.apply_with(outcome, false).await
    }

    /// Move the state as `outcome` says and commit it.
    async fn apply_with(
        &mut self,
        outcome: Outcome,
        clear_control: bool,
    ) -> Result<Flow, DriveError> {
        let now = self.now();
        let Outcome {
            runs,
            side_writes,
            reads,
            next,
        } = outcome;
        let flow = match next {
            Next::Go(Target::Step(id)) => {
                self.state.attempt = 1;
                self.state.position = Some(id);
                Flow::Continue
            }
            Next::Go(Target::End) => {
                self.state.position = None;
                self.state.attempt = 1;
                self.finish(status::COMPLETED, self.state.last_output.clone(), None, now);
                Flow::Done
            }
            Next::Wait { wake_at, waiting } => {
                self.state.waiting = Some(waiting);
                self.row.status = status::WAITING.into();
                self.row.wake_at = Some(wake_at);
                self.row.lease_owner = None;
                self.row.lease_until = None;
                Flow::Done
            }
            Next::Pause { reason } => {
                self.row.status = status::PAUSED.into();
                self.row.pause_reason = Some(reason.to_string());
                self.row.wake_at = self.state.waiting.as_ref().and(self.row.wake_at);
                self.row.lease_owner = None;
                self.row.lease_until = None;
                Flow::Done
            }
            Next::Finish {
                status,
                output,
                error,
            } => {
                self.finish(status, output, error, now);
                Flow::Done
            }
        };
        if matches!(flow, Flow::Continue) {
            self.row.wake_at = None;
        }
        let (runs, side_writes, reads, flow) =
            self.within_state_limit(runs, side_writes, reads, flow);
        let wait_until = self
            .row
            .wake_at
            .filter(|_| self.row.status == status::WAITING);
        self.commit(runs, side_writes, reads, clear_control).await?;
        if self.row.status == status::WAITING
            && let Some(what) = self
                .row
                .control
                .clone()
                .filter(|c| c == control::PAUSE || c == control::CANCEL)
        {
            // A pause or cancel asked for while this step ran: the row now waits, so it takes
            // effect at once instead of when the wait ends.
            // (The row read back is what `drive` hands to anyone waiting for the end.)
            self.inner.store.control(&self.row.id, &what, now).await?;
            if let Some(row) = self.inner.store.execution(&self.row.id).await? {
                self.row = row;
            }
            return Ok(Flow::Done);
        }
        if let Some(at) = wait_until {
            super::scheduler::timer_added(self.inner, at);
        }
        Ok(flow)
    }

    /// Write the state into the row. An execution whose state (variables, step outputs)
    /// outgrew its limit fails here, with the step that grew it, instead of committing it;
    /// nothing the step wrote is kept.
    fn within_state_limit(
        &mut self,
        mut runs: Vec<StepRunRow>,
        side_writes: Vec<SideWrite>,
        reads: Vec<RecordRead>,
        flow: Flow,
    ) -> (Vec<StepRunRow>, Vec<SideWrite>, Vec<RecordRead>, Flow) {
        // State is plain data: it always serialises.
        self.row.state = serde_json::to_string(&self.state).expect("state serialises");
        let size = self.row.state.len();
        if size <= crate::limits::MAX_STATE_BYTES {
            return (runs, side_writes, reads, flow);
        }
        let error = json!({
            "code": "state_too_large",
            "message": format!(
                "the execution's variables and step outputs came to {size} bytes of JSON, over the limit of {}",
                crate::limits::MAX_STATE_BYTES
            ),
        });
        if let Some(last) = runs.last_mut() {
            last.status = step_status::FAILED.into();
            last.output = None;
            last.error = Some(error.to_string());
        }
        // What is kept of the state: where it stopped, not what overflowed.
        self.state.variables.clear();
        self.state.outputs.clear();
        self.state.last_output = None;
        let now = self.now();
        self.finish(status::FAILED, None, Some(error), now);
        self.row.state = serde_json::to_string(&self.state).expect("state serialises");
        (runs, vec![], vec![], Flow::Done)
    }

    fn finish(
        &mut self,
        final_status: &str,
        output: Option<Value>,
        error: Option<Value>,
        now: i64,
    ) {
        self.state.waiting = None;
        self.row.status = final_status.to_string();
        self.row.output = output.map(|o| o.to_string());
        self.row.error = error.map(|e| e.to_string());
        self.row.wake_at = None;
        self.row.lease_owner = None;
        self.row.lease_until = None;
        self.row.ended_at = Some(now);
    }

    /// Run the step at the position and say what comes next.
    async fn run_step(&mut self, step: &Step) -> Result<Outcome, DriveError> {
        let started = self.now();
        Ok(match &step.kind {
            StepKind::Action { .. } => self.run_action(step, started).await,
            StepKind::Condition {
                expr,
                then,
                otherwise,
            } => {
                let mut run = self.new_run(step, step_status::COMPLETED, started);
                match expr.is_true(&self.scope()) {
                    Ok(yes) => {
                        run.detail =
                            Some(json!({"path": if yes { "then" } else { "else" }}).to_string());
                        Outcome::of(
                            vec![run],
                            Next::Go(if yes { then.clone() } else { otherwise.clone() }),
                        )
                    }
                    Err(e) => self.step_failed(
                        step,
                        run,
                        e.code_or("condition_error"),
                        e.to_string(),
                        OnFailure::Fail,
                        None,
                    ),
                }
            }
            StepKind::Delay(d) => {
                let now = self.now();
                match delay::wake_at(d, now, &self.scope(), self.record.as_ref()) {
                    Ok(at) if at <= now => {
                        let mut run = self.new_run(step, step_status::COMPLETED, started);
                        run.detail = Some(json!({"wake_at": at, "waited": false}).to_string());
                        Outcome::of(vec![run], Next::Go(step.next.clone()))
                    }
                    Ok(at) => {
                        let mut run = self.new_run(step, step_status::WAITING, started);
                        run.ended_at = None;
                        run.detail = Some(json!({"wake_at": at}).to_string());
                        let waiting = Waiting::Delay {
                            step: step.id.clone(),
                            seq: run.seq,
                        };
                        Outcome::of(
                            vec![run],
                            Next::Wait {
                                wake_at: at,
                                waiting,
                            },
                        )
                    }
                    Err(e) => {
                        let run = self.new_run(step, step_status::FAILED, started);
                        let code = e.code_or("delay_error");
                        self.step_failed(step, run, code, e.to_string(), OnFailure::Fail, None)
                    }
                }
            }
            StepKind::Goal {
                condition,
                within,
                met,
                ..
            } => {
                let already = match condition.as_ref().map(|c| c.is_true(&self.scope())) {
                    Some(Ok(met)) => met,
                    None => false,
                    // A condition that cannot be evaluated is not "not met": it fails the step.
                    Some(Err(e)) => {
                        let run = self.new_run(step, step_status::FAILED, started);
                        let code = e.code_or("condition_error");
                        return Ok(self.step_failed(
                            step,
                            run,
                            code,
                            e.to_string(),
                            OnFailure::Fail,
                            None,
                        ));
                    }
                };
                if already {
                    let mut run = self.new_run(step, step_status::COMPLETED, started);
                    run.detail = Some(json!({"path": "met", "at_start": true}).to_string());
                    Outcome::of(vec![run], Next::Go(met.clone()))
                } else {
                    let mut run = self.new_run(step, step_status::WAITING, started);
                    run.ended_at = None;
                    let deadline = self.now() + within.as_millis() as i64;
                    run.detail = Some(json!({"until": deadline}).to_string());
                    let waiting = Waiting::Goal {
                        step: step.id.clone(),
                        seq: run.seq,
                        since: started,
                    };
                    Outcome::of(
                        vec![run],
                        Next::Wait {
                            wake_at: deadline,
                            waiting,
                        },
                    )
                }
            }
            StepKind::Goto {
                target,
                max_iterations,
            } => {
                let mut run = self.new_run(step, step_status::COMPLETED, started);
                let count = self.state.loops.entry(step.id.clone()).or_insert(0);
                if *count >= *max_iterations {
                    run.detail =
                        Some(json!({"jumped": false, "capped_at": max_iterations}).to_string());
                    Outcome::of(vec![run], Next::Go(step.next.clone()))
                } else {
                    *count += 1;
                    run.detail = Some(json!({"jumped": true, "iteration": *count}).to_string());
                    Outcome::of(vec![run], Next::Go(Target::Step(target.clone())))
                }
            }
            StepKind::Set { values } => {
                let scope = self.scope();
                let mut run = self.new_run(step, step_status::COMPLETED, started);
                let mut set = Map::new();
                for (name, template) in values {
                    let declared = self.wf.variables.iter().find(|v| &v.name == name);
                    // (code, message) of a value that cannot be set.
                    let value = template
                        .render(&scope)
                        .map_err(|e| (e.code_or("set_failed"), e.to_string()))
                        .and_then(|v| match declared {
                            Some(d) => variables::coerce(d.ty, v)
                                .and_then(|v| {
                                    if d.required && variables::is_empty(&v) {
                                        Err(format!("variable `{name}` is required"))
                                    } else {
                                        Ok(v)
                                    }
                                })
                                .map_err(|m| ("set_failed", m)),
                            None => Ok(v),
                        })
                        .and_then(|v| {
                            crate::limits::check_value(&v, crate::limits::MAX_VALUE_BYTES)
                                .map(|()| v)
                                .map_err(|why| ("value_too_large", why))
                        });
                    match value {
                        Ok(v) => {
                            set.insert(name.clone(), v);
                        }
                        Err((code, message)) => {
                            run.status = step_status::FAILED.into();
                            return Ok(self.step_failed(
                                step,
                                run,
                                code,
                                format!("{name}: {message}"),
                                OnFailure::Fail,
                                None,
                            ));
                        }
                    }
                }
                run.output = Some(Value::Object(set.clone()).to_string());
                self.state.variables.extend(set);
                Outcome::of(vec![run], Next::Go(step.next.clone()))
            }
            StepKind::StartWorkflow {
                workflow,
                input,
                resume_paused,
            } => {
                self.start_workflow(step, started, workflow, input.as_ref(), *resume_paused)
                    .await?
            }
            StepKind::PauseWorkflow { workflow } | StepKind::CancelWorkflow { workflow } => {
                let what = if matches!(step.kind, StepKind::PauseWorkflow { .. }) {
                    control::PAUSE
                } else {
                    control::CANCEL
                };
                let mut run = self.new_run(step, step_status::COMPLETED, started);
                let mut side_writes = Vec::new();
                let mut ids = Vec::new();
                if let Some(r) = self.record_ref() {
                    for other in self
                        .inner
                        .store
                        .active_on_record(workflow, &r.object, &r.id)
                        .await?
                    {
                        if other.id != self.row.id {
                            ids.push(other.id.clone());
                            side_writes.push(SideWrite::Control {
                                id: other.id,
                                control: what.to_string(),
                                now: started,
                            });
                        }
                    }
                }
                run.detail = Some(json!({"workflow": workflow, "executions": ids}).to_string());
                Outcome::with_writes(vec![run], side_writes, Next::Go(step.next.clone()))
            }
            StepKind::Stop {
                failed,
                reason,
                output,
            } => {
                let mut run = self.new_run(step, step_status::COMPLETED, started);
                let output = match output.as_ref().map(|t| t.render(&self.scope())) {
                    Some(Ok(v)) => Some(v),
                    None => self.state.last_output.clone(),
                    // An output that cannot be built is an error, not a null.
                    Some(Err(e)) => {
                        let code = e.code_or("invalid_output");
                        let message = format!("building the output: {e}");
                        return Ok(self.step_failed(
                            step,
                            run,
                            code,
                            message,
                            OnFailure::Fail,
                            None,
                        ));
                    }
                };
                run.output = output.as_ref().map(Value::to_string);
                let (status, error) = if *failed {
                    (
                        status::FAILED,
                        Some(
                            json!({"code": "stopped", "message": reason.clone().unwrap_or_else(|| format!("stopped by step `{}`", step.id))}),
                        ),
                    )
                } else {
                    (status::COMPLETED, None)
                };
                Outcome::of(
                    vec![run],
                    Next::Finish {
                        status,
                        output,
                        error,
                    },
                )
            }
        })
    }

    async fn start_workflow(
        &mut self,
        step: &Step,
        started: i64,
        workflow: &str,
        input: Option<&super::expr::Template>,
        resume_paused: bool,
    ) -> Result<Outcome, DriveError> {
        let mut run = self.new_run(step, step_status::COMPLETED, started);
        let target = match self.inner.workflows.latest(workflow).await {
            Ok(t) => t,
            Err(e) => {
                return Ok(self.step_failed(
                    step,
                    run,
                    "start_failed",
                    e.to_string(),
                    OnFailure::Fail,
                    None,
                ));
            }
        };
        if let Ok(Some(reason)) = self.inner.workflows.killed(workflow).await {
            return Ok(self.step_failed(step, run, "start_refused", reason, OnFailure::Fail, None));
        }
        let (version, wf) = target;
        let record = match &wf.scope {
            super::definition::Scope::Record(object) => match self.record_ref() {
                Some(r) if &r.object == object => Some(r),
                _ => {
                    let message = format!(
                        "workflow `{workflow}` runs on `{object}` records and this execution has none"
                    );
                    return Ok(self.step_failed(
                        step,
                        run,
                        "start_failed",
                        message,
                        OnFailure::Fail,
                        None,
                    ));
                }
            },
            super::definition::Scope::Global => None,
        };
        if resume_paused && let Some(r) = &record {
            let paused = self
                .inner
                .store
                .active_on_record(workflow, &r.object, &r.id)
                .await?
                .into_iter()
                .find(|e| e.status == status::PAUSED);
            if let Some(paused) = paused {
                run.detail = Some(json!({"resumed": paused.id}).to_string());
                return Ok(Outcome {
                    runs: vec![run],
                    reads: vec![],
                    side_writes: vec![SideWrite::Resume {
                        id: paused.id,
                        now: started,
                    }],
                    next: Next::Go(step.next.clone()),
                });
            }
        }
        let input = match input {
            Some(t) => match t.render(&self.scope()) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(self.step_failed(
                        step,
                        run,
                        e.code_or("invalid_input"),
                        e.to_string(),
                        OnFailure::Fail,
                        None,
                    ));
                }
            },
            None => self
                .state
                .last_output
                .clone()
                .unwrap_or_else(|| self.input.clone()),
        };
        let exclusive = record.is_some() && !wf.settings.reentry;
        if exclusive && let Some(r) = &record {
            let active = self
                .inner
                .store
                .active_on_record(workflow, &r.object, &r.id)
                .await?;
            if let Some(other) = active.first() {
                // The workflow allows a record in it once at a time: nothing to start.
                run.detail = Some(
                    json!({"skipped": format!("record {}/{} is already in workflow `{workflow}`", r.object, r.id), "execution": other.id})
                        .to_string(),
                );
                return Ok(Outcome::of(vec![run], Next::Go(step.next.clone())));
            }
        }
        let (chain, guard) = super::triggers::loop_guard(
            self.inner,
            &wf,
            &super::triggers::chain_of(&self.row),
            record.as_ref(),
        );
        if let Some(reason) = guard {
            return Ok(self.step_failed(step, run, "loop_guard", reason, OnFailure::Fail, None));
        }
        if let Err(why) = crate::limits::check_value(&input, crate::limits::MAX_STEP_INPUT_BYTES) {
            let message = format!("the child's input: {why}");
            return Ok(self.step_failed(
                step,
                run,
                "value_too_large",
                message,
                OnFailure::Fail,
                None,
            ));
        }
        let cause =
            json!({"kind": "workflow", "parent": self.row.id, "step": step.id, "chain": chain});
        let mut child =
            super::triggers::queued(&wf, version, record, input.clone(), cause, started, started);
        child.parent_id = Some(self.row.id.clone());
        let id = child.id.clone();
        run.detail =
            Some(json!({"child": id, "workflow": workflow, "version": version}).to_string());
        run.input = Some(input.to_string());
        self.inner.wake_scheduler.notify_one();
        Ok(Outcome::with_writes(
            vec![run],
            vec![SideWrite::InsertExecution(Box::new(child))],
            Next::Go(step.next.clone()),
        ))
    }

    async fn run_action(&mut self, step: &Step, started: i64) -> Outcome {
        let StepKind::Action {
            module,
            input,
            code,
            branches,
            timeout_given,
            save_as,
            limits,
            retry,
            on_failure,
            on_failure_goto,
        } = &step.kind
        else {
            unreachable!("run_action is called for action steps");
        };
        let mut run = self.new_run(step, step_status::FAILED, started);
        let input_template = input.as_ref();
        let input = match input {
            Some(t) => t.render(&self.scope()),
            None => Ok(self
                .state
                .last_output
                .clone()
                .unwrap_or_else(|| self.input.clone())),
        };
        let input = match input {
            Ok(v) => v,
            Err(e) => {
                return self.step_failed(
                    step,
                    run,
                    e.code_or("invalid_input"),
                    format!("building the input: {e}"),
                    *on_failure,
                    on_failure_goto.clone(),
                );
            }
        };
        // A code step hands its runner the source with the input.
        let input = match code {
            Some(code) => json!({ "code": code.source.as_ref(), "inputs": input }),
            None => input,
        };
        if let Err(why) = crate::limits::check_value(&input, crate::limits::MAX_STEP_INPUT_BYTES) {
            return self.step_failed(
                step,
                run,
                "value_too_large",
                format!("the step's input: {why}"),
                *on_failure,
                on_failure_goto.clone(),
            );
        }
        let input_text = input.to_string();
        run.input = Some(input_text.clone());
        let runnable = match self.inner.modules.get(module).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return self.step_failed(
                    step,
                    run,
                    "no_module",
                    format!("there is no step module `{module}`"),
                    *on_failure,
                    on_failure_goto.clone(),
                );
            }
            Err(e) => {
                return self.step_failed(
                    step,
                    run,
                    "module_error",
                    e.to_string(),
                    *on_failure,
                    on_failure_goto.clone(),
                );
            }
        };
        let module = &runnable.module;
        // Only a module granted `records` gets the backend (and its writes a cause).
        let records = module
            .grants()
            .contains(crate::sandbox::Capability::Records)
            .then(|| {
                let cause = json!({
                    "kind": "execution",
                    "execution": self.row.id,
                    "workflow": self.row.workflow,
                    "step": step.id,
                    "chain": super::triggers::chain_of(&self.row),
                });
                Arc::new(super::records::step::StepRecords::new(
                    self.inner.store.clone(),
                    self.inner.objects.clone(),
                    started,
                    cause.to_string(),
                ))
            });
        let grants = module.grants();
        let teams = grants.contains(crate::sandbox::Capability::Teams).then(|| {
            Arc::new(super::teams::StepTeams::new(
                self.inner.store.clone(),
                started,
            ))
        });
        let llm = (grants.contains(crate::sandbox::Capability::Llm)
            || grants.contains(crate::sandbox::Capability::Audio))
        .then(|| {
            Arc::new(super::llm::StepLlm::new(
                self.inner.store.clone(),
                self.inner.http.clone(),
                self.inner.config.clock.clone(),
                self.inner.llm_limits.clone(),
                self.row.workflow.clone(),
            ))
        });
        let request = StepRequest {
            input: input_text,
            context: StepContext {
                execution_id: self.row.id.clone(),
                workflow_id: self.row.workflow.clone(),
                step_id: step.id.clone(),
                attempt: self.state.attempt,
                record: self.record_ref(),
            },
            variables: Arc::new(self.state.variables.clone()),
            limits: if !timeout_given
                && (grants.contains(crate::sandbox::Capability::Llm)
                    || grants.contains(crate::sandbox::Capability::Audio))
            {
                crate::sandbox::Limits {
                    timeout: super::definition::AI_STEP_TIMEOUT,
                    ..*limits
                }
            } else {
                *limits
            },
            backends: crate::sandbox::Backends {
                records: records
                    .clone()
                    .map(|r| r as Arc<dyn crate::sandbox::RecordsBackend>),
                teams: teams
                    .clone()
                    .map(|t| t as Arc<dyn crate::sandbox::TeamsBackend>),
                files: grants.contains(crate::sandbox::Capability::Files).then(|| {
                    Arc::new(super::files::StepFiles::new(self.inner.store.clone()))
                        as Arc<dyn crate::sandbox::FilesBackend>
                }),
                email: grants.contains(crate::sandbox::Capability::Email).then(|| {
                    Arc::new(super::email::StepEmail::new(
                        self.inner.config.mailer.clone(),
                    )) as Arc<dyn crate::sandbox::EmailBackend>
                }),
                http: grants.contains(crate::sandbox::Capability::Http).then(|| {
                    Arc::new(super::http::StepHttp::new(
                        self.inner.http.clone(),
                        runnable.http_hosts.clone(),
                    )) as Arc<dyn crate::sandbox::HttpBackend>
                }),
                llm: llm
                    .clone()
                    .filter(|_| grants.contains(crate::sandbox::Capability::Llm))
                    .map(|l| l as Arc<dyn crate::sandbox::LlmBackend>),
                audio: llm
                    .clone()
                    .filter(|_| grants.contains(crate::sandbox::Capability::Audio))
                    .map(|l| l as Arc<dyn crate::sandbox::AudioBackend>),
            },
        };
        let mut running = run.clone();
        running.status = "running".into();
        running.ended_at = None;
        self.local.set_current(Some(running));
        let outcome = tokio::select! {
            outcome = self.inner.sandbox.run(module, request) => Some(outcome),
            _ = self.local.cancel.notified() => None,
        };
        self.local.set_current(None);
        let Some(outcome) = outcome else {
            // Cancelled while running: the request is acted on by the next `advance`.
            self.local.request(control::CANCEL);
            run.status = step_status::CANCELLED.into();
            run.ended_at = Some(self.now());
            return Outcome::of(vec![run], Next::Go(Target::Step(step.id.clone())));
        };
        run.ended_at = Some(self.now());
        run.fuel = Some(outcome.fuel_used as i64);
        run.memory_peak = Some(outcome.memory_peak as i64);
        if !outcome.logs.is_empty() {
            run.logs = serde_json::to_string(&outcome.logs).ok();
        }
        let mut detail = json!({"duration_us": outcome.duration.as_micros() as u64});
        if self.reruns > 0 {
            // Runs before this one read records that changed before they could commit.
            detail["reruns"] = json!({"count": self.reruns, "reason": self.last_conflict});
        }
        if let Some(calls) = llm.as_ref().and_then(|l| l.history()) {
            detail["llm"] = calls;
        }
        match outcome.result {
            Ok(output) => {
                run.status = step_status::COMPLETED.into();
                run.output = Some(output.to_string());
                // A step with `branches` picks one by naming it in its output's `branch`.
                let branch = output
                    .get("branch")
                    .and_then(Value::as_str)
                    .and_then(|b| branches.get(b).map(|t| (b, t)));
                let next = match branch {
                    Some((name, target)) => {
                        detail["branch"] = json!(name);
                        target.clone()
                    }
                    None => step.next.clone(),
                };
                run.detail = Some(detail.to_string());
                self.state.variables.extend(outcome.variable_writes);
                if let Some(name) = save_as {
                    self.state.variables.insert(name.clone(), output.clone());
                }
                self.state.outputs.insert(step.id.clone(), output.clone());
                self.state.last_output = Some(output);
                // The sandbox has dropped its handle: the buffer is ours alone now.
                let (mut side_writes, mut reads) = records
                    .and_then(|r| Arc::try_unwrap(r).ok())
                    .map(|r| r.into_parts())
                    .unwrap_or_default();
                self.records_changed = !side_writes.is_empty();
                if self.records_changed {
                    // The input was rendered from the record as this run read it.
                    if let (Some(r), Some(template)) = (self.record_ref(), input_template)
                        && template.uses("record")
                    {
                        reads.push(RecordRead {
                            object: r.object,
                            id: r.id,
                            seen: self.record_seen,
                        });
                    }
                } else {
                    // Reads without writes need no check: the step saw the records as they
                    // were at some moment, and changed nothing that depends on them.
                    reads.clear();
                }
                if let Some(t) = teams.and_then(|t| Arc::try_unwrap(t).ok()) {
                    side_writes.extend(t.into_side_writes());
                }
                Outcome {
                    runs: vec![run],
                    side_writes,
                    reads,
                    next: Next::Go(next),
                }
            }
            Err(failure) => {
                run.detail = Some(detail.to_string());
                if failure.is_retryable() && self.state.attempt < retry.attempts {
                    let next_attempt = self.state.attempt + 1;
                    run.error = Some(failure_json(&failure).to_string());
                    self.state.attempt = next_attempt;
                    let wake_at =
                        self.now() + retry.backoff_before(next_attempt).as_millis() as i64;
                    return Outcome::of(
                        vec![run],
                        Next::Wait {
                            wake_at,
                            waiting: Waiting::Retry {
                                step: step.id.clone(),
                            },
                        },
                    );
                }
                let code = failure.code();
                self.step_failed(
                    step,
                    run,
                    code,
                    failure.to_string(),
                    *on_failure,
                    on_failure_goto.clone(),
                )
            }
        }
    }

    /// A step failed for good: record it, and go where the step's failure handling says.
    fn step_failed(
        &mut self,
        step: &Step,
        mut run: StepRunRow,
        code: &str,
        message: String,
        on_failure: OnFailure,
        goto: Option<Target>,
    ) -> Outcome {
        run.status = step_status::FAILED.into();
        let error = json!({"code": code, "message": message, "step": step.id});
        run.error = Some(error.to_string());
        let next = if let Some(target) = goto {
            Next::Go(target)
        } else {
            match on_failure {
                OnFailure::Fail => Next::Finish {
                    status: status::FAILED,
                    output: None,
                    error: Some(error),
                },
                OnFailure::Pause => {
                    tracing::warn!(execution = %self.row.id, step = %step.id, %message, "step failed: execution paused at it");
                    // Resuming runs the step again, from its first attempt.
                    self.state.attempt = 1;
                    self.row.error = Some(error.to_string());
                    Next::Pause {
                        reason: pause_reason::STEP_FAILED,
                    }
                }
                OnFailure::Continue => {
                    tracing::warn!(execution = %self.row.id, step = %step.id, %message, "step failed: execution continues");
                    run.detail = Some(json!({"continued": true, "notified": true}).to_string());
                    Next::Go(step.next.clone())
                }
                OnFailure::ContinueSilently => {
                    run.detail = Some(json!({"continued": true}).to_string());
                    Next::Go(step.next.clone())
                }
            }
        };
        Outcome::of(vec![run], next)
    }
}

fn failure_json(f: &StepFailure) -> Value {
    json!({"code": f.code(), "message": f.to_string()})
}
