//! Triggers as written in a workflow definition, and how a record event is matched against
//! one (the same matching serves goals that wait for an event).
//!
//! ```yaml
//! triggers:
//!   - record_created: { on: both, when: "record.amount > 1000" }
//!   - field_updated: { field: stage, from: lead, to: won }
//!   - stage_updated: { to: won }
//!   - activity_logged: { type: call }
//!   - form_submitted: { form: signup }
//! ```
//!
//! `when` is an expression over `record` (the record's fields after the change, with `id` and
//! `object`) and `event` (`kind`, `changes` with each changed field's `old` and `new`, `detail`).
//!
//! ```yaml
//!   - id: inbound
//!     webhook:
//!       methods: [POST]                      # POST (default) and/or GET
//!       auth: hmac                           # secret (default) or hmac
//!       variables: { email: "$.body.email" }  # JSONPath over {method, query, body}
//!       record: { field: email, value: "$.body.email" }   # or { id: "$.body.id" }
//!   - schedule: { cron: "0 9 * * 1-5", timezone: Europe/Paris, filter: "record.stage == 'open'" }
//!   - date: { field: renewal, days: -7, time: "09:00", timezone: Europe/Paris, business_days: next }
//! ```

mod date;
mod events;
pub mod payload;
mod schedule;
mod webhook;

use serde_json::Value;

pub use self::date::{BusinessDays, DateTrigger};
pub(crate) use self::events::event_match;
pub use self::events::{EVENT_KINDS, EventMatch, EventView, Miss, On};
pub use self::schedule::Schedule;
pub use self::webhook::{RecordLocator, WebhookAuth, WebhookSpec};
use crate::engine::definition::common::{DefinitionError, valid_name};
use crate::expr::Expr;

/// One trigger of a workflow.
#[derive(Debug)]
pub struct Trigger {
    /// Unique within the workflow (default: the kind, then `-2`, `-3`, ...).
    pub id: String,
    pub kind: TriggerKind,
}

/// The kinds of triggers.
#[derive(Debug)]
pub enum TriggerKind {
    /// A record event.
    Event(EventMatch),
    /// A call of the trigger's own URL.
    Webhook(WebhookSpec),
    /// A cron schedule in a time zone.
    Schedule(Box<Schedule>),
    /// On or around a date field of each record.
    Date(DateTrigger),
}

/// The kinds a trigger may be, as written.
pub const TRIGGER_KINDS: [&str; 9] = [
    "record_created",
    "field_updated",
    "stage_updated",
    "activity_logged",
    "activity_past_due",
    "form_submitted",
    "webhook",
    "schedule",
    "date",
];

/// Where parse errors go.
pub(crate) struct Errors<'a>(pub &'a mut Vec<DefinitionError>);

impl Errors<'_> {
    pub(crate) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(DefinitionError {
            path: path.into(),
            message: message.into(),
        });
    }
}

fn deserialize<T: serde::de::DeserializeOwned>(
    value: Value,
    path: &str,
    errors: &mut Errors<'_>,
) -> Option<T> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| {
            let inner = e.path().to_string();
            let at = if inner == "." {
                path.to_string()
            } else {
                format!("{path}.{inner}")
            };
            errors.add(at, e.inner().to_string());
        })
        .ok()
}

fn condition(source: Option<String>, path: &str, errors: &mut Errors<'_>) -> Option<Expr> {
    let source = source?;
    Expr::compile(&source)
        .map_err(|e| errors.add(format!("{path}.when"), e.to_string()))
        .ok()
}

