//! AI steps against a local OpenAI-compatible server (tests/fake-openai/server.py, started on
//! loopback): providers keep their keys out of the API; answers are checked against the schema,
//! repaired once, routed on confidence; an LLM condition routes yes/no; 429s are retried after
//! Retry-After; a spent token budget stops the step; each call's tokens land in the history.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Db, TestServer, assert_error, on_both_databases, root};

on_both_databases!(llm_steps_validate_repair_and_route);

/// The key the fake server wants (set for the tests in .cargo/config.toml).
const KEY_ENV: &str = "FLOWBOX_LLM_KEY_TEST";

/// The fake OpenAI-compatible server, stopped when dropped.
pub struct FakeOpenAi {
    pub port: u16,
    _child: tokio::process::Child,
}

impl FakeOpenAi {
    pub async fn start() -> FakeOpenAi {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let key = std::env::var(KEY_ENV).expect("FLOWBOX_LLM_KEY_TEST (.cargo/config.toml)");
        let child = tokio::process::Command::new("/usr/bin/python3")
            .arg(root().join("tests/fake-openai/server.py"))
            .arg(port.to_string())
            .arg(key)
            .kill_on_drop(true)
            .spawn()
            .expect("python3 tests/fake-openai/server.py");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return FakeOpenAi {
                    port,
                    _child: child,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the fake model server did not listen on {port}");
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Every request it received.
    pub async fn requests(&self) -> Vec<Value> {
        reqwest::get(format!("http://127.0.0.1:{}/requests", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

async fn provider(s: &TestServer, name: &str, body: Value) {
    let (status, v) = s.put(&format!("/v1/llm/providers/{name}"), body).await;
    assert_eq!(status, 200, "{v}");
}

fn detail(run: &Value) -> Value {
    run["detail"].clone()
}

/// A one-step workflow of `step` (YAML, indented under `steps:`), run; its first step run.
async fn run_one(s: &TestServer, name: &str, step: &str, record: Option<&str>) -> (Value, Value) {
    let scope = if record.is_some() {
        "scope: { object: deal }\n"
    } else {
        ""
    };
    s.apply(&format!("name: {name}\n{scope}steps:\n{step}"))
        .await;
    let body = match record {
        Some(id) => json!({"record_id": id}),
        None => json!({}),
    };
    let v = s.run(name, body).await;
    let v = s.execution(v["id"].as_str().unwrap()).await;
    let first = v["steps"][0].clone();
    (v, first)
}

async fn llm_steps_validate_repair_and_route(db: Db) {
    let fake = FakeOpenAi::start().await;
    let s = TestServer::start(db).await;
    provider(
        &s,
        "default",
        json!({"base_url": fake.base_url(), "api_key_env": KEY_ENV, "default_model": "fake-small"}),
    )
    .await;
    for (name, grants) in [
        ("llm_call", vec!["llm", "records"]),
        ("llm_condition", vec!["llm"]),
    ] {
        let (status, v) = s.upload(name, name, &grants).await;
        assert_eq!(status, 201, "{v}");
    }
    s.define_object("name: deal\nfields:\n  name: { type: text }\n  category: { type: choice, choices: [hot, cold] }\n")
        .await;
    s.create_record("deal", "d1", json!({"name": "Big"})).await;
    let classify = |reply: &str, repair: &str| {
        format!(
            r#"  - id: ask
    action: llm_call
    input:
      prompt: "Classify the deal {{{{ record.name }}}}.\nREPLY {reply}\nREPAIR {repair}"
      schema: {{ type: object, properties: {{ category: {{ enum: [hot, cold] }} }}, required: [category] }}
      confidence_threshold: 0.7
      fields: {{ category: category, name: summary }}
    save_as: classification
    branches: {{ low_confidence: review }}
    next: end
  - id: review
    set: {{ needs_review: true }}
"#
        )
    };

    // A valid answer: into the variable and the record field; tokens and latency in the history.
    let (v, run) = run_one(
        &s,
        "classify",
        &classify(
            r#"{\"answer\": {\"category\": \"hot\"}, \"confidence\": 0.9}"#,
            "",
        ),
        Some("d1"),
    )
    .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(run["output"]["answer"], json!({"category": "hot"}), "{run}");
    assert_eq!(run["output"]["branch"], "confident");
    assert_eq!(run["output"]["repaired"], false);
    assert_eq!(v["steps"].as_array().unwrap().len(), 1, "no review: {v}");
    let llm = &detail(&run)["llm"];
    assert_eq!(llm["calls"][0]["model"], "fake-small", "{run}");
    assert_eq!(llm["calls"][0]["attempts"], 1);
    assert!(llm["prompt_tokens"].as_u64().unwrap() > 10, "{llm}");
    assert!(llm["calls"][0]["latency_ms"].is_u64(), "{llm}");
    let (_, record) = s.get("/v1/records/deal/d1").await;
    assert_eq!(record["fields"]["category"], "hot", "{record}");
    assert_eq!(
        record["fields"]["name"], "Big",
        "a key the answer lacks (summary) leaves its field alone"
    );
    let sent = fake.requests().await;
    let last = &sent.last().unwrap();
    assert_eq!(
        last["headers"]["authorization"],
        format!("Bearer {}", std::env::var(KEY_ENV).unwrap())
    );
    assert_eq!(last["body"]["model"], "fake-small");
    assert_eq!(last["body"]["response_format"]["type"], "json_schema");

    // An answer outside the schema is sent back once with its errors, and the repair is used.
    let (v, run) = run_one(
        &s,
        "classify",
        &classify(
            r#"{\"answer\": {\"category\": \"warm\"}, \"confidence\": 0.9}"#,
            r#"{\"answer\": {\"category\": \"cold\"}, \"confidence\": 0.8}"#,
        ),
        Some("d1"),
    )
    .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(run["output"]["answer"], json!({"category": "cold"}));
    assert_eq!(run["output"]["repaired"], true);
    assert_eq!(detail(&run)["llm"]["calls"].as_array().unwrap().len(), 2);
    let sent = fake.requests().await;
    let repair = &sent.last().unwrap()["body"]["messages"];
    let shown = repair.as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap();
    assert!(
        shown.contains("/answer/category") && shown.contains("warm"),
        "{shown}"
    );

    // Still wrong after the repair: the step fails with the errors.
    let (v, run) = run_one(
        &s,
        "classify",
        &classify(
            r#"not json at all"#,
            r#"{\"answer\": {}, \"confidence\": 2}"#,
        ),
        Some("d1"),
    )
    .await;
    assert_eq!(v["status"], "failed", "{v}");
    let message = run["error"]["message"].as_str().unwrap();
    assert!(message.contains("after one repair"), "{message}");
    assert!(
        message.contains("/confidence") && message.contains("category"),
        "{message}"
    );

    // Low confidence takes its branch and writes no field.
    s.create_record("deal", "d2", json!({"name": "Vague"}))
        .await;
    let (v, run) = run_one(
        &s,
        "classify",
        &classify(
            r#"{\"answer\": {\"category\": \"cold\"}, \"confidence\": 0.3}"#,
            "",
        ),
        Some("d2"),
    )
    .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(run["output"]["branch"], "low_confidence");
    assert_eq!(detail(&run)["branch"], "low_confidence");
    assert_eq!(v["steps"][1]["step_id"], "review", "{v}");
    let (_, record) = s.get("/v1/records/deal/d2").await;
    assert!(record["fields"]["category"].is_null(), "{record}");

    // A schema with `$defs` keeps its references when it is wrapped.
    let (v, run) = run_one(
        &s,
        "defs",
        r##"  - id: ask
    action: llm_call
    input:
      prompt: "Classify.\nREPLY {\"answer\": {\"category\": \"cold\"}, \"confidence\": 1}"
      schema: { "$defs": { cat: { enum: [hot, cold] } }, type: object, properties: { category: { "$ref": "#/$defs/cat" } } }
"##,
        None,
    )
    .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(run["output"]["answer"], json!({"category": "cold"}));

    // An LLM condition routes on its answer and keeps its reason.
    let condition = |reply: &str| {
        format!(
            r#"  - id: judge
    action: llm_condition
    input: {{ question: "Does the customer ask for a refund?", content: "I want my money back.\nREPLY {reply}" }}
    branches: {{ "yes": refund, "no": other }}
  - {{ id: refund, set: {{ route: refund }}, next: end }}
  - {{ id: other, set: {{ route: other }} }}
"#
        )
    };
    let (v, run) = run_one(
        &s,
        "triage",
        &condition(r#"{\"answer\": \"yes\", \"reason\": \"asks for money back\"}"#),
        None,
    )
    .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(run["output"]["answer"], "yes");
    assert_eq!(run["output"]["reason"], "asks for money back");
    assert_eq!(v["steps"][1]["step_id"], "refund", "{v}");
    let (v, _) = run_one(
        &s,
        "triage",
        &condition(r#"{\"answer\": \"no\", \"reason\": \"a question about invoices\"}"#),
        None,
    )
    .await;
    assert_eq!(v["steps"][1]["step_id"], "other", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_retried_limited_and_never_show_their_key() {
    let fake = FakeOpenAi::start().await;
    let s = TestServer::start(Db::Sqlite).await;
    let key = std::env::var(KEY_ENV).unwrap();
    let (status, v) = s
        .put(
            "/v1/llm/providers/default",
            json!({"base_url": fake.base_url(), "api_key_env": KEY_ENV, "default_model": "fake-small",
                   "max_retries": 2, "workflow_daily_tokens": 300}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["api_key_set"], true);
    let (_, list) = s.get("/v1/llm/providers").await;
    let (_, audit) = s.get("/v1/audit").await;
    for body in [&v, &list, &audit] {
        assert!(!body.to_string().contains(&key), "the key leaked: {body}");
    }
    let (status, v) = s
        .put(
            "/v1/llm/providers/x",
            json!({"base_url": fake.base_url(), "api_key": key, "default_model": "m"}),
        )
        .await;
    assert_error(status, &v, 400, "invalid_body");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api_key_env"),
        "{v}"
    );
    let (status, v) = s
        .put(
            "/v1/llm/providers/x",
            json!({"base_url": "ftp://x", "default_model": "m"}),
        )
        .await;
    assert_error(status, &v, 422, "invalid_value");
    for bad in [
        json!({"base_url": "https://user:pw@x/v1", "default_model": "m"}),
        // Only FLOWBOX_LLM_KEY_* variables: not another of the server's secrets.
        json!({"base_url": fake.base_url(), "api_key_env": "FLOWBOX_SMTP_URL", "default_model": "m"}),
    ] {
        let (status, v) = s.put("/v1/llm/providers/x", bad.clone()).await;
        assert_error(status, &v, 422, "invalid_value"); // {bad}
    }
    let (status, v) = s.get("/v1/llm/providers/nope").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("provider_not_found"))
    );
    // Without the key the provider refuses; the step fails for good, saying so.
    provider(
        &s,
        "keyless",
        json!({"base_url": fake.base_url(), "default_model": "fake-small"}),
    )
    .await;
    s.upload("llm_call", "llm_call", &["llm", "records"]).await;

    let ask = |prompt: &str, provider: &str| {
        format!(
            "  - {{ id: ask, action: llm_call, input: {{ prompt: \"{prompt}\", provider: {provider} }} }}\n"
        )
    };
    let (v, run) = run_one(&s, "nokey", &ask("hello", "keyless"), None).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refused the credentials (401)"),
        "{run}"
    );
    // A refused key that the provider quotes back is not shown.
    provider(
        &s,
        "wrong",
        json!({"base_url": fake.base_url(), "api_key_env": "FLOWBOX_LLM_KEY_WRONG", "default_model": "fake-small"}),
    )
    .await;
    let (_, run) = run_one(&s, "wrongkey", &ask("hello", "wrong"), None).await;
    let message = run["error"]["message"].as_str().unwrap();
    let wrong = std::env::var("FLOWBOX_LLM_KEY_WRONG").unwrap();
    assert!(
        message.contains("Incorrect API key provided: ***"),
        "{message}"
    );
    assert!(!message.contains(&wrong), "{message}");
    // Nor one it quotes JSON-escaped (`\u0073k-...`): the redaction reads the decoded text.
    provider(
        &s,
        "escaped",
        json!({"base_url": fake.base_url(), "api_key_env": "FLOWBOX_LLM_KEY_ESCAPED", "default_model": "fake-small"}),
    )
    .await;
    let (_, run) = run_one(&s, "escapedkey", &ask("hello", "escaped"), None).await;
    let message = run["error"]["message"].as_str().unwrap();
    let escaped = std::env::var("FLOWBOX_LLM_KEY_ESCAPED").unwrap();
    assert!(
        message.contains("Incorrect API key provided: ***"),
        "{message}"
    );
    assert!(!message.contains(&escaped), "{message}");
    let (v, run) = run_one(&s, "ghost", &ask("hello", "ghost"), None).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no model provider `ghost`"),
        "{run}"
    );

    // A 429 is retried after its Retry-After (1 s; the backoff without it would be 0.5 s).
    let (v, run) = run_one(
        &s,
        "busy",
        &ask("THROTTLE t1 1\\nREPLY fine", "default"),
        None,
    )
    .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(run["output"]["answer"], "fine");
    assert_eq!(detail(&run)["llm"]["calls"][0]["attempts"], 2, "{run}");
    let sent = fake.requests().await;
    let times: Vec<f64> = sent
        .iter()
        .filter(|r| {
            r["body"]["messages"][1]["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("THROTTLE t1"))
        })
        .map(|r| r["at"].as_f64().unwrap())
        .collect();
    assert_eq!(times.len(), 2, "{sent:?}");
    assert!(
        times[1] - times[0] >= 0.95,
        "waited {} s",
        times[1] - times[0]
    );
    // A provider that keeps failing: retried, then the step fails as retryable.
    let (v, run) = run_one(&s, "down", &ask("STATUS 503", "default"), None).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(run["error"]["code"], "step_failed_retryable", "{run}");
    assert_eq!(detail(&run)["llm"]["calls"][0]["attempts"], 3, "{run}");

    // The budget: 300 tokens a day for this workflow; a long prompt spends it, the next call
    // is refused before it is sent.
    let long = "word ".repeat(300);
    let (v, _) = run_one(&s, "spender", &ask(&long, "default"), None).await;
    assert_eq!(v["status"], "completed", "{v}");
    let before = fake.requests().await.len();
    let (v, run) = run_one(&s, "spender", &ask("again", "default"), None).await;
    assert_eq!(v["status"], "failed", "{v}");
    let message = run["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("token budget of workflow `spender`") && message.contains("of 300 tokens"),
        "{message}"
    );
    assert_eq!(
        fake.requests().await.len(),
        before,
        "refused before it was sent"
    );
    // Other workflows have their own budget.
    let (v, _) = run_one(&s, "other", &ask("hi", "default"), None).await;
    assert_eq!(v["status"], "completed", "{v}");
}

async fn upload_file(
    s: &TestServer,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    s.call(
        s.http
            .post(format!("{}/v1/files", s.url))
            .query(&[("name", name)])
            .header("content-type", content_type)
            .body(bytes),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_kept_by_hash_and_read_inside_wasm() {
    let fake = FakeOpenAi::start().await;
    let s = TestServer::start(Db::Sqlite).await;
    provider(
        &s,
        "default",
        json!({"base_url": fake.base_url(), "api_key_env": KEY_ENV, "default_model": "fake-small"}),
    )
    .await;
    let pdf = std::fs::read(root().join("tests/fixtures/invoice.pdf")).unwrap();
    let docx = std::fs::read(root().join("tests/fixtures/memo.docx")).unwrap();

    // Files: named by their hash; the same bytes are the same file.
    let (status, f) = upload_file(&s, "invoice.pdf", "application/pdf", pdf.clone()).await;
    assert_eq!(status, 201, "{f}");
    let id = f["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    assert_eq!(f["size"], pdf.len());
    let (_, again) = upload_file(&s, "copy.pdf", "application/pdf", pdf.clone()).await;
    assert_eq!(again["id"], id.as_str());
    assert_eq!(
        again["name"], "invoice.pdf",
        "the first upload's name is kept"
    );
    let got = s
        .http
        .get(format!("{}/v1/files/{id}/content", s.url))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert_eq!(got.bytes().await.unwrap().to_vec(), pdf);
    let (status, v) = s.get(&format!("/v1/files/{}", "0".repeat(64))).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("file_not_found"))
    );
    let (status, v) = s.get("/v1/files/..%2Fetc").await;
    assert_error(status, &v, 404, "file_not_found");
    let (status, v) = upload_file(&s, "empty.txt", "text/plain", vec![]).await;
    assert_error(status, &v, 422, "invalid_value");
    let (status, v) = upload_file(
        &s,
        "big.bin",
        "application/octet-stream",
        vec![0; (25 << 20) + 1],
    )
    .await;
    assert_error(status, &v, 422, "invalid_value");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("at most"),
        "{v}"
    );
    let (_, d) = upload_file(
        &s,
        "memo.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        docx,
    )
    .await;

    let (status, v) = s
        .upload("file_extract", "file_extract", &["files", "llm", "records"])
        .await;
    assert_eq!(status, 201, "{v}");
    s.define_object("name: deal\nfields:\n  name: { type: text }\n  invoice: { type: file }\n  invoice_number: { type: text }\n  total: { type: number }\n")
        .await;
    s.create_record("deal", "d1", json!({"name": "Globex", "invoice": id}))
        .await;

    // The text, extracted inside the component.
    let (v, run) = run_one(
        &s,
        "read",
        "  - { id: read, action: file_extract, input: { file: \"{{ record.invoice }}\" } }\n",
        Some("d1"),
    )
    .await;
    assert_eq!(v["status"], "completed", "{v}");
    let text = run["output"]["text"].as_str().unwrap();
    for want in [
        "Invoice number: INV-2041",
        "Bill to: Globex Corporation",
        "Total due: 1250.00 EUR",
    ] {
        assert!(text.contains(want), "{want:?} not in {text:?}");
    }
    assert_eq!(run["output"]["file"]["kind"], "pdf");
    let (v, run) = run_one(
        &s,
        "memo",
        &format!(
            "  - {{ id: read, action: file_extract, input: {{ file: {} }} }}\n",
            d["id"]
        ),
        None,
    )
    .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(run["output"]["file"]["kind"], "docx");
    assert_eq!(
        run["output"]["text"],
        "Memo: renewal for Globex\nSeats:\t120 (Smith & Sons)\n"
    );

    // Then the fields of a schema, from the model, into the record.
    let (v, run) = run_one(
        &s,
        "extract",
        r#"  - id: extract
    action: file_extract
    input:
      file: "{{ record.invoice }}"
      instructions: "Extract the invoice's number and total.\nREPLY {\"answer\": {\"invoice_number\": \"INV-2041\", \"total\": 1250}, \"confidence\": 0.95}"
      schema: { type: object, properties: { invoice_number: { type: string }, total: { type: number } }, required: [invoice_number, total] }
      confidence_threshold: 0.8
      fields: { invoice_number: invoice_number, total: total }
"#,
        Some("d1"),
    )
    .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(run["output"]["answer"]["invoice_number"], "INV-2041");
    let (_, record) = s.get("/v1/records/deal/d1").await;
    assert_eq!(record["fields"]["invoice_number"], "INV-2041", "{record}");
    assert_eq!(record["fields"]["total"], 1250);
    let sent = fake.requests().await;
    let prompt = sent.last().unwrap()["body"]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.contains("Total due: 1250.00 EUR"),
        "the extracted text went to the model: {prompt}"
    );

    // A file that is not there fails as invalid input.
    let (v, run) = run_one(
        &s,
        "ghost",
        &format!(
            "  - {{ id: read, action: file_extract, input: {{ file: \"{}\" }} }}\n",
            "a".repeat(64)
        ),
        None,
    )
    .await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(run["error"]["code"], "invalid_input", "{run}");
}

/// A WAV file of `seconds` of silence, 8 kHz mono 16-bit.
fn wav(seconds: u32) -> Vec<u8> {
    let data = 8000 * 2 * seconds;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data.to_le_bytes());
    w.resize(w.len() + data as usize, 0);
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_is_transcribed_by_the_provider() {
    let fake = FakeOpenAi::start().await;
    let s = TestServer::start(Db::Sqlite).await;
    provider(
        &s,
        "default",
        json!({"base_url": fake.base_url(), "api_key_env": KEY_ENV, "default_model": "fake-small",
               "transcription_model": "fake-whisper", "max_retries": 1}),
    )
    .await;
    let (status, v) = s
        .upload(
            "audio_transcribe",
            "audio_transcribe",
            &["audio", "records"],
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (_, f) = upload_file(&s, "call.wav", "audio/wav", wav(3)).await;
    let (_, junk) = upload_file(&s, "junk.wav", "audio/wav", b"not audio".to_vec()).await;
    s.define_object(
        "name: deal\nfields:\n  recording: { type: file }\n  transcript: { type: text }\n",
    )
    .await;
    s.create_record("deal", "d1", json!({"recording": f["id"]}))
        .await;
    let step = |extra: &str| {
        format!(
            "  - {{ id: listen, action: audio_transcribe, input: {{ file: \"{{{{ record.recording }}}}\", language: en, field: transcript{extra} }} }}\n"
        )
    };
    let (v, run) = run_one(&s, "listen", &step(""), Some("d1")).await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(
        run["output"],
        json!({"text": "3 seconds of audio from call.wav", "language": "en", "duration_seconds": 3.0, "model": "fake-whisper"})
    );
    let (_, record) = s.get("/v1/records/deal/d1").await;
    assert_eq!(
        record["fields"]["transcript"],
        "3 seconds of audio from call.wav"
    );
    let call = &detail(&run)["llm"]["calls"][0];
    assert_eq!(call["kind"], "transcription", "{run}");
    assert_eq!(call["audio_seconds"], 3.0);
    let sent = fake.requests().await;
    let last = sent.last().unwrap();
    assert_eq!(last["path"], "/v1/audio/transcriptions");
    assert_eq!(last["body"]["model"], "fake-whisper");
    assert_eq!(last["body"]["response_format"], "verbose_json");
    assert_eq!(last["body"]["file"]["size"], wav(3).len());
    assert!(
        last["headers"]["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ")
    );

    // Audio the provider cannot decode fails the step as invalid input; a provider that keeps
    // failing fails it as retryable.
    s.create_record("deal", "d2", json!({"recording": junk["id"]}))
        .await;
    let (v, run) = run_one(&s, "listen", &step(""), Some("d2")).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(run["error"]["code"], "invalid_input", "{run}");
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be decoded"),
        "{run}"
    );
    let (v, run) = run_one(
        &s,
        "listen-down",
        &step(", prompt: \"STATUS 502\""),
        Some("d1"),
    )
    .await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(run["error"]["code"], "step_failed_retryable", "{run}");
    assert_eq!(detail(&run)["llm"]["calls"][0]["attempts"], 2, "{run}");
}
