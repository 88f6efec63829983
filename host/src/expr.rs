//! Expressions and templates, with minijinja: one language for conditions (`vars.total > 100`)
//! and for building step inputs (`{{ steps.fetch.output.items }}`).
//!
//! A template is any JSON value. In it, a string that is exactly one `{{ expression }}` is
//! replaced by the expression's value (of any JSON type); any other string holding `{{`/`{%`
//! is rendered as text; everything else is a literal.
//!
//! What expressions see: `input` (the execution's input), `vars` (its variables), `steps`
//! (`steps.<id>.output` for every step that produced output), `record` (the record's fields,
//! with `id` and `object`, or none) and `execution` (`id`, `workflow`, `version`).
//!
//! # Budgets
//!
//! Expressions come from clients (record filters) and developers (definitions), so each
//! evaluation has a budget: minijinja's fuel, which counts operations, the bytes of every value
//! made and every item a filter visits (so it bounds both time and memory), and a recursion
//! limit. An evaluation first runs where it is asked for, with a small budget ([`FAST_FUEL`],
//! about a millisecond). Almost every expression fits; one that does not is run again (it has
//! no side effects) with the full budget ([`set_fuel`], default [`DEFAULT_FUEL`]) on a thread
//! that is not one of the async runtime's workers, at most one per core at a time. One that
//! runs out of that too fails with [`ExprError::Limit`] (`expression_limit`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as MjValue};
use minijinja::{Environment, ErrorKind, Expression, UndefinedBehavior};
use serde_json::{Map, Value};

/// The budget of a first, in-place evaluation: about 20,000 operations or 1.3 MB of data.
pub const FAST_FUEL: u64 = 20_000;
/// The full budget, by default: about a million operations or 64 MB of data (one fuel pays
/// for one operation or 64 bytes).
pub const DEFAULT_FUEL: u64 = 1_000_000;
/// How deep loops, conditions and macro calls may nest.
const RECURSION_LIMIT: usize = 64;

static FULL_FUEL: AtomicU64 = AtomicU64::new(DEFAULT_FUEL);

/// Set the full budget. It applies to evaluations from the first one on: call it at start-up.
pub fn set_fuel(fuel: u64) {
    FULL_FUEL.store(fuel.max(FAST_FUEL), Ordering::Relaxed);
}

/// The full budget in force.
pub fn fuel() -> u64 {
    FULL_FUEL.load(Ordering::Relaxed)
}

fn environment(fuel: u64) -> Environment<'static> {
    let mut env = Environment::new();
    // `record.owner.email` on a record without an owner is empty, not an error.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(fuel));
    env.set_recursion_limit(RECURSION_LIMIT);
    env
}

/// The environment of first evaluations (and of compile checks).
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| environment(FAST_FUEL));
/// The environment of evaluations that needed more than the small budget.
static ENV_FULL: LazyLock<Environment<'static>> = LazyLock::new(|| environment(fuel()));

/// An expression or template that failed to compile or evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// It does not compile, or it failed as it ran.
    #[error("{0}")]
    Failed(String),
    /// It ran out of its budget.
    #[error("{0}")]
    Limit(String),
}

impl ExprError {
    /// Whether it ran out of its budget.
    pub fn is_limit(&self) -> bool {
        matches!(self, ExprError::Limit(_))
    }

    /// The same error, its message prefixed with where it happened.
    pub fn within(self, what: impl std::fmt::Display) -> ExprError {
        match self {
            ExprError::Failed(m) => ExprError::Failed(format!("{what}: {m}")),
            ExprError::Limit(m) => ExprError::Limit(format!("{what}: {m}")),
        }
    }

    /// `expression_limit`, or `other` for any other failure.
    pub fn code_or<'a>(&self, other: &'a str) -> &'a str {
        if self.is_limit() {
            "expression_limit"
        } else {
            other
        }
    }
}

impl From<minijinja::Error> for ExprError {
    fn from(e: minijinja::Error) -> Self {
        if e.kind() == ErrorKind::OutOfFuel {
            return ExprError::Limit(format!(
                "the expression ran out of its budget ({} fuel: about that many operations, or 64 bytes of data each)",
                fuel()
            ));
        }
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        ExprError::Failed(message)
    }
}

/// Run `first`; if it ran out of fuel, run `again` off the async workers.
fn with_budget<T>(
    first: impl FnOnce() -> Result<T, minijinja::Error>,
    again: impl FnOnce() -> Result<T, minijinja::Error>,
) -> Result<T, ExprError> {
    match first() {
        Err(e) if e.kind() == ErrorKind::OutOfFuel => Ok(off_worker(again)?),
        other => Ok(other?),
    }
}

