//! Planning a record write in plain Rust, from what the database holds: the new row, the unique
//! keys to move, and the event with each changed field's old and new value.

use serde_json::{Map, Value, json};

use super::*;
use crate::store::records::{ActivityRow, EventRow, RecordRow};

/// What a planned write needs from the database: the record, and for some activity writes the
/// activity.
pub(crate) struct Current {
    pub record: Option<RecordRow>,
    pub activity: Option<ActivityRow>,
}

/// A planned write.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Unique values the record takes: each must be free or already its own.
    pub keys_taken: Vec<(String, String)>,
    /// Statements before the event.
    pub stmts: Vec<Stmt>,
    /// The event (inserted last; its id completes the result).
    pub event: Option<EventRow>,
    pub written: Written,
}

/// The activity a write needs to read, if any.
pub(crate) fn activity_to_read(op: &RecordOp) -> Option<&str> {
    match &op.action {
        RecordAction::CompleteActivity { activity_id }
        | RecordAction::ActivityPastDue { activity_id } => Some(activity_id),
        _ => None,
    }
}

/// How a unique value is keyed: strings as they are, anything else as JSON.
fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn fields_of(row: &RecordRow) -> Map<String, Value> {
    serde_json::from_str(&row.fields).unwrap_or_default()
}

/// Plan `op` against what the database holds.
///
/// Long (about 200 lines) because it is one match over the record actions, each arm the same
/// few lines (what changes, which unique keys move, which event it leaves); together they read
/// as the one table of what a record write does. To be split by action with issue 21.
pub(crate) fn plan(op: &RecordOp, current: Current) -> Result<Plan, Refusal> {
    let not_found = || Refusal::NotFound {
        object: op.object.clone(),
        id: op.id.clone(),
    };
    match &op.action {
        RecordAction::Create { fields, form } => {
            if current.record.is_some() {
                return Err(Refusal::Exists {
                    object: op.object.clone(),
                    id: op.id.clone(),
                });
            }
            Ok(write_fields(
                op,
                None,
                without_nulls(fields),
                form.as_deref(),
            ))
        }
        RecordAction::Replace { fields } => Ok(write_fields(
            op,
            current.record.as_ref(),
            without_nulls(fields),
            None,
        )),
        RecordAction::Update { fields, form } => {
            let row = current.record.as_ref().ok_or_else(not_found)?;
            let mut merged = fields_of(row);
            for (k, v) in fields {
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            Ok(write_fields(op, Some(row), merged, form.as_deref()))
        }
        RecordAction::Increment { field, by } => {
            let row = current.record.as_ref().ok_or_else(not_found)?;
            let mut merged = fields_of(row);
            let sum = increment(merged.get(field), by).map_err(|overflow| {
                let (object, id, field) = (op.object.clone(), op.id.clone(), field.clone());
                if overflow {
                    Refusal::Overflow { object, id, field }
                } else {
                    Refusal::NotANumber { object, id, field }
                }
            })?;
            merged.insert(field.clone(), Value::Number(sum));
            Ok(write_fields(op, Some(row), merged, None))
        }
        RecordAction::Archive | RecordAction::Unarchive => {
            let mut row = current.record.ok_or_else(not_found)?;
            let archive = op.action == RecordAction::Archive;
            if row.archived_at.is_some() == archive {
                // Already so: nothing changes, no event.
                return Ok(Plan {
                    keys_taken: vec![],
                    stmts: vec![],
                    event: None,
                    written: Written {
                        record: Some(row),
                        created: false,
                        event: None,
                        activity: None,
                    },
                });
            }
            row.archived_at = archive.then_some(op.now);
            row.updated_at = op.now;
            row.version += 1;
            let kind = if archive {
                event_kind::ARCHIVED
            } else {
                event_kind::UNARCHIVED
            };
            let event = event(op, kind, None, Some(row.fields.clone()), None);
            Ok(Plan {
                keys_taken: vec![],
                stmts: vec![stmt(
                    UPDATE_RECORD_SQL,
                    vec![
                        row.fields.clone().into(),
                        op.now.into(),
                        row.archived_at.into(),
                        op.object.as_str().into(),
                        op.id.as_str().into(),
                    ],
                )],
                event: Some(event),
                written: Written {
                    record: Some(row),
                    created: false,
                    event: None,
                    activity: None,
                },
            })
        }
        RecordAction::Delete => {
            let row = current.record.ok_or_else(not_found)?;
            let key = || -> Vec<Param> { vec![op.object.as_str().into(), op.id.as_str().into()] };
            Ok(Plan {
                keys_taken: vec![],
                stmts: vec![
                    stmt(DELETE_RECORD_SQL, key()),
                    stmt(DELETE_RECORD_KEYS_SQL, key()),
                    stmt(DELETE_RECORD_ACTIVITIES_SQL, key()),
                ],
                event: Some(event(
                    op,
                    event_kind::DELETED,
                    None,
                    Some(row.fields.clone()),
                    None,
                )),
                written: Written {
                    record: None,
                    created: false,
                    event: None,
                    activity: None,
                },
            })
        }
        RecordAction::AddActivity(activity) => {
            let row = current.record.ok_or_else(not_found)?;
            let kind = if activity.done_at.is_some() {
                event_kind::ACTIVITY_LOGGED
            } else {
                event_kind::ACTIVITY_SCHEDULED
            };
            Ok(Plan {
                keys_taken: vec![],
                stmts: vec![stmt(INSERT_ACTIVITY_SQL, activity_params(activity))],
                event: Some(event(
                    op,
                    kind,
                    None,
                    Some(row.fields.clone()),
                    Some(activity_detail(activity)),
                )),
                written: Written {
                    record: Some(row),
                    created: false,
                    event: None,
                    activity: Some(activity.clone()),
                },
            })
        }
        RecordAction::CompleteActivity { activity_id }
        | RecordAction::ActivityPastDue { activity_id } => {
            let row = current.record.ok_or_else(not_found)?;
            let mut activity = current
                .activity
                .filter(|a| a.object == op.object && a.record_id == op.id)
                .ok_or_else(|| Refusal::ActivityNotFound(activity_id.clone()))?;
            if activity.done_at.is_some() {
                return Err(Refusal::ActivityDone(activity_id.clone()));
            }
            // Two passes over the due activities may both have read this one as due: its
            // event is written once.
            if matches!(op.action, RecordAction::ActivityPastDue { .. })
                && activity.past_due_at.is_some()
            {
                return Err(Refusal::ActivityPastDue(activity_id.clone()));
            }
            let kind = if matches!(op.action, RecordAction::CompleteActivity { .. }) {
                activity.done_at = Some(op.now);
                event_kind::ACTIVITY_LOGGED
            } else {
                activity.past_due_at = Some(op.now);
                event_kind::ACTIVITY_PAST_DUE
            };
            activity.updated_at = op.now;
            Ok(Plan {
                keys_taken: vec![],
                stmts: vec![stmt(
                    UPDATE_ACTIVITY_SQL,
                    vec![
                        activity.done_at.into(),
                        activity.past_due_at.into(),
                        op.now.into(),
                        activity.id.clone().into(),
                    ],
                )],
                event: Some(event(
                    op,
                    kind,
                    None,
                    Some(row.fields.clone()),
                    Some(activity_detail(&activity)),
                )),
                written: Written {
                    record: Some(row),
                    created: false,
                    event: None,
                    activity: Some(activity),
                },
            })
        }
    }
}

/// `current + by`: integers stay integers while they fit, anything else is a float. `Err(true)`:
/// it overflows; `Err(false)`: the current value is not a number.
pub fn increment(
    current: Option<&Value>,
    by: &serde_json::Number,
) -> Result<serde_json::Number, bool> {
    let current = match current {
        None | Some(Value::Null) => serde_json::Number::from(0),
        Some(Value::Number(n)) => n.clone(),
        Some(_) => return Err(false),
    };
    if let (Some(a), Some(b)) = (current.as_i64(), by.as_i64()) {
        return a.checked_add(b).map(serde_json::Number::from).ok_or(true);
    }
    let sum = current.as_f64().unwrap_or(0.0) + by.as_f64().unwrap_or(0.0);
    serde_json::Number::from_f64(sum).ok_or(true)
}

fn without_nulls(fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn activity_params(a: &ActivityRow) -> Vec<Param> {
    vec![
        a.id.clone().into(),
        a.object.clone().into(),
        a.record_id.clone().into(),
        a.kind.clone().into(),
        a.subject.clone().into(),
        a.details.clone().into(),
        a.due_at.into(),
        a.done_at.into(),
        a.past_due_at.into(),
        a.created_at.into(),
        a.updated_at.into(),
    ]
}

fn activity_detail(a: &ActivityRow) -> Value {
    json!({
        "activity": {
            "id": a.id,
            "type": a.kind,
            "subject": a.subject,
            "due_at": a.due_at.map(crate::time::json),
            "done_at": a.done_at.map(crate::time::json),
        }
    })
}

fn event(
    op: &RecordOp,
    kind: &str,
    changes: Option<Value>,
    record: Option<String>,
    detail: Option<Value>,
) -> EventRow {
    EventRow {
        id: 0,
        object: op.object.clone(),
        record_id: op.id.clone(),
        kind: kind.to_string(),
        changes: changes.map(|c| c.to_string()),
        record,
        detail: detail.map(|d| d.to_string()),
        cause: op.cause.clone(),
        at: op.now,
        evaluated_at: None,
        outcome: None,
    }
}

/// Create, replace or update: the record's new fields are `new`.
fn write_fields(
    op: &RecordOp,
    before: Option<&RecordRow>,
    new: Map<String, Value>,
    form: Option<&str>,
) -> Plan {
    let old = before.map(fields_of).unwrap_or_default();
    let mut changes = Map::new();
    for (k, v) in &new {
        if old.get(k) != Some(v) {
            changes.insert(
                k.clone(),
                json!({"old": old.get(k).cloned().unwrap_or(Value::Null), "new": v}),
            );
        }
    }
    for (k, v) in &old {
        if !new.contains_key(k) {
            changes.insert(k.clone(), json!({"old": v, "new": Value::Null}));
        }
    }
    let text = Value::Object(new.clone()).to_string();
    let mut stmts = Vec::new();
    let mut keys_taken = Vec::new();
    for field in &op.schema.unique {
        let (was, now) = (
            old.get(field).and_then(key_text),
            new.get(field).and_then(key_text),
        );
        if was == now {
            continue;
        }
        if let Some(was) = was {
            stmts.push(stmt(
                DELETE_KEY_SQL,
                vec![
                    op.object.as_str().into(),
                    field.as_str().into(),
                    was.into(),
                    op.id.as_str().into(),
                ],
            ));
        }
        if let Some(now) = now {
            keys_taken.push((field.clone(), now.clone()));
            stmts.push(stmt(
                INSERT_KEY_SQL,
                vec![
                    op.object.as_str().into(),
                    field.as_str().into(),
                    now.into(),
                    op.id.as_str().into(),
                ],
            ));
        }
    }
    let row = match before {
        Some(b) => RecordRow {
            fields: text.clone(),
            updated_at: op.now,
            version: b.version + i64::from(!changes.is_empty()),
            ..b.clone()
        },
        None => RecordRow {
            object: op.object.clone(),
            id: op.id.clone(),
            fields: text.clone(),
            created_at: op.now,
            updated_at: op.now,
            archived_at: None,
            version: 1,
        },
    };
    let created = before.is_none();
    if created {
        stmts.push(stmt(
            INSERT_RECORD_SQL,
            vec![
                op.object.as_str().into(),
                op.id.as_str().into(),
                text.clone().into(),
                op.now.into(),
                op.now.into(),
                Param::Int(None),
            ],
        ));
    } else if !changes.is_empty() {
        stmts.push(stmt(
            UPDATE_RECORD_SQL,
            vec![
                text.clone().into(),
                op.now.into(),
                row.archived_at.into(),
                op.object.as_str().into(),
                op.id.as_str().into(),
            ],
        ));
    }
    let stage_changed: Vec<&String> = op
        .schema
        .stages
        .iter()
        .filter(|s| changes.contains_key(*s))
        .collect();
    let (kind, detail) = match form {
        Some(form) => (
            event_kind::FORM_SUBMITTED,
            Some(json!({"form": form, "created": created})),
        ),
        None if created => (event_kind::CREATED, None),
        None if !stage_changed.is_empty() => (
            event_kind::STAGE_CHANGED,
            Some(json!({"stages": stage_changed})),
        ),
        None => (event_kind::UPDATED, None),
    };
    // A write that changes nothing leaves no event (a form submission always does).
    let event = (created || !changes.is_empty() || form.is_some())
        .then(|| event(op, kind, Some(Value::Object(changes)), Some(text), detail));
    Plan {
        keys_taken,
        stmts,
        event,
        written: Written {
            record: Some(row),
            created,
            event: None,
            activity: None,
        },
    }
}

/// The event insert's parameters, in [`INSERT_EVENT_SQL`]'s order.
pub(crate) fn event_params(e: &EventRow) -> Vec<Param> {
    vec![
        e.object.clone().into(),
        e.record_id.clone().into(),
        e.kind.clone().into(),
        e.changes.clone().into(),
        e.record.clone().into(),
        e.detail.clone().into(),
        e.cause.clone().into(),
        e.at.into(),
    ]
}
