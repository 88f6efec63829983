//! Hostile: bypasses the SDK and returns text that is not JSON.

use flowbox_guest::__bindings::{Context, Guest, StepError, __export_step_world};

struct BadJson;

impl Guest for BadJson {
    fn run(_ctx: Context, _input: String) -> Result<String, StepError> {
        Ok("{\"n\": 1, oops".to_string())
    }
}

__export_step_world!(BadJson with_types_in flowbox_guest::__bindings);
