//! The `http` capability for steps: requests to the hosts the module's allow-list names, each
//! carrying `idempotency-key: <execution>/<step>` (a step may run more than once: a retry, or a
//! crash before its result committed), no redirects followed (a redirect could leave the
//! allow-list), and a cap on the response size.
//!
//! A step that sends several requests: the first carries `<execution>/<step>`, the n-th
//! `<execution>/<step>/<n>`, so a receiver that drops duplicates keeps each of them, and a retry
//! (which sends them again in the same order) repeats the same keys. A step that sets its own
//! `idempotency-key` header keeps it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tracing::Instrument as _;

use crate::sandbox::{HostError, HttpBackend, HttpRequest, HttpResponse, StepContext};

/// The longest a request may take when the step sets no timeout of its own.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body a step may receive.
const MAX_RESPONSE: usize = 10 << 20;

/// The client every step's requests share (connection pools, TLS).
pub(crate) fn client() -> reqwest::Client {
    crate::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("flowbox/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "building the HTTP client failed; using the default");
            reqwest::Client::new()
        })
}

/// Whether `host` (at `port`) is on an allow-list of `host`, `host:port` and `*.domain`.
pub(crate) fn allowed(list: &[String], host: &str, port: Option<u16>) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    list.iter().any(|entry| {
        let (pattern, want_port) = match entry.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().ok()),
            None => (entry.as_str(), None),
        };
        let port_ok = want_port.is_none() || want_port == port;
        let host_ok = match pattern.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1),
            None => pattern.eq_ignore_ascii_case(host),
        };
        port_ok && host_ok
    })
}

/// One step run's view of the network.
pub(crate) struct StepHttp {
    client: reqwest::Client,
    hosts: Arc<Vec<String>>,
    /// Requests sent so far by this run of the step.
    sent: AtomicU32,
}

impl StepHttp {
    pub(crate) fn new(client: reqwest::Client, hosts: Arc<Vec<String>>) -> Self {
        StepHttp {
            client,
            hosts,
            sent: AtomicU32::new(0),
        }
    }
}

#[async_trait::async_trait]
impl HttpBackend for StepHttp {
    async fn send(
        &self,
        ctx: &StepContext,
        request: HttpRequest,
    ) -> Result<HttpResponse, HostError> {
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| HostError::Invalid(format!("`{}` is not a URL: {e}", request.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HostError::Invalid(format!(
                "`{}`: only http and https URLs",
                request.url
            )));
        }
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default();
        if !allowed(&self.hosts, &host, port) {
            // With the port it compared: `host:port` entries only match that port.
            let target = port.map_or(host.clone(), |p| format!("{host}:{p}"));
            return Err(HostError::Denied(format!(
                "{target} is not on this module's allow-list ({})",
                if self.hosts.is_empty() {
                    "empty".to_string()
                } else {
                    self.hosts.join(", ")
                }
            )));
        }
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                HostError::Invalid(format!("`{}` is not an HTTP method", request.method))
            })?;
        let timeout = request
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()))
            .unwrap_or(DEFAULT_TIMEOUT)
            .min(DEFAULT_TIMEOUT);
        let span = tracing::info_span!(
            target: crate::telemetry::traces::TARGET,
            "http",
            otel.name = format!("HTTP {method}"),
            otel.kind = "client",
            http.request.method = method.as_str(),
            server.address = host,
            server.port = port.map(i64::from),
            url.path = url.path(),
            http.response.status_code = tracing::field::Empty,
        );
        let mut builder = self.client.request(method, url).timeout(timeout);
        let mut own_key = false;
        let mut own_trace = false;
        for (name, value) in &request.headers {
            own_key |= name.eq_ignore_ascii_case("idempotency-key");
            own_trace |= name.eq_ignore_ascii_case("traceparent");
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HostError::Invalid(format!("`{name}` is not a header name")))?;
            let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                HostError::Invalid(format!("the `{name}` header's value is not valid"))
            })?;
            builder = builder.header(name, value);
        }
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        if !own_key {
            let key = match n {
                1 => format!("{}/{}", ctx.execution_id, ctx.step_id),
                n => format!("{}/{}/{n}", ctx.execution_id, ctx.step_id),
            };
            builder = builder.header("idempotency-key", key);
        }
        if !own_trace {
            // The service called joins the trace, as a child of this request's span.
            let mut trace = reqwest::header::HeaderMap::new();
            crate::telemetry::traces::inject(&span, &mut trace);
            builder = builder.headers(trace);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let answer = receive(builder, &host, timeout)
            .instrument(span.clone())
            .await;
        if let Ok(answer) = &answer {
            span.record("http.response.status_code", i64::from(answer.status));
        }
        answer
    }
}

/// Send a step's request and read its answer, bounded.
async fn receive(
    builder: reqwest::RequestBuilder,
    host: &str,
    timeout: Duration,
) -> Result<HttpResponse, HostError> {
    let mut response = builder.send().await.map_err(|e| {
        if e.is_timeout() {
            HostError::Failed(format!(
                "the request to {host} timed out after {} ms",
                timeout.as_millis()
            ))
        } else {
            HostError::Failed(format!("the request to {host} failed: {e}"))
        }
    })?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HostError::Failed(format!("reading the response from {host}: {e}")))?
    {
        // Refused, not failed: sending it again would get the same answer.
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err(HostError::Denied(format!(
                "the response from {host} is over {MAX_RESPONSE} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn allow_lists() {
        let list = vec![
            "api.example.com".to_string(),
            "127.0.0.1:8080".to_string(),
            "*.hooks.io".to_string(),
        ];
        assert!(allowed(&list, "api.example.com", Some(443)));
        assert!(allowed(&list, "API.example.com", Some(80)));
        assert!(!allowed(&list, "example.com", Some(443)));
        assert!(!allowed(&list, "api.example.com.evil.io", Some(443)));
        assert!(allowed(&list, "127.0.0.1", Some(8080)));
        assert!(!allowed(&list, "127.0.0.1", Some(8081)));
        assert!(allowed(&list, "a.hooks.io", Some(443)));
        assert!(!allowed(&list, "hooks.io", Some(443)));
        assert!(!allowed(&list, "ahooks.io", Some(443)));
        assert!(!allowed(&[], "api.example.com", Some(443)));
    }
}
