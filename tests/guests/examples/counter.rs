//! Adds 1 to a number field of the execution's record, `input.times` times (default 1):
//! `input.mode` `"read-modify-write"` (the default) reads the field and writes it back plus one;
//! `"increment"` uses the atomic `records::increment`. Returns the value it last read.

use flowbox_guest::{Context, StepError, Value, export_step, json, records};

fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
    let record = ctx.record.clone().ok_or_else(|| StepError::invalid_input("this step runs on a record"))?;
    let field = input["field"].as_str().unwrap_or("count");
    let times = input["times"].as_u64().unwrap_or(1);
    let atomic = match input["mode"].as_str().unwrap_or("read-modify-write") {
        "read-modify-write" => false,
        "increment" => true,
        other => return Err(StepError::invalid_input(format!("unknown mode `{other}`"))),
    };
    let mut last = Value::Null;
    for _ in 0..times {
        let fields = records::get(&record)?;
        last = fields[field].clone();
        if atomic {
            records::increment(&record, field, 1.0)?;
        } else {
            let n = last.as_i64().unwrap_or(0);
            records::update_fields(&record, &json!({ field: n + 1 }))?;
        }
    }
    Ok(json!({ "last_read": last }))
}

export_step!(run);
