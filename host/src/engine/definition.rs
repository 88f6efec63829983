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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveTime, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::expr::{Expr, ExprError, Template};
use super::triggers::spec::{self, EventMatch, Trigger};
use crate::sandbox::Limits;

/// Where a step goes next: another step, or the end of the workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The step with this id.
    Step(String),
    /// The workflow completes.
    End,
}

/// What the workflow runs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// No record.
    Global,
    /// One record of this object type.
    Record(String),
}

/// The type of a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarType {
    String,
    Number,
    Boolean,
    Date,
    Datetime,
    Uuid,
    Record,
    TeamMember,
    Json,
}

/// A declared variable: its type, whether it must have a value, and where the value comes
/// from (the first source that gives a non-empty value, else the default).
#[derive(Debug)]
pub struct Variable {
    pub name: String,
    pub ty: VarType,
    pub required: bool,
    pub sources: Vec<Template>,
    pub default: Option<Value>,
}

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
    /// Jump back (or ahead), at most `max_iterations` times.
    Goto { target: String, max_iterations: u32 },
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

/// One step.
#[derive(Debug)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Where to go after it (default: the next step in the list, or the end).
    pub next: Target,
}

/// How a workflow treats records and chains of workflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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

/// One problem in a definition, with where it is (`steps[2] (id "charge").retry.attempts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefinitionError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid workflow definition: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct InvalidDefinition(pub Vec<DefinitionError>);

