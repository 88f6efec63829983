//! `update_record`: sets fields of the execution's record.
//!
//! Input: `{"fields": {"stage": "won", "amount": 1200}}` (a `null` clears a field). Output:
//! `{"record": {"object", "id"}, "updated": {...the fields set}}`. Needs the `records` grant.
//! The fields are checked against the record's object type; a bad one fails the step with
//! `invalid input`, naming it. The write commits with the step's result, exactly once.

use flowbox_guest::{Context, StepError, Value, export_step, json, records};

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let record = ctx
        .record
        .clone()
        .ok_or_else(|| StepError::invalid_input("update_record runs on a record-scoped workflow"))?;
    let fields = input
        .get("fields")
        .filter(|f| f.is_object())
        .ok_or_else(|| StepError::invalid_input("`fields` must be an object of field -> value"))?;
    records::update_fields(&record, fields).map_err(|e| match e {
        flowbox_guest::HostError::Invalid(m) => StepError::invalid_input(m),
        other => StepError::from(other),
    })?;
    Ok(json!({
        "record": {"object": record.object, "id": record.id},
        "updated": fields,
    }))
}

export_step!(run);
