//! The data a step's store holds while it runs: its WASI context (locked down), memory limiter,
//! log, variables and backends.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::StepContext;
use super::capabilities::{Backends, LogBuffer};
use super::output::CapturedOutput;
use crate::clock::Clock;

/// Bytes of stdout (and of stderr) kept per step.
const CAPTURE_BYTES: usize = 64 << 10;
/// Bytes of `log` lines kept per step.
const LOG_BYTES: usize = 256 << 10;

pub(crate) struct StepState {
    pub(crate) context: StepContext,
    pub(crate) variables: Arc<Map<String, Value>>,
    pub(crate) variable_writes: BTreeMap<String, Value>,
    /// The JSON size of each variable write, whose sum is capped.
    pub(crate) variable_write_bytes: BTreeMap<String, usize>,
    pub(crate) log: LogBuffer,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    pub(crate) backends: Backends,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) limiter: MemoryLimiter,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl StepState {
    pub(crate) fn new(
        context: StepContext,
        variables: Arc<Map<String, Value>>,
        backends: Backends,
        clock: Arc<dyn Clock>,
        memory_limit: u64,
    ) -> Self {
        let stdout = CapturedOutput::new(CAPTURE_BYTES);
        let stderr = CapturedOutput::new(CAPTURE_BYTES);
        // No preopened directories, no environment, no arguments, no network: a step reaches
        // the world only through the flowbox imports it was granted.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(WasiWallClock(clock.clone()))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        StepState {
            context,
            variables,
            variable_writes: BTreeMap::new(),
            variable_write_bytes: BTreeMap::new(),
            log: LogBuffer::new(LOG_BYTES),
            stdout,
            stderr,
            backends,
            clock,
            limiter: MemoryLimiter::new(memory_limit),
            wasi,
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl super::bindings::flowbox::step::types::Host for StepState {}

/// Raised (as a trap) when a step grows its memory past its limit.
#[derive(Debug, thiserror::Error)]
#[error("memory limit: asked for {requested} bytes, limit {limit}")]
pub(crate) struct MemoryLimitHit {
    pub(crate) requested: u64,
    pub(crate) limit: u64,
}

/// Enforces the step's memory limit and records its peak. A growth past the limit traps at once
/// (instead of `memory.grow` returning -1) so the failure is reported as what it is.
pub(crate) struct MemoryLimiter {
    limit: u64,
    pub(crate) peak: u64,
}

impl MemoryLimiter {
    fn new(limit: u64) -> Self {
        MemoryLimiter { limit, peak: 0 }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitHit {
                requested: desired,
                limit: self.limit,
            }));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million entries is far past any real step.
        Ok(desired <= 1_000_000)
    }
}

/// WASI's wall clock, read from the host's [`Clock`], so `SystemTime::now()` in a step agrees
/// with the `clock` import (and with a test's manual clock).
pub(crate) struct WasiWallClock(pub(crate) Arc<dyn Clock>);

impl wasmtime_wasi::HostWallClock for WasiWallClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_millis(1)
    }

    fn now(&self) -> std::time::Duration {
        self.0
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    }
}
