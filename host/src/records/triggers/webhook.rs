//! `webhook` triggers: how a call is authenticated, which variables it sets (JSONPath), and
//! how it finds its record.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Errors, deserialize};

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

pub(super) fn webhook(
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
