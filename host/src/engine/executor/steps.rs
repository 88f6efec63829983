//! The host's own steps: condition, delay, goal, goto, set, stop, and the steps that start,
//! pause or cancel other executions.

use serde_json::{Map, Value, json};

use crate::engine::definition::{Delay, OnFailure, Step, StepKind, Target};
use crate::engine::state::{Waiting, control, status, step_status};
use crate::engine::{delay, variables};
use crate::expr::{Expr, Scope, Template};
use crate::store::SideWrite;

use super::{DriveError, Next, Outcome, Run};

impl<'a> Run<'a> {
    /// Run the step at the position and say what comes next.
    pub(super) async fn run_step(&mut self, step: &Step) -> Result<Outcome, DriveError> {
        let started = self.now();
        if self.inner.config.panic_at_step.as_deref() == Some(step.id.as_str()) {
            panic!("panic_at_step: step `{}`", step.id);
        }
        if !matches!(step.kind, StepKind::Action { .. }) {
            // Host steps commit what they do and nothing else: running one again is harmless.
            self.local.not_a_rerun();
        }
        Ok(match &step.kind {
            StepKind::Action { .. } => self.run_action(step, started).await,
            StepKind::Condition {
                expr,
                then,
                otherwise,
            } => self.run_condition(step, started, expr, then, otherwise),
            StepKind::Delay(d) => self.run_delay(step, started, d),
            StepKind::Goal {
                condition,
                within,
                met,
                ..
            } => self.run_goal(step, started, condition.as_ref(), *within, met),
            StepKind::Goto {
                target,
                max_iterations,
                fail_at_cap,
            } => self.run_goto(step, started, target, *max_iterations, *fail_at_cap),
            StepKind::Set { values } => self.run_set(step, started, values),
            StepKind::StartWorkflow {
                workflow,
                input,
                resume_paused,
            } => {
                self.start_workflow(step, started, workflow, input.as_ref(), *resume_paused)
                    .await?
            }
            StepKind::PauseWorkflow { workflow } => {
                self.control_others(step, started, workflow, control::PAUSE)
                    .await?
            }
            StepKind::CancelWorkflow { workflow } => {
                self.control_others(step, started, workflow, control::CANCEL)
                    .await?
            }
            StepKind::Stop {
                failed,
                reason,
                output,
            } => self.run_stop(step, started, *failed, reason.as_deref(), output.as_ref()),
        })
    }

    /// A host step that cannot do its work fails the execution (host steps have no retries or
    /// failure handling of their own).
    fn host_step_failed(
        &mut self,
        step: &Step,
        started: i64,
        code: &str,
        message: String,
    ) -> Outcome {
        let run = self.new_run(step, step_status::FAILED, started);
        self.step_failed(step, run, code, message, OnFailure::Fail, None)
    }

    /// The step waits until `wake_at` (or until what it waits on comes sooner).
    fn step_waits(
        &self,
        step: &Step,
        started: i64,
        detail: Value,
        wake_at: i64,
        waiting: Waiting,
    ) -> Outcome {
        let mut run = self.new_run(step, step_status::WAITING, started);
        run.ended_at = None;
        run.detail = Some(detail.to_string());
        let waiting = match waiting {
            Waiting::Delay { step, .. } => Waiting::Delay { step, seq: run.seq },
            Waiting::Goal { step, since, .. } => Waiting::Goal {
                step,
                seq: run.seq,
                since,
            },
            other => other,
        };
        Outcome::of(vec![run], Next::Wait { wake_at, waiting })
    }

    fn run_condition(
        &mut self,
        step: &Step,
        started: i64,
        expr: &Expr,
        then: &Target,
        otherwise: &Target,
    ) -> Outcome {
        match expr.is_true(&self.scope()) {
            Ok(yes) => {
                let mut run = self.new_run(step, step_status::COMPLETED, started);
                run.detail = Some(json!({"path": if yes { "then" } else { "else" }}).to_string());
                let next = if yes { then.clone() } else { otherwise.clone() };
                Outcome::of(vec![run], Next::Go(next))
            }
            Err(e) => {
                let code = e.code_or("condition_error");
                self.host_step_failed(step, started, code, e.to_string())
            }
        }
    }

    fn run_delay(&mut self, step: &Step, started: i64, d: &Delay) -> Outcome {
        let now = self.now();
        match delay::wake_at(d, now, &self.scope(), self.record.as_ref()) {
            Ok(at) if at <= now => {
                let mut run = self.new_run(step, step_status::COMPLETED, started);
                run.detail =
                    Some(json!({"wake_at": crate::time::json(at), "waited": false}).to_string());
                Outcome::of(vec![run], Next::Go(step.next.clone()))
            }
            Ok(at) => {
                let waiting = Waiting::Delay {
                    step: step.id.clone(),
                    seq: 0,
                };
                self.step_waits(
                    step,
                    started,
                    json!({"wake_at": crate::time::json(at)}),
                    at,
                    waiting,
                )
            }
            Err(e) => {
                let code = e.code_or("delay_error");
                self.host_step_failed(step, started, code, e.to_string())
            }
        }
    }

