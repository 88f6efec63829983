//! Failure notifications (`settings.notify`). A step failure that the workflow handles by
//! `fail`, `pause` or `continue` writes one notice per target in the same commit as the failure
//! (the outbox: a failure is reported once, whatever happens to the process afterwards); the
//! dispatcher here delivers due notices and retries those whose target is down, with backoff,
//! until `notice_attempts` are spent. Each notice's state is shown in its execution.
//!
//! Delivery is at least once: a crash between sending and recording it sends again. Each
//! notification carries a stable id for the receiver to drop a duplicate: the webhook's
//! `X-Flowbox-Delivery` header, the email's Message-ID. A team channel post is written in the
//! same transaction that marks it sent, so it appears exactly once.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::Inner;
use super::definition::Notify;
use crate::store::{ExecutionRow, NoticeRow, notice_status};

/// How long a node holds a notice it is delivering; a node that stops meanwhile leaves it to
/// be retried after this.
const HOLD: Duration = Duration::from_secs(60);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long a webhook may take to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries in progress at once on one node.
const CONCURRENT: usize = 16;

/// A step failure, as a notification tells it.
pub(crate) struct Failure<'a> {
    pub execution: &'a ExecutionRow,
    pub step: &'a str,
    /// `{code, message, step}`.
    pub error: &'a Value,
    pub attempt: u32,
    /// What the workflow does about it: `fail`, `pause` or `continue`.
    pub handling: &'static str,
    pub public_url: Option<&'a str>,
    pub now: i64,
}

/// The notices a failure sends, one per target named in `notify`.
pub(crate) fn for_failure(notify: &Notify, f: &Failure<'_>) -> Vec<NoticeRow> {
    let e = f.execution;
    let link = format!(
        "{}/v1/executions/{}",
        f.public_url.unwrap_or("").trim_end_matches('/'),
        e.id
    );
    let record = match (&e.record_object, &e.record_id) {
        (Some(object), Some(id)) => json!({"object": object, "id": id}),
        _ => Value::Null,
    };
    let payload = json!({
        "event": "step_failed",
        "workflow": e.workflow,
        "version": e.version,
        "execution": e.id,
        "record": record,
        "step": f.step,
        "error": {"code": f.error["code"], "message": f.error["message"]},
        "attempt": f.attempt,
        "handling": f.handling,
        "link": link,
        "failed_at": crate::time::json(f.now),
    })
    .to_string();
    let notice = |kind: &str, target: String| NoticeRow {
        id: 0,
        execution_id: e.id.clone(),
        step_id: f.step.to_string(),
        kind: kind.into(),
        target,
        payload: payload.clone(),
        status: notice_status::PENDING.into(),
        attempts: 0,
        next_at: f.now,
        last_error: None,
        created_at: f.now,
        sent_at: None,
    };
    let mut notices = Vec::new();
    if let Some(team) = &notify.team {
        let target = match &notify.channel {
            Some(c) => format!("{team}/{c}"),
            None => team.clone(),
        };
        notices.push(notice("team", target));
    }
    if let Some(email) = &notify.email {
        notices.push(notice("email", email.clone()));
    }
    if let Some(url) = &notify.webhook {
        notices.push(notice("webhook", url.clone()));
    }
    notices
}

/// A notice's target as answers show it: a webhook's URL by its origin alone, since its path
/// or query often holds the receiver's secret (and executions are shown to clients).
pub(crate) fn shown_target(n: &NoticeRow) -> String {
    match n.kind.as_str() {
        "webhook" => match reqwest::Url::parse(&n.target) {
            Ok(u) => format!("{}/…", u.origin().ascii_serialization()),
            Err(_) => "…".into(),
        },
        _ => n.target.clone(),
    }
}

/// The one-line text of a notification, for a channel post or an email's subject and body.
fn text(payload: &Value) -> (String, String) {
    let subject = format!(
        "flowbox: workflow `{}` failed at step `{}`",
        payload["workflow"].as_str().unwrap_or("?"),
        payload["step"].as_str().unwrap_or("?"),
    );
    let then = match payload["handling"].as_str() {
        Some("pause") => "The execution is paused at the step.",
        Some("continue") => "The execution went on to the next step.",
        _ => "The execution failed.",
    };
    let body = format!(
        "{subject} (version {}, attempt {}): {}: {}. {then} Execution {}: {}",
        payload["version"],
        payload["attempt"],
        payload["error"]["code"].as_str().unwrap_or("?"),
        payload["error"]["message"].as_str().unwrap_or(""),
        payload["execution"].as_str().unwrap_or("?"),
        payload["link"].as_str().unwrap_or(""),
    );
    (subject, body)
}

/// Start the dispatcher: it runs until the process ends.
pub(super) fn spawn(inner: Arc<Inner>) {
    tokio::spawn(async move {
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
        loop {
            if let Err(e) = dispatch_due(&inner, &permits).await {
                tracing::warn!(error = %e, "failure notifications: reading the due ones failed");
            }
            tokio::time::sleep(inner.config.poll_interval).await;
        }
    });
}

