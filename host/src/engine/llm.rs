//! The `llm` capability for steps: chat completions through the model providers admins
//! configure (any OpenAI-compatible endpoint: OpenAI, vLLM, llama.cpp's server, Ollama).
//!
//! The host holds the credentials (a provider names the environment variable with its key; the
//! key is neither stored nor shown), retries 429 and 5xx answers with backoff (honouring
//! Retry-After), keeps to each provider's requests-per-minute, refuses a call once the
//! workflow's daily token budget on the provider is spent, and records every call's model,
//! tokens, latency and attempts for the step history.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::{Engine, EngineError};
use crate::clock::Clock;
use crate::sandbox::{
    AudioBackend, ChatRequest, ChatResponse, HostError, LlmBackend, StepContext, Transcription,
    TranscriptionRequest,
};
use crate::store::{ProviderRow, Store, millis};

/// The provider a step gets when it names none.
pub const DEFAULT_PROVIDER: &str = "default";
/// The transcription model of a provider that names none.
pub const DEFAULT_TRANSCRIPTION_MODEL: &str = "whisper-1";
/// The longest a Retry-After is honoured for; a longer one fails the call (the step may retry).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The first backoff when the provider gives no Retry-After; doubled on each attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The largest answer read from a provider.
const MAX_ANSWER: usize = 8 << 20;

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

