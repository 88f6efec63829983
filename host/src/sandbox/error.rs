//! What can go wrong when loading or running a step, one variant per cause.

use std::fmt;
use std::time::Duration;

/// Why a component could not be loaded as a step.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a WebAssembly component (not wasm at all, or a core module).
    #[error("not a WebAssembly component: {reason}")]
    NotAComponent {
        /// What the bytes are instead.
        reason: String,
    },
    /// The component was rejected by validation or compilation.
    #[error("invalid component: {reason}")]
    Invalid {
        /// The validator's or compiler's message.
        reason: String,
    },
    /// The component has no `run` export.
    #[error(
        "missing export: the component does not export `run` (it exports: {}); a step implements the flowbox:step/step world",
        list_or_none(.exports)
    )]
    MissingExport {
        /// What it does export.
        exports: Vec<String>,
    },
    /// The component's `run` export does not have the step world's type.
    #[error(
        "mistyped export: `run` must be `func(ctx: context, input: string) -> result<string, step-error>` (flowbox:step/step@0.1.0): {reason}"
    )]
    MistypedExport {
        /// How the types differ.
        reason: String,
    },
    /// The component imports flowbox interfaces its module was not granted.
    #[error("the component imports interfaces that were not granted: {}", missing.join(", "))]
    UngrantedImports {
        /// The interfaces it lacks, e.g. `flowbox:step/http@0.1.0 (grant: http)`.
        missing: Vec<String>,
    },
    /// The component imports interfaces that no step may use (sockets, unknown packages).
    #[error("the component imports interfaces that steps may not use: {}", imports.join(", "))]
    ForbiddenImports {
        /// The refused imports.
        imports: Vec<String>,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".to_string()
    } else {
        items.join(", ")
    }
}

/// The kind of error a step returned itself (the WIT `step-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestErrorKind {
    /// The input does not fit what the step expects.
    InvalidInput,
    /// The step failed for good.
    Permanent,
    /// The step may succeed if tried again.
    Retryable,
}

impl fmt::Display for GuestErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GuestErrorKind::InvalidInput => "invalid input",
            GuestErrorKind::Permanent => "a permanent failure",
            GuestErrorKind::Retryable => "a retryable failure",
        })
    }
}

/// How a run of a step failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepFailure {
    /// The step returned a `step-error`.
    #[error("the step returned {kind}: {message}")]
    Guest {
        /// Which kind of error.
        kind: GuestErrorKind,
        /// The step's message.
        message: String,
    },
    /// The step used all its fuel.
    #[error("fuel exhausted: the step used all of its {limit} units of fuel (limit: fuel)")]
    FuelExhausted {
        /// The fuel it had.
        limit: u64,
    },
    /// The step tried to grow its memory past the limit.
    #[error(
        "memory limit: the step tried to grow its memory to {requested} bytes; the limit is {limit} bytes (limit: memory)"
    )]
    MemoryLimit {
        /// The size it asked for.
        requested: u64,
        /// The limit.
        limit: u64,
    },
    /// The step was still running at its deadline.
    #[error("deadline exceeded: the step was still running after {} ms (limit: timeout)", timeout.as_millis())]
    DeadlineExceeded {
        /// The time it had.
        timeout: Duration,
    },
    /// The step overflowed its WebAssembly stack (usually unbounded recursion).
    #[error("stack overflow: the step exhausted its {limit}-byte WebAssembly stack (limit: stack)")]
    StackOverflow {
        /// The stack size.
        limit: usize,
    },
    /// The step trapped: a panic, an `unreachable`, an out-of-bounds access.
    #[error("trap: {message}")]
    Trap {
        /// What trapped, with the guest's last stderr line (a panic message) if any.
        message: String,
        /// The guest's call stack at the trap, innermost first.
        backtrace: Option<String>,
    },
    /// The output is not JSON.
    #[error("output is not JSON: {reason}")]
    OutputNotJson {
        /// The parser's message.
        reason: String,
    },
    /// The output is larger than the output limit.
    #[error("output too large: {size} bytes, over the {limit}-byte limit (limit: output)")]
    OutputTooLarge {
        /// The output's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The host could not run the step (e.g. every instance slot is in use).
    #[error("host error: {message}")]
    Host {
        /// What failed.
        message: String,
    },
}

impl StepFailure {
    /// A stable, machine-readable code for the failure.
    pub fn code(&self) -> &'static str {
        match self {
            StepFailure::Guest {
                kind: GuestErrorKind::InvalidInput,
                ..
            } => "invalid_input",
            StepFailure::Guest {
                kind: GuestErrorKind::Permanent,
                ..
            } => "step_failed",
            StepFailure::Guest {
                kind: GuestErrorKind::Retryable,
                ..
            } => "step_failed_retryable",
            StepFailure::FuelExhausted { .. } => "fuel_exhausted",
            StepFailure::MemoryLimit { .. } => "memory_limit",
            StepFailure::DeadlineExceeded { .. } => "deadline_exceeded",
            StepFailure::StackOverflow { .. } => "stack_overflow",
            StepFailure::Trap { .. } => "trap",
            StepFailure::OutputNotJson { .. } => "output_not_json",
            StepFailure::OutputTooLarge { .. } => "output_too_large",
            StepFailure::Host { .. } => "host_error",
        }
    }

    /// Whether running the step again may give another result. Resource limits are
    /// deterministic and are not retried; a step's own `retryable` error, a deadline (time
    /// depends on load) and host trouble are.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StepFailure::Guest {
                kind: GuestErrorKind::Retryable,
                ..
            } | StepFailure::DeadlineExceeded { .. }
                | StepFailure::Host { .. }
        )
    }
}
