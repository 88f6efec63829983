//! The `records` capability for steps: reads see the database plus the step's own writes;
//! writes are checked against the object type when the step makes them, buffered, and committed
//! with the step's result (so they happen exactly once, and not at all if the step fails).
//!
//! Each record a step reads is remembered with the version it had. The step's commit applies
//! only if all of them are unchanged by then (see [`crate::store::Commit::reads`]): a step is a
//! serializable transaction over the records it touches, so a read-modify-write never loses an
//! update. A step whose reads went stale runs again on fresh data.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::{NewActivity, Objects, WriteMode, schema_of};
use crate::engine::error::EngineError;
use crate::sandbox::{HostError, RecordRef, RecordsBackend, StepContext};
use crate::store::{
    RecordAction, RecordOp, RecordRead, RecordSchema, RecordVersion, SideWrite, Store,
};

/// One step run's view of the records.
pub(crate) struct StepRecords {
    store: Store,
    objects: Objects,
    now: i64,
    /// Who writes, stored on each event (the execution, its step, the chain that led to it).
    cause: String,
    writes: Mutex<Vec<RecordOp>>,
    /// The version of each record as the step first read it (`None`: it did not exist).
    reads: Mutex<HashMap<(String, String), Option<RecordVersion>>>,
}

impl StepRecords {
    pub(crate) fn new(store: Store, objects: Objects, now: i64, cause: String) -> Self {
        StepRecords {
            store,
            objects,
            now,
            cause,
            writes: Mutex::default(),
            reads: Mutex::default(),
        }
    }

