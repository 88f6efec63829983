//! OpenTelemetry traces: a `flowbox serve` process exports its spans over OTLP (HTTP,
//! protobuf) to a receiver on loopback, decoded with the official protobuf definitions.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};

use crate::common::{Db, SmtpServer, fresh_db_url, guest_path};
use crate::crash::{Server, admin_client, call, post_text, upload};
use crate::llm::FakeOpenAi;

/// The caller's trace and span, as its `traceparent` names them.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// An OTLP receiver: every span exported to it, with its service's name.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<(String, Span)>>>) {
    let spans: Arc<Mutex<Vec<(String, Span)>>> = Arc::default();
    let seen = spans.clone();
    let handler = move |body: axum::body::Bytes| {
        let seen = seen.clone();
        async move {
            let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
            for resource in request.resource_spans {
                let service = resource
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|a| a.key == "service.name")
                    .and_then(|a| a.value.as_ref()?.value.as_ref())
                    .map(|v| match v {
                        Any::StringValue(s) => s.clone(),
                        other => format!("{other:?}"),
                    })
                    .unwrap_or_default();
                for scope in resource.scope_spans {
                    for span in scope.spans {
                        seen.lock().unwrap().push((service.clone(), span));
                    }
                }
            }
            // An empty ExportTraceServiceResponse: everything accepted.
            (
                [("content-type", "application/x-protobuf")],
                Vec::<u8>::new(),
            )
        }
    };
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

/// A service a step calls: the `traceparent` of each request it gets.
async fn traced_service() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let got: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen = got.clone();
    let handler = move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            let parent = headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            seen.lock().unwrap().push(parent);
            axum::Json(json!({"ok": true}))
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (host, got)
}

fn attribute(span: &Span, key: &str) -> Option<Value> {
    let value = span
        .attributes
        .iter()
        .find(|a| a.key == key)?
        .value
        .as_ref()?;
    Some(match value.value.as_ref()? {
        Any::StringValue(s) => json!(s),
        Any::IntValue(i) => json!(i),
        Any::BoolValue(b) => json!(b),
        Any::DoubleValue(d) => json!(d),
        other => json!(format!("{other:?}")),
    })
}

