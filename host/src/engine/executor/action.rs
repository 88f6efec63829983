//! Action steps: a step module run in the sandbox with the backends of the capabilities its
//! module was granted, and what a failed step does next.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::engine::definition::{OnFailure, Step, StepKind, Target};
use crate::engine::state::{Waiting, control, pause_reason, status, step_status};
use crate::sandbox::{StepContext, StepFailure, StepRequest};
use crate::store::{RecordRead, StepRunRow};

use super::{Next, Outcome, Run};

impl<'a> Run<'a> {
    pub(super) async fn run_action(&mut self, step: &Step, started: i64) -> Outcome {
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
                    "chain": crate::engine::chains::chain_of(&self.row),
                });
                Arc::new(crate::records::step::StepRecords::new(
                    self.inner.store.clone(),
                    self.inner.objects.clone(),
                    started,
                    cause.to_string(),
                ))
            });
        let grants = module.grants();
        let teams = grants.contains(crate::sandbox::Capability::Teams).then(|| {
            Arc::new(crate::services::teams::StepTeams::new(
                self.inner.store.clone(),
                started,
            ))
        });
        let llm = (grants.contains(crate::sandbox::Capability::Llm)
            || grants.contains(crate::sandbox::Capability::Audio))
        .then(|| {
            Arc::new(crate::services::llm::StepLlm::new(
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
                    timeout: crate::engine::definition::AI_STEP_TIMEOUT,
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
                    Arc::new(crate::services::files::StepFiles::new(
                        self.inner.store.clone(),
                    )) as Arc<dyn crate::sandbox::FilesBackend>
                }),
                email: grants.contains(crate::sandbox::Capability::Email).then(|| {
                    Arc::new(crate::services::email::StepEmail::new(
                        self.inner.config.mailer.clone(),
                    )) as Arc<dyn crate::sandbox::EmailBackend>
                }),
                http: grants.contains(crate::sandbox::Capability::Http).then(|| {
                    Arc::new(crate::services::http::StepHttp::new(
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
    pub(super) fn step_failed(
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
