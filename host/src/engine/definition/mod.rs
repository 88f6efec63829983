//! Workflow definitions: what users write (JSON or YAML), parsed and validated into a
//! [`Workflow`] with every expression compiled. Errors point at the offending step.
//!
//! ```yaml
//! name: welcome
//! scope: global                 # or: { object: deal } for workflows that run on a record
//! variables:
//!   - { name: tier, type: string, sources: ["{{ input.tier }}"], default: basic }
//! steps:
//!   - id: check
//!     condition: "vars.tier == 'gold'"
//!     then: vip
//!     else: wait
//!   - id: wait
//!     delay: { for: 2s }
//!   - id: vip
//!     action: increment           # a step module
//!     input: { n: "{{ input.n }}" }
//!     save_as: result
//! ```

mod build;
pub(crate) mod common;
mod graph;
mod raw;
mod steps;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::build::build_step;
use self::common::check_notify;
pub use self::common::{DefinitionError, InvalidDefinition, valid_name};
use self::raw::{RawScope, RawStep, RawWorkflow};
pub use self::steps::{AI_STEP_TIMEOUT, Code, CodeLanguage, Delay, OnFailure, Retry, StepKind};
pub use crate::engine::variables::{VarType, Variable};
use crate::expr::Template;
use crate::records::triggers::{self as spec, Trigger};

/// Where a step goes next: another step, or the end of the workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The step with this id.
    Step(String),
    /// The workflow completes.
    End,
}

/// A name no workflow may have: `/v1/workflows/validate` is a route.
pub const RESERVED_NAME: &str = "validate";

/// What the workflow runs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// No record.
    Global,
    /// One record of this object type.
    Record(String),
}

/// One step.
#[derive(Debug)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Where to go after it (default: the next step in the list, or the end).
    pub next: Target,
}

/// How a workflow treats records and chains of workflows, and whom it tells of failures.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Whether a record may be in the workflow more than once at a time (default: no; a start
    /// for a record already in it is refused, or skipped when a trigger asked).
    #[serde(default)]
    pub reentry: bool,
    /// Whether the workflow may run again on the same record within one chain of workflows that
    /// trigger each other through record changes (default: no; the loop guard stops it).
    #[serde(default)]
    pub reenter_in_chain: bool,
    /// At most this many executions running or waiting at once; more starts queue.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
    /// At most this many starts in any minute; more starts queue.
    #[serde(default)]
    pub max_starts_per_minute: Option<u32>,
    /// Whom a step failure is told to (see [`Notify`]).
    #[serde(default)]
    pub notify: Option<Notify>,
}

/// Where failure notifications go, each part optional. A step failure that the workflow
/// handles by `fail`, `pause` or `continue` (not `continue_silently`, nor `on_failure_goto`)
/// sends one notification to each target named.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// A team, posted to on `channel` (default: the team's first channel).
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    /// An email address (needs the server's `--smtp-url`).
    #[serde(default)]
    pub email: Option<String>,
    /// An http(s) URL that gets a POST of the notification as JSON, signed with HMAC-SHA256
    /// (needs the server's `--notify-secret`).
    #[serde(default)]
    pub webhook: Option<String>,
}

impl Settings {
    /// Whether starts go through the queue, to respect a limit.
    pub fn throttled(&self) -> bool {
        self.max_concurrent.is_some() || self.max_starts_per_minute.is_some()
    }
}

/// A validated workflow, ready to run.
#[derive(Debug)]
pub struct Workflow {
    pub name: String,
    pub description: Option<String>,
    pub scope: Scope,
    pub variables: Vec<Variable>,
    pub steps: Vec<Step>,
    /// What starts it by itself (it can always be started through the API).
    pub triggers: Vec<Trigger>,
    pub settings: Settings,
    index: HashMap<String, usize>,
    /// The definition as saved (normalised JSON).
    pub source: Value,
}

impl Workflow {
    /// The position of a step.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Step modules the workflow's actions use.
    pub fn modules(&self) -> impl Iterator<Item = (&str, &str)> {
        self.steps.iter().filter_map(|s| match &s.kind {
            StepKind::Action { module, .. } => Some((s.id.as_str(), module.as_str())),
            _ => None,
        })
    }

    /// Workflows this one starts, pauses or cancels.
    pub fn related_workflows(&self) -> impl Iterator<Item = (&str, &str)> {
        self.steps.iter().filter_map(|s| match &s.kind {
            StepKind::StartWorkflow { workflow, .. }
            | StepKind::PauseWorkflow { workflow }
            | StepKind::CancelWorkflow { workflow } => Some((s.id.as_str(), workflow.as_str())),
            _ => None,
        })
    }
}

/// Parse a definition from JSON or YAML text (YAML is a superset of JSON).
pub fn parse(text: &str) -> Result<Workflow, InvalidDefinition> {
    crate::limits::check_definition_text(text).map_err(|m| one("", m.to_string()))?;
    let value: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| one("", format!("not valid JSON: {e}")))?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| one("", format!("not valid YAML: {e}")))?
    };
    from_value(value)
}

fn one(path: &str, message: impl Into<String>) -> InvalidDefinition {
    InvalidDefinition(vec![DefinitionError {
        path: path.to_string(),
        message: message.into(),
    }])
}

