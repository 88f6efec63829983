//! The definition as written: what serde reads before it is checked.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::Settings;
use super::steps::OnFailure;
use crate::engine::variables::VarType;

// ---- The definition as written --------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkflow {
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) scope: Option<RawScope>,
    #[serde(default)]
    pub(super) variables: Vec<RawVariable>,
    pub(super) steps: Vec<Value>,
    #[serde(default)]
    pub(super) triggers: Vec<Value>,
    #[serde(default)]
    pub(super) settings: Settings,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawScope {
    Named(String),
    Record { object: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariable {
    pub(super) name: String,
    #[serde(rename = "type", default = "default_var_type")]
    pub(super) ty: VarType,
    #[serde(default)]
    pub(super) required: bool,
    #[serde(default)]
    pub(super) sources: Vec<Value>,
    #[serde(default)]
    pub(super) default: Option<Value>,
}

pub(super) fn default_var_type() -> VarType {
    VarType::Json
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) id: String,
    #[serde(default)]
    pub(super) next: Option<String>,
    #[serde(default)]
    pub(super) action: Option<String>,
    #[serde(default)]
    pub(super) python: Option<String>,
    #[serde(default)]
    pub(super) javascript: Option<String>,
    #[serde(default)]
    pub(super) runner: Option<String>,
    #[serde(default)]
    pub(super) branches: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(super) input: Option<Value>,
    #[serde(default)]
    pub(super) save_as: Option<String>,
    #[serde(default)]
    pub(super) limits: Option<RawLimits>,
    #[serde(default)]
    pub(super) retry: Option<RawRetry>,
    #[serde(default)]
    pub(super) on_failure: Option<OnFailure>,
    #[serde(default)]
    pub(super) on_failure_goto: Option<String>,
    #[serde(default)]
    pub(super) condition: Option<String>,
    #[serde(default)]
    pub(super) then: Option<String>,
    #[serde(default, rename = "else")]
    pub(super) otherwise: Option<String>,
    #[serde(default)]
    pub(super) delay: Option<RawDelay>,
    #[serde(default)]
    pub(super) goal: Option<RawGoal>,
    #[serde(default)]
    pub(super) goto: Option<String>,
    #[serde(default)]
    pub(super) max_iterations: Option<u32>,
    /// A goto at its cap: `continue` (default) or `fail`.
    #[serde(default)]
    pub(super) on_cap: Option<String>,
    #[serde(default)]
    pub(super) set: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub(super) start_workflow: Option<RawStart>,
    #[serde(default)]
    pub(super) pause_workflow: Option<String>,
    #[serde(default)]
    pub(super) cancel_workflow: Option<String>,
    #[serde(default)]
    pub(super) stop: Option<RawStop>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) fuel: Option<u64>,
    pub(super) memory_mb: Option<u64>,
    pub(super) timeout: Option<String>,
    pub(super) output_kb: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    pub(super) attempts: u32,
    #[serde(default)]
    pub(super) backoff: Option<String>,
    #[serde(default)]
    pub(super) multiplier: Option<f64>,
    #[serde(default)]
    pub(super) max_backoff: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelay {
    #[serde(default, rename = "for")]
    pub(super) duration: Option<String>,
    #[serde(default)]
    pub(super) until: Option<Value>,
    #[serde(default)]
    pub(super) field: Option<String>,
    #[serde(default)]
    pub(super) offset: Option<String>,
    #[serde(default)]
    pub(super) weekday: Option<Vec<String>>,
    #[serde(default)]
    pub(super) time: Option<String>,
    #[serde(default)]
    pub(super) timezone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGoal {
    /// `{<event kind>: {...}}`, as in a trigger.
    #[serde(default)]
    pub(super) event: Option<Value>,
    #[serde(default)]
    pub(super) condition: Option<String>,
    pub(super) within: String,
    #[serde(default)]
    pub(super) met: Option<String>,
    #[serde(default)]
    pub(super) not_met: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStart {
    pub(super) workflow: String,
    #[serde(default)]
    pub(super) input: Option<Value>,
    #[serde(default)]
    pub(super) resume_paused: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStop {
    #[serde(default)]
    pub(super) failed: bool,
    #[serde(default)]
    pub(super) reason: Option<String>,
    #[serde(default)]
    pub(super) output: Option<Value>,
}

// ---- Parsing and validation -----------------------------------------------------------------
