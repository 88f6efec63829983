//! Control requests (pause, cancel, a kill switch) and the end of waits (a delay, a goal, a
//! retry backoff).

use serde_json::{Value, json};

use crate::engine::definition::StepKind;
use crate::engine::state::{Waiting, control, pause_reason, status, step_status};
use crate::store::StepRunRow;

use super::{DriveError, Flow, Next, Outcome, Run};

impl<'a> Run<'a> {
    /// Pause, cancel or a kill switch: act before anything else.
    pub(super) async fn handle_control(&mut self) -> Result<Option<Flow>, DriveError> {
        let requested = self
            .local
            .take_request()
            .or_else(|| self.row.control.clone().filter(|c| !control::is_met(c)));
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
        if let (Next::Finish { .. }, Some(waiting)) = (&next, &self.state.waiting)
            && let Some(seq) = waiting.seq()
        {
            let detail = self.wait_detail(waiting);
            runs.push(self.closed_wait(waiting.step(), seq, step_status::CANCELLED, Some(detail)));
        }
        let flow = self.apply_with(Outcome::of(runs, next), true).await?;
        Ok(Some(flow))
    }

    /// What a wait's step run said while it waited, kept when it closes: a delay's `wake_at`,
    /// a goal's `until`.
    fn wait_detail(&self, waiting: &Waiting) -> Value {
        match waiting {
            Waiting::Delay { .. } => json!({"wake_at": self.row.wake_at.map(crate::time::json)}),
            Waiting::Goal { step, since, .. } => {
                // A signal moved the row's wake_at to now: the window is the step's own.
                let within = self
                    .wf
                    .position(step)
                    .and_then(|i| match &self.wf.steps[i].kind {
                        StepKind::Goal { within, .. } => Some(within.as_millis() as i64),
                        _ => None,
                    });
                json!({"until": within.map(|w| crate::time::json(since + w))})
            }
            Waiting::Retry { .. } => json!({}),
        }
    }

    pub(super) fn closed_wait(
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
    pub(super) async fn wake(&mut self, waiting: Waiting) -> Result<Flow, DriveError> {
        // Time passed: the record may have changed.
        self.read_record().await?;
        let step_index = self.wf.position(waiting.step());
        let Some(index) = step_index else {
            let error = json!({"code": "bad_position", "message": format!("waiting step `{}` is gone", waiting.step())});
            return self.end_failed(error).await;
        };
        let wf = self.wf.clone();
        let step = &wf.steps[index];
        match waiting {
            Waiting::Retry { .. } => {
                // Run the step again (its attempt number was raised when it failed).
                self.run_and_apply(step).await
            }
            Waiting::Delay { seq, .. } => {
                // Ending a wait runs nothing (a retry's backoff, above, runs its step again).
                self.local.not_a_rerun();
                let mut detail = self.wait_detail(&waiting);
                detail["waited"] = json!(true);
                let run = self.closed_wait(&step.id, seq, step_status::COMPLETED, Some(detail));
                self.state.attempt = 1;
                self.apply(Outcome::of(vec![run], Next::Go(step.next.clone())))
                    .await
            }
            Waiting::Goal { seq, .. } => {
                self.local.not_a_rerun();
                let control = self.row.control.clone().unwrap_or_default();
                let met = control::is_met(&control);
                let mut detail = self.wait_detail(&waiting);
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
                detail["path"] = json!(path);
                if met {
                    detail["met"] = control::met_by(&control);
                }
                let run = self.closed_wait(&step.id, seq, step_status::COMPLETED, Some(detail));
                self.apply_with(Outcome::of(vec![run], Next::Go(target)), met)
                    .await
            }
        }
    }
}
