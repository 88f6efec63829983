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

use tracing::Instrument as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::sandbox::{ChatRequest, HostError};
use crate::store::{ProviderRow, Store, millis};

mod backends;
pub mod providers;

pub use self::providers::{DEFAULT_PROVIDER, ProviderSettings, ProviderView};

/// The longest a Retry-After is honoured for; a longer one fails the call (the step may retry).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The first backoff when the provider gives no Retry-After; doubled on each attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The largest answer read from a provider.
const MAX_ANSWER: usize = 8 << 20;

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
    /// the attempts it took. One span (`llm <provider>`) covers the attempts.
    async fn send(
        &self,
        p: &ProviderRow,
        make: impl Fn() -> reqwest::RequestBuilder,
        key: Option<&str>,
    ) -> Result<(Value, u32), (HostError, u32)> {
        let span = tracing::info_span!(
            target: crate::telemetry::traces::TARGET,
            "llm",
            otel.name = format!("llm {}", p.name),
            otel.kind = "client",
            provider = p.name.as_str(),
            attempts = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let sent = self.attempts(p, make, key).instrument(span.clone()).await;
        let (attempts, outcome) = match &sent {
            Ok((_, n)) => (*n, "ok"),
            Err((_, n)) => (*n, "error"),
        };
        span.record("attempts", i64::from(attempts));
        span.record("outcome", outcome);
        sent
    }

    /// [`Self::send`]'s attempts.
    async fn attempts(
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
        crate::telemetry::llm_call(
            &call.provider,
            call.kind,
            call.error.is_none(),
            call.prompt_tokens,
            call.completion_tokens,
        );
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
    }
}
