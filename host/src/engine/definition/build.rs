//! Building the steps of a definition from what was written, each problem named where it is.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{NaiveTime, Weekday};
use serde_json::Value;

use super::raw::*;
use super::steps::*;
use super::{DefinitionError, Scope, Step, Target, valid_name};
use crate::expr::{Expr, ExprError, Template};
use crate::records::triggers::{self as spec, EventMatch};
use crate::sandbox::Limits;

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

/// The largest code a code step may hold, in bytes.
const MAX_CODE: usize = 256 << 10;

/// The one kind a raw step names, taken out of it once, so that nothing dispatches on a name
/// again.
enum RawKind {
    /// `action`, `python` or `javascript`: a step module runs.
    Module {
        action: Option<String>,
        code: Option<Code>,
    },
    Condition(String),
    Delay(RawDelay),
    Goal(RawGoal),
    Goto(String),
    Set(BTreeMap<String, Value>),
    Start(RawStart),
    Pause(String),
    Cancel(String),
    Stop(RawStop),
}

impl RawKind {
    /// The name a definition gives this kind.
    fn name(&self) -> &'static str {
        match self {
            RawKind::Module { code: None, .. } => "action",
            RawKind::Module { code: Some(c), .. } => c.language.name(),
            RawKind::Condition(_) => "condition",
            RawKind::Delay(_) => "delay",
            RawKind::Goal(_) => "goal",
            RawKind::Goto(_) => "goto",
            RawKind::Set(_) => "set",
            RawKind::Start(_) => "start_workflow",
            RawKind::Pause(_) => "pause_workflow",
            RawKind::Cancel(_) => "cancel_workflow",
            RawKind::Stop(_) => "stop",
        }
    }

    /// Take the kind out of `s`; an error names the kinds found unless there is exactly one.
    fn take(s: &mut RawStep) -> Result<RawKind, String> {
        let mut found = Vec::new();
        let code = |language, source: String| Code {
            language,
            source: source.into(),
        };
        if let Some(a) = s.action.take() {
            found.push(RawKind::Module {
                action: Some(a),
                code: None,
            });
        }
        if let Some(p) = s.python.take() {
            found.push(RawKind::Module {
                action: None,
                code: Some(code(CodeLanguage::Python, p)),
            });
        }
        if let Some(j) = s.javascript.take() {
            found.push(RawKind::Module {
                action: None,
                code: Some(code(CodeLanguage::JavaScript, j)),
            });
        }
        found.extend(s.condition.take().map(RawKind::Condition));
        found.extend(s.delay.take().map(RawKind::Delay));
        found.extend(s.goal.take().map(RawKind::Goal));
        found.extend(s.goto.take().map(RawKind::Goto));
        found.extend(s.set.take().map(RawKind::Set));
        found.extend(s.start_workflow.take().map(RawKind::Start));
        found.extend(s.pause_workflow.take().map(RawKind::Pause));
        found.extend(s.cancel_workflow.take().map(RawKind::Cancel));
        found.extend(s.stop.take().map(RawKind::Stop));
        if found.len() == 1 {
            return Ok(found.remove(0));
        }
        let names: Vec<&str> = found.iter().map(RawKind::name).collect();
        Err(format!(
            "a step has exactly one of action, python, javascript, condition, delay, goal, goto, set, start_workflow, pause_workflow, cancel_workflow, stop (found: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    }
}

pub(super) fn build_step(
    path: &str,
    mut s: RawStep,
    ids: &HashMap<String, usize>,
    scope: &Scope,
) -> Result<Step, Vec<DefinitionError>> {
    let mut e = StepErrors {
        path,
        errors: Vec::new(),
    };
    let kind = match RawKind::take(&mut s) {
        Ok(kind) => kind,
        Err(message) => {
            e.add("", message);
            return Err(e.errors);
        }
    };
    check_stray_fields(&mut e, &s, &kind);
    let next = e
        .target("next", s.next.as_deref(), ids)
        .unwrap_or(Target::Step(String::new()));
    let id = std::mem::take(&mut s.id);
    let step_kind = match kind {
        RawKind::Module { action, code } => module_step(&mut e, s, action, code, ids),
        RawKind::Condition(condition) => {
            let expr = e.expr("condition", &condition);
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
        RawKind::Delay(d) => StepKind::Delay(build_delay(&mut e, d, scope)),
        RawKind::Goal(g) => goal_step(&mut e, g, ids, scope),
        RawKind::Goto(target) => {
            if !ids.contains_key(&target) {
                e.add("goto", format!("there is no step `{target}`"));
            }
            let max_iterations = s.max_iterations.unwrap_or(100);
            if max_iterations == 0 {
                e.add("max_iterations", "must be at least 1");
            }
            let fail_at_cap = match s.on_cap.as_deref() {
                None | Some("continue") => false,
                Some("fail") => true,
                Some(other) => {
                    e.add("on_cap", format!("`{other}` is not continue or fail"));
                    false
                }
            };
            StepKind::Goto {
                target,
                max_iterations,
                fail_at_cap,
            }
        }
        RawKind::Set(set) => {
            let mut values = Vec::new();
            for (name, v) in set {
                if !valid_name(&name) {
                    e.add(&format!("set.{name}"), "is not a variable name");
                }
                if let Some(t) = e.template(&format!("set.{name}"), &v) {
                    values.push((name, t));
                }
            }
            StepKind::Set { values }
        }
        RawKind::Start(st) => {
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
        RawKind::Pause(workflow) => {
            on_records_only(&mut e, "pause_workflow", scope);
            StepKind::PauseWorkflow { workflow }
        }
        RawKind::Cancel(workflow) => {
            on_records_only(&mut e, "cancel_workflow", scope);
            StepKind::CancelWorkflow { workflow }
        }
        RawKind::Stop(st) => {
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
            id,
            kind: step_kind,
            next,
        })
    } else {
        Err(e.errors)
    }
}

/// Pausing or cancelling acts on executions on the same record.
fn on_records_only(e: &mut StepErrors<'_>, field: &str, scope: &Scope) {
    if scope == &Scope::Global {
        e.add(
            field,
            "acts on executions on the same record: the workflow's scope must be a record",
        );
    }
}

/// Fields that belong to other kinds of step.
fn check_stray_fields(e: &mut StepErrors<'_>, s: &RawStep, kind: &RawKind) {
    let runs_a_module = matches!(kind, RawKind::Module { .. });
    let runs_code = matches!(kind, RawKind::Module { code: Some(_), .. });
    let stray = [
        ("input", s.input.is_some() && !runs_a_module),
        ("save_as", s.save_as.is_some() && !runs_a_module),
        ("limits", s.limits.is_some() && !runs_a_module),
        ("retry", s.retry.is_some() && !runs_a_module),
        ("on_failure", s.on_failure.is_some() && !runs_a_module),
        (
            "on_failure_goto",
            s.on_failure_goto.is_some() && !runs_a_module,
        ),
        ("runner", s.runner.is_some() && !runs_code),
        ("branches", s.branches.is_some() && !runs_a_module),
        (
            "then",
            s.then.is_some() && !matches!(kind, RawKind::Condition(_)),
        ),
        (
            "else",
            s.otherwise.is_some() && !matches!(kind, RawKind::Condition(_)),
        ),
        (
            "max_iterations",
            s.max_iterations.is_some() && !matches!(kind, RawKind::Goto(_)),
        ),
        (
            "on_cap",
            s.on_cap.is_some() && !matches!(kind, RawKind::Goto(_)),
        ),
    ];
    for (field, _) in stray.into_iter().filter(|(_, stray)| *stray) {
        e.add(field, format!("does not apply to a {} step", kind.name()));
    }
}

/// An `action`, `python` or `javascript` step: the module, its input, limits, retries and
/// failure handling.
fn module_step(
    e: &mut StepErrors<'_>,
    s: RawStep,
    action: Option<String>,
    code: Option<Code>,
    ids: &HashMap<String, usize>,
) -> StepKind {
    let module = match &code {
        Some(c) => s.runner.unwrap_or_else(|| c.language.runner().to_string()),
        None => action.unwrap_or_default(),
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
        build_limits(e, l, &mut limits);
    }
    let retry = s.retry.map_or_else(Retry::default, |r| build_retry(e, r));
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

/// A step's `limits`, over its kind's defaults.
fn build_limits(e: &mut StepErrors<'_>, l: RawLimits, limits: &mut Limits) {
    if let Some(f) = l.fuel {
        limits.fuel = f;
    }
    if let Some(m) = l.memory_mb {
        limits.memory_bytes = m.saturating_mul(1 << 20);
    }
    if let Some(t) = l.timeout {
        limits.timeout = e.duration("limits.timeout", &t);
    }
    if let Some(o) = l.output_kb {
        limits.output_bytes = o.saturating_mul(1 << 10);
    }
    if limits.memory_bytes == 0
        || limits.timeout.is_zero()
        || limits.fuel == 0
        || limits.output_bytes == 0
    {
        e.add(
            "limits",
            "fuel, memory_mb, timeout and output_kb must be more than zero",
        );
    }
}

fn build_retry(e: &mut StepErrors<'_>, r: RawRetry) -> Retry {
    let mut retry = Retry::default();
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
    retry
}

fn goal_step(
    e: &mut StepErrors<'_>,
    g: RawGoal,
    ids: &HashMap<String, usize>,
    scope: &Scope,
) -> StepKind {
    let condition = g
        .condition
        .as_deref()
        .and_then(|c| e.expr("goal.condition", c));
    let within = e.duration("goal.within", &g.within);
    let event = g.event.and_then(|v| goal_event(e, v));
    if scope == &Scope::Global {
        e.add(
            "goal",
            "a goal waits for an event on the record: the workflow's scope must be a record",
        );
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
