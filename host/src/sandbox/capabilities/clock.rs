//! `flowbox:step/clock` (WASI's wall clock reads the same host clock: see
//! [`super::super::state`]).

use super::super::bindings::flowbox::step::clock::Host;
use super::super::state::StepState;
use crate::clock::unix_millis;

impl Host for StepState {
    fn now_millis(&mut self) -> wasmtime::Result<u64> {
        Ok(unix_millis(self.clock.now()))
    }
}
