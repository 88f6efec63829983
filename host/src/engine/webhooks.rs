//! Webhook triggers: each has its own unguessable URL (`/hooks/<token>`) and a secret, kept
//! across the workflow's versions. A call is authenticated by the secret or by an HMAC
//! signature, its body parsed by content type, values picked out with JSONPath into variables,
//! and for a record-scoped workflow its record found by id or by a unique field.

use super::error::{Conflict, Invalid, Thing};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::engine::definition::{Scope, Workflow};
use crate::engine::{Engine, EngineError, StartRequest};
use crate::records::triggers::payload;
use crate::records::triggers::{RecordLocator, TriggerKind, WebhookAuth, WebhookSpec};
use crate::sandbox::RecordRef;
use crate::store::{ExecutionRow, WebhookRow};

/// One call of a webhook URL, as it came.
#[derive(Debug, Clone, Default)]
pub struct WebhookCall {
    /// `GET` or `POST`.
    pub method: String,
    pub content_type: Option<String>,
    /// The raw query string (without `?`).
    pub query: String,
    pub body: Vec<u8>,
    /// The `X-Flowbox-Secret` header.
    pub secret: Option<String>,
    /// The `X-Flowbox-Signature` header: `sha256=<hex>`.
    pub signature: Option<String>,
}

/// A webhook as its workflow's developers see it.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookView {
    pub trigger: String,
    /// The path to call on any node: `/hooks/<token>`.
    pub path: String,
    pub methods: Vec<&'static str>,
    pub auth: &'static str,
    pub secret: String,
}

fn random_hex() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn view(row: WebhookRow, spec: &WebhookSpec) -> WebhookView {
    let mut methods = Vec::new();
    if spec.get {
        methods.push("GET");
    }
    if spec.post {
        methods.push("POST");
    }
    WebhookView {
        trigger: row.trigger_id,
        path: format!("/hooks/{}", row.token),
        methods,
        auth: match spec.auth {
            WebhookAuth::Secret => "secret",
            WebhookAuth::Hmac => "hmac",
        },
        secret: row.secret,
    }
}

fn webhook_specs(wf: &Workflow) -> impl Iterator<Item = (&str, &WebhookSpec)> {
    wf.triggers.iter().filter_map(|t| match &t.kind {
        TriggerKind::Webhook(spec) => Some((t.id.as_str(), spec)),
        _ => None,
    })
}

/// Equal, in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized(message: &str) -> EngineError {
    EngineError::BadWebhookAuth(message.to_string())
}

