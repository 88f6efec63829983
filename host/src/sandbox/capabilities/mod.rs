//! The capabilities a step may be granted (one WIT interface each), and the host side of each.
//!
//! `log`, `variables` and `clock` are served by the sandbox itself. `records`, `teams`, `email`,
//! `http`, `llm`, `files` and `audio` are served by backends the caller passes with each run
//! ([`Backends`], built by the engine from `crate::services` and `crate::records`); a capability
//! whose backend is absent answers `unavailable`, so the step fails cleanly instead of trapping.

mod audio;
pub(crate) mod clock;
mod email;
mod files;
mod http;
mod llm;
mod log;
mod records;
mod teams;
mod variables;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use self::audio::{AudioBackend, Transcription, TranscriptionRequest};
pub use self::email::{EmailBackend, EmailMessage};
pub use self::files::{FileInfo, FilesBackend};
pub use self::http::{HttpBackend, HttpRequest, HttpResponse};
pub use self::llm::{ChatMessage, ChatRequest, ChatResponse, LlmBackend};
pub(crate) use self::log::LogBuffer;
pub use self::log::{LogLevel, LogLine, LogSource};
pub use self::records::RecordsBackend;
pub use self::teams::TeamsBackend;

/// The package every flowbox interface belongs to.
pub const PACKAGE: &str = "flowbox:step";

/// One grantable interface of the `flowbox:step` package.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// `log`: write to the step's log.
    Log,
    /// `variables`: read and set the execution's variables.
    Variables,
    /// `records`: read, update and create records, and attach activities.
    Records,
    /// `files`: read files the host keeps.
    Files,
    /// `teams`: team members, round-robin rotation, channel notifications.
    Teams,
    /// `email`: send email through the configured SMTP server.
    Email,
    /// `http`: outgoing HTTP to allow-listed hosts.
    Http,
    /// `llm`: chat completion through the configured provider.
    Llm,
    /// `audio`: speech to text through the configured provider.
    Audio,
    /// `clock`: the host's clock.
    Clock,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 10] = [
        Capability::Log,
        Capability::Variables,
        Capability::Records,
        Capability::Files,
        Capability::Teams,
        Capability::Email,
        Capability::Http,
        Capability::Llm,
        Capability::Audio,
        Capability::Clock,
    ];

    /// The short name used in grants (`http`).
    pub fn name(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Variables => "variables",
            Capability::Records => "records",
            Capability::Files => "files",
            Capability::Teams => "teams",
            Capability::Email => "email",
            Capability::Http => "http",
            Capability::Llm => "llm",
            Capability::Audio => "audio",
            Capability::Clock => "clock",
        }
    }

    /// The capability an import name (`flowbox:step/http@0.1.0`) refers to, if any.
    pub fn from_import(import: &str) -> Option<Capability> {
        let rest = import.strip_prefix(PACKAGE)?.strip_prefix('/')?;
        let name = rest.split('@').next()?;
        Capability::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown capability name.
#[derive(Debug, thiserror::Error)]
#[error("unknown capability `{0}`; the capabilities are: {all}", all = Capability::ALL.map(Capability::name).join(", "))]
pub struct UnknownCapability(pub String);

impl FromStr for Capability {
    type Err = UnknownCapability;

    /// Accepts the short name (`http`) or the interface name (`flowbox:step/http`, with or
    /// without a version).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .or_else(|| Capability::from_import(s))
            .ok_or_else(|| UnknownCapability(s.to_string()))
    }
}

/// The set of capabilities granted to a step module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants(BTreeSet<Capability>);

impl Grants {
    /// No capabilities.
    pub fn none() -> Self {
        Grants(BTreeSet::new())
    }

    /// Every capability.
    pub fn all() -> Self {
        Capability::ALL.into_iter().collect()
    }

    /// Whether `cap` is granted.
    pub fn contains(&self, cap: Capability) -> bool {
        self.0.contains(&cap)
    }

    /// The granted capabilities, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = Capability> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<Capability> for Grants {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        Grants(iter.into_iter().collect())
    }
}

/// Why a host call failed; the step sees it as the WIT `host-error` and decides what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// This host does not provide the capability.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The request was malformed.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Policy refused the request.
    #[error("denied: {0}")]
    Denied(String),
    /// The call failed on the way.
    #[error("failed: {0}")]
    Failed(String),
}

