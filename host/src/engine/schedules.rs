//! Timed triggers: cron schedules (in a time zone; once, or over the records a filter picks),
//! runs on or around a date field of each record, and activities that pass their due time.
//!
//! Each is a row with a time, not a sleeping task: `schedules` holds each cron trigger's next
//! run, `date_runs` the one future run per record of each date trigger (kept up to date as
//! records change, by the evaluator), and open activities their due time. The scheduler's pass
//! calls [`pass`], which starts what is due. Nothing is retroactive: a trigger added, changed or
//! switched on counts from then; a cron run missed while no node ran happens once, late.

use std::sync::Arc;

use serde_json::{Value, json};

use super::chains::{link, queued};
use crate::engine::definition::{Scope, Workflow};
use crate::engine::{EngineError, Inner};
use crate::records::record_matches;
use crate::records::triggers::{DateTrigger, TriggerKind};
use crate::sandbox::RecordRef;
use crate::store::{DateRunRow, RecordAction, RecordOp, RecordSchema, ScheduleRow, millis};

/// Due runs handled per kind and pass.
const BATCH: i64 = 256;

fn date_triggers(wf: &Workflow) -> impl Iterator<Item = (&str, &DateTrigger)> {
    wf.triggers.iter().filter_map(|t| match &t.kind {
        TriggerKind::Date(d) => Some((t.id.as_str(), d)),
        _ => None,
    })
}

/// A date trigger's run for a record with these fields (JSON text), if it is in the future.
pub(crate) fn future_run(d: &DateTrigger, fields: &Value, now: i64) -> Option<i64> {
    d.run_at(&fields[&d.field]).filter(|t| *t > now)
}

/// Recompute a workflow's timed triggers (its newest version) from now: each cron trigger's
/// next run, and each record's future date run.
pub(crate) async fn sync(inner: &Arc<Inner>, name: &str) -> Result<(), EngineError> {
    let (_, wf) = inner.workflows.latest(name).await?;
    let now = millis(inner.config.clock.now());
    let schedules: Vec<ScheduleRow> = wf
        .triggers
        .iter()
        .filter_map(|t| match &t.kind {
            TriggerKind::Schedule(s) => Some(ScheduleRow {
                workflow: wf.name.clone(),
                trigger_id: t.id.clone(),
                next_at: s.next_after(now)?,
            }),
            _ => None,
        })
        .collect();
    inner.store.sync_schedules(&wf.name, &schedules).await?;

    let mut runs = Vec::new();
    if let Scope::Record(object) = &wf.scope
        && date_triggers(&wf).next().is_some()
    {
        for r in inner.store.live_records(object).await? {
            let fields: Value = serde_json::from_str(&r.fields).unwrap_or(Value::Null);
            for (id, d) in date_triggers(&wf) {
                if let Some(run_at) = future_run(d, &fields, now) {
                    runs.push(DateRunRow {
                        workflow: wf.name.clone(),
                        trigger_id: id.to_string(),
                        object: object.clone(),
                        record_id: r.id.clone(),
                        run_at,
                    });
                }
            }
        }
    }
    inner.store.sync_date_runs(&wf.name, &runs).await?;
    Ok(())
}

/// Start what is due now. Returns how many runs were handled.
pub(crate) async fn pass(inner: &Arc<Inner>) -> Result<usize, EngineError> {
    let now = millis(inner.config.clock.now());
    // One read says whether anything is due; most scheduler passes stop here.
    if inner
        .store
        .next_trigger_time()
        .await?
        .is_none_or(|t| t > now)
    {
        return Ok(0);
    }
    let mut handled = past_due(inner, now).await?;
    let mut started = false;
    for row in inner.store.due_schedules(now, BATCH).await? {
        handled += 1;
        started |= cron_run(inner, row, now).await?;
    }
    for run in inner.store.due_date_runs(now, BATCH).await? {
        handled += 1;
        started |= date_run(inner, run, now).await?;
    }
    if started {
        inner.wake_scheduler.notify_one();
    }
    Ok(handled)
}

