//! Hostile: allocates (and touches) 1 MiB after 1 MiB until something stops it.

use flowbox_guest::{Context, StepError, Value, export_step};

fn run(_input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![7u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

export_step!(run);