fn valid_env_name(s: &str) -> bool {
    s.len() > KEY_ENV_PREFIX.len()
        && s.len() <= 200
        && s.starts_with(KEY_ENV_PREFIX)
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Engine {
    /// Create or replace a model provider.
    pub async fn put_provider(
        &self,
        name: &str,
        s: ProviderSettings,
    ) -> Result<ProviderView, EngineError> {
        let invalid = |m: String| Err(EngineError::Invalid(m));
        if !super::records::objects::valid_name(name) {
            return invalid(format!(
                "`{name}` is not a provider name: 1-200 characters of a-z, A-Z, 0-9, `-`, `_`, `.`"
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
                what: "provider",
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
                what: "provider",
                id: name.to_string(),
            })
        }
    }
}

/// Requests each provider was sent in the last minute, for its requests-per-minute limit. Kept
/// per process: with several processes each keeps the limit on its own.
#[derive(Debug, Default)]
pub(crate) struct RateLimits(Mutex<HashMap<String, VecDeque<Instant>>>);

impl RateLimits {
    /// Wait for a free slot of `provider`'s limit; `None` if none frees up within `patience`.
    async fn acquire(&self, provider: &str, per_minute: u32, patience: Duration) -> Option<()> {
        let deadline = Instant::now() + patience;
        loop {
            let wait = {
                let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
                let sent = all.entry(provider.to_string()).or_default();
                let now = Instant::now();
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
                {
                    sent.pop_front();
                }
                if sent.len() < per_minute as usize {
                    sent.push_back(now);
                    return Some(());
                }
                Duration::from_secs(60).saturating_sub(now.duration_since(sent[0]))
            };
            if Instant::now() + wait > deadline {
                return None;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// One call, as the step history shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct LlmCall {
    /// `chat` or `transcription`.
    pub kind: &'static str,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: u64,
    /// 1, or more when 429s and 5xx were retried.
    pub attempts: u32,
    /// The audio's length, for a transcription.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One step run's view of the model providers.
pub(crate) struct StepLlm {
    store: Store,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    limits: Arc<RateLimits>,
    workflow: String,
    calls: Mutex<Vec<LlmCall>>,
}

impl StepLlm {
    pub(crate) fn new(
        store: Store,
        client: reqwest::Client,
        clock: Arc<dyn Clock>,
        limits: Arc<RateLimits>,
        workflow: String,
    ) -> Self {
        StepLlm {
            store,
            client,
            clock,
            limits,
            workflow,
            calls: Mutex::default(),
        }
    }

    /// The calls made, with their totals, for the step history; `None` if there were none.
    pub(crate) fn history(&self) -> Option<Value> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.is_empty() {
            return None;
        }
        let prompt: u64 = calls.iter().map(|c| u64::from(c.prompt_tokens)).sum();
        let completion: u64 = calls.iter().map(|c| u64::from(c.completion_tokens)).sum();
        Some(json!({
            "calls": *calls,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
        }))
    }

    fn today(&self) -> String {
        chrono::DateTime::from_timestamp_millis(millis(self.clock.now()))
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    }

    async fn provider(&self, name: &str) -> Result<ProviderRow, HostError> {
        self.store
            .provider(name)
            .await
            .map_err(|e| HostError::Failed(format!("reading provider `{name}`: {e}")))?
            .ok_or_else(|| {
                HostError::Unavailable(format!(
                    "there is no model provider `{name}` (an admin adds it: PUT /v1/llm/providers/{name})"
                ))
            })
    }

    fn body(model: &str, r: &ChatRequest) -> Result<Value, HostError> {
        let mut body = json!({
            "model": model,
            "messages": r.messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
        });
        if let Some(t) = r.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = r.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if let Some(schema) = &r.response_schema {
            let schema: Value = serde_json::from_str(schema)
                .map_err(|e| HostError::Invalid(format!("the response schema is not JSON: {e}")))?;
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": false},
            });
        }
        Ok(body)
    }

    /// Send a request (`make` builds each attempt) with retries; returns the answer's JSON and
    /// the attempts it took.
    async fn send(
        &self,
        p: &ProviderRow,
        make: impl Fn() -> reqwest::RequestBuilder,
        key: Option<&str>,
    ) -> Result<(Value, u32), (HostError, u32)> {
        let timeout = Duration::from_millis(p.timeout_ms as u64);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Some(rpm) = p.requests_per_minute
                && self
                    .limits
                    .acquire(&p.name, rpm as u32, timeout)
                    .await
                    .is_none()
            {
                return Err((
                    HostError::Failed(format!(
                        "provider `{}`: its limit of {rpm} requests per minute is reached",
                        p.name
                    )),
                    attempt - 1,
                ));
            }
            let mut req = make().timeout(timeout);
            if let Some(key) = key {
                req = req.bearer_auth(key);
            }
            let (retry, wait, error) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry_after(v, self.clock.as_ref()));
                    let text = match read_capped(resp).await {
                        Ok(text) => text,
                        Err(ReadError::TooLarge) => {
                            return Err((
                                HostError::Denied(format!(
                                    "provider `{}` answered with more than {MAX_ANSWER} bytes",
                                    p.name
                                )),
                                attempt,
                            ));
                        }
                        Err(ReadError::Broken(e)) => {
                            let error = HostError::Failed(format!(
                                "reading the answer of provider `{}` failed: {}",
                                p.name,
                                e.without_url()
                            ));
                            if attempt > p.max_retries as u32 {
                                return Err((error, attempt));
                            }
                            tokio::time::sleep(backoff(attempt)).await;
                            continue;
                        }
                    };
                    let text = redact(&text, key);
                    match status {
                        200..=299 => {
                            return match serde_json::from_str::<Value>(&text) {
                                Ok(v) => Ok((v, attempt)),
                                Err(e) => Err((
                                    HostError::Failed(format!(
                                        "provider `{}` answered with bad JSON: {e}",
                                        p.name
                                    )),
                                    attempt,
                                )),
                            };
                        }
                        429 | 500..=599 => (
                            true,
                            retry_after,
                            HostError::Failed(format!(
                                "provider `{}` answered {status}: {}",
                                p.name,
                                provider_message(&text)
                            )),
                        ),
                        401 | 403 => {
                            return Err((
                                HostError::Denied(format!(
                                    "provider `{}` refused the credentials ({status}): {}",
                                    p.name,
                                    provider_message(&text)
                                )),
                                attempt,
                            ));
                        }
                        _ => {
                            return Err((
                                HostError::Invalid(format!(
                                    "provider `{}` refused the request ({status}): {}",
                                    p.name,
                                    provider_message(&text)
                                )),
                                attempt,
                            ));
                        }
                    }
                }
                Err(e) => (
                    true,
                    None,
                    HostError::Failed(if e.is_timeout() {
                        format!(
                            "provider `{}` did not answer within {} ms",
                            p.name, p.timeout_ms
                        )
                    } else {
                        format!(
                            "provider `{}` could not be reached: {}",
                            p.name,
                            e.without_url()
                        )
                    }),
                ),
            };
            if !retry || attempt > p.max_retries as u32 {
                return Err((error, attempt));
            }
            let wait = match wait {
                Some(w) if w > MAX_RETRY_AFTER => {
                    return Err((
                        HostError::Failed(format!(
                            "{error}; it asks to wait {} s, more than {} s",
                            w.as_secs(),
                            MAX_RETRY_AFTER.as_secs()
                        )),
                        attempt,
                    ));
                }
                Some(w) => w,
                None => backoff(attempt),
            };
            tracing::debug!(provider = %p.name, attempt, ?wait, %error, "retrying a model call");
            tokio::time::sleep(wait).await;
        }
    }
}

