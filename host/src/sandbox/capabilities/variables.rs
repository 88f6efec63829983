//! `flowbox:step/variables`: reads see the execution's variables as of the step's start plus the
//! step's own writes; writes are returned with the outcome and committed with the step's result.

use super::super::bindings::flowbox::step::types::HostError as WitHostError;
use super::super::bindings::flowbox::step::variables::Host;
use super::super::state::StepState;

use crate::limits::{MAX_JSON_DEPTH, MAX_VALUE_BYTES, json_depth};

/// The most bytes of variable values one step may write in all, as JSON text.
pub(crate) const MAX_STEP_VARIABLE_BYTES: usize = 4 << 20;

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
        let written: usize = self
            .variable_write_bytes
            .iter()
            .filter(|(n, _)| **n != name)
            .map(|(_, size)| size)
            .sum();
        if written + value.len() > MAX_STEP_VARIABLE_BYTES {
            return Ok(Err(WitHostError::Invalid(format!(
                "`{name}` would bring this step's variable writes to {} bytes; a step writes at most {MAX_STEP_VARIABLE_BYTES}",
                written + value.len()
            ))));
        }
        match serde_json::from_str::<serde_json::Value>(&value) {
            Ok(v) if json_depth(&v) > MAX_JSON_DEPTH => Ok(Err(WitHostError::Invalid(format!(
                "the value of `{name}` nests deeper than {MAX_JSON_DEPTH} levels"
            )))),
            Ok(v) => {
                self.variable_write_bytes.insert(name.clone(), value.len());
                self.variable_writes.insert(name, v);
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(WitHostError::Invalid(format!(
                "the value of `{name}` is not JSON: {e}"
            )))),
        }
    }
}
