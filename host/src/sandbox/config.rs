//! Sandbox configuration and per-step limits, with their defaults.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};

/// Limits applied to one run of a step. Every limit has a default (see [`Limits::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel: roughly one unit per WebAssembly instruction. Ignored when the sandbox was built
    /// without fuel metering. Default: 10,000,000,000 (a few seconds of busy CPU).
    pub fuel: u64,
    /// Largest linear memory a step may grow to, in bytes. Default: 128 MiB.
    pub memory_bytes: u64,
    /// Wall time from the start of instantiation to the end of the call. Default: 10 s.
    pub timeout: Duration,
    /// Largest output (JSON text) a step may return, in bytes. Default: 1 MiB.
    pub output_bytes: u64,
}

impl Limits {
    /// Default fuel.
    pub const DEFAULT_FUEL: u64 = 10_000_000_000;
    /// Default memory limit.
    pub const DEFAULT_MEMORY_BYTES: u64 = 128 << 20;
    /// Default wall-time limit.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default output limit.
    pub const DEFAULT_OUTPUT_BYTES: u64 = 1 << 20;
}

impl Limits {
    /// The ceilings a server puts on what a definition may ask for, by default: 100 times the
    /// default fuel, 1 GiB of memory, an hour, 4 MiB of output.
    pub const DEFAULT_CEILINGS: Limits = Limits {
        fuel: 100 * Self::DEFAULT_FUEL,
        memory_bytes: 1 << 30,
        timeout: Duration::from_secs(3600),
        output_bytes: 4 << 20,
    };

    /// Each limit at most the ceiling's.
    pub fn within(self, ceilings: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.min(ceilings.fuel),
            memory_bytes: self.memory_bytes.min(ceilings.memory_bytes),
            timeout: self.timeout.min(ceilings.timeout),
            output_bytes: self.output_bytes.min(ceilings.output_bytes),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: Self::DEFAULT_FUEL,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
            output_bytes: Self::DEFAULT_OUTPUT_BYTES,
        }
    }
}

/// How the sandbox's engine is built. Fixed for the life of a [`super::Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where compiled components are cached, so a restart does not recompile them.
    /// `None` disables the disk cache. Default: `$XDG_CACHE_HOME/flowbox/compiled` (or
    /// `~/.cache/flowbox/compiled`).
    pub cache_dir: Option<PathBuf>,
    /// Meter fuel (slightly slower; makes [`Limits::fuel`] apply). Default: on.
    pub fuel_metering: bool,
    /// How many steps may run at once in this process: the size of the instance pool.
    /// Default: 1000.
    pub max_concurrent: u32,
    /// The largest memory limit any step may be given, in bytes (the pool's slot size).
    /// Default: 4 GiB.
    pub max_memory_bytes: u64,
    /// How often the deadline clock ticks; a looping step is stopped within one tick of its
    /// deadline. Default: 10 ms.
    pub epoch_tick: Duration,
    /// The WebAssembly stack a step may use, in bytes. Default: 512 KiB.
    pub max_wasm_stack: usize,
    /// The clock behind the `clock` import and WASI's wall clock.
    pub clock: Arc<dyn Clock>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            cache_dir: default_cache_dir(),
            fuel_metering: true,
            max_concurrent: 1000,
            max_memory_bytes: 4 << 30,
            epoch_tick: Duration::from_millis(10),
            max_wasm_stack: 512 << 10,
            clock: Arc::new(SystemClock),
        }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("flowbox").join("compiled"))
}
