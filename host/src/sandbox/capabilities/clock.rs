//! `flowbox:step/clock`, and WASI's clocks backed by the same host clock.

use std::sync::Arc;
use std::time::Duration;

use super::super::bindings::flowbox::step::clock::Host;
use super::super::state::StepState;
use crate::clock::{Clock, unix_millis};

impl Host for StepState {
    fn now_millis(&mut self) -> wasmtime::Result<u64> {
        Ok(unix_millis(self.clock.now()))
    }
}

/// WASI's wall clock, read from the host's [`Clock`], so `SystemTime::now()` in a step agrees
/// with the `clock` import (and with a test's manual clock).
pub(crate) struct WasiWallClock(pub(crate) Arc<dyn Clock>);

impl wasmtime_wasi::HostWallClock for WasiWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        self.0
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    }
}
