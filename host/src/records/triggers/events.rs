//! Record-event triggers (`record_created`, `field_updated`, `stage_updated`, `activity_*`,
//! `form_submitted`) and how an event is matched against one; goals that wait for an event
//! match the same way.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Errors, condition, deserialize};
use crate::expr::{Expr, ExprError, Scope};
use crate::store::{EventRow, event_kind};

/// Which record events a trigger (or a goal) takes, and on what condition.
#[derive(Debug)]
pub struct EventMatch {
    pub on: On,
    pub when: Option<Expr>,
}

/// The event side of a match.
#[derive(Debug, Clone, PartialEq)]
pub enum On {
    /// A record was created (`create`), unarchived (`unarchive`), or either.
    RecordCreated { create: bool, unarchive: bool },
    /// A field changed, optionally from one value to another (a `null` or `""` means blank).
    FieldUpdated {
        field: String,
        from: Option<Value>,
        to: Option<Value>,
        on_create: bool,
    },
    /// A stage field (the one named, or any) changed, optionally from/to a stage.
    StageUpdated {
        field: Option<String>,
        from: Option<String>,
        to: Option<String>,
    },
    /// An activity of this type was logged.
    ActivityLogged { activity: String },
    /// A scheduled activity (of this type, or any) passed its due time while open.
    ActivityPastDue { activity: Option<String> },
    /// A form (this one, or any) was submitted.
    FormSubmitted { form: Option<String> },
    /// Any change to the record's fields (goals with only a condition).
    AnyChange,
}

/// A record event as matching sees it.
#[derive(Debug)]
pub struct EventView {
    pub kind: String,
    pub changes: Map<String, Value>,
    pub detail: Value,
    /// The record's fields after the change, with `id` and `object`.
    pub record: Value,
}

