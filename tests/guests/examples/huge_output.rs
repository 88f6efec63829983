//! Hostile: returns a JSON string of `input.mb` MiB (100 by default), built directly so the
//! guest needs little more memory than the output itself.

use flowbox_guest::__bindings::{Context, Guest, StepError, __export_step_world};

struct HugeOutput;

impl Guest for HugeOutput {
    fn run(_ctx: Context, input: String) -> Result<String, StepError> {
        let mb: usize = input
            .split(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .and_then(|s| s.parse().ok())
            .unwrap_or(100);
        let len = mb << 20;
        let mut out = String::with_capacity(len + 2);
        out.push('"');
        out.extend(std::iter::repeat_n('x', len));
        out.push('"');
        Ok(out)
    }
}

__export_step_world!(HugeOutput with_types_in flowbox_guest::__bindings);