/// A request with the caller's `traceparent` starts an execution of five steps: the second calls
/// a service over HTTP, the third a model, the fourth sends an email; a delay comes before the
/// fifth. All of it is one trace under
/// the caller's span: request → the execution's start → its two runs (before and after the
/// delay) → five step spans → the steps' HTTP call (whose `traceparent` the service got), model
/// call and email. The
/// API shows the execution's trace id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_is_one_trace_from_the_callers_span_to_a_steps_http_call() {
    let (otlp, spans) = otlp_receiver().await;
    let (service, parents) = traced_service().await;
    let smtp = SmtpServer::start().await;
    let model = FakeOpenAi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_db_url(Db::Sqlite, dir.path()).await;
    let server = Server::start_with_env(
        &db_url,
        dir.path(),
        0,
        &["--smtp-url", &format!("smtp://127.0.0.1:{}", smtp.port)],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
            ("OTEL_SERVICE_NAME", "flowbox-under-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let http = admin_client();
    upload(&http, &server.url, "increment", &[]).await;
    upload(&http, &server.url, "llm_call", &["llm", "records"]).await;
    upload(&http, &server.url, "send_email", &["email"]).await;
    let (status, v) = call(
        &http,
        "PUT",
        format!("{}/v1/llm/providers/default", server.url),
        Some(json!({"base_url": model.base_url(), "api_key_env": "FLOWBOX_LLM_KEY_TEST", "default_model": "fake-small"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let r = http
        .put(format!("{}/v1/steps/http_request", server.url))
        .query(&[("grant", "http"), ("http_host", service.as_str())])
        .body(std::fs::read(guest_path("http_request")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let definition = format!(
        "name: traced\nsteps:\n  - {{ id: first, action: increment, input: {{ n: 1 }} }}\n  - {{ id: call, action: http_request, input: {{ method: POST, url: \"http://{service}/hook\" }} }}\n  - {{ id: ask, action: llm_call, input: {{ prompt: \"REPLY fine\" }} }}\n  - {{ id: mail, action: send_email, input: {{ to: ops@example.com, subject: s, text: t }} }}\n  - {{ id: nap, delay: {{ for: 1s }} }}\n  - {{ id: last, action: increment, input: {{ n: 5 }} }}\n"
    );
    let (status, v) = post_text(&http, format!("{}/v1/workflows", server.url), &definition).await;
    assert!(status == 200 || status == 201, "{status} {v}");

    let r = http
        .post(format!(
            "{}/v1/workflows/traced/executions?wait=30",
            server.url
        ))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&json!({"input": {}}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "completed", "{v}");
    // The execution keeps its trace: the caller's.
    let (status, shown) = call(
        &http,
        "GET",
        format!("{}/v1/executions/{}", server.url, v["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["trace_id"], CALLER_TRACE, "{shown}");
    // An unrelated request, without a traceparent: a trace of its own.
    let (status, _) = call(&http, "GET", format!("{}/v1/workflows", server.url), None).await;
    assert_eq!(status, 200);

    let named = |name: &str| -> Vec<Span> {
        spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s.clone())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while named("HTTP POST").len() + named("step last").len() + named("GET /v1/workflows").len() < 3
    {
        assert!(
            Instant::now() < deadline,
            "spans did not arrive: {:?}",
            spans
                .lock()
                .unwrap()
                .iter()
                .map(|(_, s)| s.name.clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);

    let one = |name: &str| -> Span {
        let found = named(name);
        assert_eq!(
            found.len(),
            1,
            "one `{name}` span among {:?}",
            spans
                .lock()
                .unwrap()
                .iter()
                .map(|(_, s)| (
                    s.name.clone(),
                    hex::encode(&s.span_id),
                    hex::encode(&s.parent_span_id)
                ))
                .collect::<Vec<_>>()
        );
        found.into_iter().next().unwrap()
    };
    let request = one("POST /v1/workflows/{name}/executions");
    let start = one("start traced");
    // Two runs: up to the delay, and after it (the scheduler resumed it).
    let runs = named("execution traced");
    assert_eq!(runs.len(), 2, "{runs:?}");
    let steps = [
        one("step first"),
        one("step call"),
        one("step ask"),
        one("step mail"),
        one("step last"),
    ];
    let call_span = one("HTTP POST");

    let caller_trace = hex::decode(CALLER_TRACE).unwrap();
    for span in [
        &request, &start, &runs[0], &runs[1], &steps[0], &steps[1], &steps[2], &call_span,
    ] {
        assert_eq!(
            span.trace_id, caller_trace,
            "`{}` is not in the caller's trace",
            span.name
        );
    }
    assert_eq!(request.parent_span_id, hex::decode(CALLER_SPAN).unwrap());
    assert_eq!(start.parent_span_id, request.span_id);
    for run in &runs {
        assert_eq!(run.parent_span_id, start.span_id);
    }
    let (before, after) = if steps[0].parent_span_id == runs[0].span_id {
        (&runs[0], &runs[1])
    } else {
        (&runs[1], &runs[0])
    };
    assert_eq!(attribute(before, "status"), Some(json!("waiting")));
    assert_eq!(attribute(after, "status"), Some(json!("completed")));
    for (step, run) in steps.iter().zip([before, before, before, before, after]) {
        assert_eq!(step.parent_span_id, run.span_id, "{}", step.name);
        assert_eq!(attribute(step, "outcome"), Some(json!("completed")));
        assert_eq!(attribute(step, "attempt"), Some(json!(1)));
        assert!(attribute(step, "fuel").and_then(|f| f.as_i64()).unwrap() > 0);
        assert!(attribute(step, "module.hash").is_some(), "{step:?}");
    }
    assert_eq!(attribute(&steps[1], "module"), Some(json!("http_request")));
    assert_eq!(call_span.parent_span_id, steps[1].span_id);
    assert_eq!(
        attribute(&call_span, "http.response.status_code"),
        Some(json!(200))
    );
    assert_eq!(
        attribute(&request, "http.response.status_code"),
        Some(json!(200))
    );

    // The service got the HTTP span's context: it joins the trace under that call.
    let got = parents.lock().unwrap().clone();
    assert_eq!(
        got,
        [Some(format!(
            "00-{CALLER_TRACE}-{}-01",
            hex::encode(&call_span.span_id)
        ))]
    );
    // The model call and the email are spans under their steps.
    let llm = one("llm default");
    assert_eq!(llm.parent_span_id, steps[2].span_id);
    assert_eq!(attribute(&llm, "outcome"), Some(json!("ok")));
    assert_eq!(attribute(&llm, "attempts"), Some(json!(1)));
    let email = one("email");
    assert_eq!(email.parent_span_id, steps[3].span_id);
    assert_eq!(attribute(&email, "outcome"), Some(json!("sent")));
    assert_eq!(attribute(&email, "recipients"), Some(json!(1)));

    // Group commits are spans of their own (each serves many executions).
    let commits = named("group commit");
    assert!(!commits.is_empty());
    for commit in &commits {
        assert!(commit.parent_span_id.is_empty());
        assert!(attribute(commit, "batch").and_then(|b| b.as_i64()).unwrap() >= 1);
    }
    let other = one("GET /v1/workflows");
    assert_ne!(other.trace_id, caller_trace);
    assert!(other.parent_span_id.is_empty());
    assert!(
        spans
            .lock()
            .unwrap()
            .iter()
            .all(|(service, _)| service == "flowbox-under-test")
    );
}
