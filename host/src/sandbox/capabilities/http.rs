//! `flowbox:step/http`, served by an [`HttpBackend`].

use super::super::StepContext;
use super::super::bindings::flowbox::step::http::{Host, Request, Response};
use super::super::bindings::flowbox::step::types::HostError as WitHostError;
use super::super::state::StepState;
use super::{Capability, HostError, unavailable};

/// An outgoing request from a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// The step's own timeout for this request, if it set one.
    pub timeout_ms: Option<u32>,
}

/// The response to a step's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends a step's HTTP requests: checks the allow-list, adds the idempotency key, sends.
#[async_trait::async_trait]
pub trait HttpBackend: Send + Sync {
    /// Send one request.
    async fn send(
        &self,
        ctx: &StepContext,
        request: HttpRequest,
    ) -> Result<HttpResponse, HostError>;
}

impl Host for StepState {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, WitHostError>> {
        let Some(backend) = self.backends.http.clone() else {
            return Ok(Err(unavailable(Capability::Http).into()));
        };
        let request = HttpRequest {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            timeout_ms: req.timeout_ms,
        };
        Ok(backend
            .send(&self.context, request)
            .await
            .map(|r| Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            })
            .map_err(Into::into))
    }
}