    /// The writes, as side writes of the step's commit, and the records the step read.
    pub(crate) fn into_parts(self) -> (Vec<SideWrite>, Vec<RecordRead>) {
        let writes = self
            .writes
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|op| SideWrite::Record(Box::new(op)))
            .collect();
        let reads = self
            .reads
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|((object, id), seen)| RecordRead { object, id, seen })
            .collect();
        (writes, reads)
    }

    /// The record as this step sees it, or `None` if it does not exist.
    async fn current(&self, record: &RecordRef) -> Result<Option<Map<String, Value>>, HostError> {
        let stored = self
            .store
            .record(&record.object, &record.id)
            .await
            .map_err(|e| HostError::Failed(format!("reading the record: {e}")))?;
        self.reads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((record.object.clone(), record.id.clone()))
            .or_insert(stored.as_ref().map(|r| RecordVersion {
                version: r.version,
                created_at: r.created_at,
            }));
        let mut fields = stored
            .map(|r| serde_json::from_str::<Map<String, Value>>(&r.fields).unwrap_or_default());
        for op in self.writes.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if op.object != record.object || op.id != record.id {
                continue;
            }
            match &op.action {
                RecordAction::Create { fields: f, .. } => fields = Some(f.clone()),
                RecordAction::Update { fields: f, .. } => {
                    if let Some(current) = fields.as_mut() {
                        for (k, v) in f {
                            if v.is_null() {
                                current.remove(k);
                            } else {
                                current.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
                RecordAction::Increment { field, by } => {
                    if let Some(current) = fields.as_mut() {
                        let sum = crate::store::increment(current.get(field), by);
                        if let Ok(sum) = sum {
                            current.insert(field.clone(), Value::Number(sum));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(fields)
    }

    /// Check fields against the object type, as the API would.
    async fn check(
        &self,
        object: &str,
        id: &str,
        fields: &Map<String, Value>,
        mode: WriteMode,
    ) -> Result<(Map<String, Value>, RecordSchema), HostError> {
        let t = match self.objects.require(object).await {
            Ok(t) => t,
            Err(EngineError::NotFound { .. }) => {
                return Err(HostError::NotFound(format!("object type `{object}`")));
            }
            Err(e) => return Err(HostError::Failed(e.to_string())),
        };
        match self.objects.check(&t, fields, mode).await {
            Ok(checked) => {
                self.check_unique(&t.name, id, &t.unique_fields(), &checked)
                    .await?;
                Ok((checked, schema_of(&t)))
            }
            Err(EngineError::InvalidFields { errors, .. }) => Err(HostError::Invalid(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
            Err(e) => Err(HostError::Failed(e.to_string())),
        }
    }

    /// A unique value already taken is refused now, when the step can still react.
    async fn check_unique(
        &self,
        object: &str,
        id: &str,
        unique: &[String],
        fields: &Map<String, Value>,
    ) -> Result<(), HostError> {
        for field in unique {
            let Some(value) = fields.get(field).filter(|v| !v.is_null()) else {
                continue;
            };
            let key = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            let owner = self
                .store
                .record_by_key(object, field, &key)
                .await
                .map_err(|e| HostError::Failed(e.to_string()))?;
            if let Some(other) = owner.filter(|o| o != id) {
                return Err(HostError::Invalid(format!(
                    "`{field}` must be unique: {object}/{other} already has `{key}`"
                )));
            }
        }
        Ok(())
    }

    fn push(&self, object: &str, id: &str, action: RecordAction, schema: RecordSchema) {
        self.writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(RecordOp {
                object: object.to_string(),
                id: id.to_string(),
                action,
                schema,
                cause: self.cause.clone(),
                now: self.now,
            });
    }
}

fn object_of(value: Value) -> Result<Map<String, Value>, HostError> {
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(HostError::Invalid("fields must be a JSON object".into())),
    }
}

fn not_found(record: &RecordRef) -> HostError {
    HostError::NotFound(format!("record {}/{}", record.object, record.id))
}

#[async_trait::async_trait]
impl RecordsBackend for StepRecords {
    async fn get(&self, _ctx: &StepContext, record: &RecordRef) -> Result<Value, HostError> {
        let mut fields = self
            .current(record)
            .await?
            .ok_or_else(|| not_found(record))?;
        fields.insert("id".into(), Value::String(record.id.clone()));
        fields.insert("object".into(), Value::String(record.object.clone()));
        Ok(Value::Object(fields))
    }

    async fn update_fields(
        &self,
        _ctx: &StepContext,
        record: &RecordRef,
        fields: Value,
    ) -> Result<(), HostError> {
        let fields = object_of(fields)?;
        if fields.contains_key("id") || fields.contains_key("object") {
            return Err(HostError::Invalid(
                "`id` and `object` cannot be changed".into(),
            ));
        }
        if self.current(record).await?.is_none() {
            return Err(not_found(record));
        }
        let (fields, schema) = self
            .check(&record.object, &record.id, &fields, WriteMode::Patch)
            .await?;
        self.push(
            &record.object,
            &record.id,
            RecordAction::Update { fields, form: None },
            schema,
        );
        Ok(())
    }

    async fn increment(
        &self,
        _ctx: &StepContext,
        record: &RecordRef,
        field: &str,
        by: serde_json::Number,
    ) -> Result<(), HostError> {
        let t = match self.objects.require(&record.object).await {
            Ok(t) => t,
            Err(EngineError::NotFound { .. }) => {
                return Err(HostError::NotFound(format!(
                    "object type `{}`",
                    record.object
                )));
            }
            Err(e) => return Err(HostError::Failed(e.to_string())),
        };
        match t.fields.get(field).map(|f| f.ty) {
            Some(super::FieldType::Number) => {}
            Some(other) => {
                return Err(HostError::Invalid(format!(
                    "`{field}` is a {} field: only number fields can be incremented",
                    other.name()
                )));
            }
            None => {
                return Err(HostError::Invalid(format!(
                    "`{}` has no field `{field}`",
                    record.object
                )));
            }
        }
        // An increment does not depend on what the step read: it is not a read of the record.
        let exists = {
            let pending = self.writes.lock().unwrap_or_else(|e| e.into_inner());
            pending.iter().any(|op| {
                op.object == record.object
                    && op.id == record.id
                    && matches!(op.action, RecordAction::Create { .. })
            })
        };
        if !exists
            && self
                .store
                .record(&record.object, &record.id)
                .await
                .map_err(|e| HostError::Failed(format!("reading the record: {e}")))?
                .is_none()
        {
            return Err(not_found(record));
        }
        self.push(
            &record.object,
            &record.id,
            RecordAction::Increment {
                field: field.to_string(),
                by,
            },
            schema_of(&t),
        );
        Ok(())
    }

    async fn create_related(
        &self,
        _ctx: &StepContext,
        parent: &RecordRef,
        object: &str,
        relation: &str,
        fields: Value,
    ) -> Result<RecordRef, HostError> {
        if self.current(parent).await?.is_none() {
            return Err(not_found(parent));
        }
        if object.is_empty() || relation.is_empty() {
            return Err(HostError::Invalid(
                "a related record needs an object type and a relation field".into(),
            ));
        }
        let target = self
            .objects
            .get(object)
            .await
            .map_err(|e| HostError::Failed(e.to_string()))?
            .ok_or_else(|| HostError::NotFound(format!("object type `{object}`")))?;
        if !target.is_relation_to(relation, &parent.object) {
            return Err(HostError::Invalid(format!(
                "`{relation}` is not a relation field of `{object}` to `{}` records",
                parent.object
            )));
        }
        let mut fields = object_of(fields)?;
        fields.insert(relation.to_string(), Value::String(parent.id.clone()));
        let record = RecordRef {
            object: object.to_string(),
            id: uuid::Uuid::now_v7().to_string(),
        };
        let (fields, schema) = self
            .check(object, &record.id, &fields, WriteMode::Whole)
            .await?;
        self.push(
            object,
            &record.id,
            RecordAction::Create { fields, form: None },
            schema,
        );
        Ok(record)
    }

    async fn add_activity(
        &self,
        _ctx: &StepContext,
        record: &RecordRef,
        activity: Value,
    ) -> Result<String, HostError> {
        let activity = new_activity(object_of(activity)?)?;
        if self.current(record).await?.is_none() {
            return Err(not_found(record));
        }
        let t = self
            .objects
            .require(&record.object)
            .await
            .map_err(|e| HostError::Failed(e.to_string()))?;
        let row = super::activity_row(activity, &record.object, &record.id, self.now)
            .map_err(|e| HostError::Invalid(e.to_string()))?;
        let id = row.id.clone();
        self.push(
            &record.object,
            &record.id,
            RecordAction::AddActivity(row),
            schema_of(&t),
        );
        Ok(id)
    }
}

/// An activity as a step describes it (the API's shape; `due_at` may also be Unix ms).
fn new_activity(mut a: Map<String, Value>) -> Result<NewActivity, HostError> {
    let kind = match a.remove("type") {
        Some(Value::String(k)) => k,
        _ => {
            return Err(HostError::Invalid(
                "an activity needs a `type` (text)".into(),
            ));
        }
    };
    let text = |v: Option<Value>, name: &str| match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(HostError::Invalid(format!("`{name}` must be text"))),
    };
    let subject = text(a.remove("subject"), "subject")?;
    let due_at = match a.remove("due_at") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(|| {
            HostError::Invalid("`due_at` must be Unix milliseconds or an RFC 3339 time".into())
        })?),
        Some(Value::String(t)) => Some(
            crate::time::parse_datetime(&t)
                .map(|t| t.timestamp_millis())
                .ok_or_else(|| HostError::Invalid(format!("`due_at`: `{t}` is not a time")))?,
        ),
        Some(_) => {
            return Err(HostError::Invalid(
                "`due_at` must be Unix milliseconds or an RFC 3339 time".into(),
            ));
        }
    };
    let done = match a.remove("done") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => return Err(HostError::Invalid("`done` must be true or false".into())),
    };
    let details = a.remove("details").filter(|d| !d.is_null());
    if let Some(unknown) = a.keys().next() {
        return Err(HostError::Invalid(format!(
            "unknown activity field `{unknown}`; the fields are type, subject, details, due_at, done"
        )));
    }
    Ok(NewActivity {
        kind,
        subject,
        details,
        due_at,
        done,
    })
}