fn check_auth(spec: &WebhookSpec, secret: &str, call: &WebhookCall) -> Result<(), EngineError> {
    match spec.auth {
        WebhookAuth::Secret => match &call.secret {
            Some(given) if same_secret(given.trim().as_bytes(), secret.as_bytes()) => Ok(()),
            Some(_) => Err(unauthorized(
                "the X-Flowbox-Secret header is not this webhook's secret",
            )),
            None => Err(unauthorized(
                "this webhook needs its secret in the X-Flowbox-Secret header",
            )),
        },
        WebhookAuth::Hmac => {
            let Some(sig) = &call.signature else {
                return Err(unauthorized(
                    "this webhook needs an X-Flowbox-Signature header: sha256=<hex HMAC-SHA256 of the body (of the query string for GET) keyed with its secret>",
                ));
            };
            let hex_sig = sig.trim().strip_prefix("sha256=").unwrap_or(sig.trim());
            let Ok(given) = hex::decode(hex_sig) else {
                return Err(unauthorized(
                    "the X-Flowbox-Signature header is not sha256=<hex>",
                ));
            };
            let signed: &[u8] = if call.method == "GET" {
                call.query.as_bytes()
            } else {
                &call.body
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .map_err(|e| EngineError::invalid(Invalid::Value, e.to_string()))?;
            mac.update(signed);
            mac.verify_slice(&given)
                .map_err(|_| unauthorized("the X-Flowbox-Signature does not match the request"))
        }
    }
}

fn pick(path: &serde_json_path::JsonPath, doc: &Value) -> Value {
    path.query(doc).first().cloned().unwrap_or(Value::Null)
}

fn as_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Engine {
    /// Give each webhook trigger of a saved workflow its URL token and secret (once).
    pub(crate) async fn ensure_webhooks(&self, wf: &Workflow) -> Result<(), EngineError> {
        for (trigger, _) in webhook_specs(wf) {
            self.inner
                .store
                .ensure_webhook(&WebhookRow {
                    workflow: wf.name.clone(),
                    trigger_id: trigger.to_string(),
                    token: random_hex(),
                    secret: format!("whsec_{}", random_hex()),
                    created_at: self.now_ms(),
                })
                .await?;
        }
        Ok(())
    }

    /// A workflow's webhooks (in its newest version), with their URLs and secrets.
    pub async fn webhooks(&self, workflow: &str) -> Result<Vec<WebhookView>, EngineError> {
        let (_, wf) = self.workflow(workflow, None).await?;
        let rows = self.inner.store.webhooks_of(workflow).await?;
        Ok(webhook_specs(&wf)
            .filter_map(|(id, spec)| {
                rows.iter()
                    .find(|r| r.trigger_id == id)
                    .map(|r| view(r.clone(), spec))
            })
            .collect())
    }

    /// Give a webhook a new URL and secret; the old ones stop working at once.
    pub async fn rotate_webhook(
        &self,
        workflow: &str,
        trigger: &str,
    ) -> Result<WebhookView, EngineError> {
        let (token, secret) = (random_hex(), format!("whsec_{}", random_hex()));
        if !self
            .inner
            .store
            .rotate_webhook(workflow, trigger, &token, &secret)
            .await?
        {
            return Err(EngineError::NotFound {
                what: Thing::Webhook,
                id: format!("{workflow}/{trigger}"),
            });
        }
        self.webhooks(workflow)
            .await?
            .into_iter()
            .find(|w| w.trigger == trigger)
            .ok_or_else(|| EngineError::NotFound {
                what: Thing::Webhook,
                id: format!("{workflow}/{trigger}"),
            })
    }

    /// Handle a call of a webhook URL: check it, and start the workflow with what it carries.
    pub async fn call_webhook(
        &self,
        token: &str,
        call: WebhookCall,
    ) -> Result<ExecutionRow, EngineError> {
        let not_found = || EngineError::NotFound {
            what: Thing::Webhook,
            id: format!("/hooks/{token}"),
        };
        let row = self
            .inner
            .store
            .webhook_by_token(token)
            .await?
            .ok_or_else(not_found)?;
        let (_, wf) = self.workflow(&row.workflow, None).await?;
        let spec = webhook_specs(&wf)
            .find(|(id, _)| *id == row.trigger_id)
            .map(|(_, s)| s)
            .ok_or_else(not_found)?;
        let allowed = match call.method.as_str() {
            "GET" => spec.get,
            "POST" => spec.post,
            _ => false,
        };
        if !allowed {
            return Err(EngineError::WebhookMethod(format!(
                "this webhook takes {}",
                [("GET", spec.get), ("POST", spec.post)]
                    .iter()
                    .filter(|(_, on)| *on)
                    .map(|(m, _)| *m)
                    .collect::<Vec<_>>()
                    .join(" and ")
            )));
        }
        check_auth(spec, &row.secret, &call)?;
        let head = self.inner.store.workflow_head(&row.workflow).await?;
        if head.is_some_and(|h| !h.enabled) {
            return Err(EngineError::conflict(
                Conflict::WorkflowOff,
                format!("workflow `{}` is switched off", row.workflow),
            ));
        }
        let body = if call.method == "POST" {
            payload::parse_body(call.content_type.as_deref(), &call.body).map_err(payload_error)?
        } else {
            Value::Null
        };
        let query = payload::parse_query(&call.query).map_err(payload_error)?;
        let doc = json!({"method": call.method, "query": query, "body": body});
        let variables: Map<String, Value> = spec
            .variables
            .iter()
            .map(|(name, path)| (name.clone(), pick(path, &doc)))
            .collect();
        let record = match (&wf.scope, &spec.record) {
            (Scope::Record(object), Some(locator)) => {
                Some(self.locate(object, locator, &doc).await?)
            }
            _ => None,
        };
        self.start(
            &row.workflow,
            StartRequest {
                input: doc,
                record,
                variables,
                cause: Some(json!({"kind": "webhook", "trigger": row.trigger_id})),
                ..StartRequest::default()
            },
        )
        .await
    }

    async fn locate(
        &self,
        object: &str,
        locator: &RecordLocator,
        doc: &Value,
    ) -> Result<RecordRef, EngineError> {
        match locator {
            RecordLocator::Id(path) => {
                let id = as_key(&pick(path, doc)).ok_or_else(|| {
                    EngineError::invalid(Invalid::WebhookRecord, format!(
                        "the call carries no record id at {path} (the workflow runs on a `{object}` record)"
                    ))
                })?;
                Ok(RecordRef {
                    object: object.to_string(),
                    id,
                })
            }
            RecordLocator::Field { field, value } => {
                let t = self.object_type(object).await?;
                if !t.fields.get(field).is_some_and(|f| f.unique) {
                    return Err(EngineError::invalid(
                        Invalid::WebhookRecord,
                        format!(
                            "the webhook finds records by `{field}`, which is not a unique field of `{object}`"
                        ),
                    ));
                }
                let key = as_key(&pick(value, doc)).ok_or_else(|| {
                    EngineError::invalid(Invalid::WebhookRecord, format!(
                        "the call carries no `{field}` at {value} to find the `{object}` record by"
                    ))
                })?;
                let id = self
                    .inner
                    .store
                    .record_by_key(object, field, &key)
                    .await?
                    .ok_or_else(|| EngineError::NotFound {
                        what: Thing::Record,
                        id: format!("{object} with {field} = {key}"),
                    })?;
                Ok(RecordRef {
                    object: object.to_string(),
                    id,
                })
            }
        }
    }
}

fn payload_error(e: payload::PayloadError) -> EngineError {
    match e {
        payload::PayloadError::Malformed(m) => EngineError::Malformed(m),
        payload::PayloadError::TooLarge(m) => EngineError::TooLarge(m),
    }
}
