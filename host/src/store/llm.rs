//! Model providers and the tokens workflows spent on them.

use super::{Store, StoreError, on_db};

/// A model provider (an OpenAI-compatible endpoint). It holds no key, only where to find one.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRow {
    pub name: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub default_model: String,
    /// The model for `audio` transcriptions; none: `whisper-1`.
    pub transcription_model: Option<String>,
    pub timeout_ms: i64,
    pub max_retries: i64,
    pub requests_per_minute: Option<i64>,
    pub workflow_daily_tokens: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}
from_row!(ProviderRow {
    name,
    base_url,
    api_key_env,
    default_model,
    transcription_model,
    timeout_ms,
    max_retries,
    requests_per_minute,
    workflow_daily_tokens,
    created_at,
    updated_at
});

impl Store {
    /// Create or replace a provider.
    pub async fn put_provider(&self, row: &ProviderRow) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO llm_providers (name, base_url, api_key_env, default_model, \
             timeout_ms, max_retries, requests_per_minute, workflow_daily_tokens, created_at, updated_at, \
             transcription_model) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) ON CONFLICT (name) DO UPDATE SET \
             base_url = excluded.base_url, api_key_env = excluded.api_key_env, \
             default_model = excluded.default_model, timeout_ms = excluded.timeout_ms, \
             transcription_model = excluded.transcription_model, \
             max_retries = excluded.max_retries, requests_per_minute = excluded.requests_per_minute, \
             workflow_daily_tokens = excluded.workflow_daily_tokens, updated_at = excluded.updated_at";
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(&row.name).bind(&row.base_url).bind(&row.api_key_env)
                .bind(&row.default_model).bind(row.timeout_ms).bind(row.max_retries)
                .bind(row.requests_per_minute).bind(row.workflow_daily_tokens)
                .bind(row.updated_at).bind(&row.transcription_model).execute(p).await?;
        });
        Ok(())
    }

    pub async fn provider(&self, name: &str) -> Result<Option<ProviderRow>, StoreError> {
        const SQL: &str = "SELECT * FROM llm_providers WHERE name = $1";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, ProviderRow>(SQL).bind(name).fetch_optional(p).await?),
        )
    }

    pub async fn providers(&self) -> Result<Vec<ProviderRow>, StoreError> {
        const SQL: &str = "SELECT * FROM llm_providers ORDER BY name";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, ProviderRow>(SQL).fetch_all(p).await?))
    }

    /// Delete a provider. False if there was none.
    pub async fn delete_provider(&self, name: &str) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM llm_providers WHERE name = $1";
        Ok(on_db!(&self.db, p => sqlx::query(SQL).bind(name).execute(p).await?.rows_affected() > 0))
    }

    /// Tokens a workflow spent on a provider on a UTC day (`YYYY-MM-DD`).
    pub async fn llm_tokens(
        &self,
        provider: &str,
        workflow: &str,
        day: &str,
    ) -> Result<i64, StoreError> {
        const SQL: &str =
            "SELECT tokens FROM llm_usage WHERE provider = $1 AND workflow = $2 AND day = $3";
        let tokens: Option<i64> = on_db!(&self.db, p => sqlx::query_scalar(SQL).bind(provider)
            .bind(workflow).bind(day).fetch_optional(p).await?);
        Ok(tokens.unwrap_or(0))
    }

    /// Count a call's tokens against the workflow.
    pub async fn add_llm_tokens(
        &self,
        provider: &str,
        workflow: &str,
        day: &str,
        tokens: i64,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO llm_usage (provider, workflow, day, tokens, calls) \
             VALUES ($1, $2, $3, $4, 1) ON CONFLICT (provider, workflow, day) DO UPDATE \
             SET tokens = llm_usage.tokens + excluded.tokens, calls = llm_usage.calls + 1";
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(provider).bind(workflow).bind(day).bind(tokens)
                .execute(p).await?;
        });
        Ok(())
    }
}
