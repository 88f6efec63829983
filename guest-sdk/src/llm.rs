//! Chat completion through the provider the admin configured; the step never sees the API key.

use crate::{HostError, wit::llm as raw};

/// One message of a conversation.
#[derive(Debug, Clone)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A message with the given role.
    pub fn new(role: &str, content: &str) -> Self {
        Message {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// A chat completion request.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    /// The provider, by name; `None` for the one named `default`.
    pub provider: Option<String>,
    /// The model; `None` for the provider's default.
    pub model: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// A JSON schema (as JSON text) the answer must follow.
    pub response_schema: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// The most tokens the answer may use.
    pub max_tokens: Option<u32>,
}

/// The provider's answer.
#[derive(Debug, Clone)]
pub struct ChatResponse {
    /// The answer's text.
    pub content: String,
    /// The model that answered.
    pub model: String,
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens in the answer.
    pub completion_tokens: u32,
}

/// Ask the model and wait for the answer.
pub fn chat(request: ChatRequest) -> Result<ChatResponse, HostError> {
    let response = raw::chat(&raw::ChatRequest {
        provider: request.provider,
        model: request.model,
        messages: request
            .messages
            .into_iter()
            .map(|m| raw::Message {
                role: m.role,
                content: m.content,
            })
            .collect(),
        response_schema: request.response_schema,
        temperature: request.temperature,
        max_tokens: request.max_tokens,
    })?;
    Ok(ChatResponse {
        content: response.content,
        model: response.model,
        prompt_tokens: response.usage.prompt_tokens,
        completion_tokens: response.usage.completion_tokens,
    })
}
