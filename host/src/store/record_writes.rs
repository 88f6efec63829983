//! Record writes and the events they leave, applied by the group-commit writer so that a
//! record's change and its event commit in one transaction (with the step that made it, when a
//! step did).
//!
//! Each write is planned in plain Rust from what the database holds ([`plan`]): the new row, the
//! unique keys to move, and the event with each changed field's old and new value. Each backend
//! then only reads rows and runs the planned statements ([`Stmt`]), so the logic exists once.

use serde_json::{Map, Value, json};

use super::records::{ActivityRow, EventRow, RecordRow};

/// A write to one record (or to one of its activities).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordOp {
    pub object: String,
    pub id: String,
    pub action: RecordAction,
    /// Fields of the object type that matter to the write itself.
    pub schema: RecordSchema,
    /// Who or what made the write (JSON), stored on its event.
    pub cause: String,
    pub now: i64,
}

/// What the write needs to know of the object type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordSchema {
    /// Unique fields: their values are kept in `record_keys`.
    pub unique: Vec<String>,
    /// Stage fields: a change to one makes the event `stage_changed`.
    pub stages: Vec<String>,
}

/// The kinds of writes.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordAction {
    /// Create a record; refused if the id is taken.
    Create {
        fields: Map<String, Value>,
        form: Option<String>,
    },
    /// Create a record, or replace all the fields of an existing one.
    Replace {
        fields: Map<String, Value>,
    },
    /// Merge fields into an existing record (a null clears a field).
    Update {
        fields: Map<String, Value>,
        form: Option<String>,
    },
    /// Add `by` to a number field (a missing one counts as 0), atomically: computed from the
    /// record as the write finds it, not as the writer last read it.
    Increment {
        field: String,
        by: serde_json::Number,
    },
    Archive,
    Unarchive,
    Delete,
    /// Attach an activity: logged (done) or scheduled (with a due time).
    AddActivity(ActivityRow),
    /// Mark a scheduled activity done: it is logged now.
    CompleteActivity {
        activity_id: String,
    },
    /// A scheduled activity's due time passed while it was open.
    ActivityPastDue {
        activity_id: String,
    },
}

/// Why a write was refused (nothing of it was written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("record {object}/{id} not found")]
    NotFound { object: String, id: String },
    #[error("record {object}/{id} already exists")]
    Exists { object: String, id: String },
    #[error("`{field}` must be unique: {object}/{other} already has `{value}`")]
    Duplicate {
        object: String,
        field: String,
        value: String,
        other: String,
    },
    #[error("`{field}` of record {object}/{id} is not a number: it cannot be incremented")]
    NotANumber {
        object: String,
        id: String,
        field: String,
    },
    #[error("incrementing `{field}` of record {object}/{id} overflows")]
    Overflow {
        object: String,
        id: String,
        field: String,
    },
    #[error("activity `{0}` not found on this record")]
    ActivityNotFound(String),
    #[error("activity `{0}` is already done")]
    ActivityDone(String),
    #[error("activity `{0}` is already past due")]
    ActivityPastDue(String),
}

/// What a write did.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The record after the write (`None` once deleted).
    pub record: Option<RecordRow>,
    /// Whether the write created the record.
    pub created: bool,
    /// The event it left (`None` when nothing changed).
    pub event: Option<EventRow>,
    /// The activity written, for activity writes.
    pub activity: Option<ActivityRow>,
}

/// A write's result.
pub type RecordResult = Result<Written, Refusal>;

/// A parameter of a planned statement. A null keeps its type: PostgreSQL checks it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Text(Some(s.to_string()))
    }
}
impl From<String> for Param {
    fn from(s: String) -> Self {
        Param::Text(Some(s))
    }
}
impl From<Option<String>> for Param {
    fn from(s: Option<String>) -> Self {
        Param::Text(s)
    }
}
impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}
impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

/// A statement to run, its `$N` placeholders numbered in order of first use (so that SQLite,
/// which binds them by position of first use, and PostgreSQL agree).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stmt {
    pub sql: &'static str,
    pub params: Vec<Param>,
}

fn stmt(sql: &'static str, params: Vec<Param>) -> Stmt {
    Stmt { sql, params }
}

// The reads a plan needs. PostgreSQL locks the record row it is about to change.
pub(crate) const SELECT_RECORD_SQL: &str = "SELECT object, id, fields, created_at, updated_at, archived_at, version \
     FROM records WHERE object = $1 AND id = $2";
pub(crate) const SELECT_RECORD_FOR_UPDATE_SQL: &str = "SELECT object, id, fields, created_at, updated_at, archived_at, version \
     FROM records WHERE object = $1 AND id = $2 FOR UPDATE";
pub(crate) const SELECT_ACTIVITY_SQL: &str = "SELECT id, object, record_id, type, subject, details, due_at, done_at, past_due_at, \
     created_at, updated_at FROM activities WHERE id = $1";
pub(crate) const SELECT_KEY_OWNER_SQL: &str =
    "SELECT record_id FROM record_keys WHERE object = $1 AND field = $2 AND value = $3";
/// Inserts an event; answers its id.
pub(crate) const INSERT_EVENT_SQL: &str = "INSERT INTO record_events (object, record_id, kind, changes, record, detail, cause, at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";

const INSERT_RECORD_SQL: &str = "INSERT INTO records (object, id, fields, created_at, updated_at, archived_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const UPDATE_RECORD_SQL: &str = "UPDATE records SET fields = $1, updated_at = $2, archived_at = $3, version = version + 1 \
     WHERE object = $4 AND id = $5";