impl EventView {
    pub fn of(e: &EventRow) -> EventView {
        let parse = |t: &Option<String>| {
            t.as_deref()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .unwrap_or(Value::Null)
        };
        let mut record = match parse(&e.record) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        record.insert("id".into(), Value::String(e.record_id.clone()));
        record.insert("object".into(), Value::String(e.object.clone()));
        EventView {
            kind: e.kind.clone(),
            changes: match parse(&e.changes) {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            detail: parse(&e.detail),
            record: Value::Object(record),
        }
    }

    /// Whether the event created the record.
    fn created(&self) -> bool {
        self.kind == event_kind::CREATED
            || (self.kind == event_kind::FORM_SUBMITTED && self.detail["created"] == true)
    }

    /// Whether it changed fields of an existing record.
    fn updated(&self) -> bool {
        matches!(
            self.kind.as_str(),
            event_kind::UPDATED | event_kind::STAGE_CHANGED
        ) || (self.kind == event_kind::FORM_SUBMITTED && self.detail["created"] != true)
    }

    /// What `when` sees, with `extra` (e.g. an execution's variables) merged in.
    pub fn scope(&self, extra: Map<String, Value>) -> Scope {
        let mut root = Map::new();
        root.insert("record".into(), self.record.clone());
        root.insert(
            "event".into(),
            json!({"kind": self.kind, "changes": self.changes, "detail": self.detail}),
        );
        root.extend(extra);
        Scope::new(std::sync::Arc::new(Value::Object(root)))
    }
}

fn blank(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("")
}

fn same(want: &Value, got: &Value) -> bool {
    if blank(want) { blank(got) } else { want == got }
}

impl On {
    /// Whether the event is one of these (before any condition).
    pub fn takes(&self, e: &EventView) -> bool {
        match self {
            On::RecordCreated { create, unarchive } => {
                (*create && e.created()) || (*unarchive && e.kind == event_kind::UNARCHIVED)
            }
            On::FieldUpdated {
                field,
                from,
                to,
                on_create,
            } => {
                if !(e.updated() || (*on_create && e.created())) {
                    return false;
                }
                let Some(change) = e.changes.get(field) else {
                    return false;
                };
                from.as_ref().is_none_or(|f| same(f, &change["old"]))
                    && to.as_ref().is_none_or(|t| same(t, &change["new"]))
            }
            On::StageUpdated { field, from, to } => {
                let stages: Vec<&str> = e.detail["stages"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if !e.updated() {
                    return false;
                }
                stages
                    .iter()
                    .filter(|s| field.as_deref().is_none_or(|f| f == **s))
                    .any(|s| {
                        let change = &e.changes[*s];
                        from.as_deref().is_none_or(|f| change["old"] == f)
                            && to.as_deref().is_none_or(|t| change["new"] == t)
                    })
            }
            On::ActivityLogged { activity } => {
                e.kind == event_kind::ACTIVITY_LOGGED
                    && e.detail["activity"]["type"].as_str() == Some(activity)
            }
            On::ActivityPastDue { activity } => {
                e.kind == event_kind::ACTIVITY_PAST_DUE
                    && activity
                        .as_deref()
                        .is_none_or(|a| e.detail["activity"]["type"].as_str() == Some(a))
            }
            On::FormSubmitted { form } => {
                e.kind == event_kind::FORM_SUBMITTED
                    && form
                        .as_deref()
                        .is_none_or(|f| e.detail["form"].as_str() == Some(f))
            }
            On::AnyChange => e.created() || e.updated(),
        }
    }
}

impl On {
    /// What it waits for, as a user wrote it (`field_updated of stage to won`).
    pub fn describe(&self) -> String {
        let of = |what: &str, v: &Option<Value>| {
            v.as_ref()
                .map(|v| {
                    format!(
                        " {what} {}",
                        if blank(v) {
                            "blank".into()
                        } else {
                            v.to_string()
                        }
                    )
                })
                .unwrap_or_default()
        };
        let named = |what: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| format!(" {what} `{v}`"))
                .unwrap_or_default()
        };
        match self {
            On::RecordCreated { create, unarchive } => match (create, unarchive) {
                (true, true) => "record_created (on create or unarchive)".into(),
                (false, true) => "record_created (on unarchive)".into(),
                _ => "record_created".into(),
            },
            On::FieldUpdated {
                field,
                from,
                to,
                on_create,
            } => format!(
                "field_updated of `{field}`{}{}{}",
                of("from", from),
                of("to", to),
                if *on_create { " (or on create)" } else { "" }
            ),
            On::StageUpdated { field, from, to } => format!(
                "stage_updated{}{}{}",
                named("of", field),
                named("from", from),
                named("to", to)
            ),
            On::ActivityLogged { activity } => format!("activity_logged of type `{activity}`"),
            On::ActivityPastDue { activity } => {
                format!("activity_past_due{}", named("of type", activity))
            }
            On::FormSubmitted { form } => format!("form_submitted{}", named("of", form)),
            On::AnyChange => "any change".into(),
        }
    }
}

impl EventView {
    /// The event in a few words: its kind and the fields it changed.
    pub fn describe(&self) -> String {
        if self.changes.is_empty() {
            return format!("`{}`", self.kind);
        }
        let fields: Vec<&str> = self.changes.keys().map(String::as_str).collect();
        format!("`{}` (changed: {})", self.kind, fields.join(", "))
    }
}

/// Why an event did not match.
#[derive(Debug)]
pub enum Miss {
    /// It is not an event of the kind the match waits for.
    Kind,
    /// It is, but `when` was false: with the values `when` read.
    Condition(Map<String, Value>),
    /// `when` failed to evaluate (it does not match).
    Failed(ExprError),
}

impl EventMatch {
    /// Whether the event matches: its kind, then the condition. A condition that fails to
    /// evaluate does not match (and is reported).
    pub fn matches(&self, e: &EventView, extra: Map<String, Value>) -> Result<bool, ExprError> {
        match self.check(e, extra) {
            Ok(()) => Ok(true),
            Err(Miss::Failed(error)) => Err(error),
            Err(_) => Ok(false),
        }
    }

