//! Write to the step's log, kept with the step in the execution's history.
//!
//! `println!` and `eprintln!` work too (the host captures stdout and stderr), but these calls
//! carry a level.

use crate::wit::log::{Level, write};

/// A debug line.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// An informational line.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// A warning.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}

/// An error line (it does not fail the step; return a [`crate::StepError`] for that).
pub fn error(message: &str) {
    write(Level::Error, message);
}