/// Claim and deliver (each in its own task) every notice that is due now. A read comes first,
/// so that an idle node does not write to find nothing.
async fn dispatch_due(
    inner: &Arc<Inner>,
    permits: &Arc<tokio::sync::Semaphore>,
) -> Result<(), crate::store::StoreError> {
    let now = inner.now_ms();
    if inner
        .store
        .next_notice_at()
        .await?
        .is_none_or(|at| at > now)
    {
        return Ok(());
    }
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return Ok(());
        };
        let now = inner.now_ms();
        let hold = now + HOLD.as_millis() as i64;
        let Some(notice) = inner.store.claim_notice(now, hold).await? else {
            return Ok(());
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let result = deliver(&inner, &notice).await;
            record(&inner, &notice, result).await;
            drop(permit);
        });
    }
}

/// Why a delivery did not go through, and whether trying again could help.
struct NotDelivered {
    message: String,
    permanent: bool,
}

impl NotDelivered {
    fn retry(message: String) -> Self {
        NotDelivered {
            message,
            permanent: false,
        }
    }
}

async fn deliver(inner: &Inner, notice: &NoticeRow) -> Result<(), NotDelivered> {
    let payload: Value = serde_json::from_str(&notice.payload).unwrap_or(Value::Null);
    match notice.kind.as_str() {
        "team" => {
            let (team, channel) = match notice.target.split_once('/') {
                Some((t, c)) => (t, Some(c)),
                None => (notice.target.as_str(), None),
            };
            let (_, body) = text(&payload);
            let posted = inner
                .store
                .post_notice(notice, team, channel, &body, inner.now_ms())
                .await
                .map_err(|e| NotDelivered::retry(format!("posting to team `{team}`: {e}")))?;
            match posted {
                true => Ok(()),
                false => Err(NotDelivered::retry(match channel {
                    Some(c) => format!("team `{team}` or its channel `{c}` does not exist"),
                    None => format!("team `{team}` does not exist or has no channel"),
                })),
            }
        }
        "email" => {
            let Some(mailer) = &inner.config.mailer else {
                return Err(NotDelivered::retry(
                    "this server sends no email (start it with --smtp-url)".into(),
                ));
            };
            let (subject, body) = text(&payload);
            let local = format!("notice-{}.{}", notice.id, notice.execution_id);
            mailer
                .send_text(&notice.target, &subject, body, &local)
                .await
                .map_err(|(permanent, message)| NotDelivered { message, permanent })
        }
        "webhook" => webhook(inner, notice).await,
        other => Err(NotDelivered {
            message: format!("unknown notification kind `{other}`"),
            permanent: true,
        }),
    }
}

/// POST the payload, signed: `X-Flowbox-Signature: sha256=<hex HMAC-SHA256 of the body>`,
/// keyed with the server's `--notify-secret`. Any answer but 2xx is tried again.
async fn webhook(inner: &Inner, notice: &NoticeRow) -> Result<(), NotDelivered> {
    let Some(secret) = &inner.config.notify_secret else {
        return Err(NotDelivered::retry(
            "this server has no key to sign webhooks with (start it with --notify-secret)".into(),
        ));
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| NotDelivered {
        message: e.to_string(),
        permanent: true,
    })?;
    mac.update(notice.payload.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let answer = inner
        .http
        .post(&notice.target)
        .timeout(WEBHOOK_TIMEOUT)
        .header("content-type", "application/json")
        .header("x-flowbox-delivery", notice.id.to_string())
        .header("x-flowbox-event", "step_failed")
        .header("x-flowbox-signature", signature)
        .body(notice.payload.clone())
        .send()
        .await
        .map_err(|e| NotDelivered::retry(format!("POST {}: {e}", notice.target)))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(NotDelivered::retry(format!(
            "POST {} answered {status}",
            notice.target
        )))
    }
}

/// Store a delivery's result: sent, a retry after the backoff, or given up on.
async fn record(inner: &Inner, notice: &NoticeRow, result: Result<(), NotDelivered>) {
    let now = inner.now_ms();
    let stored = match result {
        Ok(()) if notice.kind == "team" => Ok(()), // marked sent with its post
        Ok(()) => inner.store.notice_tried(notice.id, now, None, None).await,
        Err(e) => {
            let attempts = notice.attempts.max(1) as u32;
            let retry_at = (!e.permanent && attempts < inner.config.notice_attempts).then(|| {
                let backoff = inner
                    .config
                    .notice_retry
                    .saturating_mul(2u32.saturating_pow(attempts - 1))
                    .min(MAX_BACKOFF);
                now + backoff.as_millis() as i64
            });
            let level_msg = if retry_at.is_some() {
                "failure notification not delivered: will retry"
            } else {
                "failure notification not delivered: given up"
            };
            tracing::warn!(
                notice = notice.id,
                execution = %notice.execution_id,
                kind = %notice.kind,
                attempts,
                error = %e.message,
                "{level_msg}"
            );
            inner
                .store
                .notice_tried(notice.id, now, Some(&e.message), retry_at)
                .await
        }
    };
    if let Err(e) = stored {
        // The hold runs out and the notice is tried again.
        tracing::warn!(notice = notice.id, error = %e, "recording a failure notification's delivery failed");
    }
}
