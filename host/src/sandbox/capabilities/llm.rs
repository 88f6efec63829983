//! `flowbox:step/llm`, served by an [`LlmBackend`].

use super::super::StepContext;
use super::super::bindings::flowbox::step::llm::{self as wit, Host};
use super::super::bindings::flowbox::step::types::HostError as WitHostError;
use super::super::state::StepState;
use super::{Capability, HostError, unavailable};

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// system, user or assistant.
    pub role: String,
    /// The text.
    pub content: String,
}

/// A chat completion request from a step.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The provider, or `None` for `default`.
    pub provider: Option<String>,
    /// The model, or `None` for the provider's default.
    pub model: Option<String>,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// A JSON schema the answer must follow.
    pub response_schema: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// The most tokens the answer may use.
    pub max_tokens: Option<u32>,
}

/// The provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatResponse {
    /// The answer.
    pub content: String,
    /// The model that answered.
    pub model: String,
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens in the answer.
    pub completion_tokens: u32,
}

/// Calls the configured model provider for steps; holds the credentials.
#[async_trait::async_trait]
pub trait LlmBackend: Send + Sync {
    /// One chat completion.
    async fn chat(
        &self,
        ctx: &StepContext,
        request: ChatRequest,
    ) -> Result<ChatResponse, HostError>;
}

impl Host for StepState {
    async fn chat(
        &mut self,
        req: wit::ChatRequest,
    ) -> wasmtime::Result<Result<wit::ChatResponse, WitHostError>> {
        let Some(backend) = self.backends.llm.clone() else {
            return Ok(Err(unavailable(Capability::Llm).into()));
        };
        let request = ChatRequest {
            provider: req.provider,
            model: req.model,
            messages: req
                .messages
                .into_iter()
                .map(|m| ChatMessage {
                    role: m.role,
                    content: m.content,
                })
                .collect(),
            response_schema: req.response_schema,
            temperature: req.temperature,
            max_tokens: req.max_tokens,
        };
        Ok(backend
            .chat(&self.context, request)
            .await
            .map(|r| wit::ChatResponse {
                content: r.content,
                model: r.model,
                usage: wit::Usage {
                    prompt_tokens: r.prompt_tokens,
                    completion_tokens: r.completion_tokens,
                },
            })
            .map_err(Into::into))
    }
}
