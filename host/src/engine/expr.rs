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

use std::sync::{Arc, LazyLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as MjValue};
use minijinja::{Environment, Expression, UndefinedBehavior};
use serde_json::Value;

/// The one environment every workflow's expressions are compiled in.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // `record.owner.email` on a record without an owner is empty, not an error.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
});

/// An expression or template that failed to compile or evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExprError(pub String);

impl From<minijinja::Error> for ExprError {
    fn from(e: minijinja::Error) -> Self {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        ExprError(message)
    }
}

/// A compiled condition or value expression.
pub struct Expr {
    source: String,
    compiled: Expression<'static, 'static>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

impl Expr {
    /// Compile an expression (without the `{{ }}`).
    pub fn compile(source: &str) -> Result<Expr, ExprError> {
        let compiled = ENV.compile_expression_owned(source.to_string())?;
        Ok(Expr {
            source: source.to_string(),
            compiled,
        })
    }

    /// Its value, as JSON.
    pub fn eval(&self, scope: &Scope) -> Result<Value, ExprError> {
        let value = self.compiled.eval(scope.value())?;
        to_json(&value)
    }

    /// Whether it is true (a condition).
    pub fn is_true(&self, scope: &Scope) -> Result<bool, ExprError> {
        Ok(self.compiled.eval(scope.value())?.is_true())
    }
}

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
            Template::Text(source) => Value::String(ENV.render_str(source, scope.value())?),
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
}

impl Scope {
    /// A scope over a JSON object whose keys are the top-level names (`input`, `vars`, ...).
    pub fn new(root: Arc<Value>) -> Scope {
        Scope {
            root: MjValue::from_object(Json {
                root,
                path: Vec::new(),
            }),
        }
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
    serde_json::to_value(value).map_err(|e| ExprError(format!("the value cannot be JSON: {e}")))
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
    fn syntax_errors_are_caught_at_compile() {
        assert!(Expr::compile("vars.total >").is_err());
        assert!(Template::compile(&json!("hello {{ oops")).is_err());
    }
}
