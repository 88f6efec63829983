//! Calls the http import: refused at load unless `http` is granted; with the grant, this host
//! has no HTTP backend yet, so the call fails cleanly and the step fails with that error.

use flowbox_guest::{Context, StepError, Value, export_step, http, json};

fn run(input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let url = input["url"].as_str().unwrap_or("https://example.com/");
    let response = http::Request::get(url).send()?;
    Ok(json!({ "status": response.status }))
}

export_step!(run);
