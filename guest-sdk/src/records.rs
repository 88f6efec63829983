//! Records: read, update fields, create related records.
//!
//! Writes commit in the same transaction as the step's result, so they happen exactly once even
//! if the step is retried.

use crate::{HostError, RecordRef, Value, wit::records as raw};

/// The record's fields as a JSON object.
pub fn get(record: &RecordRef) -> Result<Value, HostError> {
    let text = raw::get(&record.into())?;
    serde_json::from_str(&text).map_err(|e| HostError::Failed(format!("host sent bad JSON: {e}")))
}

/// Update some fields: `fields` is a JSON object of field name to new value.
pub fn update_fields(record: &RecordRef, fields: &Value) -> Result<(), HostError> {
    Ok(raw::update_fields(&record.into(), &fields.to_string())?)
}

/// Add `by` to a number field, atomically when the step's result commits (concurrent increments
/// all count). Integers stay integers.
pub fn increment(record: &RecordRef, field: &str, by: f64) -> Result<(), HostError> {
    Ok(raw::increment(&record.into(), field, by)?)
}

/// Create a record of type `object` whose relation field `relation` points at `parent`.
pub fn create_related(
    parent: &RecordRef,
    object: &str,
    relation: &str,
    fields: &Value,
) -> Result<RecordRef, HostError> {
    let created = raw::create_related(&parent.into(), object, relation, &fields.to_string())?;
    Ok(created.into())
}

/// Attach an activity to a record: `{"type": "call", "subject"?, "details"?, "due_at"?, "done"?}`
/// (`due_at` an RFC 3339 time or Unix ms). With a due time it is scheduled; without, logged as
/// done. Returns the activity's id. Written with the step's result.
pub fn add_activity(record: &RecordRef, activity: &Value) -> Result<String, HostError> {
    Ok(raw::add_activity(&record.into(), &activity.to_string())?)
}
