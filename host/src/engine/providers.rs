//! Model providers through the API: define, list, delete (the `llm` capability's backend is
//! [`crate::services::llm`]).

use super::error::{Invalid, Thing};
use super::{Engine, EngineError};
use crate::services::llm::providers::{
    KEY_ENV_PREFIX, ProviderSettings, ProviderView, valid_env_name,
};
use crate::store::ProviderRow;

impl Engine {
    /// Create or replace a model provider.
    pub async fn put_provider(
        &self,
        name: &str,
        s: ProviderSettings,
    ) -> Result<ProviderView, EngineError> {
        let invalid = |m: String| Err(EngineError::invalid(Invalid::Value, m));
        if !crate::records::objects::valid_name(name) {
            return Err(EngineError::invalid(
                Invalid::Name,
                format!(
                    "`{name}` is not a provider name: 1-200 characters of a-z, A-Z, 0-9, `-`, `_`, `.`"
                ),
            ));
        }
        match reqwest::Url::parse(&s.base_url) {
            // No credentials or query in the URL: it shows up in errors that steps read.
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.username().is_empty()
                    && u.password().is_none()
                    && u.query().is_none()
                    && u.fragment().is_none() => {}
            _ => {
                return invalid(
                    "base_url: not an http(s) URL without credentials or query (e.g. https://api.openai.com/v1)"
                        .into(),
                );
            }
        }
        if let Some(env) = s.api_key_env.as_deref().filter(|e| !valid_env_name(e)) {
            return invalid(format!(
                "api_key_env: `{env}` is not an environment variable named {KEY_ENV_PREFIX}<NAME> (A-Z, 0-9, _)"
            ));
        }
        if s.default_model.trim().is_empty() {
            return invalid("default_model is required".into());
        }
        let timeout_ms = s.timeout_ms.unwrap_or(60_000);
        if !(100..=600_000).contains(&timeout_ms) {
            return invalid("timeout_ms must be between 100 and 600000".into());
        }
        let max_retries = s.max_retries.unwrap_or(3);
        if max_retries > 10 {
            return invalid("max_retries must be at most 10".into());
        }
        if s.requests_per_minute == Some(0) || s.workflow_daily_tokens == Some(0) {
            return invalid(
                "requests_per_minute and workflow_daily_tokens must be more than zero (leave them out for no limit)".into(),
            );
        }
        let now = self.now_ms();
        self.inner
            .store
            .put_provider(&ProviderRow {
                name: name.to_string(),
                base_url: s.base_url.trim_end_matches('/').to_string(),
                api_key_env: s.api_key_env,
                default_model: s.default_model,
                transcription_model: s.transcription_model.filter(|m| !m.trim().is_empty()),
                timeout_ms: timeout_ms as i64,
                max_retries: max_retries.into(),
                requests_per_minute: s.requests_per_minute.map(i64::from),
                workflow_daily_tokens: s.workflow_daily_tokens.map(|t| t as i64),
                created_at: now,
                updated_at: now,
            })
            .await?;
        self.provider(name).await
    }

    /// One provider.
    pub async fn provider(&self, name: &str) -> Result<ProviderView, EngineError> {
        self.inner
            .store
            .provider(name)
            .await?
            .map(ProviderView::from)
            .ok_or_else(|| EngineError::NotFound {
                what: Thing::Provider,
                id: name.to_string(),
            })
    }

    /// Every provider.
    pub async fn providers(&self) -> Result<Vec<ProviderView>, EngineError> {
        Ok(self
            .inner
            .store
            .providers()
            .await?
            .into_iter()
            .map(ProviderView::from)
            .collect())
    }

    /// Delete a provider.
    pub async fn delete_provider(&self, name: &str) -> Result<(), EngineError> {
        if self.inner.store.delete_provider(name).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound {
                what: Thing::Provider,
                id: name.to_string(),
            })
        }
    }
}