/// Parse a definition's `triggers`. `record_scoped`: whether the workflow runs on a record
/// (record events need one).
pub(crate) fn parse_triggers(
    raw: Vec<Value>,
    record_scoped: bool,
    errors: &mut Vec<DefinitionError>,
) -> Vec<Trigger> {
    let mut errors = Errors(errors);
    let mut triggers: Vec<Trigger> = Vec::new();
    for (i, value) in raw.into_iter().enumerate() {
        let path = format!("triggers[{i}]");
        let Value::Object(mut map) = value else {
            errors.add(path, "a trigger is an object: `{<kind>: {...}}`");
            continue;
        };
        let id = match map.remove("id") {
            None => None,
            Some(Value::String(s)) if valid_name(&s) => Some(s),
            Some(_) => {
                errors.add(
                    format!("{path}.id"),
                    "a trigger id is 1-100 characters of a-z, 0-9, `-` and `_`",
                );
                continue;
            }
        };
        if map.len() != 1 {
            errors.add(
                path,
                format!(
                    "a trigger has exactly one kind ({}), and optionally an `id`",
                    TRIGGER_KINDS.join(", ")
                ),
            );
            continue;
        }
        let Some((kind, settings)) = map.into_iter().next() else {
            continue;
        };
        let at = format!("{path}.{kind}");
        if !TRIGGER_KINDS.contains(&kind.as_str()) {
            errors.add(
                path,
                format!(
                    "`{kind}` is not a trigger kind ({})",
                    TRIGGER_KINDS.join(", ")
                ),
            );
            continue;
        }
        let parsed = if kind == "webhook" {
            webhook::webhook(settings, &at, record_scoped, &mut errors).map(TriggerKind::Webhook)
        } else if kind == "schedule" {
            schedule::schedule(settings, &at, record_scoped, &mut errors)
                .map(|s| TriggerKind::Schedule(Box::new(s)))
        } else if !record_scoped {
            errors.add(
                at,
                "record triggers need a record-scoped workflow (`scope: {object: <type>}`)",
            );
            continue;
        } else if kind == "date" {
            date::date_trigger(settings, &at, &mut errors).map(TriggerKind::Date)
        } else {
            event_match(&kind, settings, &at, &mut errors).map(TriggerKind::Event)
        };
        let Some(parsed) = parsed else {
            continue;
        };
        let id = id.unwrap_or_else(|| {
            let n = triggers.iter().filter(|t| t.id.starts_with(&kind)).count();
            if n == 0 {
                kind.clone()
            } else {
                format!("{kind}-{}", n + 1)
            }
        });
        if triggers.iter().any(|t| t.id == id) {
            errors.add(path, format!("trigger id `{id}` is used twice"));
            continue;
        }
        triggers.push(Trigger { id, kind: parsed });
    }
    triggers
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn view(kind: &str, changes: Value, detail: Value) -> EventView {
        EventView {
            kind: kind.into(),
            changes: changes.as_object().cloned().unwrap_or_default(),
            detail,
            record: json!({"amount": 5, "id": "d1", "object": "deal"}),
        }
    }

    fn parse_one(kind: &str, v: Value) -> EventMatch {
        let mut errors = Vec::new();
        let m = event_match(kind, v, "t", &mut Errors(&mut errors));
        assert!(errors.is_empty(), "{errors:?}");
        m.unwrap()
    }

    #[test]
    fn field_transitions_with_blanks() {
        let m = parse_one(
            "field_updated",
            json!({"field": "stage", "from": null, "to": "won"}),
        );
        let from_blank = view(
            "updated",
            json!({"stage": {"old": "", "new": "won"}}),
            json!(null),
        );
        let from_lead = view(
            "updated",
            json!({"stage": {"old": "lead", "new": "won"}}),
            json!(null),
        );
        assert!(m.matches(&from_blank, Map::new()).unwrap());
        assert!(!m.matches(&from_lead, Map::new()).unwrap());
        let created = view(
            "created",
            json!({"stage": {"old": null, "new": "won"}}),
            json!(null),
        );
        assert!(
            !m.matches(&created, Map::new()).unwrap(),
            "not on create unless asked"
        );
        let m = parse_one(
            "field_updated",
            json!({"field": "stage", "also_on_create": true, "when": "record.amount > 3"}),
        );
        assert!(m.matches(&created, Map::new()).unwrap());
    }

    #[test]
    fn kinds_and_conditions() {
        let created = view("created", json!({}), json!(null));
        let unarchived = view("unarchived", json!({}), json!(null));
        let both = parse_one("record_created", json!({"on": "both"}));
        let create = parse_one("record_created", Value::Null);
        assert!(both.matches(&unarchived, Map::new()).unwrap());
        assert!(!create.matches(&unarchived, Map::new()).unwrap());
        let rich = parse_one("record_created", json!({"when": "record.amount > 10"}));
        assert!(!rich.matches(&created, Map::new()).unwrap());
        let call = parse_one("activity_logged", json!({"type": "call"}));
        let logged = view(
            "activity_logged",
            json!({}),
            json!({"activity": {"type": "call"}}),
        );
        let email = view(
            "activity_logged",
            json!({}),
            json!({"activity": {"type": "email"}}),
        );
        assert!(call.matches(&logged, Map::new()).unwrap());
        assert!(!call.matches(&email, Map::new()).unwrap());
        let stage = parse_one("stage_updated", json!({"to": "won"}));
        let moved = view(
            "stage_changed",
            json!({"stage": {"old": "lead", "new": "won"}}),
            json!({"stages": ["stage"]}),
        );
        assert!(stage.matches(&moved, Map::new()).unwrap());
    }

    #[test]
    fn bad_triggers_are_named() {
        let mut errors = Vec::new();
        parse_triggers(
            vec![
                json!({"record_created": {"on": "sometimes"}}),
                json!({"activity_logged": {}}),
                json!({"teleported": {}}),
                json!({"field_updated": {"field": "x", "when": "record.("}}),
            ],
            true,
            &mut errors,
        );
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "triggers[0].record_created.on",
                "triggers[1].activity_logged.type",
                "triggers[2]",
                "triggers[3].field_updated.when"
            ]
        );
        let mut errors = Vec::new();
        parse_triggers(vec![json!({"record_created": null})], false, &mut errors);
        assert!(errors[0].message.contains("record-scoped"), "{errors:?}");
    }
}
