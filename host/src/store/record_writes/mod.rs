//! Record writes and the events they leave, applied by the group-commit writer so that a
//! record's change and its event commit in one transaction (with the step that made it, when a
//! step did).
//!
//! Each write is planned in plain Rust from what the database holds ([`plan`]): the new row, the
//! unique keys to move, and the event with each changed field's old and new value. Each backend
//! then only reads rows and runs the planned statements ([`Stmt`]), so the logic exists once.

mod plan;

use serde_json::{Map, Value};

pub use self::plan::increment;
pub(crate) use self::plan::{Current, activity_to_read, event_params, plan};
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
    /// Every kind, as `GET /v1/events?kind=` takes them.
    pub const ALL: [&str; 10] = [
        CREATED,
        UPDATED,
        STAGE_CHANGED,
        FORM_SUBMITTED,
        ARCHIVED,
        UNARCHIVED,
        DELETED,
        ACTIVITY_SCHEDULED,
        ACTIVITY_LOGGED,
        ACTIVITY_PAST_DUE,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        // What the statements do to the database (the old key freed, the new one taken) is
        // tested end to end in tests/all/records.rs.
        assert_eq!(plan.keys_taken, vec![("email".into(), "b@x.io".into())]);
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
