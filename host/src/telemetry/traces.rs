//! OpenTelemetry traces, exported over OTLP (HTTP, protobuf) when the standard variables ask for
//! it: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns them on,
//! `OTEL_SERVICE_NAME` names the service (default `flowbox`), `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG` sample, `OTEL_BSP_*` tune the batching. Unset, nothing is exported
//! and the spans below cost a disabled callsite each.
//!
//! The spans (all under the target [`TARGET`]; docs/operations.md lists their attributes):
//! `request` per API request (a child of the caller's `traceparent`); `start` once per
//! execution, whose `traceparent` the execution keeps; `execution` per run of it on a node, a
//! child of its `start`; `step` per step attempt; `http`, `llm` and `email` per call a step
//! makes (an `http` request carries `traceparent`, so the service it calls joins the trace);
//! `commit` per group commit.

use std::time::Duration;

use bytes::Bytes;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector, HttpClient, HttpError};
use opentelemetry_otlp::{SpanExporter, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of flowbox's spans: the exporting layer takes these (and nothing else).
pub const TARGET: &str = "flowbox::trace";

/// How long an export may take before it is given up (the exporter retries nothing).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the environment asks for traces.
pub fn wanted() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

/// The exporting pipeline: spans go to a batch that a thread of its own sends. Shut it down
/// before the runtime ends, so that the last spans are sent.
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Build the exporter from the environment; its requests run on `runtime`.
    pub fn start(runtime: tokio::runtime::Handle) -> Result<Traces, String> {
        let client = Client {
            http: reqwest::Client::builder()
                .timeout(EXPORT_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?,
            runtime,
        };
        let exporter = SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .build()
            .map_err(|e| format!("the OTLP trace exporter: {e}"))?;
        let service = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "flowbox".into());
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        Ok(Traces { provider })
    }

    /// The layer that turns flowbox's spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        let tracer = self.provider.tracer("flowbox");
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target(TARGET, tracing::Level::INFO),
            )
    }

    /// Send what is batched, and stop.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "exporting the last traces failed");
        }
    }
}

/// Make `span` a child of the caller's `traceparent` (when the request has a valid one).
pub fn follow_caller(span: &tracing::Span, headers: &http::HeaderMap) {
    if span.is_disabled() {
        return;
    }
    let caller = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // Without a valid traceparent the context is empty and the span stays a root.
    let _ = span.set_parent(caller);
}

/// The trace a new execution of `workflow` starts in: a `start` span, a child of the current
/// span (the API request, the step that started it) or a new trace's root (a trigger, a
/// schedule), whose `traceparent` is kept with the execution. `None` when traces are off.
pub fn start_execution(workflow: &str) -> Option<String> {
    let span = tracing::info_span!(
        target: TARGET,
        "start",
        otel.name = format!("start {workflow}"),
        workflow,
    );
    if span.is_disabled() {
        return None;
    }
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove("traceparent")
}

/// Make `span` (a run of an execution) a child of the execution's `start` span.
pub fn follow_execution(span: &tracing::Span, traceparent: &str) {
    if span.is_disabled() {
        return;
    }
    let carrier =
        std::collections::HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let _ = span.set_parent(TraceContextPropagator::new().extract(&carrier));
}

/// The trace id in a `traceparent` (what the API shows).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let id = traceparent.split('-').nth(1)?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Add `span`'s `traceparent` to an outgoing request's headers (when traces are on).
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    if span.is_disabled() {
        return;
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// The exporter's HTTP client: flowbox's reqwest. The batch runs on a thread of its own, outside
/// the runtime, so each request is sent by a task on `runtime`.
#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let request = reqwest::Request::try_from(request)?;
        let sent = self.runtime.spawn(async move {
            let response = http.execute(request).await?;
            let mut answer = http::Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = response.headers().clone();
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(answer.body(body)?)
        });
        sent.await?
    }
}