/// How many full-budget evaluations run at once: one core's worth fewer than the machine has
/// (at least one), so that the async workers always have a core.
static HEAVY: LazyLock<(Mutex<usize>, Condvar)> = LazyLock::new(|| (Mutex::new(0), Condvar::new()));

/// Run `f` where it cannot hold up the async runtime: on a multi-threaded runtime's worker, the
/// worker hands its other tasks over first (`block_in_place`); elsewhere it already is. A few
/// such runs at a time (see [`HEAVY`]): the others wait their turn.
pub(crate) fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    thread_local! {
        /// This thread holds a turn already (a scan of records whose filter needs more fuel
        /// for one record): it goes on without taking another.
        static HOLDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if HOLDING.get() {
        return f();
    }
    let limited = || {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let allowed = cores.saturating_sub(1).max(1);
        let (count, turn) = &*HEAVY;
        let mut running = count.lock().unwrap_or_else(|e| e.into_inner());
        while *running >= allowed {
            running = turn.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        drop(running);
        HOLDING.set(true);
        // Given back however `f` ends (a panic too).
        struct Turn;
        impl Drop for Turn {
            fn drop(&mut self) {
                HOLDING.set(false);
                let (count, turn) = &*HEAVY;
                *count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                turn.notify_one();
            }
        }
        let _turn = Turn;
        f()
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(limited)
        }
        _ => limited(),
    }
}

/// A compiled condition or value expression.
pub struct Expr {
    source: String,
    // Boxed: a compiled expression is large, and templates hold many.
    compiled: Box<Expression<'static, 'static>>,
    full: Box<Expression<'static, 'static>>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

impl Expr {
    /// Compile an expression (without the `{{ }}`).
    pub fn compile(source: &str) -> Result<Expr, ExprError> {
        let compiled = Box::new(ENV.compile_expression_owned(source.to_string())?);
        let full = Box::new(ENV_FULL.compile_expression_owned(source.to_string())?);
        Ok(Expr {
            source: source.to_string(),
            compiled,
            full,
        })
    }

    /// Its value, as JSON.
    pub fn eval(&self, scope: &Scope) -> Result<Value, ExprError> {
        with_budget(
            || self.compiled.eval(scope.value()),
            || self.full.eval(scope.value()),
        )
        .and_then(|v| to_json(&v))
    }

    /// Whether it is true (a condition).
    pub fn is_true(&self, scope: &Scope) -> Result<bool, ExprError> {
        with_budget(
            || self.compiled.eval(scope.value()).map(|v| v.is_true()),
            || self.full.eval(scope.value()).map(|v| v.is_true()),
        )
    }

    /// The values it read from the scope, by dotted name (`record.stage`), to say why a
    /// condition was false. Bounded: at most [`SEEN_NAMES`] names, and a value whose JSON is
    /// longer than [`SEEN_BYTES`] is replaced by a note of its size.
    pub fn seen(&self, scope: &Scope) -> Map<String, Value> {
        let mut names: Vec<String> = self
            .compiled
            .undeclared_variables(true)
            .into_iter()
            .collect();
        names.sort();
        // `record` and `record.stage` both read: the longer says more, and is smaller.
        let covered = |n: &String| {
            names
                .iter()
                .any(|m| m.len() > n.len() && m.starts_with(&format!("{n}.")))
        };
        let names: Vec<&String> = names.iter().filter(|n| !covered(n)).collect();
        names
            .into_iter()
            .take(SEEN_NAMES)
            .map(|name| {
                let value = scope.lookup(name);
                let size = value.to_string().len();
                let value = if size > SEEN_BYTES {
                    Value::String(format!("({size} bytes of JSON, not shown)"))
                } else {
                    value.clone()
                };
                (name.clone(), value)
            })
            .collect()
    }
}

/// At most this many values are kept of what a false condition read.
pub const SEEN_NAMES: usize = 16;
/// A value a false condition read is kept if its JSON is at most this long.
pub const SEEN_BYTES: usize = 256;

/// A compiled template: a JSON value with expressions in it.
#[derive(Debug)]
pub enum Template {
    /// A value used as it is.
    Literal(Value),
    /// A string that is one expression: replaced by its value.
    Expr(Expr),
    /// A string with expressions in it: rendered as text.
    Text(String),
    /// An array of templates.
    Array(Vec<Template>),
    /// An object of templates.
    Object(Vec<(String, Template)>),
}

impl Template {
    /// Whether any expression in it names the top-level variable `name` (`record`, `vars`, ...).
    pub fn uses(&self, name: &str) -> bool {
        match self {
            Template::Literal(_) => false,
            Template::Expr(e) => e.compiled.undeclared_variables(false).contains(name),
            Template::Text(t) => ENV
                .template_from_str(t)
                .map(|t| t.undeclared_variables(false).contains(name))
                // It compiled when the definition was saved; if it no longer does, assume it does.
                .unwrap_or(true),
            Template::Array(items) => items.iter().any(|t| t.uses(name)),
            Template::Object(fields) => fields.iter().any(|(_, t)| t.uses(name)),
        }
    }

