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

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::definition::DefinitionError;
use super::super::expr::{Expr, Scope};
use crate::store::{EventRow, event_kind};

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

/// A cron trigger: once per occurrence (global), or once per record its filter picks.
#[derive(Debug)]
pub struct Schedule {
    pub cron: croner::Cron,
    pub timezone: chrono_tz::Tz,
    /// Record-scoped workflows: which records (not archived) to run on; default all.
    pub filter: Option<Expr>,
}

impl Schedule {
    /// The first occurrence after `after` (Unix ms).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = chrono::DateTime::from_timestamp_millis(after)?.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|t| t.timestamp_millis())
    }
}

/// Which way a run that falls on a weekend moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessDays {
    /// It stays on the weekend.
    Ignore,
    /// To the Monday after.
    Next,
    /// To the Friday before.
    Previous,
}

/// A run on or around a date field of each record.
#[derive(Debug)]
pub struct DateTrigger {
    pub field: String,
    /// Days after the date (negative: before).
    pub days: i64,
    /// The time of day, for date fields (datetime fields keep theirs).
    pub time: chrono::NaiveTime,
    pub timezone: chrono_tz::Tz,
    pub business_days: BusinessDays,
}

impl DateTrigger {
    /// When to run for a record whose field holds `value` (a date or an RFC 3339 time).
    pub fn run_at(&self, value: &Value) -> Option<i64> {
        use chrono::{Datelike, Duration, TimeZone, Weekday};
        let s = value.as_str()?;
        let local = match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(date) => date.and_time(self.time),
            Err(_) => chrono::DateTime::parse_from_rfc3339(s)
                .ok()?
                .with_timezone(&self.timezone)
                .naive_local(),
        };
        let mut local = local.checked_add_signed(Duration::days(self.days))?;
        let shift = match (self.business_days, local.weekday()) {
            (BusinessDays::Next, Weekday::Sat) => 2,
            (BusinessDays::Next, Weekday::Sun) => 1,
            (BusinessDays::Previous, Weekday::Sat) => -1,
            (BusinessDays::Previous, Weekday::Sun) => -2,
            _ => 0,
        };
        local = local.checked_add_signed(Duration::days(shift))?;
        // A local time skipped by a clock change runs at the first valid instant after it.
        let t = self
            .timezone
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                self.timezone
                    .from_local_datetime(&(local + Duration::hours(1)))
                    .earliest()
            })?;
        Some(t.timestamp_millis())
    }
}

/// How a webhook call proves it may start the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookAuth {
    /// The webhook's secret in the `X-Flowbox-Secret` header.
    Secret,
    /// `X-Flowbox-Signature: sha256=<hex>`: HMAC-SHA256 of the body (of the query string for a
    /// GET) keyed with the webhook's secret.
    Hmac,
}

/// Where a record-scoped webhook finds its record in the call.
#[derive(Debug)]
pub enum RecordLocator {
    /// The record's id.
    Id(serde_json_path::JsonPath),
    /// The value of a unique field.
    Field {
        field: String,
        value: serde_json_path::JsonPath,
    },
}

/// A webhook trigger.
#[derive(Debug)]
pub struct WebhookSpec {
    pub get: bool,
    pub post: bool,
    pub auth: WebhookAuth,
    /// Variables picked out of the call (`{method, query, body}`) with JSONPath.
    pub variables: Vec<(String, serde_json_path::JsonPath)>,
    pub record: Option<RecordLocator>,
}

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

