//! Object types: the typed fields a record of each type may carry, and the checks every write
//! goes through (unknown field, wrong type, missing required value), each naming the field.
//!
//! ```yaml
//! name: deal
//! fields:
//!   title: { type: text, required: true }
//!   amount: { type: number }
//!   stage: { type: stage, stages: [lead, qualified, won, lost] }
//!   email: { type: email, unique: true }
//!   company: { type: relation, object: company }
//!   close_date: { type: date }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339, stored in UTC.
    Datetime,
    /// One of `choices`.
    Choice,
    /// One of `stages`, in pipeline order; a change is a `stage_changed` event.
    Stage,
    /// A team member (an id or an email).
    Owner,
    /// The id of a record of `object`.
    Relation,
    Email,
    /// A reference to a stored file.
    File,
}

impl FieldType {
    /// The type's name in definitions (`number`, `text`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Choice => "choice",
            FieldType::Stage => "stage",
            FieldType::Owner => "owner",
            FieldType::Relation => "relation",
            FieldType::Email => "email",
            FieldType::File => "file",
        }
    }
}

/// One field of an object type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// A record must always have a value.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// No two records of the type share a value (webhooks find records by such a field).
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// The values of a `choice` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// The stages of a `stage` field, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// The object type a `relation` field points to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An object type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectType {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub fields: BTreeMap<String, Field>,
}

/// A problem with one field of a definition or of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

fn error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The longest text value, in bytes.
pub const MAX_TEXT: usize = 64 << 10;
/// The longest short value (owner, relation id, file reference, email), in bytes.
const MAX_SHORT: usize = 500;

/// Names of object types, fields and record ids: 1-200 characters of a-z, A-Z, 0-9, `-`, `_`, `.`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// How a write treats fields it does not mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// The fields are the whole record (create, replace): required fields must be there.
    Whole,
    /// The fields are merged into the record: required fields may not be cleared.
    Patch,
}

