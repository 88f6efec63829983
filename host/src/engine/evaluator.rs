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
use super::workflows::Watcher;
use super::{EngineError, Inner};
use crate::records::triggers::{EventView, Miss, On, TriggerKind};
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

/// What an evaluated event's `outcome` says of one workflow: `{result, ...}` with `result`
/// `started`, `skipped` or `stopped` and the entry's own fields (code, reason, trigger,
/// execution); `pending` before evaluation, `not_considered` when the workflow did not watch
/// the event's object type then (it did not exist yet, or had no trigger on it).
pub(crate) fn verdict(outcome: Option<&str>, workflow: &str) -> Value {
    let Some(outcome) = outcome.and_then(|o| serde_json::from_str::<Value>(o).ok()) else {
        return json!({"result": "pending", "reason": "the event is not evaluated yet"});
    };
    for (key, result) in [
        ("started", "started"),
        ("skipped", "skipped"),
        ("stopped", "stopped"),
    ] {
        let found = outcome[key]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["workflow"] == workflow));
        if let Some(Value::Object(entry)) = found {
            let mut v = entry.clone();
            v.remove("workflow");
            v.insert("result".into(), json!(result));
            let errors: Vec<&Value> = outcome["errors"]
                .as_array()
                .map(|l| l.iter().filter(|x| x["workflow"] == workflow).collect())
                .unwrap_or_default();
            if !errors.is_empty() {
                v.insert("errors".into(), json!(errors));
            }
            return Value::Object(v);
        }
    }
    json!({
        "result": "not_considered",
        "reason": "when the event was evaluated, the workflow did not watch its object type (it did not exist yet, or had no trigger on it)",
    })
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
        crate::telemetry::trigger_evaluated(
            &e.object,
            std::time::Duration::from_millis(now.saturating_sub(e.at).max(0) as u64),
        );
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
/// it (each workflow said on the event: started, or why not), then the goals waiting on its
/// record.
async fn evaluate(
    inner: &Arc<Inner>,
    ev: &mut Evaluation,
    e: &EventRow,
    switches: &HashMap<String, Switch>,
    now: i64,
) -> Result<Outcome, EngineError> {
    let event = Event {
        row: e,
        view: EventView::of(e),
        chain: serde_json::from_str::<Value>(&e.cause)
            .ok()
            .and_then(|c| c["chain"].as_array().cloned())
            .unwrap_or_default(),
        record: RecordRef {
            object: e.object.clone(),
            id: e.record_id.clone(),
        },
    };
    let mut out = Outcome::default();
    for w in inner.workflows.watching(&e.object).await? {
        consider(inner, ev, &event, &w, switches, now, &mut out).await?;
    }
    meet_goals(inner, ev, &event, now, &mut out).await?;
    Ok(out)
}

/// An event being evaluated, read once.
struct Event<'a> {
    row: &'a EventRow,
    view: EventView,
    /// The chain of workflows that led to it.
    chain: Vec<Value>,
    record: RecordRef,
}

/// Why a watching workflow started nothing: `{workflow, code, reason, ...}` on the event.
fn not_started(wf: &str, code: &str, reason: impl Into<String>) -> Map<String, Value> {
    Map::from_iter([
        ("workflow".to_string(), json!(wf)),
        ("code".to_string(), json!(code)),
        ("reason".to_string(), json!(reason.into())),
    ])
}

