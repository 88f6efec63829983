//! The step kinds of a validated definition, and what they carry.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use super::Target;
use crate::expr::{Expr, Template};
use crate::records::triggers::EventMatch;
use crate::sandbox::Limits;

/// What happens when a step fails for good (after its retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The execution fails.
    #[default]
    Fail,
    /// The execution pauses at the failed step; resuming runs the step again.
    Pause,
    /// The execution goes on to the next step, and the failure is reported.
    Continue,
    /// The execution goes on to the next step.
    ContinueSilently,
}

/// How a failed step is retried: up to `attempts` runs in all, waiting `backoff` before the
/// second, multiplied by `multiplier` each time, at most `max_backoff`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub attempts: u32,
    pub backoff: Duration,
    pub multiplier: f64,
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 1,
            backoff: Duration::from_secs(1),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(300),
        }
    }
}

impl Retry {
    /// The wait before attempt `next` (2 for the first retry).
    pub fn backoff_before(&self, next: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(next.saturating_sub(2) as i32);
        self.backoff.mul_f64(factor).min(self.max_backoff)
    }
}

/// A delay step's kinds.
#[derive(Debug)]
pub enum Delay {
    /// A fixed time.
    For(Duration),
    /// Until a date/time (an expression giving an RFC 3339 time or a date).
    Until(Template),
    /// Until a date field of the record, plus an offset (negative: before).
    Field { field: String, offset_ms: i64 },
    /// Until the next of these weekdays at a time of day in a time zone.
    Weekday {
        days: Vec<Weekday>,
        time: NaiveTime,
        timezone: chrono_tz::Tz,
    },
}

/// The kinds of steps.
#[derive(Debug)]
pub enum StepKind {
    /// Run a step module.
    Action {
        module: String,
        /// The input; `None` passes the previous step's output (or the execution input).
        input: Option<Template>,
        /// A code step's source (`python:`, `javascript:`), run by `module` (its language's
        /// runner): the step's input is then `{"code": source, "inputs": <the input>}`. Never
        /// rendered as a template.
        code: Option<Code>,
        /// Where to go when the step's output names a branch (`{"branch": "low_confidence"}`);
        /// an output that names none of these goes to `next`.
        branches: BTreeMap<String, Target>,
        save_as: Option<String>,
        limits: Limits,
        /// Whether the definition set `limits.timeout` (else a module granted `llm` or `audio`
        /// gets [`AI_STEP_TIMEOUT`]: model calls and their retries take longer than 10 s).
        timeout_given: bool,
        retry: Retry,
        on_failure: OnFailure,
        /// Where to go after a final failure instead of `on_failure`.
        on_failure_goto: Option<Target>,
    },
    /// Two paths, decided by an expression.
    Condition {
        expr: Expr,
        then: Target,
        otherwise: Target,
    },
    /// Wait.
    Delay(Delay),
    /// Wait, within a window, for an event on the record: one that `event` matches (with
    /// `condition` holding, if given), or without `event`, any change after which `condition`
    /// holds.
    Goal {
        event: Option<EventMatch>,
        condition: Option<Expr>,
        within: Duration,
        met: Target,
        not_met: Target,
    },
    /// Jump back (or ahead), at most `max_iterations` times; then go on to `next`, or fail the
    /// execution (`on_cap: fail`).
    Goto {
        target: String,
        max_iterations: u32,
        fail_at_cap: bool,
    },
    /// Set variables.
    Set { values: Vec<(String, Template)> },
    /// Start another workflow, as a child of this execution.
    StartWorkflow {
        workflow: String,
        input: Option<Template>,
        resume_paused: bool,
    },
    /// Pause another workflow's unfinished executions on the same record.
    PauseWorkflow { workflow: String },
    /// Cancel another workflow's unfinished executions on the same record.
    CancelWorkflow { workflow: String },
    /// End the execution here.
    Stop {
        failed: bool,
        reason: Option<String>,
        output: Option<Template>,
    },
}

impl StepKind {
    /// The kind's name, as stored in the step history.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Action { code: Some(c), .. } => c.language.name(),
            StepKind::Action { .. } => "action",
            StepKind::Condition { .. } => "condition",
            StepKind::Delay(_) => "delay",
            StepKind::Goal { .. } => "goal",
            StepKind::Goto { .. } => "goto",
            StepKind::Set { .. } => "set",
            StepKind::StartWorkflow { .. } => "start_workflow",
            StepKind::PauseWorkflow { .. } => "pause_workflow",
            StepKind::CancelWorkflow { .. } => "cancel_workflow",
            StepKind::Stop { .. } => "stop",
        }
    }
}

/// The languages of code steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeLanguage {
    Python,
    JavaScript,
}

impl CodeLanguage {
    /// The step's key in a definition, and its kind in the history.
    pub fn name(self) -> &'static str {
        match self {
            CodeLanguage::Python => "python",
            CodeLanguage::JavaScript => "javascript",
        }
    }

    /// The step module that runs this language's steps unless a step names its `runner`; also
    /// the name of the runner's component in `target/wasm/`.
    pub fn runner(self) -> &'static str {
        self.name()
    }

    /// A code step's default limits: an interpreter needs more room and time than a compiled
    /// step (1 GiB and 30 s, as in the platforms users come from), and the fuel that 30 s of
    /// busy code burns in it (measured: ~1.3e10/s in CPython, ~2e10/s in SpiderMonkey).
    pub fn limits(self) -> Limits {
        Limits {
            memory_bytes: 1 << 30,
            timeout: Duration::from_secs(30),
            fuel: match self {
                CodeLanguage::Python => 400_000_000_000,
                CodeLanguage::JavaScript => 600_000_000_000,
            },
            ..Limits::default()
        }
    }
}

/// A code step's source, in its language.
#[derive(Debug, Clone)]
pub struct Code {
    pub language: CodeLanguage,
    pub source: Arc<str>,
}

/// The wall-time limit of a step whose module is granted `llm` or `audio`, unless the step sets
/// its own: a provider's answer, its retries and Retry-After waits need more than the default.
pub const AI_STEP_TIMEOUT: Duration = Duration::from_secs(180);
