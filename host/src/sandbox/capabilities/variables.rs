//! `flowbox:step/variables`: reads see the execution's variables as of the step's start plus the
//! step's own writes; writes are returned with the outcome and committed with the step's result.

use super::super::bindings::flowbox::step::types::HostError as WitHostError;
use super::super::bindings::flowbox::step::variables::Host;
use super::super::state::StepState;

/// The most bytes one variable's value may take as JSON text.
const MAX_VALUE_BYTES: usize = 1 << 20;

impl Host for StepState {
    fn get(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        let value = self
            .variable_writes
            .get(&name)
            .or_else(|| self.variables.get(&name));
        Ok(value.map(|v| v.to_string()))
    }

    fn set(&mut self, name: String, value: String) -> wasmtime::Result<Result<(), WitHostError>> {
        if name.is_empty() {
            return Ok(Err(WitHostError::Invalid("a variable needs a name".into())));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(WitHostError::Invalid(format!(
                "the value of `{name}` is {} bytes; a variable holds at most {MAX_VALUE_BYTES}",
                value.len()
            ))));
        }
        match serde_json::from_str(&value) {
            Ok(v) => {
                self.variable_writes.insert(name, v);
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(WitHostError::Invalid(format!(
                "the value of `{name}` is not JSON: {e}"
            )))),
        }
    }
}
