//! The host's own steps: condition, delay, goal, goto, set, stop, and the steps that start,
//! pause or cancel other executions.

use serde_json::{Map, Value, json};

use crate::engine::definition::{OnFailure, Step, StepKind, Target};
use crate::engine::state::{Waiting, control, status, step_status};
use crate::engine::{delay, variables};
use crate::store::SideWrite;

use super::{DriveError, Next, Outcome, Run};

impl<'a> Run<'a> {
    /// Run the step at the position and say what comes next.
    pub(super) async fn run_step(&mut self, step: &Step) -> Result<Outcome, DriveError> {
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

    pub(super) async fn start_workflow(
        &mut self,
        step: &Step,
        started: i64,
        workflow: &str,
        input: Option<&crate::expr::Template>,
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
            crate::engine::definition::Scope::Record(object) => match self.record_ref() {
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
            crate::engine::definition::Scope::Global => None,
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
        let (chain, guard) = crate::engine::chains::loop_guard(
            self.inner,
            &wf,
            &crate::engine::chains::chain_of(&self.row),
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
        let mut child = crate::engine::chains::queued(
            &wf,
            version,
            record,
            input.clone(),
            cause,
            started,
            started,
        );
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
}