const DELETE_RECORD_SQL: &str = "DELETE FROM records WHERE object = $1 AND id = $2";
const DELETE_RECORD_KEYS_SQL: &str = "DELETE FROM record_keys WHERE object = $1 AND record_id = $2";
const DELETE_RECORD_ACTIVITIES_SQL: &str =
    "DELETE FROM activities WHERE object = $1 AND record_id = $2";
const DELETE_KEY_SQL: &str =
    "DELETE FROM record_keys WHERE object = $1 AND field = $2 AND value = $3 AND record_id = $4";
const INSERT_KEY_SQL: &str =
    "INSERT INTO record_keys (object, field, value, record_id) VALUES ($1, $2, $3, $4)";
const INSERT_ACTIVITY_SQL: &str = "INSERT INTO activities (id, object, record_id, type, subject, details, due_at, done_at, \
     past_due_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const UPDATE_ACTIVITY_SQL: &str =
    "UPDATE activities SET done_at = $1, past_due_at = $2, updated_at = $3 WHERE id = $4";

/// Event kinds.
pub mod event_kind {
    pub const CREATED: &str = "created";
    pub const UPDATED: &str = "updated";
    pub const STAGE_CHANGED: &str = "stage_changed";
    pub const FORM_SUBMITTED: &str = "form_submitted";
    pub const ARCHIVED: &str = "archived";
    pub const UNARCHIVED: &str = "unarchived";
    pub const DELETED: &str = "deleted";
    pub const ACTIVITY_SCHEDULED: &str = "activity_scheduled";
    pub const ACTIVITY_LOGGED: &str = "activity_logged";
    pub const ACTIVITY_PAST_DUE: &str = "activity_past_due";
}

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
            "due_at": a.due_at,
            "done_at": a.done_at,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn op(action: RecordAction) -> RecordOp {
        RecordOp {
            object: "deal".into(),
            id: "d1".into(),
            action,
            schema: RecordSchema {
                unique: vec!["email".into()],
                stages: vec!["stage".into()],
            },
            cause: "{}".into(),
            now: 10,
        }
    }

    fn row(fields: Value) -> RecordRow {
        RecordRow {
            object: "deal".into(),
            id: "d1".into(),
            fields: fields.to_string(),
            created_at: 1,
            updated_at: 1,
            archived_at: None,
            version: 1,
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn an_update_records_each_changed_field_and_moves_keys() {
        let current = Current {
            record: Some(row(
                json!({"stage": "lead", "email": "a@x.io", "amount": 1}),
            )),
            activity: None,
        };
        let plan = plan(
            &op(RecordAction::Update {
                fields: obj(json!({"stage": "won", "email": "b@x.io", "amount": 1, "note": null})),
                form: None,
            }),
            current,
        )
        .unwrap();
        let event = plan.event.unwrap();
        assert_eq!(event.kind, event_kind::STAGE_CHANGED);
        let changes: Value = serde_json::from_str(event.changes.as_deref().unwrap()).unwrap();
        assert_eq!(
            changes,
            json!({"stage": {"old": "lead", "new": "won"}, "email": {"old": "a@x.io", "new": "b@x.io"}})
        );
        assert_eq!(plan.keys_taken, vec![("email".into(), "b@x.io".into())]);
        let sqls: Vec<&str> = plan.stmts.iter().map(|s| s.sql).collect();
        assert_eq!(sqls, [DELETE_KEY_SQL, INSERT_KEY_SQL, UPDATE_RECORD_SQL]);
    }

    #[test]
    fn an_activity_goes_past_due_once() {
        let activity = |past_due_at| ActivityRow {
            id: "a1".into(),
            object: "deal".into(),
            record_id: "d1".into(),
            kind: "call".into(),
            subject: None,
            details: None,
            due_at: Some(5),
            done_at: None,
            past_due_at,
            created_at: 1,
            updated_at: 1,
        };
        let action = || RecordAction::ActivityPastDue {
            activity_id: "a1".into(),
        };
        let first = plan(
            &op(action()),
            Current {
                record: Some(row(json!({}))),
                activity: Some(activity(None)),
            },
        )
        .unwrap();
        assert_eq!(first.event.unwrap().kind, event_kind::ACTIVITY_PAST_DUE);
        // A second pass that read it as due before the first committed: refused, no event.
        let again = plan(
            &op(action()),
            Current {
                record: Some(row(json!({}))),
                activity: Some(activity(Some(10))),
            },
        );
        assert_eq!(again.err(), Some(Refusal::ActivityPastDue("a1".into())));
    }

    #[test]
    fn a_write_that_changes_nothing_leaves_no_event() {
        let current = Current {
            record: Some(row(json!({"amount": 1}))),
            activity: None,
        };
        let plan = plan(
            &op(RecordAction::Update {
                fields: obj(json!({"amount": 1})),
                form: None,
            }),
            current,
        )
        .unwrap();
        assert!(plan.event.is_none() && plan.stmts.is_empty());
    }

    #[test]
    fn refusals() {
        let none = || Current {
            record: None,
            activity: None,
        };
        assert!(matches!(
            plan(&op(RecordAction::Delete), none()),
            Err(Refusal::NotFound { .. })
        ));
        let some = Current {
            record: Some(row(json!({}))),
            activity: None,
        };
        assert!(matches!(
            plan(
                &op(RecordAction::Create {
                    fields: Map::new(),
                    form: None
                }),
                some
            ),
            Err(Refusal::Exists { .. })
        ));
    }
}
