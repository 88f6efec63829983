//! The record domain: object types, typed records, activities, the events their writes leave,
//! and the triggers those events fire.
//!
//! Every write is checked against its object type (each problem names its field), then applied
//! by the store's group-commit writer together with its event, in one transaction. Events are
//! what triggers and goals evaluate, asynchronously: what a trigger is and how an event matches
//! one is here ([`triggers`]); turning a match into an execution is the engine's evaluator.
//! Steps reach records through [`step`], the `records` capability's backend.

pub mod objects;
pub(crate) mod step;
pub mod triggers;

use crate::engine::error::{Conflict, Invalid, Thing};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

pub use self::objects::{Field, FieldError, FieldType, ObjectType, WriteMode};
use crate::engine::error::EngineError;
use crate::expr::{Expr, Scope};
use crate::store::{ActivityRow, RecordRow, RecordSchema, Refusal, Store, StoreError};

/// A cached lookup: the type (or that there is none) and when it was read.
type Cached = (Option<Arc<ObjectType>>, Instant);

/// Object types by name, cached for a short time (other nodes' changes show up within it).
#[derive(Clone)]
pub(crate) struct Objects {
    store: Store,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
}

impl Objects {
    pub(crate) fn new(store: Store, ttl: Duration) -> Self {
        Objects {
            store,
            ttl,
            cache: Arc::default(),
        }
    }

