//! Typed variables: coercion of a JSON value to a variable's type, and resolution of declared
//! variables through their sources at the start of an execution.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::expr::{ExprError, Scope, Template};
use crate::time::{parse_date, parse_datetime};

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

/// Whether a value counts as empty (no value): null or an empty string.
pub fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Null) || matches!(v, Value::String(s) if s.trim().is_empty())
}

/// Why a value does not fit a variable's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown} is not {expected}")]
pub struct CoerceError {
    /// The value as JSON, cut after 60 characters.
    shown: String,
    expected: &'static str,
}

impl CoerceError {
    fn new(value: &Value, expected: &'static str) -> Self {
        let s = value.to_string();
        let shown = match s.char_indices().nth(60) {
            // Cut at a character, not a byte: a multibyte one may straddle byte 60.
            Some((cut, _)) => format!("{}...", &s[..cut]),
            None => s,
        };
        CoerceError { shown, expected }
    }
}

/// Convert a value to a type, or say why it does not fit. Empty values stay null.
pub fn coerce(ty: VarType, value: Value) -> Result<Value, CoerceError> {
    if is_empty(&value) {
        return Ok(Value::Null);
    }
    let not = |expected: &'static str| CoerceError::new(&value, expected);
    match ty {
        VarType::Json => Ok(value),
        VarType::String | VarType::TeamMember => match &value {
            Value::String(_) => Ok(value),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(not(type_name(ty))),
        },
        VarType::Number => match &value {
            Value::Number(_) => Ok(value),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|f| {
                    if f.fract() == 0.0 && f.abs() < 9e15 {
                        Some(Value::from(f as i64))
                    } else {
                        serde_json::Number::from_f64(f).map(Value::Number)
                    }
                })
                .ok_or_else(|| not("a number")),
            _ => Err(not("a number")),
        },
        VarType::Boolean => match &value {
            Value::Bool(_) => Ok(value),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(not("a boolean")),
        },
        VarType::Date => {
            let s = value.as_str().ok_or_else(|| not("a date (YYYY-MM-DD)"))?;
            parse_date(s)
                .map(|d| Value::String(d.to_string()))
                .ok_or_else(|| not("a date (YYYY-MM-DD)"))
        }
        VarType::Datetime => {
            let s = value
                .as_str()
                .ok_or_else(|| not("a date-time (RFC 3339)"))?;
            parse_datetime(s)
                .map(|t| Value::String(crate::time::format(t)))
                .ok_or_else(|| not("a date-time (RFC 3339)"))
        }
        VarType::Uuid => {
            let s = value.as_str().ok_or_else(|| not("a UUID"))?;
            uuid::Uuid::parse_str(s)
                .map(|u| Value::String(u.to_string()))
                .map_err(|_| not("a UUID"))
        }
        VarType::Record => match &value {
            Value::Object(m)
                if m.get("object").is_some_and(Value::is_string)
                    && m.get("id").is_some_and(Value::is_string) =>
            {
                Ok(value)
            }
            _ => Err(not("a record reference ({\"object\": ..., \"id\": ...})")),
        },
    }
}

fn type_name(ty: VarType) -> &'static str {
    match ty {
        VarType::TeamMember => "a team member (a string)",
        _ => "a string",
    }
}

/// Resolve declared variables: each takes the first non-empty value of its sources, else its
/// default; values are coerced to the declared type. Variables given at start win.
pub fn resolve(
    declared: &[Variable],
    given: Map<String, Value>,
    scope: &Scope,
) -> Result<Map<String, Value>, ExprError> {
    let fail = |name: &str, e: CoerceError| ExprError::Failed(format!("variable `{name}`: {e}"));
    let mut vars = given;
    for v in declared {
        if let Some(value) = vars.get(&v.name).filter(|x| !is_empty(x)).cloned() {
            let value = coerce(v.ty, value).map_err(|e| fail(&v.name, e))?;
            vars.insert(v.name.clone(), value);
            continue;
        }
        let mut found = Value::Null;
        for source in &v.sources {
            let value = source
                .render(scope)
                .map_err(|e| e.within(format!("variable `{}`", v.name)))?;
            if !is_empty(&value) {
                found = value;
                break;
            }
        }
        if is_empty(&found)
            && let Some(d) = &v.default
        {
            found = d.clone();
        }
        let value = coerce(v.ty, found).map_err(|e| fail(&v.name, e))?;
        if v.required && is_empty(&value) {
            return Err(ExprError::Failed(format!(
                "variable `{}` is required but none of its sources gave a value",
                v.name
            )));
        }
        vars.insert(v.name.clone(), value);
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_long_value_is_shown_cut_at_a_character() {
        // 31 x "é" is 62 bytes (64 with its quotes): byte 60 falls inside a character.
        let e = coerce(VarType::Number, json!("é".repeat(31))).unwrap_err();
        assert!(e.to_string().contains(&"é".repeat(31)), "{e}");
        let e = coerce(VarType::Number, json!("é".repeat(100))).unwrap_err();
        assert!(
            e.to_string().contains(&format!("\"{}...", "é".repeat(59))),
            "{e}"
        );
    }

    #[test]
    fn coercion_per_type() {
        assert_eq!(coerce(VarType::Number, json!("12")).unwrap(), json!(12));
        assert_eq!(coerce(VarType::Number, json!("1.5")).unwrap(), json!(1.5));
        assert!(coerce(VarType::Number, json!("twelve")).is_err());
        assert_eq!(
            coerce(VarType::Boolean, json!("TRUE")).unwrap(),
            json!(true)
        );
        assert_eq!(
            coerce(VarType::Date, json!("2026-03-01T10:00:00+02:00")).unwrap(),
            json!("2026-03-01")
        );
        assert_eq!(
            coerce(VarType::Datetime, json!("2026-03-01")).unwrap(),
            json!("2026-03-01T00:00:00.000Z")
        );
        assert!(coerce(VarType::Uuid, json!("not-a-uuid")).is_err());
        assert!(coerce(VarType::Record, json!({"object": "deal"})).is_err());
        assert_eq!(coerce(VarType::String, json!("")).unwrap(), Value::Null);
    }
}