/// The wait before retry `attempt + 1` when the provider gives no Retry-After: 0.5 s, 1 s,
/// 2 s, ..., never more than [`MAX_RETRY_AFTER`].
fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(MAX_RETRY_AFTER)
}

enum ReadError {
    TooLarge,
    Broken(reqwest::Error),
}

/// The text of an answer, refused past [`MAX_ANSWER`] bytes.
async fn read_capped(mut resp: reqwest::Response) -> Result<String, ReadError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Broken)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            return Err(ReadError::TooLarge);
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The text without the key: providers echo (part of) a refused key in their errors.
fn redact(text: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => crate::secrets::redact_key(text, k),
        None => text.to_string(),
    }
}

/// The error message of an OpenAI-style error body, or the start of the body.
fn provider_message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(300).collect())
}

/// A Retry-After value: seconds, or an HTTP date.
fn retry_after(value: &str, clock: &dyn Clock) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let ms = at.timestamp_millis() - millis(clock.now());
    Some(Duration::from_millis(ms.max(0) as u64))
}

impl StepLlm {
    /// The provider a step names (or `default`) and its key, from the server's environment.
    async fn provider_and_key(
        &self,
        name: Option<&str>,
    ) -> Result<(ProviderRow, Option<String>), HostError> {
        let name = name.unwrap_or(DEFAULT_PROVIDER);
        let p = self.provider(name).await?;
        let key = match &p.api_key_env {
            Some(env) => Some(std::env::var(env).map_err(|_| {
                HostError::Unavailable(format!(
                    "provider `{name}`: the environment variable {env} that holds its API key is not set on this server"
                ))
            })?),
            None => None,
        };
        Ok((p, key))
    }

    fn record(&self, call: LlmCall) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
    }
}

#[async_trait::async_trait]
impl LlmBackend for StepLlm {
    async fn chat(
        &self,
        _ctx: &StepContext,
        request: ChatRequest,
    ) -> Result<ChatResponse, HostError> {
        let (p, key) = self.provider_and_key(request.provider.as_deref()).await?;
        let name = p.name.clone();
        if request.messages.is_empty() {
            return Err(HostError::Invalid(
                "a chat needs at least one message".into(),
            ));
        }
        let day = self.today();
        if let Some(budget) = p.workflow_daily_tokens {
            let used = self
                .store
                .llm_tokens(&name, &self.workflow, &day)
                .await
                .map_err(|e| HostError::Failed(e.to_string()))?;
            if used >= budget {
                return Err(HostError::Denied(format!(
                    "the token budget of workflow `{}` on provider `{name}` is spent: {used} of {budget} tokens today ({day}, UTC)",
                    self.workflow
                )));
            }
        }
        let model = request
            .model
            .clone()
            .unwrap_or_else(|| p.default_model.clone());
        let body = Self::body(&model, &request)?;
        let url = format!("{}/chat/completions", p.base_url);
        let started = Instant::now();
        let sent = self
            .send(&p, || self.client.post(&url).json(&body), key.as_deref())
            .await;
        let latency_ms = started.elapsed().as_millis() as u64;
        let mut call = LlmCall {
            kind: "chat",
            provider: name.clone(),
            model: model.clone(),
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_ms,
            attempts: 0,
            audio_seconds: None,
            error: None,
        };
        let (answer, attempts) = match sent {
            Ok(ok) => ok,
            Err((e, attempts)) => {
                call.attempts = attempts;
                call.error = Some(e.to_string());
                self.record(call);
                return Err(e);
            }
        };
        call.attempts = attempts;
        // Tokens are spent (and counted, and shown) whatever the answer says.
        let tokens = |k: &str| answer["usage"][k].as_u64().unwrap_or(0) as u32;
        call.model = answer["model"].as_str().unwrap_or(&model).to_string();
        call.prompt_tokens = tokens("prompt_tokens");
        call.completion_tokens = tokens("completion_tokens");
        let spent = i64::from(call.prompt_tokens) + i64::from(call.completion_tokens);
        if let Err(e) = self
            .store
            .add_llm_tokens(&name, &self.workflow, &day, spent)
            .await
        {
            tracing::warn!(error = %e, provider = %name, "counting a model call's tokens failed");
        }
        let message = &answer["choices"][0]["message"];
        let content = match (message["content"].as_str(), message["refusal"].as_str()) {
            (Some(c), _) => c.to_string(),
            // The model declined (structured outputs say so in `refusal`): asking again would
            // get the same.
            (None, Some(refusal)) => {
                let e = HostError::Denied(format!("the model refused: {refusal}"));
                call.error = Some(e.to_string());
                self.record(call);
                return Err(e);
            }
            (None, None) => {
                let e = HostError::Failed(format!(
                    "provider `{name}` answered without choices[0].message.content"
                ));
                call.error = Some(e.to_string());
                self.record(call);
                return Err(e);
            }
        };
        let response = ChatResponse {
            content,
            model: call.model.clone(),
            prompt_tokens: call.prompt_tokens,
            completion_tokens: call.completion_tokens,
        };
        self.record(call);
        Ok(response)
    }
}

