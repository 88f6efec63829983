//! Hostile: recurses without end.

use flowbox_guest::{Context, StepError, Value, export_step};

#[allow(unconditional_recursion, reason = "the point of this guest")]
fn dive(depth: u64, pad: [u64; 8]) -> u64 {
    let pad = std::hint::black_box(pad);
    dive(depth + 1, pad) + pad[(depth % 8) as usize]
}

fn run(_input: Value, _ctx: &Context) -> Result<Value, StepError> {
    Ok(Value::from(dive(0, [1; 8])))
}

export_step!(run);
