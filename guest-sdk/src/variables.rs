//! The execution's variables.
//!
//! Writes become visible to later steps when this step's result is committed; if the step fails,
//! its writes are discarded.

use crate::{HostError, Value, wit::variables as raw};

/// The value of a variable, or `None` if it is not set.
pub fn get(name: &str) -> Option<Value> {
    // The host only stores JSON, so a value that does not parse cannot happen; treat it as unset.
    raw::get(name).and_then(|text| serde_json::from_str(&text).ok())
}

/// Set a variable.
pub fn set(name: &str, value: &Value) -> Result<(), HostError> {
    raw::set(name, &value.to_string()).map_err(HostError::from)
}
