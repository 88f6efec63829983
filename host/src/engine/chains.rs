//! Chains: which workflows led to an execution (in its cause), the loop guard that stops a
//! start that would make a chain too long or bring a workflow back to its record, and the
//! queued execution a trigger, a schedule or a parent starts.

use serde_json::{Map, Value, json};

use super::Inner;
use super::definition::Workflow;
use super::state::{State, status};
use crate::sandbox::RecordRef;
use crate::store::ExecutionRow;

/// One link of a chain: a workflow on a record (or on none).
pub(crate) fn link(workflow: &str, record: Option<&RecordRef>) -> Value {
    match record {
        Some(r) => json!({"workflow": workflow, "object": r.object, "id": r.id}),
        None => json!({"workflow": workflow}),
    }
}

/// The chain that led to an execution, itself last.
pub(crate) fn chain_of(row: &ExecutionRow) -> Vec<Value> {
    let cause: Value = row
        .cause
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or(Value::Null);
    match cause.get("chain") {
        Some(Value::Array(chain)) if !chain.is_empty() => chain.clone(),
        _ => {
            let record = match (&row.record_object, &row.record_id) {
                (Some(object), Some(id)) => Some(RecordRef {
                    object: object.clone(),
                    id: id.clone(),
                }),
                _ => None,
            };
            vec![link(&row.workflow, record.as_ref())]
        }
    }
}

/// The chain a start of `wf` (on `record`) after `chain` makes, and why the loop guard stops it,
/// if it does: the chain would be longer than `--max-chain-depth`, or would bring the workflow
/// back to the same record (unless it allows that). Starts by triggers and by `start_workflow`
/// steps count alike.
pub(crate) fn loop_guard(
    inner: &Inner,
    wf: &Workflow,
    chain: &[Value],
    record: Option<&RecordRef>,
) -> (Vec<Value>, Option<String>) {
    let this = link(&wf.name, record);
    let mut new_chain = chain.to_vec();
    new_chain.push(this.clone());
    let depth = new_chain.len();
    let on = match record {
        Some(r) => format!(" on {}/{}", r.object, r.id),
        None => String::new(),
    };
    let guard = if depth > inner.config.max_chain_depth {
        Some(format!(
            "loop guard: the chain of workflows would be {depth} long, over the limit of {} ({})",
            inner.config.max_chain_depth,
            describe(&new_chain)
        ))
    } else if !wf.settings.reenter_in_chain && chain.contains(&this) {
        Some(format!(
            "loop guard: workflow `{}` would run again{on} within one chain ({})",
            wf.name,
            describe(&new_chain)
        ))
    } else {
        None
    };
    (new_chain, guard)
}

fn describe(chain: &[Value]) -> String {
    chain
        .iter()
        .map(|l| {
            match (
                l["workflow"].as_str(),
                l["object"].as_str(),
                l["id"].as_str(),
            ) {
                (Some(w), Some(o), Some(i)) => format!("{w} on {o}/{i}"),
                (Some(w), _, _) => w.to_string(),
                _ => "?".to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// A new queued execution of `wf` started by a trigger.
pub(crate) fn queued(
    wf: &Workflow,
    version: i64,
    record: Option<RecordRef>,
    input: Value,
    cause: Value,
    event_at: i64,
    now: i64,
) -> ExecutionRow {
    let first = wf.steps.first().map(|s| s.id.clone()).unwrap_or_default();
    crate::telemetry::execution_started(&wf.name);
    ExecutionRow {
        id: uuid::Uuid::now_v7().to_string(),
        workflow: wf.name.clone(),
        version,
        status: status::QUEUED.into(),
        exclusive: record.is_some() && !wf.settings.reentry,
        record_object: record.as_ref().map(|r| r.object.clone()),
        record_id: record.map(|r| r.id),
        parent_id: None,
        input: input.to_string(),
        output: None,
        error: None,
        state: serde_json::to_string(&State::start(&first, Map::new())).unwrap_or_default(),
        seq: 0,
        wake_at: None,
        control: None,
        pause_reason: None,
        lease_owner: None,
        lease_until: None,
        event_at,
        created_at: now,
        updated_at: now,
        ended_at: None,
        cause: Some(cause.to_string()),
        trace: crate::telemetry::traces::start_execution(&wf.name),
    }
}