    /// Whether the event matches, and if not, why.
    pub fn check(&self, e: &EventView, extra: Map<String, Value>) -> Result<(), Miss> {
        if !self.on.takes(e) {
            return Err(Miss::Kind);
        }
        let Some(w) = &self.when else { return Ok(()) };
        let scope = e.scope(extra);
        match w.is_true(&scope) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Miss::Condition(w.seen(&scope))),
            Err(error) => Err(Miss::Failed(error)),
        }
    }
}

// ---- Parsing ----------------------------------------------------------------------------------

/// Absent stays `None`; an explicit `null` is `Some(Null)` (blank).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecordCreated {
    /// `create` (default), `unarchive` or `both`.
    #[serde(default)]
    on: Option<String>,
    #[serde(default)]
    when: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFieldUpdated {
    field: String,
    #[serde(default, deserialize_with = "present")]
    from: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    to: Option<Value>,
    #[serde(default)]
    also_on_create: bool,
    #[serde(default)]
    when: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStageUpdated {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    when: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActivity {
    #[serde(rename = "type", default)]
    activity: Option<String>,
    #[serde(default)]
    when: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForm {
    #[serde(default)]
    form: Option<String>,
    #[serde(default)]
    when: Option<String>,
}

/// The kinds of record events a trigger or a goal may wait for.
pub const EVENT_KINDS: [&str; 6] = [
    "record_created",
    "field_updated",
    "stage_updated",
    "activity_logged",
    "activity_past_due",
    "form_submitted",
];

/// Parse an event match of kind `kind` (one of [`EVENT_KINDS`]) from its settings.
pub(crate) fn event_match(
    kind: &str,
    value: Value,
    path: &str,
    errors: &mut Errors<'_>,
) -> Option<EventMatch> {
    // `field_updated: {}` and `record_created:` (null) are both fine where nothing is required.
    let value = if value.is_null() {
        Value::Object(Map::new())
    } else {
        value
    };
    let (on, when) = match kind {
        "record_created" => {
            let raw: RawRecordCreated = deserialize(value, path, errors)?;
            let (create, unarchive) = match raw.on.as_deref() {
                None | Some("create") => (true, false),
                Some("unarchive") => (false, true),
                Some("both") => (true, true),
                Some(other) => {
                    errors.add(
                        format!("{path}.on"),
                        format!("`{other}` is not create, unarchive or both"),
                    );
                    return None;
                }
            };
            (On::RecordCreated { create, unarchive }, raw.when)
        }
        "field_updated" => {
            let raw: RawFieldUpdated = deserialize(value, path, errors)?;
            (
                On::FieldUpdated {
                    field: raw.field,
                    from: raw.from,
                    to: raw.to,
                    on_create: raw.also_on_create,
                },
                raw.when,
            )
        }
        "stage_updated" => {
            let raw: RawStageUpdated = deserialize(value, path, errors)?;
            (
                On::StageUpdated {
                    field: raw.field,
                    from: raw.from,
                    to: raw.to,
                },
                raw.when,
            )
        }
        "activity_logged" => {
            let raw: RawActivity = deserialize(value, path, errors)?;
            let Some(activity) = raw.activity else {
                errors.add(
                    format!("{path}.type"),
                    "name the activity type (one per trigger)",
                );
                return None;
            };
            (On::ActivityLogged { activity }, raw.when)
        }
        "activity_past_due" => {
            let raw: RawActivity = deserialize(value, path, errors)?;
            (
                On::ActivityPastDue {
                    activity: raw.activity,
                },
                raw.when,
            )
        }
        "form_submitted" => {
            let raw: RawForm = deserialize(value, path, errors)?;
            (On::FormSubmitted { form: raw.form }, raw.when)
        }
        _ => return None,
    };
    let when = condition(when, path, errors);
    Some(EventMatch { on, when })
}