    fn run_goal(
        &mut self,
        step: &Step,
        started: i64,
        condition: Option<&Expr>,
        within: std::time::Duration,
        met: &Target,
    ) -> Outcome {
        let already = match condition.map(|c| c.is_true(&self.scope())) {
            Some(Ok(met)) => met,
            None => false,
            // A condition that cannot be evaluated is not "not met": it fails the step.
            Some(Err(e)) => {
                let code = e.code_or("condition_error");
                return self.host_step_failed(step, started, code, e.to_string());
            }
        };
        if already {
            let mut run = self.new_run(step, step_status::COMPLETED, started);
            run.detail = Some(json!({"path": "met", "at_start": true}).to_string());
            return Outcome::of(vec![run], Next::Go(met.clone()));
        }
        let deadline = self.now() + within.as_millis() as i64;
        let waiting = Waiting::Goal {
            step: step.id.clone(),
            seq: 0,
            since: started,
        };
        self.step_waits(
            step,
            started,
            json!({"until": crate::time::json(deadline)}),
            deadline,
            waiting,
        )
    }

    fn run_goto(
        &mut self,
        step: &Step,
        started: i64,
        target: &str,
        max_iterations: u32,
        fail_at_cap: bool,
    ) -> Outcome {
        let mut run = self.new_run(step, step_status::COMPLETED, started);
        let count = self.state.loops.entry(step.id.clone()).or_insert(0);
        if *count >= max_iterations {
            let capped = json!({"jumped": false, "capped": true, "capped_at": max_iterations});
            if fail_at_cap {
                let message = format!(
                    "the goto to `{target}` reached its cap of {max_iterations} jumps (on_cap: fail)"
                );
                let mut failed = self.host_step_failed(step, started, "goto_cap", message);
                failed.runs[0].detail = Some(capped.to_string());
                return failed;
            }
            tracing::info!(execution = %self.row.id, step = %step.id, max_iterations, "goto reached its cap; going on");
            run.detail = Some(capped.to_string());
            Outcome::of(vec![run], Next::Go(step.next.clone()))
        } else {
            *count += 1;
            run.detail = Some(json!({"jumped": true, "iteration": *count}).to_string());
            Outcome::of(vec![run], Next::Go(Target::Step(target.to_string())))
        }
    }

    fn run_set(&mut self, step: &Step, started: i64, values: &[(String, Template)]) -> Outcome {
        let scope = self.scope();
        let mut set = Map::new();
        for (name, template) in values {
            match self.value_to_set(name, template, &scope) {
                Ok(v) => {
                    set.insert(name.clone(), v);
                }
                Err((code, message)) => {
                    let message = format!("{name}: {message}");
                    return self.host_step_failed(step, started, code, message);
                }
            }
        }
        let mut run = self.new_run(step, step_status::COMPLETED, started);
        run.output = Some(Value::Object(set.clone()).to_string());
        self.state.variables.extend(set);
        Outcome::of(vec![run], Next::Go(step.next.clone()))
    }

    /// A `set` step's value for a variable: rendered, coerced to the variable's declared type,
    /// within the size limit; or the (code, message) of why it cannot be set.
    fn value_to_set(
        &self,
        name: &str,
        template: &Template,
        scope: &Scope,
    ) -> Result<Value, (&'static str, String)> {
        let v = template
            .render(scope)
            .map_err(|e| (e.code_or("set_failed"), e.to_string()))?;
        let v = match self.wf.variables.iter().find(|v| v.name == name) {
            Some(d) => {
                let v = variables::coerce(d.ty, v).map_err(|m| ("set_failed", m.to_string()))?;
                if d.required && variables::is_empty(&v) {
                    return Err(("set_failed", format!("variable `{name}` is required")));
                }
                v
            }
            None => v,
        };
        crate::limits::check_value(&v, crate::limits::MAX_VALUE_BYTES)
            .map_err(|why| ("value_too_large", why.to_string()))?;
        Ok(v)
    }

    /// `pause_workflow` / `cancel_workflow`: ask the other executions of `workflow` on this
    /// record to pause or cancel, with this step's result.
    async fn control_others(
        &mut self,
        step: &Step,
        started: i64,
        workflow: &str,
        what: &str,
    ) -> Result<Outcome, DriveError> {
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
        Ok(Outcome::with_writes(
            vec![run],
            side_writes,
            Next::Go(step.next.clone()),
        ))
    }

    fn run_stop(
        &mut self,
        step: &Step,
        started: i64,
        failed: bool,
        reason: Option<&str>,
        output: Option<&Template>,
    ) -> Outcome {
        let output = match output.map(|t| t.render(&self.scope())) {
            Some(Ok(v)) => Some(v),
            None => self.state.last_output.clone(),
            // An output that cannot be built is an error, not a null.
            Some(Err(e)) => {
                let code = e.code_or("invalid_output");
                let message = format!("building the output: {e}");
                return self.host_step_failed(step, started, code, message);
            }
        };
        let mut run = self.new_run(step, step_status::COMPLETED, started);
        run.output = output.as_ref().map(Value::to_string);
        let (status, error) = if failed {
            let message = reason
                .map(str::to_string)
                .unwrap_or_else(|| format!("stopped by step `{}`", step.id));
            (
                status::FAILED,
                Some(json!({"code": "stopped", "message": message})),
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
