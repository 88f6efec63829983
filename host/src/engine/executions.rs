//! Executions through the API: start (one, start-and-wait), read, list, pause, resume, cancel,
//! meet a goal. Starting records the execution before it runs; control requests are rows the
//! executor acts on.

use super::error::{Conflict, Invalid, Thing};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::state::{self, State, status};
use super::{
    Engine, EngineError, Inner, StartRequest, chains, definition, executor, notify_finished,
};
use crate::store::{Commit, ExecutionFilter, ExecutionPage, ExecutionRow, StepRunRow, StoreError};

impl Engine {
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
        let slot = self.inner.slot().await;
        let local = executor::spawn(
            self.inner.clone(),
            row.clone(),
            false,
            executor::Origin::Api,
            slot,
        );
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

    /// The record a start by record id refers to: one of the workflow's object type (none
    /// without an id).
    pub async fn record_for(
        &self,
        workflow: &str,
        record_id: Option<String>,
    ) -> Result<Option<crate::sandbox::RecordRef>, EngineError> {
        let Some(id) = record_id else { return Ok(None) };
        let (_, wf) = self.inner.workflows.latest(workflow).await?;
        match &wf.scope {
            definition::Scope::Record(object) => Ok(Some(crate::sandbox::RecordRef {
                object: object.clone(),
                id,
            })),
            definition::Scope::Global => Err(global_with_record(workflow)),
        }
    }

    pub(super) async fn prepare_start(
        &self,
        workflow: &str,
        request: StartRequest,
    ) -> Result<ExecutionRow, EngineError> {
        if let Some(reason) = self.killed(workflow).await? {
            return Err(EngineError::conflict(Conflict::KillSwitchOn, reason));
        }
        let (version, wf) = self.inner.workflows.latest(workflow).await?;
        let now = self.now_ms();
        let record = match (&wf.scope, request.record) {
            (definition::Scope::Global, None) => None,
            (definition::Scope::Global, Some(_)) => return Err(global_with_record(workflow)),
            (definition::Scope::Record(object), Some(r)) if &r.object == object => {
                if self.inner.store.record(&r.object, &r.id).await?.is_none() {
                    return Err(EngineError::NotFound {
                        what: Thing::Record,
                        id: format!("{}/{}", r.object, r.id),
                    });
                }
                Some(r)
            }
            (definition::Scope::Record(object), Some(r)) => {
                return Err(EngineError::invalid(
                    Invalid::Scope,
                    format!(
                        "workflow `{workflow}` runs on `{object}` records, not `{}`",
                        r.object
                    ),
                ));
            }
            (definition::Scope::Record(object), None) => {
                return Err(EngineError::invalid(
                    Invalid::Scope,
                    format!("workflow `{workflow}` runs on a record: give a `{object}` record id"),
                ));
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
        chain.push(chains::link(&wf.name, record.as_ref()));
        cause.insert("chain".into(), Value::Array(chain));
        let exclusive = record.is_some() && !wf.settings.reentry;
        // A throttled workflow's starts leave the queue when its limits allow.
        let throttled = wf.settings.throttled();
        crate::telemetry::execution_started(&wf.name);
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
            trace: crate::telemetry::traces::start_execution(&wf.name),
        })
    }

    /// Record a new (running, leased to this node) execution, then drive it.
    pub(super) async fn launch(&self, row: ExecutionRow) -> Result<ExecutionRow, EngineError> {
        // In a task of its own: a caller that goes away (a client hanging up) while the insert
        // is in flight cannot leave a recorded execution that nothing drives until its lease
        // runs out.
        let inner = self.inner.clone();
        tokio::spawn(tracing::Instrument::in_current_span(async move {
            launch(inner, row).await
        }))
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
                what: Thing::Execution,
                id: id.to_string(),
            })
    }

    /// The failure notifications an execution's steps sent, oldest first.
    pub async fn failure_notices(
        &self,
        id: &str,
    ) -> Result<Vec<crate::store::NoticeRow>, EngineError> {
        Ok(self.inner.store.notices_of(id).await?)
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

    pub(super) async fn control(&self, id: &str, what: &str) -> Result<ExecutionRow, EngineError> {
        let row = self.execution(id).await?;
        if status::is_final(&row.status) {
            return Err(EngineError::conflict(
                Conflict::ExecutionFinished,
                format!("execution {id} is already {}", row.status),
            ));
        }
        if what == state::control::PAUSE && row.status == status::PAUSED {
            return Ok(row);
        }
        if !self.inner.store.control(id, what, self.now_ms()).await? {
            let row = self.execution(id).await?;
            return Err(EngineError::conflict(
                Conflict::ExecutionFinished,
                format!("execution {id} is already {}", row.status),
            ));
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
            return Err(EngineError::conflict(
                Conflict::NotPaused,
                format!("execution {id} is {}, not paused", row.status),
            ));
        }
        if let Some(reason) = self.killed(&row.workflow).await? {
            return Err(EngineError::conflict(
                Conflict::KillSwitchOn,
                format!("cannot resume: {reason}"),
            ));
        }
        self.inner.store.resume(id, None, self.now_ms()).await?;
        self.inner.wake_scheduler.notify_one();
        self.execution(id).await
    }

    /// Meet the goal an execution waits on at `step`: it goes down the goal's `met` path.
    pub async fn meet_goal(&self, id: &str, step: &str) -> Result<ExecutionRow, EngineError> {
        let row = self.execution(id).await?;
        let state: State = serde_json::from_str(&row.state).map_err(|e| {
            EngineError::Store(StoreError::Write(format!(
                "execution {id}: its stored state does not read back: {e}"
            )))
        })?;
        match (&row.status[..], &state.waiting) {
            (status::WAITING, Some(state::Waiting::Goal { step: waiting, .. }))
                if waiting == step => {}
            _ => {
                return Err(EngineError::conflict(
                    Conflict::NotWaitingOnGoal,
                    format!(
                        "execution {id} is not waiting on goal `{step}` (it is {})",
                        row.status
                    ),
                ));
            }
        }
        self.inner
            .store
            .signal(id, state::control::MET_BY_HAND, self.now_ms())
            .await?;
        self.inner.wake_scheduler.notify_one();
        self.execution(id).await
    }

    pub(crate) fn notify_finished(&self, row: &ExecutionRow) {
        notify_finished(&self.inner, row);
    }
}

/// Record a new (running, leased to this node) execution, then drive it.
async fn launch(inner: Arc<Inner>, row: ExecutionRow) -> Result<ExecutionRow, EngineError> {
    // A running row is leased to this node and driven at once: it takes a slot first. A queued
    // one waits for the scheduler.
    let slot = match row.status.as_str() {
        status::QUEUED => None,
        _ => Some(inner.slot().await),
    };
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
        return Err(EngineError::conflict(
            Conflict::Reentry,
            format!(
                "record {object}/{id} is already in workflow `{}`{}; it does not allow re-entry (settings.reentry)",
                row.workflow,
                other
                    .first()
                    .map(|o| format!(" (execution {})", o.id))
                    .unwrap_or_default()
            ),
        ));
    }
    match slot {
        Some(slot) => {
            executor::spawn(
                inner.clone(),
                row.clone(),
                true,
                executor::Origin::Api,
                slot,
            );
        }
        None => inner.wake_scheduler.notify_one(),
    }
    Ok(row)
}

fn global_with_record(workflow: &str) -> EngineError {
    EngineError::invalid(
        Invalid::Scope,
        format!("workflow `{workflow}` is global: start it without a record"),
    )
}