#[async_trait::async_trait]
impl AudioBackend for StepLlm {
    async fn transcribe(
        &self,
        _ctx: &StepContext,
        request: TranscriptionRequest,
    ) -> Result<Transcription, HostError> {
        let (p, key) = self.provider_and_key(request.provider.as_deref()).await?;
        let missing = || HostError::NotFound(format!("file `{}`", request.file_id));
        let failed = |e: crate::store::StoreError| HostError::Failed(e.to_string());
        let file = self
            .store
            .file(&request.file_id)
            .await
            .map_err(failed)?
            .ok_or_else(missing)?;
        let bytes = self
            .store
            .file_bytes(&request.file_id)
            .await
            .map_err(failed)?
            .ok_or_else(missing)?;
        let model = request.model.clone().unwrap_or_else(|| {
            p.transcription_model
                .clone()
                .unwrap_or_else(|| DEFAULT_TRANSCRIPTION_MODEL.to_string())
        });
        let url = format!("{}/audio/transcriptions", p.base_url);
        let make = || {
            let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name(file.name.clone());
            let part = match part.mime_str(&file.content_type) {
                Ok(p) => p,
                Err(_) => {
                    reqwest::multipart::Part::bytes(bytes.clone()).file_name(file.name.clone())
                }
            };
            let mut form = reqwest::multipart::Form::new()
                .part("file", part)
                .text("model", model.clone())
                .text("response_format", "verbose_json");
            if let Some(l) = &request.language {
                form = form.text("language", l.clone());
            }
            if let Some(t) = &request.prompt {
                form = form.text("prompt", t.clone());
            }
            self.client.post(&url).multipart(form)
        };
        let started = Instant::now();
        let sent = self.send(&p, make, key.as_deref()).await;
        let mut call = LlmCall {
            kind: "transcription",
            provider: p.name.clone(),
            model: model.clone(),
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_ms: started.elapsed().as_millis() as u64,
            attempts: 0,
            audio_seconds: None,
            error: None,
        };
        let (answer, attempts) = match sent {
            Ok(ok) => ok,
            Err((e, attempts)) => {
                call.attempts = attempts;
                call.error = Some(e.to_string());
                self.record(call);
                return Err(e);
            }
        };
        call.attempts = attempts;
        let text = answer["text"].as_str().map(str::to_string).ok_or_else(|| {
            HostError::Failed(format!("provider `{}` answered without `text`", p.name))
        })?;
        let t = Transcription {
            text,
            language: answer["language"].as_str().map(str::to_string),
            duration_seconds: answer["duration"].as_f64(),
            model,
        };
        call.audio_seconds = t.duration_seconds;
        self.record(call);
        Ok(t)
    }
}