    /// The object type `name`, if there is one.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Arc<ObjectType>>, StoreError> {
        if let Some((found, at)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            && at.elapsed() < self.ttl
        {
            return Ok(found.clone());
        }
        let found = match self.store.object(name).await? {
            Some(row) => match serde_json::from_str::<ObjectType>(&row.definition) {
                Ok(t) => Some(Arc::new(t)),
                Err(e) => {
                    tracing::error!(object = name, error = %e, "stored object type does not parse");
                    None
                }
            },
            None => None,
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), (found.clone(), Instant::now()));
        Ok(found)
    }

    pub(crate) fn forget(&self, name: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// The type, or a 404-style error.
    pub(crate) async fn require(&self, name: &str) -> Result<Arc<ObjectType>, EngineError> {
        self.get(name).await?.ok_or_else(|| EngineError::NotFound {
            what: Thing::ObjectType,
            id: name.to_string(),
        })
    }

    /// Check a write's fields against the type, including that related records exist. Answers
    /// the fields in their stored form.
    pub(crate) async fn check(
        &self,
        object: &ObjectType,
        fields: &Map<String, Value>,
        mode: WriteMode,
    ) -> Result<Map<String, Value>, EngineError> {
        let invalid = |errors| EngineError::InvalidFields {
            object: object.name.clone(),
            errors,
        };
        let checked = object.check_fields(fields, mode).map_err(invalid)?;
        let mut errors = Vec::new();
        for (field, target, id) in object.relations(&checked) {
            let found = self.store.record(target, id).await?;
            if found.is_none() {
                errors.push(FieldError {
                    field: field.to_string(),
                    message: format!("there is no `{target}` record `{id}`"),
                });
            }
        }
        for (field, member) in object.owners(&checked) {
            if !self.store.is_team_member(member).await? {
                errors.push(FieldError {
                    field: field.to_string(),
                    message: format!(
                        "`{member}` is not a member of any team (an owner is a team member: PUT /v1/teams/NAME)"
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok(checked)
        } else {
            Err(invalid(errors))
        }
    }
}

/// What the store needs to know of an object type to apply a write.
pub(crate) fn schema_of(object: &ObjectType) -> RecordSchema {
    RecordSchema {
        unique: object.unique_fields(),
        stages: object.stage_fields(),
    }
}

/// A refused write as an engine error.
pub(crate) fn refused(r: Refusal) -> EngineError {
    match r {
        Refusal::NotFound { object, id } => EngineError::NotFound {
            what: Thing::Record,
            id: format!("{object}/{id}"),
        },
        Refusal::ActivityNotFound(id) => EngineError::NotFound {
            what: Thing::Activity,
            id,
        },
        Refusal::Duplicate {
            object,
            field,
            value,
            other,
        } => EngineError::Duplicate {
            object,
            field,
            value,
            other,
        },
        other @ (Refusal::NotANumber { .. } | Refusal::Overflow { .. }) => {
            EngineError::invalid(Invalid::Value, other.to_string())
        }
        other @ Refusal::Exists { .. } => {
            EngineError::conflict(Conflict::IdTaken, other.to_string())
        }
        other @ Refusal::ActivityDone(_) => {
            EngineError::conflict(Conflict::ActivityDone, other.to_string())
        }
        other @ Refusal::ActivityPastDue(_) => {
            EngineError::conflict(Conflict::ActivityPastDue, other.to_string())
        }
    }
}

/// A new activity.
#[derive(Debug, Clone, Default)]
pub struct NewActivity {
    /// Its type: `call`, `email`, `meeting`, `task`, ... (free text; triggers name one).
    pub kind: String,
    pub subject: Option<String>,
    pub details: Option<Value>,
    /// When it is due (Unix ms); a scheduled activity.
    pub due_at: Option<i64>,
    /// Whether it is done already (logged). Default: done unless it has a due time.
    pub done: Option<bool>,
}

/// The row of a new activity on `object`/`id`, checked.
pub(crate) fn activity_row(
    activity: NewActivity,
    object: &str,
    id: &str,
    now: i64,
) -> Result<ActivityRow, EngineError> {
    if !objects::valid_name(&activity.kind) {
        return Err(EngineError::invalid(
            Invalid::Name,
            format!(
                "`{}` is not an activity type: 1-200 characters of a-z, A-Z, 0-9, `-`, `_`, `.`",
                activity.kind
            ),
        ));
    }
    let done = activity.done.unwrap_or(activity.due_at.is_none());
    if !done && activity.due_at.is_none() {
        return Err(EngineError::invalid(
            Invalid::Value,
            "an activity that is not done needs a `due_at`",
        ));
    }
    Ok(ActivityRow {
        id: new_id(),
        object: object.to_string(),
        record_id: id.to_string(),
        kind: activity.kind,
        subject: activity.subject,
        details: activity.details.map(|d| d.to_string()),
        due_at: activity.due_at,
        done_at: done.then_some(now),
        past_due_at: None,
        created_at: now,
        updated_at: now,
    })
}

/// One record to import.
#[derive(Debug, Clone)]
pub struct ImportItem {
    /// Its id (default: a new one).
    pub id: Option<String>,
    pub fields: Map<String, Value>,
}

/// How an import treats records that exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Refuse them (each is an error in the answer).
    Create,
    /// Replace their fields.
    Upsert,
}

/// A page of records.
#[derive(Debug, Clone)]
pub struct RecordPage {
    pub items: Vec<RecordRow>,
    /// Continue after this id; `None` when the scan reached the end.
    pub next: Option<String>,
}

/// A new record (or activity) id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A record as expressions see it: its fields, with `id` and `object`.
pub(crate) fn record_value(object: &str, id: &str, fields: &str) -> Value {
    let mut map: Map<String, Value> = serde_json::from_str(fields).unwrap_or_default();
    map.insert("id".into(), Value::String(id.to_string()));
    map.insert("object".into(), Value::String(object.to_string()));
    Value::Object(map)
}

/// Whether a filter (an expression over `record`) holds for a record.
pub(crate) fn record_matches(filter: &Expr, row: &RecordRow) -> Result<bool, EngineError> {
    let scope = Scope::new(Arc::new(
        json!({ "record": record_value(&row.object, &row.id, &row.fields) }),
    ));
    filter.is_true(&scope).map_err(|e| {
        let message = format!("the filter failed on record {}: {e}", row.id);
        if e.is_limit() {
            EngineError::ExpressionLimit(message)
        } else {
            EngineError::invalid(Invalid::Filter, message)
        }
    })
}

/// The longest a filter may take over one scan of records.
pub(crate) const SCAN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Which records of a page a filter keeps. The page is evaluated off the async workers; `spent`
/// adds up the time a scan's pages took, which may not pass [`SCAN_TIME`].
pub(crate) fn filter_page(
    filter: &Expr,
    page: &[RecordRow],
    spent: &mut std::time::Duration,
) -> Result<Vec<bool>, EngineError> {
    crate::expr::off_worker(|| {
        let started = std::time::Instant::now();
        let mut keeps = Vec::with_capacity(page.len());
        for (i, row) in page.iter().enumerate() {
            if *spent + started.elapsed() > SCAN_TIME {
                return Err(EngineError::ExpressionLimit(format!(
                    "the filter took more than {} s over the records (stopped at record {}, the {}th of this page)",
                    SCAN_TIME.as_secs(),
                    row.id,
                    i + 1
                )));
            }
            keeps.push(record_matches(filter, row)?);
        }
        *spent += started.elapsed();
        Ok(keeps)
    })
}