impl From<HostError> for super::bindings::flowbox::step::types::HostError {
    fn from(e: HostError) -> Self {
        use super::bindings::flowbox::step::types::HostError as W;
        match e {
            HostError::Unavailable(m) => W::Unavailable(m),
            HostError::Invalid(m) => W::Invalid(m),
            HostError::NotFound(m) => W::NotFound(m),
            HostError::Denied(m) => W::Denied(m),
            HostError::Failed(m) => W::Failed(m),
        }
    }
}

/// The backends behind the capabilities that reach outside the sandbox, for one run.
/// An absent backend makes its capability answer [`HostError::Unavailable`].
#[derive(Clone, Default)]
pub struct Backends {
    /// Behind `records`.
    pub records: Option<Arc<dyn RecordsBackend>>,
    /// Behind `files`.
    pub files: Option<Arc<dyn FilesBackend>>,
    /// Behind `teams`.
    pub teams: Option<Arc<dyn TeamsBackend>>,
    /// Behind `email`.
    pub email: Option<Arc<dyn EmailBackend>>,
    /// Behind `http`.
    pub http: Option<Arc<dyn HttpBackend>>,
    /// Behind `llm`.
    pub llm: Option<Arc<dyn LlmBackend>>,
    /// Behind `audio`.
    pub audio: Option<Arc<dyn AudioBackend>>,
}

impl fmt::Debug for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backends")
            .field("records", &self.records.is_some())
            .field("files", &self.files.is_some())
            .field("teams", &self.teams.is_some())
            .field("email", &self.email.is_some())
            .field("http", &self.http.is_some())
            .field("llm", &self.llm.is_some())
            .field("audio", &self.audio.is_some())
            .finish()
    }
}

fn unavailable(cap: Capability) -> HostError {
    HostError::Unavailable(format!("this host has no `{cap}` backend configured"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_parse_from_short_and_interface_names() {
        assert_eq!("http".parse::<Capability>().unwrap(), Capability::Http);
        assert_eq!(
            "flowbox:step/llm".parse::<Capability>().unwrap(),
            Capability::Llm
        );
        assert_eq!(
            "flowbox:step/records@0.1.0".parse::<Capability>().unwrap(),
            Capability::Records
        );
        assert!("wasi:sockets/tcp@0.2.0".parse::<Capability>().is_err());
        assert!("flowbox:step/types@0.1.0".parse::<Capability>().is_err());
        assert!(
            "sockets"
                .parse::<Capability>()
                .unwrap_err()
                .to_string()
                .contains("log, variables")
        );
    }

    /// The grant name, the JSON name and the WIT interface name are one name.
    #[test]
    fn each_capability_has_one_name() {
        let wit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/step.wit"))
            .unwrap();
        for c in Capability::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
            assert_eq!(c.name().parse::<Capability>().unwrap(), c);
            assert!(
                wit.contains(&format!("interface {} {{", c.name())),
                "wit/step.wit has no interface `{c}`"
            );
        }
    }

    #[test]
    fn a_full_log_notes_what_it_dropped() {
        // Two lines' cost (48 bytes each beside their text) and ten bytes of text.
        let mut log = LogBuffer::new(2 * 48 + 10);
        log.push(LogLevel::Info, LogSource::Log, "12345".into());
        log.push(LogLevel::Info, LogSource::Log, "678901".into());
        log.push(LogLevel::Info, LogSource::Log, "12345".into());
        let lines = log.finish();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].message, "12345");
        assert_eq!(lines[2].source, LogSource::Host);
        assert!(
            lines[2].message.starts_with("1 log lines dropped"),
            "{}",
            lines[2].message
        );
    }

    #[test]
    fn empty_lines_cost_room_too() {
        let mut log = LogBuffer::new(256 << 10);
        for _ in 0..500_000 {
            log.push(LogLevel::Info, LogSource::Log, String::new());
        }
        let lines = log.finish();
        assert_eq!(lines.len(), (256 << 10) / 48 + 1);
        assert!(
            lines
                .last()
                .unwrap()
                .message
                .starts_with("494539 log lines dropped")
        );
    }
}
