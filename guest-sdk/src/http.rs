//! Outgoing HTTP requests, to hosts on the module's allow-list only.
//!
//! ```no_run
//! use flowbox_guest::{http, json};
//! # fn f() -> Result<(), flowbox_guest::HostError> {
//! let response = http::Request::post("https://api.example.com/orders")
//!     .header("accept", "application/json")
//!     .json(&json!({ "sku": "A-1" }))
//!     .send()?;
//! assert_eq!(response.status, 201);
//! # Ok(()) }
//! ```
//!
//! Every request carries `idempotency-key: <execution-id>/<step-id>`: a step may run more than
//! once (a retry, a crash before its result was committed), so the receiver should use it.

use crate::{HostError, Value, wit::http as raw};

/// An HTTP request under construction.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout_ms: Option<u32>,
}

impl Request {
    /// A request with any method.
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
        }
    }

    /// A GET request.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A POST request.
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Set a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Set a JSON body and its content type.
    pub fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }

    /// Give up after this long (never longer than the step's own deadline).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Send the request and wait for the response.
    pub fn send(self) -> Result<Response, HostError> {
        let response = raw::send(&raw::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            timeout_ms: self.timeout_ms,
        })?;
        Ok(Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

/// An HTTP response, whatever its status.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value, HostError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HostError::Invalid(format!("response body is not JSON: {e}")))
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