/// Record the past-due event of each open activity whose due time has passed.
async fn past_due(inner: &Arc<Inner>, now: i64) -> Result<usize, EngineError> {
    let due = inner.store.due_activities(now, BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let cause = json!({"kind": "schedule", "what": "activity_past_due"}).to_string();
    let ops = due
        .iter()
        .map(|a| RecordOp {
            object: a.object.clone(),
            id: a.record_id.clone(),
            action: RecordAction::ActivityPastDue {
                activity_id: a.id.clone(),
            },
            schema: RecordSchema::default(),
            cause: cause.clone(),
            now,
        })
        .collect();
    inner.store.writer().records(ops).await?;
    inner.wake_evaluator.notify_one();
    Ok(due.len())
}

/// Run a due cron trigger: advance it, and start one execution (or one per record its filter
/// picks). Returns whether anything started.
async fn cron_run(inner: &Arc<Inner>, row: ScheduleRow, now: i64) -> Result<bool, EngineError> {
    let (version, wf) = inner.workflows.latest(&row.workflow).await?;
    let schedule = wf.triggers.iter().find_map(|t| match &t.kind {
        TriggerKind::Schedule(s) if t.id == row.trigger_id => Some(s),
        _ => None,
    });
    let Some(schedule) = schedule else {
        // The trigger is gone from the newest version.
        sync(inner, &row.workflow).await?;
        return Ok(false);
    };
    let next = schedule
        .next_after(now.max(row.next_at))
        .unwrap_or(i64::MAX);
    let records: Vec<Option<RecordRef>> = match &wf.scope {
        Scope::Global => vec![None],
        Scope::Record(object) => {
            let live = inner.store.live_records(object).await?;
            // Every record's filter, off the async workers.
            let keeps: Vec<bool> = match &schedule.filter {
                Some(f) => crate::expr::off_worker(|| {
                    live.iter()
                        .map(|r| {
                            record_matches(f, r).unwrap_or_else(|e| {
                                tracing::warn!(workflow = %wf.name, trigger = %row.trigger_id, error = %e, "schedule filter failed on a record");
                                false
                            })
                        })
                        .collect()
                }),
                None => vec![true; live.len()],
            };
            live.into_iter()
                .zip(keeps)
                .filter(|(_, keep)| *keep)
                .map(|(r, _)| {
                    Some(RecordRef {
                        object: object.clone(),
                        id: r.id,
                    })
                })
                .collect()
        }
    };
    let killed = inner.workflows.killed(&wf.name).await?;
    let mut tx = inner.store.begin_evaluation().await?;
    if !tx
        .advance_schedule(&row.workflow, &row.trigger_id, row.next_at, next)
        .await?
    {
        tx.commit().await?;
        return Ok(false);
    }
    let mut started = false;
    if let Some(reason) = killed {
        tracing::warn!(workflow = %wf.name, trigger = %row.trigger_id, %reason, "scheduled run skipped");
    } else {
        for record in records {
            let cause = json!({
                "kind": "schedule", "trigger": row.trigger_id, "scheduled_at": crate::time::json(row.next_at),
                "chain": [link(&wf.name, record.as_ref())],
            });
            let input =
                json!({"trigger": row.trigger_id, "scheduled_at": crate::time::json(row.next_at)});
            let execution = queued(&wf, version, record, input, cause, row.next_at, now);
            started |= tx.insert_execution(&execution).await?;
        }
    }
    tx.commit().await?;
    Ok(started)
}

/// Run a due date run: take it, and start the execution on its record.
async fn date_run(inner: &Arc<Inner>, run: DateRunRow, now: i64) -> Result<bool, EngineError> {
    let (version, wf) = inner.workflows.latest(&run.workflow).await?;
    let trigger = date_triggers(&wf).find(|(id, _)| *id == run.trigger_id);
    let killed = inner.workflows.killed(&wf.name).await?;
    let mut tx = inner.store.begin_evaluation().await?;
    if !tx.take_date_run(&run).await? {
        tx.commit().await?;
        return Ok(false);
    }
    let mut started = false;
    match (trigger, killed) {
        (Some((id, d)), None) => {
            let record = RecordRef {
                object: run.object.clone(),
                id: run.record_id.clone(),
            };
            let cause = json!({
                "kind": "schedule", "trigger": id, "scheduled_at": crate::time::json(run.run_at),
                "chain": [link(&wf.name, Some(&record))],
            });
            let input = json!({"trigger": id, "field": d.field, "scheduled_at": crate::time::json(run.run_at)});
            let execution = queued(&wf, version, Some(record), input, cause, run.run_at, now);
            started = tx.insert_execution(&execution).await?;
        }
        (None, _) => {}
        (Some(_), Some(reason)) => {
            tracing::warn!(workflow = %wf.name, trigger = %run.trigger_id, %reason, "date run skipped");
        }
    }
    tx.commit().await?;
    Ok(started)
}