/// One watching workflow and one event: its date runs follow the record, and the first of its
/// event triggers that matches starts it (or the outcome says why not).
async fn consider(
    inner: &Arc<Inner>,
    ev: &mut Evaluation,
    event: &Event<'_>,
    w: &Watcher,
    switches: &HashMap<String, Switch>,
    now: i64,
    out: &mut Outcome,
) -> Result<(), EngineError> {
    let (wf, e, view) = (&w.wf, event.row, &event.view);
    // Off, or the event happened while it was off (or before it existed): not its own.
    match switches.get(&wf.name) {
        Some(s) if s.takes(e.id, e.at) => {}
        Some(s) if s.on => {
            out.skipped.push(Value::Object(not_started(
                &wf.name,
                "switched_off",
                "the event happened before the workflow was saved or switched on",
            )));
            return Ok(());
        }
        _ => {
            out.skipped.push(Value::Object(not_started(
                &wf.name,
                "switched_off",
                "the workflow is switched off",
            )));
            return Ok(());
        }
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
    let mut misses = Vec::new();
    let mut condition_false = false;
    for t in &wf.triggers {
        let TriggerKind::Event(m) = &t.kind else {
            misses.push(json!({"trigger": t.id, "reason": "not an event trigger: it starts the workflow by its date, schedule or webhook"}));
            continue;
        };
        match m.check(view, Map::new()) {
            Ok(()) => {
                matched = Some(t.id.clone());
                break;
            }
            Err(Miss::Kind) => misses.push(json!({
                "trigger": t.id,
                "reason": format!("waits for {}; this event is {}", m.on.describe(), view.describe()),
            })),
            Err(Miss::Condition(values)) => {
                condition_false = true;
                misses.push(json!({
                    "trigger": t.id,
                    "reason": "its `when` was false",
                    "values": values,
                }));
            }
            Err(Miss::Failed(message)) => out.errors.push(json!({
                "workflow": wf.name, "trigger": t.id, "code": "condition_failed",
                "message": format!("the trigger's condition failed: {message}"),
            })),
        }
    }
    let Some(trigger) = matched else {
        let (code, reason) = if condition_false {
            (
                "condition_false",
                "a trigger took the event, but its `when` was false",
            )
        } else {
            ("no_trigger_matched", "no trigger waits for this event")
        };
        let mut skipped = not_started(&wf.name, code, reason);
        skipped.insert("triggers".into(), Value::Array(misses));
        out.skipped.push(Value::Object(skipped));
        return Ok(());
    };
    if let Some(reason) = inner.workflows.killed(&wf.name).await? {
        let mut skipped = not_started(&wf.name, "kill_switch", reason);
        skipped.insert("trigger".into(), json!(trigger));
        out.skipped.push(Value::Object(skipped));
        return Ok(());
    }
    let record = &event.record;
    let (new_chain, guard) = loop_guard(inner, wf, &event.chain, Some(record));
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
        out.stopped.push(json!({
            "workflow": wf.name, "trigger": trigger, "execution": row.id,
            "code": "loop_guard", "reason": reason,
        }));
    } else if ev.insert_execution(&row).await? {
        let mut started = json!({"workflow": wf.name, "trigger": trigger, "execution": row.id});
        if wf.settings.throttled() {
            started["throttled"] = json!(
                "queued: it starts when the workflow's max_concurrent and max_starts_per_minute allow"
            );
        }
        out.started.push(started);
    } else {
        let other = ev
            .active_on_record(&wf.name, &e.object, &e.record_id)
            .await?;
        let mut skipped = not_started(
            &wf.name,
            "reentry",
            format!(
                "the record is already in the workflow (execution {}), which does not allow re-entry",
                other.unwrap_or_default()
            ),
        );
        skipped.insert("trigger".into(), json!(trigger));
        out.skipped.push(Value::Object(skipped));
    }
    Ok(())
}

/// The goals that executions waiting on the event's record meet with it.
async fn meet_goals(
    inner: &Arc<Inner>,
    ev: &mut Evaluation,
    event: &Event<'_>,
    now: i64,
    out: &mut Outcome,
) -> Result<(), EngineError> {
    let (e, view) = (event.row, &event.view);
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
            Some(m) => m.matches(view, extra.clone()),
            None if condition.is_some() => Ok(On::AnyChange.takes(view)),
            None => Ok(false),
        };
        let met = kind_ok.and_then(|ok| match (ok, condition) {
            (true, Some(c)) => c.is_true(&view.scope(extra)),
            (ok, _) => Ok(ok),
        });
        match met {
            Ok(true) => {
                if ev.signal(&x.id, &control::met_by_event(e.id), now).await? {
                    out.goals.push(json!({"execution": x.id, "step": step}));
                }
            }
            Ok(false) => {}
            Err(message) => out.errors.push(json!({
                "execution": x.id, "step": step, "code": "condition_failed",
                "message": format!("the goal's condition failed: {message}"),
            })),
        }
    }
    Ok(())
}
