//! The trigger evaluator: turns record events into executions and met goals. What a trigger
//! is, and how an event matches one, is the record domain's ([`crate::records::triggers`]).
//!
//! Evaluation is asynchronous. A record write commits its event; the evaluator (woken at once
//! on this node, or within its poll interval) takes pending events in order and, in one
//! transaction per batch:
//!
//! - for each switched-on workflow whose triggers watch the record's object type, matches the
//!   event against each trigger (its kind, then its `when` over the record **as the event left
//!   it**, not as it is by evaluation time); the first match starts one execution, so two
//!   triggers of one workflow matching the same change start it once;
//! - stops the start (an execution recorded as cancelled, with the reason) when the chain of
//!   workflows that led to the event would grow past the depth limit, or would bring the same
//!   workflow back to the same record;
//! - meets the goals that executions on that record wait for, when the event matches them;
//! - marks the event evaluated, with what it started, skipped, stopped and met.
//!
//! The execution's first step reads the record as it is when the step runs. An execution keeps
//! both times: `event_at` (the event) and `created_at` (its evaluation).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::chains::{loop_guard, queued};
use super::definition::StepKind;
use super::state::{State, Waiting, control, status};
use super::{EngineError, Inner};
use crate::records::triggers::{EventView, On, TriggerKind};
use crate::sandbox::RecordRef;
use crate::store::{Evaluation, EventRow, Switch, event_kind, millis};

/// Events per evaluation pass.
const BATCH: i64 = 256;

/// Start the evaluator loop. It runs until the process ends.
pub(crate) fn spawn(inner: Arc<Inner>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = evaluate_all(&inner).await {
                tracing::warn!(error = %e, "trigger evaluation failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(inner.config.poll_interval) => {}
                _ = inner.wake_evaluator.notified() => {}
            }
        }
    });
}

/// Evaluate pending events until none is left. Returns how many were evaluated.
pub(crate) async fn evaluate_all(inner: &Arc<Inner>) -> Result<usize, EngineError> {
    let mut total = 0;
    loop {
        let n = pass(inner).await?;
        total += n;
        if (n as i64) < BATCH {
            return Ok(total);
        }
    }
}

/// What evaluating one event did.
#[derive(Default)]
struct Outcome {
    started: Vec<Value>,
    skipped: Vec<Value>,
    stopped: Vec<Value>,
    goals: Vec<Value>,
    errors: Vec<Value>,
}

impl Outcome {
    fn to_json(&self) -> Value {
        let mut v = Map::new();
        for (k, list) in [
            ("started", &self.started),
            ("skipped", &self.skipped),
            ("stopped", &self.stopped),
            ("goals_met", &self.goals),
            ("errors", &self.errors),
        ] {
            if !list.is_empty() {
                v.insert(k.into(), Value::Array(list.clone()));
            }
        }
        Value::Object(v)
    }
}

async fn pass(inner: &Arc<Inner>) -> Result<usize, EngineError> {
    // Most passes find nothing: look first without the write lock, which SQLite's commit writer
    // would have to wait for.
    if !inner.store.events_pending().await? {
        return Ok(0);
    }
    let mut ev = inner.store.begin_evaluation().await?;
    let events = ev.pending_events(BATCH).await?;
    if events.is_empty() {
        ev.commit().await?;
        return Ok(0);
    }
    let now = millis(inner.config.clock.now());
    let switches = ev.switches().await?;
    let (mut started, mut met) = (false, false);
    for e in &events {
        let outcome = evaluate(inner, &mut ev, e, &switches, now).await?;
        started |= !outcome.started.is_empty();
        met |= !outcome.goals.is_empty();
        ev.evaluated(e.id, now, &outcome.to_json().to_string())
            .await?;
    }
    ev.commit().await?;
    if started || met {
        if met {
            inner.timer_added(now);
        }
        inner.wake_scheduler.notify_one();
    }
    Ok(events.len())
}

