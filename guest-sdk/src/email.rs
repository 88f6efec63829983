//! Email through the SMTP server the host is configured with.
//!
//! ```no_run
//! use flowbox_guest::email;
//! # fn f() -> Result<(), flowbox_guest::HostError> {
//! let id = email::Message::new("Welcome", "Hello!").to("ada@example.com").send()?;
//! # Ok(()) }
//! ```
//!
//! A step's first message carries the Message-ID `<execution-id.step-id@domain>` (the domain of
//! the host's sender address), its n-th `<execution-id.step-id.n@domain>`, the same on a retry,
//! so that a duplicate (sent again after a failure) can be dropped by the receiver.

use crate::{HostError, wit::email as raw};

/// An email under construction.
#[derive(Debug, Clone, Default)]
pub struct Message {
    to: Vec<String>,
    cc: Vec<String>,
    subject: String,
    text: String,
    html: Option<String>,
    reply_to: Option<String>,
}

impl Message {
    /// A message with a subject and a plain-text body.
    pub fn new(subject: impl Into<String>, text: impl Into<String>) -> Self {
        Message {
            subject: subject.into(),
            text: text.into(),
            ..Default::default()
        }
    }

    /// Add a recipient.
    pub fn to(mut self, address: impl Into<String>) -> Self {
        self.to.push(address.into());
        self
    }

    /// Add a copied recipient.
    pub fn cc(mut self, address: impl Into<String>) -> Self {
        self.cc.push(address.into());
        self
    }

    /// An HTML alternative to the text.
    pub fn html(mut self, html: impl Into<String>) -> Self {
        self.html = Some(html.into());
        self
    }

    /// Where answers go.
    pub fn reply_to(mut self, address: impl Into<String>) -> Self {
        self.reply_to = Some(address.into());
        self
    }

    /// Send it and wait until the server accepted it; returns its Message-ID.
    pub fn send(self) -> Result<String, HostError> {
        Ok(raw::send(&raw::Message {
            to: self.to,
            cc: self.cc,
            subject: self.subject,
            text: self.text,
            html: self.html,
            reply_to: self.reply_to,
        })?)
    }
}
