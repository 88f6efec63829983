//! The `email` capability for steps: messages go through the SMTP server the host is configured
//! with (`--smtp-url`), from its configured address. Sending is not transactional: a step that
//! fails after sending, or a crash before its result commits, sends again on the retry. A
//! step's first message carries the Message-ID `<execution.step@domain>` (the domain of the
//! sender's address), its n-th `<execution.step.n@domain>`, the same on every retry, so that the
//! receiving side can drop the duplicate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracing::Instrument as _;

use crate::sandbox::{EmailBackend, EmailMessage, HostError, StepContext};

/// Recipients (to and cc together) one message may have.
const MAX_RECIPIENTS: usize = 50;
/// The largest body (text and HTML together) a step may send.
const MAX_BODY: usize = 1 << 20;

/// A misconfigured mail server.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error(
        "--smtp-url `{url}`: {reason} (use smtp://HOST:PORT, smtp://HOST?tls=required, or smtps://USER:PASS@HOST)"
    )]
    Url { url: String, reason: String },
    #[error("--smtp-from `{0}` is not an address (e.g. `Flowbox <flowbox@example.com>`)")]
    From(String),
}

/// The SMTP server and the sender address every step's email goes out with.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: show only the host.
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// A mailer for `url` (`smtp://`, `smtp://...?tls=required|opportunistic`, `smtps://`, with
    /// optional `user:password@`) sending from `from`.
    pub fn new(url: &str, from: &str) -> Result<Mailer, MailerError> {
        let bad = |reason: String| MailerError::Url {
            url: crate::secrets::redact_url(url),
            reason,
        };
        let mut parsed = reqwest::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        // Credentials go only over TLS, unless the URL says plainly that they may not.
        let query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        let plain_auth = query
            .iter()
            .any(|(k, v)| k == "allow_plain_auth" && v == "true");
        let tls =
            parsed.scheme() == "smtps" || query.iter().any(|(k, v)| k == "tls" && v == "required");
        if (!parsed.username().is_empty() || parsed.password().is_some()) && !tls && !plain_auth {
            return Err(bad(
                "it has credentials but no TLS: they would cross the network in the clear (use smtps:// or ?tls=required; on a trusted network, add allow_plain_auth=true)".into(),
            ));
        }
        let kept: Vec<&(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "allow_plain_auth")
            .collect();
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
        let server = format!(
            "{}:{}",
            parsed.host_str().unwrap_or_default(),
            parsed.port().map(|p| p.to_string()).unwrap_or_default()
        );
        crate::install_tls_provider();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(parsed.as_str())
            .map_err(|e| bad(e.to_string()))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| MailerError::From(from.to_string()))?;
        Ok(Mailer {
            transport,
            from,
            server,
        })
    }
}

impl Mailer {
    /// Send a plain-text message from the host itself (a failure notification). Its
    /// Message-ID is `<{local}@domain>`, the same on every retry, so that a receiver can drop a
    /// duplicate. `Err(permanent, message)`: whether the server refused it for good.
    pub(crate) async fn send_text(
        &self,
        to: &str,
        subject: &str,
        text: String,
        local: &str,
    ) -> Result<(), (bool, String)> {
        let to = to
            .parse::<Mailbox>()
            .map_err(|_| (true, format!("`{to}` is not an email address")))?;
        let id = format!("<{local}@{}>", self.from.email.domain());
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(id))
            .singlepart(
                SinglePart::builder()
                    .header(header::ContentType::TEXT_PLAIN)
                    .body(text),
            )
            .map_err(|e| (true, format!("the message cannot be built: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err((
                e.is_permanent(),
                format!("sending through {} failed: {e}", self.server),
            )),
        }
    }
}

/// One step run's view of email.
pub(crate) struct StepEmail {
    mailer: Option<Arc<Mailer>>,
    /// Messages sent so far by this run of the step.
    sent: AtomicU32,
}

impl StepEmail {
    pub(crate) fn new(mailer: Option<Arc<Mailer>>) -> Self {
        StepEmail {
            mailer,
            sent: AtomicU32::new(0),
        }
    }
}

fn mailboxes(what: &str, list: &[String]) -> Result<Vec<Mailbox>, HostError> {
    list.iter()
        .map(|a| {
            a.parse::<Mailbox>()
                .map_err(|_| HostError::Invalid(format!("{what}: `{a}` is not an email address")))
        })
        .collect()
}

fn build(
    from: &Mailbox,
    ctx: &StepContext,
    n: u32,
    m: EmailMessage,
) -> Result<(Message, String), HostError> {
    if m.to.is_empty() {
        return Err(HostError::Invalid(
            "a message needs at least one `to`".into(),
        ));
    }
    if m.to.len() + m.cc.len() > MAX_RECIPIENTS {
        return Err(HostError::Invalid(format!(
            "{} recipients: at most {MAX_RECIPIENTS}",
            m.to.len() + m.cc.len()
        )));
    }
    let size = m.text.len() + m.html.as_ref().map_or(0, String::len);
    if size > MAX_BODY {
        return Err(HostError::Invalid(format!(
            "the body is {size} bytes: at most {MAX_BODY}"
        )));
    }
    let domain = from.email.domain();
    let id = match n {
        1 => format!("<{}.{}@{domain}>", ctx.execution_id, ctx.step_id),
        n => format!("<{}.{}.{n}@{domain}>", ctx.execution_id, ctx.step_id),
    };
    let mut b = Message::builder()
        .from(from.clone())
        .subject(m.subject)
        .message_id(Some(id.clone()));
    for to in mailboxes("to", &m.to)? {
        b = b.to(to);
    }
    for cc in mailboxes("cc", &m.cc)? {
        b = b.cc(cc);
    }
    if let Some(r) = m.reply_to {
        b = b.reply_to(mailboxes("reply_to", &[r])?.remove(0));
    }
    let message = match m.html {
        Some(html) => b.multipart(MultiPart::alternative_plain_html(m.text, html)),
        None => b.singlepart(
            SinglePart::builder()
                .header(header::ContentType::TEXT_PLAIN)
                .body(m.text),
        ),
    }
    .map_err(|e| HostError::Invalid(format!("the message cannot be built: {e}")))?;
    Ok((message, id))
}

#[async_trait::async_trait]
impl EmailBackend for StepEmail {
    async fn send(&self, ctx: &StepContext, message: EmailMessage) -> Result<String, HostError> {
        let Some(mailer) = &self.mailer else {
            return Err(HostError::Unavailable(
                "this host has no SMTP server configured (flowbox serve --smtp-url)".into(),
            ));
        };
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let (message, id) = build(&mailer.from, ctx, n, message)?;
        let span = tracing::info_span!(
            target: crate::telemetry::traces::TARGET,
            "email",
            otel.name = "email",
            otel.kind = "client",
            server.address = mailer.server.as_str(),
            recipients = message.envelope().to().len() as i64,
            outcome = tracing::field::Empty,
        );
        let sent = mailer
            .transport
            .send(message)
            .instrument(span.clone())
            .await;
        span.record("outcome", if sent.is_ok() { "sent" } else { "failed" });
        match sent {
            Ok(_) => {
                tracing::debug!(message_id = %id, server = %mailer.server, "email sent");
                Ok(id)
            }
            // A 5xx answer: the server refused this message for good.
            Err(e) if e.is_permanent() => Err(HostError::Denied(format!(
                "the SMTP server {} refused the message: {e}",
                mailer.server
            ))),
            Err(e) => Err(HostError::Failed(format!(
                "sending through {} failed: {e}",
                mailer.server
            ))),
        }
    }
}
