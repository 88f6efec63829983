//! What every part of a definition shares (trigger specs too): how problems are told, each
//! with where it is, and what a name may be.

use std::fmt;

use serde::Serialize;

/// One problem in a definition, with where it is (`steps[2] (id "charge").retry.attempts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefinitionError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid workflow definition: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct InvalidDefinition(pub Vec<DefinitionError>);

/// A workflow's (or a step module's) name: 1-100 characters of a-z, 0-9, `-` and `_`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The shape of `settings.notify`: what can be told from the definition alone. Whether the
/// team and channel exist and the server can send email and sign webhooks is checked at save.
pub(super) fn check_notify(n: &super::Notify) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut say = |path: &str, message: String| problems.push((path.to_string(), message));
    if n.team.is_none() && n.email.is_none() && n.webhook.is_none() {
        say(
            "settings.notify",
            "name at least one of `team`, `email` and `webhook` (or leave `notify` out)".into(),
        );
    }
    if let Some(team) = &n.team
        && !crate::records::objects::valid_name(team)
    {
        say(
            "settings.notify.team",
            format!("`{team}` is not a team name"),
        );
    }
    match (&n.team, &n.channel) {
        (None, Some(_)) => say(
            "settings.notify.channel",
            "a channel is a team's: name the `team` too".into(),
        ),
        (_, Some(c)) if !crate::records::objects::valid_name(c) => say(
            "settings.notify.channel",
            format!("`{c}` is not a channel name"),
        ),
        _ => {}
    }
    if let Some(email) = &n.email
        && email.parse::<lettre::Address>().is_err()
    {
        say(
            "settings.notify.email",
            format!("`{email}` is not an email address (e.g. ops@example.com)"),
        );
    }
    if let Some(url) = &n.webhook {
        match reqwest::Url::parse(url) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.username().is_empty()
                    && u.password().is_none() => {}
            _ => say(
                "settings.notify.webhook",
                "must be an http(s) URL without credentials (e.g. https://hooks.example.com/flowbox)"
                    .into(),
            ),
        }
        if url.len() > 2048 {
            say(
                "settings.notify.webhook",
                "a URL of at most 2048 bytes".into(),
            );
        }
    }
    problems
}
