//! `flowbox:step/email`, served by an [`EmailBackend`].

use super::super::StepContext;
use super::super::bindings::flowbox::step::email::{Host, Message};
use super::super::bindings::flowbox::step::types::HostError as WitHostError;
use super::super::state::StepState;
use super::{Capability, HostError, unavailable};

/// An email a step asks the host to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    /// Recipients.
    pub to: Vec<String>,
    /// Copied recipients.
    pub cc: Vec<String>,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// An HTML alternative.
    pub html: Option<String>,
    /// Where answers go.
    pub reply_to: Option<String>,
}

/// Sends a step's email through the configured server.
#[async_trait::async_trait]
pub trait EmailBackend: Send + Sync {
    /// Send one message; returns its Message-ID.
    async fn send(&self, ctx: &StepContext, message: EmailMessage) -> Result<String, HostError>;
}

impl Host for StepState {
    async fn send(&mut self, msg: Message) -> wasmtime::Result<Result<String, WitHostError>> {
        let Some(backend) = self.backends.email.clone() else {
            return Ok(Err(unavailable(Capability::Email).into()));
        };
        let message = EmailMessage {
            to: msg.to,
            cc: msg.cc,
            subject: msg.subject,
            text: msg.text,
            html: msg.html,
            reply_to: msg.reply_to,
        };
        Ok(backend
            .send(&self.context, message)
            .await
            .map_err(|e: HostError| e.into()))
    }
}
