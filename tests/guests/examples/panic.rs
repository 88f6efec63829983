//! Hostile: panics with a message (the guest aborts; the message goes to stderr).

use flowbox_guest::{Context, StepError, Value, export_step};

fn run(input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let what = input["what"].as_str().unwrap_or("nothing");
    panic!("the guest gave up on {what}");
}

export_step!(run);
