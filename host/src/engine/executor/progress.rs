//! Moving a run on: applying a step's outcome to the execution's state and row, committing it
//! (with a step's record reads checked), and running a step again when its reads went stale.

use serde_json::{Value, json};

use crate::engine::definition::{OnFailure, Step, StepKind, Target};
use crate::engine::state::{State, control, status, step_status};
use crate::store::{Commit, ExecutionRow, Guard, RecordRead, SideWrite, StepRunRow};

use super::{DriveError, Flow, MAX_RERUNS, Next, Outcome, Run};

impl<'a> Run<'a> {
    /// Commit the run's state with `runs` and `side_writes`; afterwards the row is as stored.
    pub(super) async fn commit(
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
        // A record write leaves an event: the evaluator hears of it at once, as of an API write.
        let writes_events = side_writes
            .iter()
            .any(|w| matches!(w, SideWrite::Record(_)));
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
            urgent: self.local.interactive,
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
        if writes_events {
            self.inner.wake_evaluator.notify_one();
        }
        Ok(())
    }

    /// Run a step and commit what it did. A step whose record reads went stale (or whose record
    /// write was refused) by its commit left nothing behind: it runs again on fresh data, from
    /// the state before it ran, without counting as an attempt.
    pub(super) async fn run_and_apply(&mut self, step: &Step) -> Result<Flow, DriveError> {
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
                    self.read_record().await?;
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
                        self.read_record().await?;
                    }
                    return result;
                }
            }
        }
    }

    /// What a re-run goes back to, for an action step whose module may write records: the state
    /// and the row as they are before it runs (without the input and the state's text, which
    /// no step changes and a commit writes anew).
    pub(super) async fn snapshot_if_writes_records(
        &mut self,
        step: &Step,
    ) -> Option<(State, ExecutionRow)> {
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
    pub(super) fn too_many_reruns(&mut self, step: &Step) -> Outcome {
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

    /// End the execution as failed with `error`, no step run of its own (the position or the
    /// variables it starts from do not hold).
    pub(super) async fn end_failed(&mut self, error: Value) -> Result<Flow, DriveError> {
        let end = Next::Finish {
            status: status::FAILED,
            output: None,
            error: Some(error),
        };
        self.apply(Outcome::of(vec![], end)).await
    }

    pub(super) async fn apply(&mut self, outcome: Outcome) -> Result<Flow, DriveError> {
        self.apply_with(outcome, false).await
    }

    /// Move the state as `outcome` says and commit it.
    pub(super) async fn apply_with(
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
            self.inner.timer_added(at);
        }
        Ok(flow)
    }

    /// Write the state into the row. An execution whose state (variables, step outputs)
    /// outgrew its limit fails here, with the step that grew it, instead of committing it;
    /// nothing the step wrote is kept.
    pub(super) fn within_state_limit(
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

    pub(super) fn finish(
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
}
