//! Records: object types, typed records, activities, and the events their writes leave.
//!
//! Every write is checked against its object type (each problem names its field), then applied
//! by the store's group-commit writer together with its event, in one transaction. Events are
//! what triggers and goals evaluate, asynchronously.

pub mod objects;
pub(crate) mod step;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

pub use self::objects::{Field, FieldError, FieldType, ObjectType, WriteMode};
use super::expr::{Expr, Scope};
use super::{Engine, EngineError};
use crate::store::{
    ActivityRow, Archived, EventRow, RecordAction, RecordOp, RecordRow, RecordSchema, Refusal,
    Store, StoreError, Written,
};

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

    fn forget(&self, name: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// The type, or a 404-style error.
    pub(crate) async fn require(&self, name: &str) -> Result<Arc<ObjectType>, EngineError> {
        self.get(name).await?.ok_or_else(|| EngineError::NotFound {
            what: "object type",
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
            what: "record",
            id: format!("{object}/{id}"),
        },
        Refusal::ActivityNotFound(id) => EngineError::NotFound {
            what: "activity",
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
            EngineError::Invalid(other.to_string())
        }
        other @ (Refusal::Exists { .. }
        | Refusal::ActivityDone(_)
        | Refusal::ActivityPastDue(_)) => EngineError::Conflict(other.to_string()),
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
        return Err(EngineError::Invalid(format!(
            "`{}` is not an activity type: 1-200 characters of a-z, A-Z, 0-9, `-`, `_`, `.`",
            activity.kind
        )));
    }
    let done = activity.done.unwrap_or(activity.due_at.is_none());
    if !done && activity.due_at.is_none() {
        return Err(EngineError::Invalid(
            "an activity that is not done needs a `due_at`".into(),
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

/// The most records one listing call scans before answering with a cursor.
const SCAN_LIMIT: usize = 5000;

/// A new record id.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn check_id(id: &str) -> Result<(), EngineError> {
    if objects::valid_name(id) {
        Ok(())
    } else {
        Err(EngineError::Invalid(format!(
            "`{id}` is not a record id: 1-200 characters of a-z, A-Z, 0-9, `-`, `_`, `.`"
        )))
    }
}

impl Engine {
    // ---- Object types ----

    /// Create or replace an object type (JSON or YAML). Returns it and whether it is new.
    pub async fn define_object(&self, text: &str) -> Result<(ObjectType, bool), EngineError> {
        let object = ObjectType::parse(text).map_err(|errors| EngineError::InvalidFields {
            object: String::new(),
            errors,
        })?;
        let saved = serde_json::to_string(&object).unwrap_or_default();
        let created = self
            .inner
            .store
            .save_object(&object.name, &saved, self.now_ms())
            .await?;
        self.inner.objects.forget(&object.name);
        Ok((object, created))
    }

    /// An object type.
    pub async fn object_type(&self, name: &str) -> Result<Arc<ObjectType>, EngineError> {
        self.inner.objects.require(name).await
    }

    /// Every object type.
    pub async fn object_types(&self) -> Result<Vec<ObjectType>, EngineError> {
        Ok(self
            .inner
            .store
            .objects()
            .await?
            .iter()
            .filter_map(|r| serde_json::from_str(&r.definition).ok())
            .collect())
    }

    // ---- Records ----

    async fn write(
        &self,
        object: &ObjectType,
        writes: Vec<(String, RecordAction)>,
        cause: &Value,
    ) -> Result<Vec<Result<Written, EngineError>>, EngineError> {
        let now = self.now_ms();
        let schema = schema_of(object);
        let cause = cause.to_string();
        let ops = writes
            .into_iter()
            .map(|(id, action)| RecordOp {
                object: object.name.clone(),
                id,
                action,
                schema: schema.clone(),
                cause: cause.clone(),
                now,
            })
            .collect();
        let results = self.inner.store.writer().records(ops).await?;
        if results
            .iter()
            .any(|r| r.as_ref().is_ok_and(|w| w.event.is_some()))
        {
            self.inner.wake_evaluator.notify_one();
        }
        Ok(results.into_iter().map(|r| r.map_err(refused)).collect())
    }

    async fn write_one(
        &self,
        object: &ObjectType,
        id: String,
        action: RecordAction,
        cause: &Value,
    ) -> Result<Written, EngineError> {
        self.write(object, vec![(id, action)], cause)
            .await?
            .pop()
            .unwrap_or_else(|| Err(EngineError::Invalid("nothing was written".into())))
    }

    /// Create a record (a new id unless given). `form`: the form it was submitted through.
    pub async fn create_record(
        &self,
        object: &str,
        id: Option<String>,
        fields: &Map<String, Value>,
        form: Option<String>,
        cause: &Value,
    ) -> Result<Written, EngineError> {
        let t = self.object_type(object).await?;
        let id = id.unwrap_or_else(new_id);
        check_id(&id)?;
        let fields = self
            .inner
            .objects
            .check(&t, fields, WriteMode::Whole)
            .await?;
        self.write_one(&t, id, RecordAction::Create { fields, form }, cause)
            .await
    }

    /// Create a record, or replace every field of an existing one.
    pub async fn replace_record(
        &self,
        object: &str,
        id: &str,
        fields: &Map<String, Value>,
        cause: &Value,
    ) -> Result<Written, EngineError> {
        let t = self.object_type(object).await?;
        check_id(id)?;
        let fields = self
            .inner
            .objects
            .check(&t, fields, WriteMode::Whole)
            .await?;
        self.write_one(&t, id.to_string(), RecordAction::Replace { fields }, cause)
            .await
    }

    /// Change some fields of a record (a null clears one).
    pub async fn update_record(
        &self,
        object: &str,
        id: &str,
        fields: &Map<String, Value>,
        form: Option<String>,
        cause: &Value,
    ) -> Result<Written, EngineError> {
        let t = self.object_type(object).await?;
        let fields = self
            .inner
            .objects
            .check(&t, fields, WriteMode::Patch)
            .await?;
        self.write_one(
            &t,
            id.to_string(),
            RecordAction::Update { fields, form },
            cause,
        )
        .await
    }

    /// Archive or unarchive a record.
    pub async fn archive_record(
        &self,
        object: &str,
        id: &str,
        archive: bool,
        cause: &Value,
    ) -> Result<Written, EngineError> {
        let t = self.object_type(object).await?;
        let action = if archive {
            RecordAction::Archive
        } else {
            RecordAction::Unarchive
        };
        self.write_one(&t, id.to_string(), action, cause).await
    }

    /// Delete a record (and its activities). Its events stay.
    pub async fn delete_record(
        &self,
        object: &str,
        id: &str,
        cause: &Value,
    ) -> Result<Written, EngineError> {
        let t = self.object_type(object).await?;
        self.write_one(&t, id.to_string(), RecordAction::Delete, cause)
            .await
    }

    /// Import many records in one transaction; each is checked and applied on its own.
    pub async fn import_records(
        &self,
        object: &str,
        items: Vec<ImportItem>,
        mode: ImportMode,
        cause: &Value,
    ) -> Result<Vec<Result<Written, EngineError>>, EngineError> {
        let t = self.object_type(object).await?;
        let mut results: Vec<Option<Result<Written, EngineError>>> = Vec::new();
        let mut writes = Vec::new();
        let mut slots = Vec::new();
        for item in items {
            let id = item.id.unwrap_or_else(new_id);
            let checked = match check_id(&id) {
                Ok(()) => {
                    self.inner
                        .objects
                        .check(&t, &item.fields, WriteMode::Whole)
                        .await
                }
                Err(e) => Err(e),
            };
            match checked {
                Ok(fields) => {
                    let action = match mode {
                        ImportMode::Create => RecordAction::Create { fields, form: None },
                        ImportMode::Upsert => RecordAction::Replace { fields },
                    };
                    slots.push(results.len());
                    results.push(None);
                    writes.push((id, action));
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let written = if writes.is_empty() {
            vec![]
        } else {
            self.write(&t, writes, cause).await?
        };
        for (slot, r) in slots.into_iter().zip(written) {
            results[slot] = Some(r);
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(EngineError::Invalid("not written".into()))))
            .collect())
    }

    /// One record.
    pub async fn record(&self, object: &str, id: &str) -> Result<RecordRow, EngineError> {
        self.object_type(object).await?;
        self.inner
            .store
            .record(object, id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: "record",
                id: format!("{object}/{id}"),
            })
    }

    /// Records of a type in id order, those `filter` (an expression over `record`) holds for.
    pub async fn list_records(
        &self,
        object: &str,
        filter: Option<&str>,
        archived: Archived,
        after: Option<String>,
        limit: usize,
    ) -> Result<RecordPage, EngineError> {
        self.object_type(object).await?;
        let filter = match filter.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(
                Expr::compile(f)
                    .map_err(|e| EngineError::Invalid(format!("the filter does not parse: {e}")))?,
            ),
            None => None,
        };
        let limit = limit.clamp(1, 1000);
        let mut items = Vec::new();
        let mut after = after;
        let mut scanned = 0;
        let mut spent = std::time::Duration::ZERO;
        loop {
            let chunk = 500.min(SCAN_LIMIT - scanned).max(1) as i64;
            let page = self
                .inner
                .store
                .records_page(object, archived, after.as_deref(), chunk)
                .await?;
            let full = page.len() as i64 == chunk;
            let keeps = match &filter {
                Some(f) => filter_page(f, &page, &mut spent)?,
                None => vec![true; page.len()],
            };
            for (row, keep) in page.into_iter().zip(keeps) {
                scanned += 1;
                after = Some(row.id.clone());
                if keep {
                    items.push(row);
                    if items.len() == limit {
                        return Ok(RecordPage { items, next: after });
                    }
                }
            }
            if !full {
                return Ok(RecordPage { items, next: None });
            }
            if scanned >= SCAN_LIMIT {
                return Ok(RecordPage { items, next: after });
            }
        }
    }

    // ---- Activities and events ----

    /// Attach an activity to a record: logged now, or scheduled with a due time.
    pub async fn add_activity(
        &self,
        object: &str,
        id: &str,
        activity: NewActivity,
        cause: &Value,
    ) -> Result<Written, EngineError> {
        let t = self.object_type(object).await?;
        let row = activity_row(activity, object, id, self.now_ms())?;
        self.write_one(&t, id.to_string(), RecordAction::AddActivity(row), cause)
            .await
    }

    /// Mark a scheduled activity done (it is logged now).
    pub async fn complete_activity(
        &self,
        activity_id: &str,
        cause: &Value,
    ) -> Result<Written, EngineError> {
        let a = self
            .inner
            .store
            .activity(activity_id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: "activity",
                id: activity_id.to_string(),
            })?;
        let t = self.object_type(&a.object).await?;
        self.write_one(
            &t,
            a.record_id.clone(),
            RecordAction::CompleteActivity {
                activity_id: a.id.clone(),
            },
            cause,
        )
        .await
    }

    /// A record's activities, newest first.
    pub async fn activities(
        &self,
        object: &str,
        id: &str,
    ) -> Result<Vec<ActivityRow>, EngineError> {
        self.record(object, id).await?;
        Ok(self.inner.store.activities(object, id).await?)
    }

    /// A record's events, newest first (they outlive a deleted record).
    pub async fn record_events(
        &self,
        object: &str,
        id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventRow>, EngineError> {
        self.object_type(object).await?;
        Ok(self
            .inner
            .store
            .record_events(object, id, before, limit.clamp(1, 1000))
            .await?)
    }
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
            EngineError::Invalid(message)
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
    crate::engine::expr::off_worker(|| {
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