/// What one event starts, meets or skips: each watching workflow's triggers checked against
/// it, then the goals waiting on its record.
///
/// Long (about 150 lines): two loops, each deciding per workflow with the reason it records
/// (started, skipped by re-entry, switched off, killed); to be split by loop with issue 21.
async fn evaluate(
    inner: &Arc<Inner>,
    ev: &mut Evaluation,
    e: &EventRow,
    switches: &HashMap<String, Switch>,
    now: i64,
) -> Result<Outcome, EngineError> {
    let view = EventView::of(e);
    let cause: Value = serde_json::from_str(&e.cause).unwrap_or(Value::Null);
    let chain: Vec<Value> = cause["chain"].as_array().cloned().unwrap_or_default();
    let record = RecordRef {
        object: e.object.clone(),
        id: e.record_id.clone(),
    };
    let mut out = Outcome::default();

    for w in inner.workflows.watching(&e.object).await? {
        let wf = &w.wf;
        // Off, or the event happened while it was off (or before it existed): not its own.
        if !switches.get(&wf.name).is_some_and(|s| s.takes(e.id, e.at)) {
            continue;
        }
        // Date triggers: the record's one future run follows its date field.
        for t in &wf.triggers {
            let TriggerKind::Date(d) = &t.kind else {
                continue;
            };
            let gone = matches!(
                view.kind.as_str(),
                event_kind::DELETED | event_kind::ARCHIVED
            );
            let run_at = if gone {
                None
            } else {
                super::schedules::future_run(d, &view.record, now)
            };
            ev.set_date_run(&wf.name, &t.id, &e.object, &e.record_id, run_at)
                .await?;
        }
        let mut matched = None;
        for t in &wf.triggers {
            let TriggerKind::Event(m) = &t.kind else {
                continue;
            };
            match m.matches(&view, Map::new()) {
                Ok(true) => {
                    matched = Some(t.id.clone());
                    break;
                }
                Ok(false) => {}
                Err(message) => out.errors.push(json!({
                    "workflow": wf.name, "trigger": t.id,
                    "message": format!("the trigger's condition failed: {message}"),
                })),
            }
        }
        let Some(trigger) = matched else { continue };
        if let Some(reason) = inner.workflows.killed(&wf.name).await? {
            out.skipped
                .push(json!({"workflow": wf.name, "trigger": trigger, "reason": reason}));
            continue;
        }
        let (new_chain, guard) = loop_guard(inner, wf, &chain, Some(&record));
        let mut row = queued(
            wf,
            w.version,
            Some(record.clone()),
            json!({
                "trigger": trigger,
                "event": {"id": e.id, "kind": view.kind, "changes": view.changes, "detail": view.detail},
            }),
            json!({"kind": "trigger", "trigger": trigger, "event": e.id, "chain": new_chain}),
            e.at,
            now,
        );
        if let Some(reason) = guard {
            row.status = status::CANCELLED.into();
            row.error = Some(json!({"code": "loop_guard", "message": reason}).to_string());
            row.ended_at = Some(now);
            row.exclusive = false;
            ev.insert_execution(&row).await?;
            tracing::warn!(workflow = %wf.name, execution = %row.id, %reason, "start stopped");
            out.stopped.push(
                json!({"workflow": wf.name, "trigger": trigger, "execution": row.id, "reason": reason}),
            );
        } else if ev.insert_execution(&row).await? {
            out.started
                .push(json!({"workflow": wf.name, "trigger": trigger, "execution": row.id}));
        } else {
            let other = ev
                .active_on_record(&wf.name, &e.object, &e.record_id)
                .await?;
            out.skipped.push(json!({
                "workflow": wf.name, "trigger": trigger,
                "reason": format!("the record is already in the workflow (execution {}), which does not allow re-entry", other.unwrap_or_default()),
            }));
        }
    }

    for x in ev.waiting_on_record(&e.object, &e.record_id).await? {
        let state: State = match serde_json::from_str(&x.state) {
            Ok(state) => state,
            Err(e) => {
                // Not a goal to check: the executor fails it (state_unreadable) when it runs.
                tracing::error!(execution = %x.id, error = %e, "stored state does not read back");
                continue;
            }
        };
        let Some(Waiting::Goal { step, since, .. }) = &state.waiting else {
            continue;
        };
        if e.at < *since {
            continue;
        }
        let wf = match inner.workflows.version(&x.workflow, x.version).await {
            Ok(wf) => wf,
            Err(_) => continue,
        };
        let Some(StepKind::Goal {
            event, condition, ..
        }) = wf.position(step).map(|i| &wf.steps[i].kind)
        else {
            continue;
        };
        let input: Value = match serde_json::from_str(&x.input) {
            Ok(input) => input,
            Err(e) => {
                tracing::error!(execution = %x.id, error = %e, "stored input does not read back");
                continue;
            }
        };
        let extra = Map::from_iter([
            ("vars".to_string(), Value::Object(state.variables.clone())),
            ("input".to_string(), input),
        ]);
        let kind_ok = match event {
            Some(m) => m.matches(&view, extra.clone()),
            None if condition.is_some() => Ok(On::AnyChange.takes(&view)),
            None => Ok(false),
        };
        let met = kind_ok.and_then(|ok| match (ok, condition) {
            (true, Some(c)) => c.is_true(&view.scope(extra)),
            (ok, _) => Ok(ok),
        });
        match met {
            Ok(true) => {
                if ev.signal(&x.id, control::MET, now).await? {
                    out.goals.push(json!({"execution": x.id, "step": step}));
                }
            }
            Ok(false) => {}
            Err(message) => out.errors.push(json!({
                "execution": x.id, "step": step,
                "message": format!("the goal's condition failed: {message}"),
            })),
        }
    }
    Ok(out)
}