/// Validate a definition given as a JSON value.
///
/// Long (about 170 lines) because it collects every problem of the whole definition in one
/// pass (name, scope, variables, settings, steps, triggers), so that an author sees them all at
/// once; each part is a short block. To be split by part with issue 21.
pub fn from_value(value: Value) -> Result<Workflow, InvalidDefinition> {
    let raw: RawWorkflow = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        one(if path == "." { "" } else { &path }, e.inner().to_string())
    })?;
    let mut errors = Vec::new();
    let mut err = |path: String, message: String| errors.push(DefinitionError { path, message });

    if !valid_name(&raw.name) {
        err(
            "name".into(),
            "a workflow name is 1-100 characters of a-z, 0-9, `-` and `_`".into(),
        );
    } else if raw.name == RESERVED_NAME {
        err(
            "name".into(),
            format!("`{RESERVED_NAME}` is taken by the API (POST /v1/workflows/validate)"),
        );
    }
    let scope = match raw.scope {
        None => Scope::Global,
        Some(RawScope::Named(s)) if s == "global" => Scope::Global,
        Some(RawScope::Named(s)) => {
            err(
                "scope".into(),
                format!("`{s}` is not a scope: use `global` or `{{object: <type>}}`"),
            );
            Scope::Global
        }
        Some(RawScope::Record { object }) if valid_name(&object) => Scope::Record(object),
        Some(RawScope::Record { object }) => {
            err(
                "scope.object".into(),
                format!("`{object}` is not a valid object type name"),
            );
            Scope::Global
        }
    };

    let mut variables = Vec::new();
    let mut var_names = std::collections::HashSet::new();
    for (i, v) in raw.variables.into_iter().enumerate() {
        let path = format!("variables[{i}] (name {:?})", v.name);
        if !valid_name(&v.name) {
            err(
                path.clone(),
                "a variable name is 1-100 characters of a-z, 0-9, `-` and `_`".into(),
            );
        }
        if !var_names.insert(v.name.clone()) {
            err(
                path.clone(),
                format!("variable `{}` is declared twice", v.name),
            );
        }
        let mut sources = Vec::new();
        for (j, s) in v.sources.iter().enumerate() {
            match Template::compile(s) {
                Ok(t) => sources.push(t),
                Err(e) => err(format!("{path}.sources[{j}]"), e.to_string()),
            }
        }
        if let Some(d) = &v.default
            && let Err(e) = super::variables::coerce(v.ty, d.clone())
        {
            err(format!("{path}.default"), e.to_string());
        }
        variables.push(Variable {
            name: v.name,
            ty: v.ty,
            required: v.required,
            sources,
            default: v.default,
        });
    }

    for (key, limit) in [
        ("settings.max_concurrent", raw.settings.max_concurrent),
        (
            "settings.max_starts_per_minute",
            raw.settings.max_starts_per_minute,
        ),
    ] {
        if limit == Some(0) {
            err(
                key.into(),
                "must be at least 1 (leave it out for no limit)".into(),
            );
        }
    }
    if let Some(n) = &raw.settings.notify {
        for (path, message) in check_notify(n) {
            err(path, message);
        }
    }
    if raw.steps.is_empty() {
        err("steps".into(), "a workflow needs at least one step".into());
    }
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut parsed: Vec<(String, RawStep)> = Vec::new();
    for (i, step) in raw.steps.into_iter().enumerate() {
        let id_hint = step
            .get("id")
            .and_then(Value::as_str)
            .map(|s| format!(" (id {s:?})"))
            .unwrap_or_default();
        let path = format!("steps[{i}]{id_hint}");
        match serde_path_to_error::deserialize::<_, RawStep>(step) {
            Ok(s) => {
                if !valid_name(&s.id) {
                    err(
                        path.clone(),
                        "a step id is 1-100 characters of a-z, 0-9, `-` and `_`".into(),
                    );
                } else if s.id == "end" {
                    err(
                        path.clone(),
                        "`end` is reserved: it names the end of the workflow".into(),
                    );
                } else if ids.insert(s.id.clone(), i).is_some() {
                    err(path.clone(), format!("step id `{}` is used twice", s.id));
                }
                parsed.push((path, s));
            }
            Err(e) => {
                let inner = e.path().to_string();
                let at = if inner == "." {
                    path
                } else {
                    format!("{path}.{inner}")
                };
                err(at, e.inner().to_string());
            }
        }
    }

    let mut steps = Vec::new();
    for (path, raw_step) in parsed {
        match build_step(&path, raw_step, &ids, &scope) {
            Ok(step) => steps.push(step),
            Err(mut e) => errors.append(&mut e),
        }
    }
    // An unset `next` (the placeholder `Step("")`) is the following step in the list; a goal's
    // unset `met` path is its `next`.
    let ids_in_order: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
    let unset = Target::Step(String::new());
    for (i, step) in steps.iter_mut().enumerate() {
        if step.next == unset {
            step.next = ids_in_order
                .get(i + 1)
                .map(|id| Target::Step(id.clone()))
                .unwrap_or(Target::End);
        }
        if let StepKind::Goal { met, .. } = &mut step.kind
            && *met == unset
        {
            *met = step.next.clone();
        }
    }

    let triggers =
        spec::parse_triggers(raw.triggers, matches!(scope, Scope::Record(_)), &mut errors);

    if !errors.is_empty() {
        return Err(InvalidDefinition(errors));
    }
    let index = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), i))
        .collect();
    Ok(Workflow {
        name: raw.name,
        description: raw.description,
        scope,
        variables,
        steps,
        triggers,
        settings: raw.settings,
        index,
        source: value,
    })
}