impl ObjectType {
    /// Parse and check a definition (JSON or YAML).
    pub fn parse(text: &str) -> Result<ObjectType, Vec<FieldError>> {
        crate::limits::check_definition_text(text).map_err(|m| vec![error("", m.to_string())])?;
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(json_err) => serde_yaml_ng::from_str(text).map_err(|yaml_err| {
                let message = if text.trim_start().starts_with('{') {
                    format!("not valid JSON: {json_err}")
                } else {
                    format!("not valid YAML: {yaml_err}")
                };
                vec![error("", message)]
            })?,
        };
        let object: ObjectType = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            vec![error(
                if path == "." { "" } else { &path },
                e.inner().to_string(),
            )]
        })?;
        object.check()?;
        Ok(object)
    }

    fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if !valid_name(&self.name) {
            errors.push(error(
                "name",
                "1-200 characters of a-z, A-Z, 0-9, `-`, `_`, `.`",
            ));
        }
        for (name, field) in &self.fields {
            let at = format!("fields.{name}");
            if !valid_name(name) || name.contains('.') {
                errors.push(error(
                    &at,
                    "a field name is 1-200 characters of a-z, A-Z, 0-9, `-`, `_`",
                ));
            }
            if name == "id" || name == "object" {
                errors.push(error(&at, "`id` and `object` are reserved"));
            }
            let lists = [
                (FieldType::Choice, "choices", &field.choices),
                (FieldType::Stage, "stages", &field.stages),
            ];
            for (ty, key, list) in lists {
                if field.ty == ty && list.is_empty() {
                    errors.push(error(&at, format!("a {} field needs `{key}`", ty.name())));
                }
                if field.ty != ty && !list.is_empty() {
                    errors.push(error(&at, format!("`{key}` is for {} fields", ty.name())));
                }
                let mut seen = std::collections::HashSet::new();
                if let Some(dup) = list.iter().find(|v| !seen.insert(v.as_str())) {
                    errors.push(error(&at, format!("`{dup}` is listed twice in `{key}`")));
                }
            }
            match (&field.object, field.ty) {
                (None, FieldType::Relation) => {
                    errors.push(error(&at, "a relation field needs `object`"))
                }
                (Some(o), FieldType::Relation) if !valid_name(o) => {
                    errors.push(error(&at, format!("`{o}` is not an object type name")))
                }
                (Some(_), ty) if ty != FieldType::Relation => {
                    errors.push(error(&at, "`object` is for relation fields"))
                }
                _ => {}
            }
            if field.unique
                && matches!(
                    field.ty,
                    FieldType::Boolean | FieldType::Choice | FieldType::Stage
                )
            {
                errors.push(error(
                    &at,
                    format!("a {} field cannot be unique", field.ty.name()),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The names of the unique fields.
    pub fn unique_fields(&self) -> Vec<String> {
        self.fields_of(|f| f.unique)
    }

    /// The names of the stage fields.
    pub fn stage_fields(&self) -> Vec<String> {
        self.fields_of(|f| f.ty == FieldType::Stage)
    }

    fn fields_of(&self, pick: impl Fn(&Field) -> bool) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(_, f)| pick(f))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Check the fields of a write and put each value in its stored form (datetimes in UTC).
    /// Relation targets are not looked up here (see [`ObjectType::relations`]).
    pub fn check_fields(
        &self,
        fields: &Map<String, Value>,
        mode: WriteMode,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut out = Map::new();
        for (name, value) in fields {
            let Some(field) = self.fields.get(name) else {
                let known: Vec<&str> = self.fields.keys().map(String::as_str).collect();
                errors.push(error(
                    name,
                    format!(
                        "`{}` has no field `{name}` (its fields: {})",
                        self.name,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
                continue;
            };
            if value.is_null() {
                if field.required {
                    errors.push(error(name, "is required and cannot be empty"));
                }
                out.insert(name.clone(), Value::Null);
                continue;
            }
            match check_value(field, value) {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                Err(message) => errors.push(error(name, message)),
            }
        }
        if mode == WriteMode::Whole {
            for (name, field) in &self.fields {
                if field.required && fields.get(name).is_none_or(Value::is_null) {
                    errors.push(error(name, "is required"));
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// Whether `field` is a relation field to records of `object`.
    pub fn is_relation_to(&self, field: &str, object: &str) -> bool {
        self.fields
            .get(field)
            .is_some_and(|f| f.ty == FieldType::Relation && f.object.as_deref() == Some(object))
    }

    /// The relation fields set in `fields`: (field, target object type, target id).
    pub fn relations<'a>(
        &'a self,
        fields: &'a Map<String, Value>,
    ) -> impl Iterator<Item = (&'a str, &'a str, &'a str)> + 'a {
        fields.iter().filter_map(|(name, value)| {
            let field = self.fields.get(name)?;
            let object = field.object.as_deref()?;
            (field.ty == FieldType::Relation).then_some(())?;
            Some((name.as_str(), object, value.as_str()?))
        })
    }
}

impl ObjectType {
    /// The owner fields a write sets: (field, member), to check that each member is in a team.
    pub fn owners<'a>(
        &'a self,
        fields: &'a Map<String, Value>,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        fields.iter().filter_map(|(name, value)| {
            let field = self.fields.get(name)?;
            (field.ty == FieldType::Owner).then_some(())?;
            Some((name.as_str(), value.as_str()?))
        })
    }
}

fn short_string<'a>(value: &'a Value, what: &str) -> Result<&'a str, String> {
    match value.as_str() {
        Some(s) if s.trim().is_empty() => Err(format!("{what} cannot be blank")),
        Some(s) if s.len() > MAX_SHORT => Err(format!("{what} is longer than {MAX_SHORT} bytes")),
        Some(s) => Ok(s),
        None => Err(format!("expected {what}, got {}", kind_of(value))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Check one non-null value; answer its stored form.
fn check_value(field: &Field, value: &Value) -> Result<Value, String> {
    let bad = |expected: &str| format!("expected {expected}, got {}", kind_of(value));
    match field.ty {
        FieldType::Text => match value.as_str() {
            Some(s) if s.len() > MAX_TEXT => Err(format!("text is longer than {MAX_TEXT} bytes")),
            Some(_) => Ok(value.clone()),
            None => Err(bad("text (a string)")),
        },
        FieldType::Number => match value {
            Value::Number(_) => Ok(value.clone()),
            _ => Err(bad("a number")),
        },
        FieldType::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(bad("true or false")),
        },
        FieldType::Date => {
            let s = value.as_str().ok_or_else(|| bad("a date (YYYY-MM-DD)"))?;
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
        }
        FieldType::Datetime => {
            let s = value
                .as_str()
                .ok_or_else(|| bad("a date and time (RFC 3339)"))?;
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| Value::String(crate::time::format(t.with_timezone(&chrono::Utc))))
                .map_err(|_| {
                    format!("`{s}` is not a date and time (RFC 3339, e.g. 2026-05-01T09:30:00Z)")
                })
        }
        FieldType::Choice | FieldType::Stage => {
            let list = if field.ty == FieldType::Choice {
                &field.choices
            } else {
                &field.stages
            };
            let s = value
                .as_str()
                .ok_or_else(|| bad(&format!("one of {}", list.join(", "))))?;
            if list.iter().any(|c| c == s) {
                Ok(value.clone())
            } else {
                Err(format!("`{s}` is not one of {}", list.join(", ")))
            }
        }
        FieldType::Owner => short_string(value, "a team member").map(|_| value.clone()),
        FieldType::Relation => {
            let s = short_string(value, "a record id")?;
            if valid_name(s) {
                Ok(value.clone())
            } else {
                Err(format!("`{s}` is not a record id"))
            }
        }
        FieldType::File => short_string(value, "a file reference").map(|_| value.clone()),
        FieldType::Email => {
            let s = short_string(value, "an email address")?;
            if is_email(s) {
                Ok(Value::String(s.trim().to_string()))
            } else {
                Err(format!("`{s}` is not an email address"))
            }
        }
    }
}

/// A plausible email address: `local@domain.tld`, no spaces. (Deliverability is not ours to check.)
fn is_email(s: &str) -> bool {
    let s = s.trim();
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !s.chars().any(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deal() -> ObjectType {
        ObjectType::parse(
            "
name: deal
fields:
  title: { type: text, required: true }
  amount: { type: number }
  stage: { type: stage, stages: [lead, won, lost] }
  email: { type: email, unique: true }
  company: { type: relation, object: company }
  close: { type: date }
  at: { type: datetime }
",
        )
        .unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn definitions_are_checked() {
        let errors = ObjectType::parse(
            "{\"name\": \"x\", \"fields\": {\"s\": {\"type\": \"stage\"}, \"id\": {\"type\": \"text\"}, \"r\": {\"type\": \"relation\"}}}",
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["fields.id", "fields.r", "fields.s"], "{errors:?}");
        let errors = ObjectType::parse("name: x\nfields: { a: { type: colour } }").unwrap_err();
        assert!(errors[0].message.contains("unknown variant"), "{errors:?}");
    }

    #[test]
    fn writes_are_checked_field_by_field() {
        let d = deal();
        let ok = d
            .check_fields(
                &obj(json!({"title": "t", "amount": 3, "stage": "won", "at": "2026-05-01T11:30:00+02:00"})),
                WriteMode::Whole,
            )
            .unwrap();
        assert_eq!(ok["at"], "2026-05-01T09:30:00.000Z");
        let errors = d
            .check_fields(
                &obj(json!({"amount": "3", "stage": "maybe", "colour": 1, "email": "nope", "close": "2026-13-01"})),
                WriteMode::Whole,
            )
            .unwrap_err();
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            ["amount", "close", "colour", "email", "stage", "title"],
            "{errors:?}"
        );
        // A patch need not carry required fields, but may not clear them.
        assert!(
            d.check_fields(&obj(json!({"amount": 1})), WriteMode::Patch)
                .is_ok()
        );
        let errors = d
            .check_fields(&obj(json!({"title": null})), WriteMode::Patch)
            .unwrap_err();
        assert_eq!(errors[0].field, "title");
    }
}
