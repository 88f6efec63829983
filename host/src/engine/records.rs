//! The `records` capability for steps: reads see the database plus the step's own writes;
//! writes are buffered and committed with the step's result (so they happen exactly once, and
//! not at all if the step fails).

use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::sandbox::{HostError, RecordRef, RecordsBackend, StepContext};
use crate::store::{SideWrite, Store};

/// A buffered record write.
#[derive(Debug, Clone)]
enum Write {
    Update {
        record: RecordRef,
        fields: Map<String, Value>,
    },
    Create {
        record: RecordRef,
        fields: Map<String, Value>,
    },
}

/// One step run's view of the records.
pub(crate) struct StepRecords {
    store: Store,
    now: i64,
    writes: Mutex<Vec<Write>>,
}

impl StepRecords {
    pub(crate) fn new(store: Store, now: i64) -> Self {
        StepRecords {
            store,
            now,
            writes: Mutex::default(),
        }
    }

    /// The writes, as side writes of the step's commit.
    pub(crate) fn into_side_writes(self) -> Vec<SideWrite> {
        let now = self.now;
        self.writes
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|w| match w {
                Write::Update { record, fields } => SideWrite::UpdateRecord {
                    object: record.object,
                    id: record.id,
                    fields: Value::Object(fields).to_string(),
                    now,
                },
                Write::Create { record, fields } => SideWrite::InsertRecord {
                    object: record.object,
                    id: record.id,
                    fields: Value::Object(fields).to_string(),
                    now,
                },
            })
            .collect()
    }

    /// The record as this step sees it, or `None` if it does not exist.
    async fn current(&self, record: &RecordRef) -> Result<Option<Map<String, Value>>, HostError> {
        let stored = self
            .store
            .record(&record.object, &record.id)
            .await
            .map_err(|e| HostError::Failed(format!("reading the record: {e}")))?;
        let mut fields = stored
            .map(|r| serde_json::from_str::<Map<String, Value>>(&r.fields).unwrap_or_default());
        for w in self.writes.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            match w {
                Write::Create {
                    record: r,
                    fields: f,
                } if r == record => fields = Some(f.clone()),
                Write::Update {
                    record: r,
                    fields: f,
                } if r == record => {
                    if let Some(current) = fields.as_mut() {
                        current.extend(f.clone());
                    }
                }
                _ => {}
            }
        }
        Ok(fields)
    }
}

fn object_of(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
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
        if self.current(record).await?.is_none() {
            return Err(not_found(record));
        }
        let fields = object_of(fields);
        if fields.contains_key("id") || fields.contains_key("object") {
            return Err(HostError::Invalid(
                "`id` and `object` cannot be changed".into(),
            ));
        }
        self.writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Write::Update {
                record: record.clone(),
                fields,
            });
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
        let mut fields = object_of(fields);
        fields.insert(relation.to_string(), Value::String(parent.id.clone()));
        let record = RecordRef {
            object: object.to_string(),
            id: uuid::Uuid::now_v7().to_string(),
        };
        self.writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Write::Create {
                record: record.clone(),
                fields,
            });
        Ok(record)
    }
}
