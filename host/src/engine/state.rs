//! What an execution carries between steps (stored as JSON in its row), and the statuses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Execution statuses.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const WAITING: &str = "waiting";
    pub const PAUSED: &str = "paused";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";

    /// Every status, for validating filters.
    pub const ALL: [&str; 7] = [
        QUEUED, RUNNING, WAITING, PAUSED, COMPLETED, FAILED, CANCELLED,
    ];

    /// Whether an execution in this status is over.
    pub fn is_final(s: &str) -> bool {
        matches!(s, COMPLETED | FAILED | CANCELLED)
    }
}

/// Step run statuses.
pub mod step_status {
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
    pub const WAITING: &str = "waiting";
    pub const CANCELLED: &str = "cancelled";
    pub const SKIPPED: &str = "skipped";
}

/// Control requests and signals, in the row's `control` column.
pub mod control {
    pub const PAUSE: &str = "pause";
    pub const CANCEL: &str = "cancel";
    /// A goal the execution waits for was met by a record event: `met:event:<event id>`.
    pub fn met_by_event(event: i64) -> String {
        format!("met:event:{event}")
    }
    /// A goal the execution waits for was met by hand (`POST .../goals/{step}/meet`).
    pub const MET_BY_HAND: &str = "met:api";

    /// Whether `control` says a goal was met (`met` alone: written before it said by what).
    pub fn is_met(control: &str) -> bool {
        control == "met" || control.starts_with("met:")
    }

    /// What met the goal, for its step's history: `{"by": "event", "event": ID}` or
    /// `{"by": "api"}`.
    pub fn met_by(control: &str) -> serde_json::Value {
        match control.strip_prefix("met:") {
            Some("api") => serde_json::json!({"by": "api"}),
            Some(rest) => match rest
                .strip_prefix("event:")
                .and_then(|id| id.parse::<i64>().ok())
            {
                Some(id) => serde_json::json!({"by": "event", "event": id}),
                None => serde_json::Value::Null,
            },
            None => serde_json::Value::Null,
        }
    }
}

/// Why an execution is paused.
pub mod pause_reason {
    pub const REQUESTED: &str = "requested";
    pub const KILL_SWITCH: &str = "kill switch";
    pub const STEP_FAILED: &str = "step failed";
}

/// What a waiting execution waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Waiting {
    /// A delay step; its step run (`seq`) completes when it wakes.
    Delay { step: String, seq: i64 },
    /// A goal step: met by a signal (or a matching record event after `since`), or
    /// not met when the window closes.
    Goal {
        step: String,
        seq: i64,
        #[serde(default, with = "crate::time::ms_rfc3339")]
        since: i64,
    },
    /// The backoff before the next attempt of a step.
    Retry { step: String },
}

impl Waiting {
    /// The seq of its step run, for a wait that has one (a delay, a goal).
    pub fn seq(&self) -> Option<i64> {
        match self {
            Waiting::Delay { seq, .. } | Waiting::Goal { seq, .. } => Some(*seq),
            Waiting::Retry { .. } => None,
        }
    }

    /// The step it belongs to.
    pub fn step(&self) -> &str {
        match self {
            Waiting::Delay { step, .. } | Waiting::Goal { step, .. } | Waiting::Retry { step } => {
                step
            }
        }
    }
}

/// Everything needed to resume an execution where it stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The step to run next; `None` once finished.
    pub position: Option<String>,
    /// Variables.
    #[serde(default)]
    pub variables: Map<String, Value>,
    /// Whether the declared variables have been resolved (done before the first step).
    #[serde(default)]
    pub resolved: bool,
    /// The newest output of each step that produced one.
    #[serde(default)]
    pub outputs: Map<String, Value>,
    /// The output of the last step that produced one (the default input of the next action).
    #[serde(default)]
    pub last_output: Option<Value>,
    /// How many times each go-to step has jumped.
    #[serde(default)]
    pub loops: BTreeMap<String, u32>,
    /// The attempt number of the step at `position` (1 = first).
    #[serde(default = "one")]
    pub attempt: u32,
    /// What it waits for, when waiting.
    #[serde(default)]
    pub waiting: Option<Waiting>,
    /// The newest step failure the execution went on after (`on_failure_goto`, `continue`):
    /// `{step, code, message, attempt}`, what `{{ failure }}` shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Value>,
}

fn one() -> u32 {
    1
}

impl State {
    /// The state of a new execution.
    pub fn start(first_step: &str, variables: Map<String, Value>) -> State {
        State {
            position: Some(first_step.to_string()),
            variables,
            attempt: 1,
            ..State::default()
        }
    }
}
