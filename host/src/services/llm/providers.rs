//! Model providers as admins configure them: any OpenAI-compatible endpoint, with the name of
//! the environment variable that holds its key (never the key itself).

use serde::Serialize;

use crate::store::ProviderRow;

/// The provider a step gets when it names none.
pub const DEFAULT_PROVIDER: &str = "default";
/// The transcription model of a provider that names none.
pub const DEFAULT_TRANSCRIPTION_MODEL: &str = "whisper-1";
/// A provider's settings, as an admin gives them.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub default_model: String,
    pub transcription_model: Option<String>,
    pub timeout_ms: Option<u64>,
    pub max_retries: Option<u32>,
    pub requests_per_minute: Option<u32>,
    pub workflow_daily_tokens: Option<u64>,
}

/// A provider as the API shows it: never its key, only where the key comes from and whether
/// this server has it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProviderView {
    pub name: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    /// Whether the environment variable is set on this server.
    pub api_key_set: bool,
    pub default_model: String,
    pub transcription_model: String,
    pub timeout_ms: i64,
    pub max_retries: i64,
    pub requests_per_minute: Option<i64>,
    pub workflow_daily_tokens: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<ProviderRow> for ProviderView {
    fn from(r: ProviderRow) -> Self {
        ProviderView {
            api_key_set: r
                .api_key_env
                .as_deref()
                .is_some_and(|v| std::env::var_os(v).is_some()),
            name: r.name,
            base_url: r.base_url,
            api_key_env: r.api_key_env,
            default_model: r.default_model,
            transcription_model: r
                .transcription_model
                .unwrap_or_else(|| DEFAULT_TRANSCRIPTION_MODEL.to_string()),
            timeout_ms: r.timeout_ms,
            max_retries: r.max_retries,
            requests_per_minute: r.requests_per_minute,
            workflow_daily_tokens: r.workflow_daily_tokens,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The prefix every key variable must have. Without it an admin token could name any of the
/// server's variables (a database URL, the SMTP password) and have it sent to a URL it chose.
pub const KEY_ENV_PREFIX: &str = "FLOWBOX_LLM_KEY_";

pub(crate) fn valid_env_name(s: &str) -> bool {
    s.len() > KEY_ENV_PREFIX.len()
        && s.len() <= 200
        && s.starts_with(KEY_ENV_PREFIX)
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
