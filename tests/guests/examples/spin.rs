//! Hostile: loops forever without calling the host.

use flowbox_guest::{Context, StepError, Value, export_step};

fn run(_input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let mut x: u64 = 0;
    loop {
        // black_box keeps the optimiser from proving the loop does nothing.
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

export_step!(run);