impl EventMatch {
    /// Whether the event matches: its kind, then the condition. A condition that fails to
    /// evaluate does not match (and is reported).
    pub fn matches(&self, e: &EventView, extra: Map<String, Value>) -> Result<bool, String> {
        if !self.on.takes(e) {
            return Ok(false);
        }
        match &self.when {
            None => Ok(true),
            Some(w) => w.is_true(&e.scope(extra)).map_err(|x| x.to_string()),
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    #[serde(default)]
    methods: Option<Vec<String>>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    variables: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    record: Option<RawLocator>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocator {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

fn json_path(
    source: &str,
    path: &str,
    errors: &mut Errors<'_>,
) -> Option<serde_json_path::JsonPath> {
    serde_json_path::JsonPath::parse(source)
        .map_err(|e| errors.add(path, format!("`{source}` is not a JSONPath: {e}")))
        .ok()
}

fn webhook(
    value: Value,
    path: &str,
    record_scoped: bool,
    errors: &mut Errors<'_>,
) -> Option<WebhookSpec> {
    let value = if value.is_null() {
        Value::Object(Map::new())
    } else {
        value
    };
    let raw: RawWebhook = deserialize(value, path, errors)?;
    let n = errors.0.len();
    let (mut get, mut post) = (false, false);
    for m in raw.methods.unwrap_or_else(|| vec!["POST".into()]) {
        match m.to_ascii_uppercase().as_str() {
            "GET" => get = true,
            "POST" => post = true,
            _ => errors.add(
                format!("{path}.methods"),
                format!("`{m}` is not a webhook method (GET, POST)"),
            ),
        }
    }
    if !get && !post {
        errors.add(format!("{path}.methods"), "name GET, POST or both");
    }
    let auth = match raw.auth.as_deref() {
        None | Some("secret") => WebhookAuth::Secret,
        Some("hmac") => WebhookAuth::Hmac,
        Some(other) => {
            errors.add(
                format!("{path}.auth"),
                format!("`{other}` is not secret or hmac"),
            );
            WebhookAuth::Secret
        }
    };
    let mut variables = Vec::new();
    for (name, source) in raw.variables {
        let at = format!("{path}.variables.{name}");
        if let Some(p) = json_path(&source, &at, errors) {
            variables.push((name, p));
        }
    }
    let record = match (raw.record, record_scoped) {
        (None, false) => None,
        (Some(_), false) => {
            errors.add(
                format!("{path}.record"),
                "a global workflow runs on no record",
            );
            None
        }
        (None, true) => {
            errors.add(
                format!("{path}.record"),
                "a record-scoped workflow's webhook says where its record is: `{id: <JSONPath>}` or `{field: <unique field>, value: <JSONPath>}`",
            );
            None
        }
        (Some(r), true) => match (r.id, r.field, r.value) {
            (Some(id), None, None) => {
                json_path(&id, &format!("{path}.record.id"), errors).map(RecordLocator::Id)
            }
            (None, Some(field), Some(value)) => {
                json_path(&value, &format!("{path}.record.value"), errors)
                    .map(|value| RecordLocator::Field { field, value })
            }
            _ => {
                errors.add(
                    format!("{path}.record"),
                    "give either `id`, or `field` and `value`",
                );
                None
            }
        },
    };
    (errors.0.len() == n).then_some(WebhookSpec {
        get,
        post,
        auth,
        variables,
        record,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    cron: String,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    filter: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDate {
    field: String,
    #[serde(default)]
    days: i64,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    business_days: Option<String>,
}

fn timezone(name: Option<String>, path: &str, errors: &mut Errors<'_>) -> chrono_tz::Tz {
    match name {
        None => chrono_tz::UTC,
        Some(n) => n.parse().unwrap_or_else(|_| {
            errors.add(
                format!("{path}.timezone"),
                format!("`{n}` is not a time zone (e.g. Europe/Paris, America/New_York, UTC)"),
            );
            chrono_tz::UTC
        }),
    }
}

fn schedule(
    value: Value,
    path: &str,
    record_scoped: bool,
    errors: &mut Errors<'_>,
) -> Option<Schedule> {
    let raw: RawSchedule = deserialize(value, path, errors)?;
    let n = errors.0.len();
    let cron = raw
        .cron
        .parse::<croner::Cron>()
        .map_err(|e| {
            errors.add(
                format!("{path}.cron"),
                format!(
                    "`{}` is not a cron expression (minute hour day month weekday): {e}",
                    raw.cron
                ),
            )
        })
        .ok();
    let timezone = timezone(raw.timezone, path, errors);
    let filter = match (raw.filter, record_scoped) {
        (Some(_), false) => {
            errors.add(
                format!("{path}.filter"),
                "a filter picks records: the workflow must be record-scoped",
            );
            None
        }
        (Some(f), true) => Expr::compile(&f)
            .map_err(|e| errors.add(format!("{path}.filter"), e.to_string()))
            .ok(),
        (None, _) => None,
    };
    let cron = cron?;
    (errors.0.len() == n).then_some(Schedule {
        cron,
        timezone,
        filter,
    })
}

fn date_trigger(value: Value, path: &str, errors: &mut Errors<'_>) -> Option<DateTrigger> {
    let raw: RawDate = deserialize(value, path, errors)?;
    let n = errors.0.len();
    let time = match raw.time.as_deref() {
        None => chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
        Some(t) => chrono::NaiveTime::parse_from_str(t, "%H:%M").unwrap_or_else(|_| {
            errors.add(
                format!("{path}.time"),
                format!("`{t}` is not a time of day (HH:MM)"),
            );
            chrono::NaiveTime::default()
        }),
    };
    let timezone = timezone(raw.timezone, path, errors);
    let business_days = match raw.business_days.as_deref() {
        None => BusinessDays::Ignore,
        Some("next") => BusinessDays::Next,
        Some("previous") => BusinessDays::Previous,
        Some(other) => {
            errors.add(
                format!("{path}.business_days"),
                format!("`{other}` is not next or previous"),
            );
            BusinessDays::Ignore
        }
    };
    if raw.days.abs() > 3660 {
        errors.add(format!("{path}.days"), "at most 3660 days before or after");
    }
    (errors.0.len() == n).then_some(DateTrigger {
        field: raw.field,
        days: raw.days,
        time,
        timezone,
        business_days,
    })
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

/// The kinds of record events a trigger or a goal may wait for.
pub const EVENT_KINDS: [&str; 6] = [
    "record_created",
    "field_updated",
    "stage_updated",
    "activity_logged",
    "activity_past_due",
    "form_submitted",
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
            Some(Value::String(s)) if super::super::definition::valid_name(&s) => Some(s),
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
            webhook(settings, &at, record_scoped, &mut errors).map(TriggerKind::Webhook)
        } else if kind == "schedule" {
            schedule(settings, &at, record_scoped, &mut errors)
                .map(|s| TriggerKind::Schedule(Box::new(s)))
        } else if !record_scoped {
            errors.add(
                at,
                "record triggers need a record-scoped workflow (`scope: {object: <type>}`)",
            );
            continue;
        } else if kind == "date" {
            date_trigger(settings, &at, &mut errors).map(TriggerKind::Date)
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
