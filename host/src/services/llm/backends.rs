//! The `llm` and `audio` capabilities' backends: what a step's calls do.

use std::time::Instant;

use super::providers::DEFAULT_TRANSCRIPTION_MODEL;
use super::{LlmCall, StepLlm};
use crate::sandbox::{
    AudioBackend, ChatRequest, ChatResponse, HostError, LlmBackend, StepContext, Transcription,
    TranscriptionRequest,
};

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
