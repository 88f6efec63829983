//! `create_related`: creates a record related to the execution's record. Needs `records`.
//!
//! Input: `{"object": "note", "relation": "deal", "fields": {...}}`: a `note` whose relation
//! field `deal` points at this record. The fields are checked against the object type (a bad
//! one is invalid input, named). Output: `{"object", "id"}`. The record is written with the
//! step's result, exactly once.

use flowbox_guest::{Context, StepError, Value, export_step, json, records};

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let parent = ctx
        .record
        .clone()
        .ok_or_else(|| StepError::invalid_input("create_related runs on a record-scoped workflow"))?;
    let field = |k: &str| {
        input[k]
            .as_str()
            .ok_or_else(|| StepError::invalid_input(format!("`{k}` is required")))
    };
    let (object, relation) = (field("object")?, field("relation")?);
    let fields = match &input["fields"] {
        Value::Null => json!({}),
        f @ Value::Object(_) => f.clone(),
        _ => return Err(StepError::invalid_input("`fields` must be an object")),
    };
    let created = records::create_related(&parent, object, relation, &fields)
        .map_err(StepError::from_input)?;
    Ok(json!({ "object": created.object, "id": created.id }))
}

export_step!(run);