// ---- The definition as written --------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scope: Option<RawScope>,
    #[serde(default)]
    variables: Vec<RawVariable>,
    steps: Vec<Value>,
    #[serde(default)]
    triggers: Vec<Value>,
    #[serde(default)]
    settings: Settings,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawScope {
    Named(String),
    Record { object: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    name: String,
    #[serde(rename = "type", default = "default_var_type")]
    ty: VarType,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    sources: Vec<Value>,
    #[serde(default)]
    default: Option<Value>,
}

fn default_var_type() -> VarType {
    VarType::Json
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    python: Option<String>,
    #[serde(default)]
    javascript: Option<String>,
    #[serde(default)]
    runner: Option<String>,
    #[serde(default)]
    branches: Option<BTreeMap<String, String>>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    save_as: Option<String>,
    #[serde(default)]
    limits: Option<RawLimits>,
    #[serde(default)]
    retry: Option<RawRetry>,
    #[serde(default)]
    on_failure: Option<OnFailure>,
    #[serde(default)]
    on_failure_goto: Option<String>,
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    then: Option<String>,
    #[serde(default, rename = "else")]
    otherwise: Option<String>,
    #[serde(default)]
    delay: Option<RawDelay>,
    #[serde(default)]
    goal: Option<RawGoal>,
    #[serde(default)]
    goto: Option<String>,
    #[serde(default)]
    max_iterations: Option<u32>,
    #[serde(default)]
    set: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    start_workflow: Option<RawStart>,
    #[serde(default)]
    pause_workflow: Option<String>,
    #[serde(default)]
    cancel_workflow: Option<String>,
    #[serde(default)]
    stop: Option<RawStop>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    fuel: Option<u64>,
    memory_mb: Option<u64>,
    timeout: Option<String>,
    output_kb: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    attempts: u32,
    #[serde(default)]
    backoff: Option<String>,
    #[serde(default)]
    multiplier: Option<f64>,
    #[serde(default)]
    max_backoff: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelay {
    #[serde(default, rename = "for")]
    duration: Option<String>,
    #[serde(default)]
    until: Option<Value>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    offset: Option<String>,
    #[serde(default)]
    weekday: Option<Vec<String>>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGoal {
    /// `{<event kind>: {...}}`, as in a trigger.
    #[serde(default)]
    event: Option<Value>,
    #[serde(default)]
    condition: Option<String>,
    within: String,
    #[serde(default)]
    met: Option<String>,
    #[serde(default)]
    not_met: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStart {
    workflow: String,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    resume_paused: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStop {
    #[serde(default)]
    failed: bool,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    output: Option<Value>,
}

// ---- Parsing and validation -----------------------------------------------------------------

/// Parse a definition from JSON or YAML text (YAML is a superset of JSON).
pub fn parse(text: &str) -> Result<Workflow, InvalidDefinition> {
    crate::limits::check_definition_text(text).map_err(|m| one("", m))?;
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
            err(format!("{path}.default"), e);
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

/// A goal's `event`: `{<event kind>: {...}}`.
fn goal_event(e: &mut StepErrors<'_>, value: Value) -> Option<EventMatch> {
    let path = format!("{}.goal.event", e.path);
    let kind = match &value {
        Value::Object(m) if m.len() == 1 => m.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    if !spec::EVENT_KINDS.contains(&kind.as_str()) {
        e.add(
            "goal.event",
            format!(
                "an event is `{{<kind>: {{...}}}}`, the kind one of {}",
                spec::EVENT_KINDS.join(", ")
            ),
        );
        return None;
    }
    let settings = match value {
        Value::Object(mut m) => m.remove(&kind).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    spec::event_match(
        &kind,
        settings,
        &format!("{path}.{kind}"),
        &mut spec::Errors(&mut e.errors),
    )
}

pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Collects a step's problems.
struct StepErrors<'a> {
    path: &'a str,
    errors: Vec<DefinitionError>,
}

impl StepErrors<'_> {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        let path = if field.is_empty() {
            self.path.to_string()
        } else {
            format!("{}.{field}", self.path)
        };
        self.errors.push(DefinitionError {
            path,
            message: message.into(),
        });
    }

    fn target(
        &mut self,
        field: &str,
        value: Option<&str>,
        ids: &HashMap<String, usize>,
    ) -> Option<Target> {
        match value {
            None => None,
            Some("end") => Some(Target::End),
            Some(id) if ids.contains_key(id) => Some(Target::Step(id.to_string())),
            Some(id) => {
                self.add(field, format!("there is no step `{id}`"));
                None
            }
        }
    }

    fn required_target(
        &mut self,
        field: &str,
        value: Option<&str>,
        ids: &HashMap<String, usize>,
    ) -> Target {
        if value.is_none() {
            self.add(field, "is required (a step id, or `end`)");
        }
        self.target(field, value, ids).unwrap_or(Target::End)
    }

    fn duration(&mut self, field: &str, text: &str) -> Duration {
        humantime::parse_duration(text).unwrap_or_else(|e| {
            self.add(
                field,
                format!("`{text}` is not a duration (e.g. 30s, 5m, 2h, 1d): {e}"),
            );
            Duration::ZERO
        })
    }

    fn template(&mut self, field: &str, value: &Value) -> Option<Template> {
        Template::compile(value)
            .map_err(|e: ExprError| self.add(field, e.to_string()))
            .ok()
    }

    fn expr(&mut self, field: &str, source: &str) -> Option<Expr> {
        Expr::compile(source)
            .map_err(|e| self.add(field, e.to_string()))
            .ok()
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
/// The largest code a code step may hold, in bytes.
const MAX_CODE: usize = 256 << 10;

fn build_step(
    path: &str,
    s: RawStep,
    ids: &HashMap<String, usize>,
    scope: &Scope,
) -> Result<Step, Vec<DefinitionError>> {
    let mut e = StepErrors {
        path,
        errors: Vec::new(),
    };
    let kinds: Vec<&str> = [
        ("action", s.action.is_some()),
        ("python", s.python.is_some()),
        ("javascript", s.javascript.is_some()),
        ("condition", s.condition.is_some()),
        ("delay", s.delay.is_some()),
        ("goal", s.goal.is_some()),
        ("goto", s.goto.is_some()),
        ("set", s.set.is_some()),
        ("start_workflow", s.start_workflow.is_some()),
        ("pause_workflow", s.pause_workflow.is_some()),
        ("cancel_workflow", s.cancel_workflow.is_some()),
        ("stop", s.stop.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
    .collect();
    if kinds.len() != 1 {
        e.add(
            "",
            format!(
                "a step has exactly one of action, python, javascript, condition, delay, goal, goto, set, start_workflow, pause_workflow, cancel_workflow, stop (found: {})",
                if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
            ),
        );
        return Err(e.errors);
    }
    let kind = kinds[0];
    let runs_a_module = matches!(kind, "action" | "python" | "javascript");
    // Fields that belong to one kind only.
    let stray: Vec<&str> = [
        ("input", s.input.is_some() && !runs_a_module),
        ("save_as", s.save_as.is_some() && !runs_a_module),
        ("limits", s.limits.is_some() && !runs_a_module),
        ("retry", s.retry.is_some() && !runs_a_module),
        ("on_failure", s.on_failure.is_some() && !runs_a_module),
        (
            "on_failure_goto",
            s.on_failure_goto.is_some() && !runs_a_module,
        ),
        (
            "runner",
            s.runner.is_some() && !matches!(kind, "python" | "javascript"),
        ),
        ("branches", s.branches.is_some() && !runs_a_module),
        ("then", s.then.is_some() && kind != "condition"),
        ("else", s.otherwise.is_some() && kind != "condition"),
        (
            "max_iterations",
            s.max_iterations.is_some() && kind != "goto",
        ),
    ]
    .into_iter()
    .filter_map(|(f, stray)| stray.then_some(f))
    .collect();
    for field in stray {
        e.add(field, format!("does not apply to a {kind} step"));
    }
    let next = e
        .target("next", s.next.as_deref(), ids)
        .unwrap_or(Target::Step(String::new()));

    let step_kind = match kind {
        "action" | "python" | "javascript" => {
            let code = match (s.python, s.javascript) {
                (Some(source), _) => Some((CodeLanguage::Python, source)),
                (_, Some(source)) => Some((CodeLanguage::JavaScript, source)),
                _ => None,
            }
            .map(|(language, source)| Code {
                language,
                source: source.into(),
            });
            let module = match &code {
                Some(c) => s.runner.unwrap_or_else(|| c.language.runner().to_string()),
                None => s.action.unwrap_or_default(),
            };
            let field = if code.is_some() { "runner" } else { "action" };
            if !valid_name(&module) {
                e.add(field, format!("`{module}` is not a step module name"));
            }
            if let Some(c) = &code {
                let key = c.language.name();
                if c.source.trim().is_empty() {
                    e.add(key, "the code is empty");
                }
                if c.source.len() > MAX_CODE {
                    e.add(
                        key,
                        format!("the code is {} bytes: at most {MAX_CODE}", c.source.len()),
                    );
                }
            }
            let input = s.input.as_ref().and_then(|v| e.template("input", v));
            if let Some(name) = &s.save_as
                && !valid_name(name)
            {
                e.add("save_as", format!("`{name}` is not a variable name"));
            }
            let timeout_given = s.limits.as_ref().is_some_and(|l| l.timeout.is_some());
            let mut limits = code
                .as_ref()
                .map_or_else(Limits::default, |c| c.language.limits());
            if let Some(l) = s.limits {
                if let Some(f) = l.fuel {
                    limits.fuel = f;
                }
                if let Some(m) = l.memory_mb {
                    limits.memory_bytes = m << 20;
                }
                if let Some(t) = l.timeout {
                    limits.timeout = e.duration("limits.timeout", &t);
                }
                if let Some(o) = l.output_kb {
                    limits.output_bytes = o << 10;
                }
                if limits.memory_bytes == 0 || limits.timeout.is_zero() || limits.fuel == 0 {
                    e.add(
                        "limits",
                        "fuel, memory_mb and timeout must be more than zero",
                    );
                }
            }
            let mut retry = Retry::default();
            if let Some(r) = s.retry {
                if r.attempts == 0 || r.attempts > 100 {
                    e.add("retry.attempts", "must be between 1 and 100 (1: no retry)");
                }
                retry.attempts = r.attempts.clamp(1, 100);
                if let Some(b) = r.backoff {
                    retry.backoff = e.duration("retry.backoff", &b);
                }
                if let Some(m) = r.multiplier {
                    if !(1.0..=10.0).contains(&m) {
                        e.add("retry.multiplier", "must be between 1 and 10");
                    }
                    retry.multiplier = m;
                }
                if let Some(m) = r.max_backoff {
                    retry.max_backoff = e.duration("retry.max_backoff", &m);
                }
            }
            let on_failure_goto = e.target("on_failure_goto", s.on_failure_goto.as_deref(), ids);
            let mut branches = BTreeMap::new();
            for (name, target) in s.branches.iter().flatten() {
                if !valid_name(name) {
                    e.add("branches", format!("`{name}` is not a branch name"));
                }
                if let Some(t) = e.target(&format!("branches.{name}"), Some(target), ids) {
                    branches.insert(name.clone(), t);
                }
            }
            StepKind::Action {
                module,
                input,
                code,
                branches,
                timeout_given,
                save_as: s.save_as,
                limits,
                retry,
                on_failure: s.on_failure.unwrap_or_default(),
                on_failure_goto,
            }
        }
        "condition" => {
            let expr = e.expr("condition", s.condition.as_deref().unwrap_or_default());
            let then = e.required_target("then", s.then.as_deref(), ids);
            let otherwise = e.required_target("else", s.otherwise.as_deref(), ids);
            match expr {
                Some(expr) => StepKind::Condition {
                    expr,
                    then,
                    otherwise,
                },
                None => return Err(e.errors),
            }
        }
        "delay" => StepKind::Delay(build_delay(
            &mut e,
            s.delay.unwrap_or_else(empty_delay),
            scope,
        )),
        "goal" => {
            let g = s.goal.unwrap_or(RawGoal {
                event: None,
                condition: None,
                within: String::new(),
                met: None,
                not_met: None,
            });
            let condition = g
                .condition
                .as_deref()
                .and_then(|c| e.expr("goal.condition", c));
            let within = e.duration("goal.within", &g.within);
            let event = g.event.and_then(|v| goal_event(&mut e, v));
            if scope == &Scope::Global {
                e.add("goal", "a goal waits for an event on the record: the workflow's scope must be a record");
            }
            StepKind::Goal {
                event,
                condition,
                within,
                met: e
                    .target("goal.met", g.met.as_deref(), ids)
                    .unwrap_or(Target::Step(String::new())),
                not_met: e
                    .target("goal.not_met", g.not_met.as_deref(), ids)
                    .unwrap_or(Target::End),
            }
        }
        "goto" => {
            let target = s.goto.unwrap_or_default();
            if !ids.contains_key(&target) {
                e.add("goto", format!("there is no step `{target}`"));
            }
            let max_iterations = s.max_iterations.unwrap_or(100);
            if max_iterations == 0 {
                e.add("max_iterations", "must be at least 1");
            }
            StepKind::Goto {
                target,
                max_iterations,
            }
        }
        "set" => {
            let mut values = Vec::new();
            for (name, v) in s.set.unwrap_or_default() {
                if !valid_name(&name) {
                    e.add(&format!("set.{name}"), "is not a variable name");
                }
                if let Some(t) = e.template(&format!("set.{name}"), &v) {
                    values.push((name, t));
                }
            }
            StepKind::Set { values }
        }
        "start_workflow" => {
            let st = s.start_workflow.unwrap_or(RawStart {
                workflow: String::new(),
                input: None,
                resume_paused: false,
            });
            if !valid_name(&st.workflow) {
                e.add(
                    "start_workflow.workflow",
                    format!("`{}` is not a workflow name", st.workflow),
                );
            }
            let input = st
                .input
                .as_ref()
                .and_then(|v| e.template("start_workflow.input", v));
            StepKind::StartWorkflow {
                workflow: st.workflow,
                input,
                resume_paused: st.resume_paused,
            }
        }
        "pause_workflow" | "cancel_workflow" => {
            let workflow = s.pause_workflow.or(s.cancel_workflow).unwrap_or_default();
            if scope == &Scope::Global {
                e.add(
                    kind,
                    "acts on executions on the same record: the workflow's scope must be a record",
                );
            }
            if kind == "pause_workflow" {
                StepKind::PauseWorkflow { workflow }
            } else {
                StepKind::CancelWorkflow { workflow }
            }
        }
        _ => {
            let st = s.stop.unwrap_or_default();
            let output = st
                .output
                .as_ref()
                .and_then(|v| e.template("stop.output", v));
            StepKind::Stop {
                failed: st.failed,
                reason: st.reason,
                output,
            }
        }
    };
    if e.errors.is_empty() {
        Ok(Step {
            id: s.id,
            kind: step_kind,
            next,
        })
    } else {
        Err(e.errors)
    }
}

fn empty_delay() -> RawDelay {
    RawDelay {
        duration: None,
        until: None,
        field: None,
        offset: None,
        weekday: None,
        time: None,
        timezone: None,
    }
}

fn build_delay(e: &mut StepErrors<'_>, d: RawDelay, scope: &Scope) -> Delay {
    let kinds = [
        d.duration.is_some(),
        d.until.is_some(),
        d.field.is_some(),
        d.weekday.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        e.add("delay", "give exactly one of `for` (a duration), `until` (a time), `field` (a date field of the record, with an optional `offset`), `weekday` (with `time` and `timezone`)");
        return Delay::For(Duration::ZERO);
    }
    if let Some(text) = d.duration {
        return Delay::For(e.duration("delay.for", &text));
    }
    if let Some(until) = d.until {
        return Delay::Until(
            e.template("delay.until", &until)
                .unwrap_or(Template::Literal(Value::Null)),
        );
    }
    if let Some(field) = d.field {
        if scope == &Scope::Global {
            e.add(
                "delay.field",
                "needs a record: the workflow's scope must be a record",
            );
        }
        let offset_ms = match d.offset.as_deref() {
            None => 0,
            Some(text) => {
                let (sign, rest) = match text.strip_prefix('-') {
                    Some(rest) => (-1, rest),
                    None => (1, text.strip_prefix('+').unwrap_or(text)),
                };
                sign * e.duration("delay.offset", rest).as_millis() as i64
            }
        };
        return Delay::Field { field, offset_ms };
    }
    let days: Vec<Weekday> = d
        .weekday
        .unwrap_or_default()
        .iter()
        .filter_map(|w| {
            w.parse::<Weekday>()
                .map_err(|_| e.add("delay.weekday", format!("`{w}` is not a weekday")))
                .ok()
        })
        .collect();
    if days.is_empty() {
        e.add("delay.weekday", "name at least one weekday (mon, tue, ...)");
    }
    let time = match d.time.as_deref() {
        Some(t) => NaiveTime::parse_from_str(t, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S"))
            .unwrap_or_else(|_| {
                e.add("delay.time", format!("`{t}` is not a time of day (HH:MM)"));
                NaiveTime::MIN
            }),
        None => NaiveTime::MIN,
    };
    let timezone = match d.timezone.as_deref() {
        Some(tz) => tz.parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
            e.add(
                "delay.timezone",
                format!("`{tz}` is not a time zone (e.g. Europe/Paris)"),
            );
            chrono_tz::UTC
        }),
        None => chrono_tz::UTC,
    };
    Delay::Weekday {
        days,
        time,
        timezone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(text)
            .err()
            .map(|e| e.0.iter().map(|d| d.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn every_problem_is_reported_with_its_step() {
        let all = errors(
            "
name: broken
steps:
  - { id: a, action: some-module }
  - { id: b, condition: 'vars.x >', then: nowhere, else: end }
  - { id: a, delay: { for: soon } }
  - { id: c, action: m, retry: { attempts: 0 } }
  - { id: d }
",
        );
        let text = all.join("\n");
        for needle in [
            "steps[1] (id \"b\").condition: syntax error",
            "steps[1] (id \"b\").then: there is no step `nowhere`",
            "steps[2] (id \"a\"): step id `a` is used twice",
            "steps[2] (id \"a\").delay.for: `soon` is not a duration",
            "steps[3] (id \"c\").retry.attempts: must be between 1 and 100",
            "steps[4] (id \"d\"): a step has exactly one of",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn defaults_fill_next_and_goal_paths() {
        let wf = parse("name: w\nscope: { object: deal }\nsteps:\n  - { id: a, goal: { within: 1d } }\n  - { id: b, stop: {} }\n").unwrap();
        assert_eq!(wf.steps[0].next, Target::Step("b".into()));
        assert!(
            matches!(&wf.steps[0].kind, StepKind::Goal { met: Target::Step(b), not_met: Target::End, .. } if b == "b")
        );
        assert_eq!(wf.steps[1].next, Target::End);
    }
}
