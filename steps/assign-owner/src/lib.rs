//! `assign_owner`: sets the owner field of the execution's record. Needs `records` and `teams`.
//!
//! Input: `{"owner": "ada"}` (a fixed owner) or `{"team": "sales"}` (the next member of the
//! team's round-robin rotation), and optionally `"field"` (default `owner`). Output:
//! `{"record": {"object", "id"}, "field", "owner", "team"}`. The rotation advances once per step:
//! a retry gets the same member. The field is written with the step's result.

use flowbox_guest::{Context, StepError, Value, export_step, json, records, teams};

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let record = ctx
        .record
        .clone()
        .ok_or_else(|| StepError::invalid_input("assign_owner runs on a record-scoped workflow"))?;
    let text = |k: &str| match &input[k] {
        Value::Null => Ok(None),
        Value::String(s) if !s.is_empty() => Ok(Some(s.clone())),
        _ => Err(StepError::invalid_input(format!("`{k}` must be non-empty text"))),
    };
    let field = text("field")?.unwrap_or_else(|| "owner".to_string());
    let (owner, team) = match (text("owner")?, text("team")?) {
        (Some(owner), None) => (owner, None),
        (None, Some(team)) => (
            teams::next_member(&team).map_err(StepError::from_input)?,
            Some(team),
        ),
        _ => {
            return Err(StepError::invalid_input(
                "give either `owner` (a fixed owner) or `team` (round-robin over its members)",
            ));
        }
    };
    records::update_fields(&record, &json!({ field.as_str(): owner }))
        .map_err(StepError::from_input)?;
    Ok(json!({
        "record": {"object": record.object, "id": record.id},
        "field": field,
        "owner": owner,
        "team": team,
    }))
}

export_step!(run);