    /// Compile a JSON value into a template.
    pub fn compile(value: &Value) -> Result<Template, ExprError> {
        Ok(match value {
            Value::String(s) => {
                if let Some(inner) = single_expression(s) {
                    Template::Expr(Expr::compile(inner)?)
                } else if s.contains("{{") || s.contains("{%") {
                    // Check the syntax now; render later.
                    ENV.template_from_str(s)?;
                    Template::Text(s.clone())
                } else {
                    Template::Literal(value.clone())
                }
            }
            Value::Array(items) => {
                let compiled: Result<Vec<_>, _> = items.iter().map(Template::compile).collect();
                let compiled = compiled?;
                if compiled.iter().all(|t| matches!(t, Template::Literal(_))) {
                    Template::Literal(value.clone())
                } else {
                    Template::Array(compiled)
                }
            }
            Value::Object(map) => {
                let compiled: Result<Vec<_>, ExprError> = map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Template::compile(v)?)))
                    .collect();
                let compiled = compiled?;
                if compiled
                    .iter()
                    .all(|(_, t)| matches!(t, Template::Literal(_)))
                {
                    Template::Literal(value.clone())
                } else {
                    Template::Object(compiled)
                }
            }
            other => Template::Literal(other.clone()),
        })
    }

    /// Build the value.
    pub fn render(&self, scope: &Scope) -> Result<Value, ExprError> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Expr(e) => e.eval(scope)?,
            Template::Text(source) => Value::String(with_budget(
                || ENV.render_str(source, scope.value()),
                || ENV_FULL.render_str(source, scope.value()),
            )?),
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.render(scope))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), t.render(scope)?)))
                    .collect::<Result<_, ExprError>>()?,
            ),
        })
    }
}

/// `{{ expr }}` and nothing else: the expression inside.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// What expressions see. Cheap to build: values are converted only where an expression looks.
#[derive(Debug, Clone)]
pub struct Scope {
    root: MjValue,
    json: Arc<Value>,
}

impl Scope {
    /// A scope over a JSON object whose keys are the top-level names (`input`, `vars`, ...).
    pub fn new(root: Arc<Value>) -> Scope {
        Scope {
            root: MjValue::from_object(Json {
                root: root.clone(),
                path: Vec::new(),
            }),
            json: root,
        }
    }

    /// The value at a dotted path (`record.stage`), null where there is none.
    fn lookup(&self, path: &str) -> &Value {
        path.split('.').fold(&*self.json, |v, key| match v {
            Value::Object(m) => m.get(key).unwrap_or(&Value::Null),
            Value::Array(a) => key
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get(i))
                .unwrap_or(&Value::Null),
            _ => &Value::Null,
        })
    }

    fn value(&self) -> MjValue {
        self.root.clone()
    }
}

/// A view into a JSON document for minijinja, converted lazily.
#[derive(Debug)]
struct Json {
    root: Arc<Value>,
    path: Vec<PathKey>,
}

#[derive(Debug, Clone)]
enum PathKey {
    Field(String),
    Index(usize),
}

impl Json {
    fn resolve(&self) -> &Value {
        let mut v = &*self.root;
        for key in &self.path {
            v = match (key, v) {
                (PathKey::Field(k), Value::Object(m)) => m.get(k).unwrap_or(&Value::Null),
                (PathKey::Index(i), Value::Array(a)) => a.get(*i).unwrap_or(&Value::Null),
                _ => &Value::Null,
            };
        }
        v
    }

    fn child(&self, key: PathKey) -> MjValue {
        let mut path = self.path.clone();
        path.push(key);
        let child = Json {
            root: self.root.clone(),
            path,
        };
        match child.resolve() {
            Value::Null => MjValue::from(()),
            Value::Bool(b) => MjValue::from(*b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => MjValue::from(i),
                (None, Some(f)) => MjValue::from(f),
                _ => MjValue::from(()),
            },
            Value::String(s) => MjValue::from(s.as_str()),
            Value::Array(_) | Value::Object(_) => MjValue::from_object(child),
        }
    }
}

