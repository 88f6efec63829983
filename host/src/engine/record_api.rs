//! Object types, records, activities and events through the API. The rules (field checks,
//! activities, the planning of writes) are the record domain's ([`crate::records`]); writes go
//! through the group-commit writer, each leaving its event.

use super::error::{Conflict, Invalid, Thing};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::definition::Scope;
use super::{Engine, EngineError};
use crate::expr::Expr;
use crate::records::{
    ImportItem, ImportMode, NewActivity, ObjectType, RecordPage, WriteMode, activity_row,
    filter_page, new_id, objects, refused, schema_of,
};
use crate::store::{
    ActivityRow, Archived, EventFilter, EventRow, RecordAction, RecordOp, RecordRow, StoreError,
    Written,
};

/// The most records one listing call scans before answering with a cursor.
const SCAN_LIMIT: usize = 5000;

fn check_id(id: &str) -> Result<(), EngineError> {
    if objects::valid_name(id) {
        Ok(())
    } else {
        Err(EngineError::invalid(
            Invalid::Name,
            format!("`{id}` is not a record id: 1-200 characters of a-z, A-Z, 0-9, `-`, `_`, `.`"),
        ))
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
        self.check_workflows_on(&object).await?;
        let saved = serde_json::to_string(&object).unwrap_or_default();
        let created = self
            .inner
            .store
            .save_object(&object.name, &saved, self.now_ms())
            .await?;
        self.inner.objects.forget(&object.name);
        Ok((object, created))
    }

    /// Refuse an object type that the newest version of a saved workflow on it could not run
    /// on (a field it triggers on removed, a stage renamed, a date field retyped), naming each.
    async fn check_workflows_on(&self, object: &ObjectType) -> Result<(), EngineError> {
        let mut broken = Vec::new();
        for head in self.inner.store.workflow_heads().await? {
            let wf = self
                .inner
                .workflows
                .version(&head.name, head.latest_version)
                .await?;
            if !matches!(&wf.scope, super::definition::Scope::Record(o) if *o == object.name) {
                continue;
            }
            for e in super::data_model::check(&wf, Some(object)) {
                broken.push(format!("workflow `{}`: {}: {}", wf.name, e.path, e.message));
            }
        }
        if broken.is_empty() {
            return Ok(());
        }
        Err(EngineError::conflict(
            Conflict::BreaksWorkflows,
            format!(
                "this change to `{}` breaks saved workflows (change them first): {}",
                object.name,
                broken.join("; ")
            ),
        ))
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
            .unwrap_or_else(|| Err(unanswered()))
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
            .map(|r| r.unwrap_or_else(|| Err(unanswered())))
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
                what: Thing::Record,
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
            Some(f) => Some(Expr::compile(f).map_err(|e| {
                EngineError::invalid(Invalid::Filter, format!("the filter does not parse: {e}"))
            })?),
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
                what: Thing::Activity,
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

    /// Events across records, newest first. With `workflow`, those of the object type it
    /// watches (the caller reads its verdict on each with [`super::evaluator::verdict`]).
    pub async fn events(
        &self,
        workflow: Option<&str>,
        mut filter: EventFilter,
    ) -> Result<Vec<EventRow>, EngineError> {
        if let Some(name) = workflow {
            let (_, wf) = self.inner.workflows.latest(name).await?;
            let Scope::Record(watched) = &wf.scope else {
                return Err(EngineError::invalid(
                    Invalid::Scope,
                    format!("workflow `{name}` runs globally: record events never start it"),
                ));
            };
            if let Some(object) = filter.object.as_ref().filter(|o| *o != watched) {
                return Err(EngineError::invalid(
                    Invalid::Scope,
                    format!("workflow `{name}` watches `{watched}` records, not `{object}`"),
                ));
            }
            filter.object = Some(watched.clone());
        }
        if let Some(object) = &filter.object {
            self.object_type(object).await?;
        }
        filter.limit = filter.limit.clamp(1, 1000);
        Ok(self.inner.store.events(&filter).await?)
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

/// A write the writer gave no answer for: a broken invariant of the store, never the caller's.
fn unanswered() -> EngineError {
    EngineError::Store(StoreError::Write(
        "the writer gave no answer for a record write".into(),
    ))
}
