//! Action steps: a step module run in the sandbox with the backends of the capabilities its
//! module was granted, and what a failed step does next.

use std::sync::Arc;

use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::engine::definition::{Code, OnFailure, Step, StepKind, Target};
use crate::engine::modules::Runnable;
use crate::engine::state::{Waiting, control, pause_reason, status, step_status};
use crate::expr::Template;
use crate::records::step::StepRecords;
use crate::sandbox::{
    AudioBackend, Backends, Capability, EmailBackend, FilesBackend, HttpBackend, Limits,
    LlmBackend, RecordsBackend, StepContext, StepFailure, StepRequest, TeamsBackend,
};
use crate::services::llm::StepLlm;
use crate::services::teams::StepTeams;
use crate::store::{RecordRead, SideWrite, StepRunRow};

use super::{Next, Outcome, Run};

/// The typed handles of the backends a run was given, kept to collect what they buffered.
struct Handles {
    records: Option<Arc<StepRecords>>,
    teams: Option<Arc<StepTeams>>,
    llm: Option<Arc<StepLlm>>,
}

impl<'a> Run<'a> {
    pub(super) async fn run_action(&mut self, step: &Step, started: i64) -> Outcome {
        let StepKind::Action {
            module,
            input,
            code,
            timeout_given,
            limits,
            retry,
            on_failure,
            on_failure_goto,
            ..
        } = &step.kind
        else {
            unreachable!("run_action is called for action steps");
        };
        let mut run = self.new_run(step, step_status::FAILED, started);
        let failed = |this: &mut Self, run, code: &str, message: String| {
            this.step_failed(
                step,
                run,
                code,
                message,
                *on_failure,
                on_failure_goto.clone(),
            )
        };
        let input = match self.action_input(input.as_ref(), code.as_ref()) {
            Ok(input) => input.to_string(),
            Err((code, message)) => return failed(self, run, code, message),
        };
        run.input = Some(input.clone());
        let runnable = match self.inner.modules.get(module).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                let message = format!("there is no step module `{module}`");
                return failed(self, run, "no_module", message);
            }
            Err(e) => return failed(self, run, "module_error", e.to_string()),
        };
        let name = module;
        let module = &runnable.module;
        let grants = module.grants();
        let ai = grants.contains(Capability::Llm) || grants.contains(Capability::Audio);
        let (backends, handles) = self.backends(step, &runnable, started);
        let request = StepRequest {
            input,
            context: StepContext {
                execution_id: self.row.id.clone(),
                workflow_id: self.row.workflow.clone(),
                step_id: step.id.clone(),
                attempt: self.state.attempt,
                record: self.record_ref(),
            },
            variables: Arc::new(self.state.variables.clone()),
            // An AI step without a timeout of its own gets the longer AI default; a definition
            // saved under higher ceilings is held to today's.
            limits: if ai && !timeout_given {
                Limits {
                    timeout: crate::engine::definition::AI_STEP_TIMEOUT,
                    ..*limits
                }
            } else {
                *limits
            }
            .within(&self.inner.config.step_ceilings),
            backends,
        };
        let mut running = run.clone();
        running.status = "running".into();
        running.ended_at = None;
        self.local.set_current(Some(running));
        let span = tracing::info_span!(
            target: crate::telemetry::traces::TARGET,
            "step",
            otel.name = format!("step {}", step.id),
            step.id = step.id,
            module = name,
            module.hash = module.info().hash.as_str(),
            attempt = i64::from(self.state.attempt),
            fuel = tracing::field::Empty,
            memory.peak = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let outcome = tokio::select! {
            outcome = self.inner.sandbox.run(module, request).instrument(span.clone()) => Some(outcome),
            _ = self.local.cancel.notified() => None,
        };
        span.record(
            "outcome",
            outcome.as_ref().map_or("cancelled", |o| {
                o.result.as_ref().map_or_else(|f| f.code(), |_| "completed")
            }),
        );
        if let Some(o) = &outcome {
            // OpenTelemetry has no unsigned integers: a u64 would become a string.
            span.record("fuel", i64::try_from(o.fuel_used).unwrap_or(i64::MAX));
            span.record(
                "memory.peak",
                i64::try_from(o.memory_peak).unwrap_or(i64::MAX),
            );
        }
        drop(span);
        self.local.set_current(None);
        let Some(outcome) = outcome else {
            // Cancelled while running: the request is acted on by the next `advance`.
            self.local.request(control::CANCEL);
            run.status = step_status::CANCELLED.into();
            run.ended_at = Some(self.now());
            return Outcome::of(vec![run], Next::Go(Target::Step(step.id.clone())));
        };
        run.ended_at = Some(self.now());
        crate::telemetry::step_attempt(
            name,
            outcome
                .result
                .as_ref()
                .map_or_else(|f| f.code(), |_| "completed"),
            outcome.duration,
            outcome.fuel_used,
            outcome.memory_peak,
        );
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
        if let Some(calls) = handles.llm.as_ref().and_then(|l| l.history()) {
            detail["llm"] = calls;
        }
        if self
            .local
            .taken_over
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            // Its node stopped with this step's result uncommitted: what the step did outside
            // (an HTTP request, an email) may have happened twice.
            detail["rerun"] = json!({
                "reason": "taken over from a node that stopped before committing this step's result: it may have run there too, in part or whole",
            });
        }
        match outcome.result {
            Ok(output) => {
                let writes = outcome.variable_writes;
                self.action_completed(step, run, detail, output, writes, handles)
            }
            Err(failure) => {
                run.detail = Some(detail.to_string());
                if failure.is_retryable() && self.state.attempt < retry.attempts {
                    let next_attempt = self.state.attempt + 1;
                    run.error = Some(failure_json(&failure).to_string());
                    self.state.attempt = next_attempt;
                    let wake_at =
                        self.now() + retry.backoff_before(next_attempt).as_millis() as i64;
                    let waiting = Waiting::Retry {
                        step: step.id.clone(),
                    };
                    return Outcome::of(vec![run], Next::Wait { wake_at, waiting });
                }
                failed(self, run, failure.code(), failure.to_string())
            }
        }
    }

    /// The input an action step gets: its template rendered (or the last output, or the
    /// execution's input), wrapped with the source for a code step, within its size limit.
    fn action_input(
        &self,
        template: Option<&Template>,
        code: Option<&Code>,
    ) -> Result<Value, (&'static str, String)> {
        let input = match template {
            Some(t) => t.render(&self.scope()).map_err(|e| {
                (
                    e.code_or("invalid_input"),
                    format!("building the input: {e}"),
                )
            })?,
            None => self
                .state
                .last_output
                .clone()
                .unwrap_or_else(|| self.input.clone()),
        };
        // A code step hands its runner the source with the input.
        let input = match code {
            Some(code) => json!({ "code": code.source.as_ref(), "inputs": input }),
            None => input,
        };
        crate::limits::check_value(&input, crate::limits::MAX_STEP_INPUT_BYTES)
            .map_err(|why| ("value_too_large", format!("the step's input: {why}")))?;
        Ok(input)
    }

    /// The backends of the capabilities the module was granted (and only those).
    fn backends(&self, step: &Step, runnable: &Runnable, started: i64) -> (Backends, Handles) {
        let grants = runnable.module.grants();
        let store = &self.inner.store;
        // Only a module granted `records` gets the backend (and its writes a cause).
        let records = grants.contains(Capability::Records).then(|| {
            let cause = json!({
                "kind": "execution",
                "execution": self.row.id,
                "workflow": self.row.workflow,
                "step": step.id,
                "chain": crate::engine::chains::chain_of(&self.row),
            });
            let objects = self.inner.objects.clone();
            Arc::new(StepRecords::new(
                store.clone(),
                objects,
                started,
                cause.to_string(),
            ))
        });
        let teams = grants
            .contains(Capability::Teams)
            .then(|| Arc::new(StepTeams::new(store.clone(), started)));
        let llm =
            (grants.contains(Capability::Llm) || grants.contains(Capability::Audio)).then(|| {
                Arc::new(StepLlm::new(
                    store.clone(),
                    self.inner.http.clone(),
                    self.inner.config.clock.clone(),
                    self.inner.llm_limits.clone(),
                    self.row.workflow.clone(),
                ))
            });
        let backends = Backends {
            records: records.clone().map(|r| r as Arc<dyn RecordsBackend>),
            teams: teams.clone().map(|t| t as Arc<dyn TeamsBackend>),
            files: grants.contains(Capability::Files).then(|| {
                Arc::new(crate::services::files::StepFiles::new(store.clone()))
                    as Arc<dyn FilesBackend>
            }),
            email: grants.contains(Capability::Email).then(|| {
                Arc::new(crate::services::email::StepEmail::new(
                    self.inner.config.mailer.clone(),
                )) as Arc<dyn EmailBackend>
            }),
            http: grants.contains(Capability::Http).then(|| {
                Arc::new(crate::services::http::StepHttp::new(
                    self.inner.http.clone(),
                    runnable.http_hosts.clone(),
                )) as Arc<dyn HttpBackend>
            }),
            llm: llm
                .clone()
                .filter(|_| grants.contains(Capability::Llm))
                .map(|l| l as Arc<dyn LlmBackend>),
            audio: llm
                .clone()
                .filter(|_| grants.contains(Capability::Audio))
                .map(|l| l as Arc<dyn AudioBackend>),
        };
        (
            backends,
            Handles {
                records,
                teams,
                llm,
            },
        )
    }

    /// An action step completed: keep its output (and its variables), take the branch it
    /// named, and commit the record and team writes it buffered with the reads they rest on.
    fn action_completed(
        &mut self,
        step: &Step,
        mut run: StepRunRow,
        mut detail: Value,
        output: Value,
        variable_writes: Vec<(String, Value)>,
        handles: Handles,
    ) -> Outcome {
        let StepKind::Action {
            input: input_template,
            branches,
            save_as,
            ..
        } = &step.kind
        else {
            unreachable!("action_completed is called for action steps");
        };
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
        self.state.variables.extend(variable_writes);
        if let Some(name) = save_as {
            self.state.variables.insert(name.clone(), output.clone());
        }
        self.state.outputs.insert(step.id.clone(), output.clone());
        self.state.last_output = Some(output);
        // The sandbox has dropped its handle: the buffer is ours alone now.
        let (mut side_writes, mut reads) = handles
            .records
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
            // Reads without writes need no check: the step saw the records as they were at
            // some moment, and changed nothing that depends on them.
            reads.clear();
        }
        if let Some(t) = handles.teams.and_then(|t| Arc::try_unwrap(t).ok()) {
            side_writes.extend(t.into_side_writes());
        }
        Outcome {
            runs: vec![run],
            side_writes,
            reads,
            next: Next::Go(next),
        }
    }

    /// A step failed for good: record it, and go where the step's failure handling says. The
    /// message (a guest's traceback, maybe) goes to the history only: the server's log gets the
    /// code.
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
        // What the steps after it see as `{{ failure }}`, if the execution goes on.
        let failure = json!({
            "step": step.id, "code": code, "message": message, "attempt": self.state.attempt,
        });
        let handling = match (&goto, on_failure) {
            (Some(_), _) | (None, OnFailure::ContinueSilently) => None,
            (None, OnFailure::Fail) => Some("fail"),
            (None, OnFailure::Pause) => Some("pause"),
            (None, OnFailure::Continue) => Some("continue"),
        };
        let notices = match (handling, &self.wf.settings.notify) {
            (Some(handling), Some(notify)) => crate::engine::notices::for_failure(
                notify,
                &crate::engine::notices::Failure {
                    execution: &self.row,
                    step: &step.id,
                    error: &error,
                    attempt: self.state.attempt,
                    handling,
                    public_url: self.inner.config.public_url.as_deref(),
                    now: self.now(),
                },
            ),
            _ => vec![],
        };
        if !notices.is_empty() {
            let targets: Vec<Value> = notices
                .iter()
                .map(|n| json!({"kind": n.kind, "target": crate::engine::notices::shown_target(n)}))
                .collect();
            add_detail(&mut run, json!({ "notify": targets }));
        }
        let side_writes = notices
            .into_iter()
            .map(|n| SideWrite::Notice(Box::new(n)))
            .collect();
        let next = if let Some(target) = goto {
            self.state.failure = Some(failure);
            Next::Go(target)
        } else {
            match on_failure {
                OnFailure::Fail => Next::Finish {
                    status: status::FAILED,
                    output: None,
                    error: Some(error),
                },
                OnFailure::Pause => {
                    tracing::warn!(execution = %self.row.id, step = %step.id, code, "step failed: execution paused at it");
                    // Resuming runs the step again, from its first attempt.
                    self.state.attempt = 1;
                    self.row.error = Some(error.to_string());
                    Next::Pause {
                        reason: pause_reason::STEP_FAILED,
                    }
                }
                OnFailure::Continue => {
                    tracing::warn!(execution = %self.row.id, step = %step.id, code, "step failed: execution continues");
                    add_detail(&mut run, json!({"continued": true}));
                    self.state.failure = Some(failure);
                    Next::Go(step.next.clone())
                }
                OnFailure::ContinueSilently => {
                    add_detail(&mut run, json!({"continued": true}));
                    self.state.failure = Some(failure);
                    Next::Go(step.next.clone())
                }
            }
        };
        Outcome::with_writes(vec![run], side_writes, next)
    }
}

/// Add keys to a run's detail, keeping what it had (an llm_call's calls and tokens).
fn add_detail(run: &mut StepRunRow, more: Value) {
    let mut detail = run
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let (Some(d), Value::Object(more)) = (detail.as_object_mut(), more) {
        d.extend(more);
    }
    run.detail = Some(detail.to_string());
}

fn failure_json(f: &StepFailure) -> Value {
    json!({"code": f.code(), "message": f.to_string()})
}
