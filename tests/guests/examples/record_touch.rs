//! Uses the records import on the execution's record: reads it, sets `input.field` to
//! `input.value`, and creates a related `note`. With `input.fail_after`, fails after writing
//! (the writes must then be discarded).

use flowbox_guest::{Context, StepError, Value, export_step, json, records};

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let record = ctx.record.clone().ok_or_else(|| StepError::invalid_input("this step runs on a record"))?;
    let field = input["field"].as_str().ok_or_else(|| StepError::invalid_input("`field` is required"))?;
    let before = records::get(&record)?;
    records::update_fields(&record, &json!({ field: input["value"].clone() }))?;
    let note = records::create_related(&record, "note", &record.object, &json!({ "text": "touched" }))?;
    let after = records::get(&record)?;
    if input["fail_after"].as_bool() == Some(true) {
        return Err(StepError::permanent("failing after the writes"));
    }
    Ok(json!({ "before": before[field], "after": after[field], "note": note.id }))
}

export_step!(run);