impl Object for Json {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.resolve() {
            Value::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        match self.resolve() {
            Value::Object(m) => {
                let k = key.as_str()?;
                m.contains_key(k)
                    .then(|| self.child(PathKey::Field(k.to_string())))
            }
            Value::Array(a) => {
                let i = usize::try_from(key.as_i64()?).ok()?;
                (i < a.len()).then(|| self.child(PathKey::Index(i)))
            }
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.resolve() {
            Value::Object(m) => {
                Enumerator::Values(m.keys().map(|k| MjValue::from(k.as_str())).collect())
            }
            Value::Array(a) => Enumerator::Seq(a.len()),
            _ => Enumerator::Empty,
        }
    }
}

/// A minijinja value as JSON. A view into the scope's JSON is copied out as it is.
fn to_json(value: &MjValue) -> Result<Value, ExprError> {
    if let Some(json) = value.downcast_object_ref::<Json>() {
        return Ok(json.resolve().clone());
    }
    if value.is_undefined() || value.is_none() {
        return Ok(Value::Null);
    }
    serde_json::to_value(value)
        .map_err(|e| ExprError::Failed(format!("the value cannot be JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        Scope::new(Arc::new(json!({
            "input": {"n": 3, "tags": ["a", "b"]},
            "vars": {"tier": "gold", "total": 120.5},
            "steps": {"fetch": {"output": {"items": [1, 2]}}},
            "record": null,
        })))
    }

    #[test]
    fn a_condition_says_what_it_read() {
        let c = Expr::compile("vars.tier == 'silver' and input.n > 2 and vars.missing").unwrap();
        assert!(!c.is_true(&scope()).unwrap());
        assert_eq!(
            Value::Object(c.seen(&scope())),
            json!({"input.n": 3, "vars.missing": null, "vars.tier": "gold"})
        );
        let big = Scope::new(Arc::new(json!({"input": {"text": "x".repeat(SEEN_BYTES)}})));
        let c = Expr::compile("input.text == 'y'").unwrap();
        assert_eq!(
            c.seen(&big)["input.text"],
            json!(format!("({} bytes of JSON, not shown)", SEEN_BYTES + 2))
        );
    }

    #[test]
    fn a_single_expression_keeps_its_json_type() {
        let t = Template::compile(&json!({"n": "{{ input.n }}", "items": "{{ steps.fetch.output.items }}", "all": "{{ input }}"}))
            .unwrap();
        assert_eq!(
            t.render(&scope()).unwrap(),
            json!({"n": 3, "items": [1, 2], "all": {"n": 3, "tags": ["a", "b"]}})
        );
    }

    #[test]
    fn text_templates_render_to_strings_and_literals_stay() {
        let t = Template::compile(&json!(["tier {{ vars.tier }}", 7, "plain"])).unwrap();
        assert_eq!(
            t.render(&scope()).unwrap(),
            json!(["tier gold", 7, "plain"])
        );
    }

    #[test]
    fn conditions_and_missing_values() {
        assert!(
            Expr::compile("vars.total > 100 and vars.tier == 'gold'")
                .unwrap()
                .is_true(&scope())
                .unwrap()
        );
        assert!(
            !Expr::compile("record.owner.email == 'x'")
                .unwrap()
                .is_true(&scope())
                .unwrap()
        );
        assert_eq!(
            Expr::compile("input.missing")
                .unwrap()
                .eval(&scope())
                .unwrap(),
            Value::Null
        );
        assert_eq!(
            Expr::compile("input.tags | length")
                .unwrap()
                .eval(&scope())
                .unwrap(),
            json!(2)
        );
    }

    #[test]
    fn runaway_expressions_run_out_of_their_budget() {
        let runaway = [
            "(range(100000)|list * 1000)|sum > 0",
            "('x' * 10000000) ~ ('x' * 10000000) ~ ('x' * 10000000) ~ ('x' * 10000000) ~ ('x' * 10000000) ~ ('x' * 10000000) ~ ('x' * 10000000)",
        ];
        for source in runaway {
            let e = Expr::compile(source).unwrap().eval(&scope()).unwrap_err();
            assert!(e.is_limit(), "{source}: {e}");
            assert!(e.to_string().contains("budget"), "{e}");
        }
        let t = Template::compile(&json!(
            "{% for i in range(100000) %}{% for j in range(3000) %}{% endfor %}{% endfor %}"
        ))
        .unwrap();
        assert!(t.render(&scope()).unwrap_err().is_limit());
    }

    #[test]
    fn work_past_the_first_budget_fits_the_full_one() {
        // More than the in-place budget (20,000 fuel), far less than the full one.
        let t = Template::compile(&json!("{% for i in range(30000) %}.{% endfor %}")).unwrap();
        assert_eq!(t.render(&scope()).unwrap().as_str().unwrap().len(), 30000);
        assert!(
            Expr::compile("range(50000)|sum > 0")
                .unwrap()
                .is_true(&scope())
                .unwrap()
        );
    }

    #[test]
    fn syntax_errors_are_caught_at_compile() {
        assert!(Expr::compile("vars.total >").is_err());
        assert!(Template::compile(&json!("hello {{ oops")).is_err());
    }
}
