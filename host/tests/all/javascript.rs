//! JavaScript code steps: the source is data, run by the prebuilt componentize-js runner
//! (target/wasm/javascript.wasm). They read inputs, variables and the record, set outputs,
//! log through `console`, fail with the user's own line numbers, are stopped by each limit, and
//! reach the network only through the allow-listed `http` (also as `fetch`).

use serde_json::{Value, json};

use crate::common::{Db, TestServer};

async fn server(hosts: &[&str]) -> TestServer {
    crate::common::with_runner(Db::Sqlite, "javascript", hosts).await
}

/// Run a one-step workflow of `code`; its step run.
async fn run_code(s: &TestServer, name: &str, code: &str, extra: &str, input: Value) -> Value {
    crate::common::run_code(s, "javascript", name, code, extra, input).await
}

fn message(run: &Value) -> String {
    run["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_steps_run_log_and_fail_on_the_users_line() {
    let s = server(&[]).await;
    s.define_object("name: deal\nfields:\n  name: { type: text }\n  amount: { type: number }\n  score: { type: number }\n")
        .await;
    s.create_record("deal", "d1", json!({"name": "Big", "amount": 21}))
        .await;
    s.apply(
        r#"
name: score
scope: { object: deal }
steps:
  - id: score
    input: { factor: 2 }
    javascript: |
      const total = record.amount * inputs.factor;
      console.log("total is", total);
      record.score = total;
      variables.seen = { by: context.step_id };
      outputs.total = total;
      outputs.name = record.name;
      outputs.when = new Date(Date.UTC(2026, 0, 2)).toISOString();
  - id: after
    javascript: |
      return { seen: variables.seen, previous: inputs };
"#,
    )
    .await;
    let v = s.run("score", json!({"record_id": "d1"})).await;
    assert_eq!(v["status"], "completed", "{v}");
    let v = s.execution(v["id"].as_str().unwrap()).await;
    let first = &v["steps"][0];
    assert_eq!(first["kind"], "javascript");
    assert_eq!(
        first["output"],
        json!({"total": 42, "name": "Big", "when": "2026-01-02T00:00:00.000Z"})
    );
    let logs = first["logs"].to_string();
    assert!(logs.contains("total is 42"), "{logs}");
    assert_eq!(
        v["steps"][1]["output"],
        json!({"seen": {"by": "score"}, "previous": first["output"]})
    );
    let (_, record) = s.get("/v1/records/deal/d1").await;
    assert_eq!(record["fields"]["score"], 42);

    // A thrown error names the user's lines; a syntax error is the input's fault.
    let run = run_code(
        &s,
        "throws",
        "function half(x) {\n  return x.y.z;\n}\nconsole.log('before');\nhalf({});\n",
        "",
        json!({}),
    )
    .await;
    assert_eq!(run["error"]["code"], "step_failed", "{run}");
    let m = message(&run);
    assert!(
        m.contains("TypeError") && m.contains("<code>:2:") && m.contains("<code>:5:"),
        "{m}"
    );
    assert!(!m.contains("app.js"), "the runner's frames are hidden: {m}");
    let m =
        crate::common::code_refused(&s, "javascript", "syntax", "let x = 1;\nlet y = = 2;\n").await;
    assert!(m.contains("SyntaxError") && m.contains("line 2"), "{m}");
    // A module import is an error the code can catch, not a trap of the whole step.
    let run = run_code(
        &s,
        "imports",
        "try {\n  await import('fs');\n} catch (e) {\n  outputs.caught = String(e.message);\n}\nconst text = \"import('x') in a string\";\noutputs.text = text;\n",
        "",
        json!({}),
    )
    .await;
    assert_eq!(run["status"], "completed", "{run}");
    let caught = run["output"]["caught"].as_str().unwrap_or_default();
    assert!(
        caught.contains("`fs`") && caught.contains("cannot import"),
        "{run}"
    );
    assert_eq!(run["output"]["text"], "import('x') in a string", "{run}");
    let run = run_code(
        &s,
        "import-uncaught",
        "await import(\"node:os\");\n",
        "",
        json!({}),
    )
    .await;
    assert_eq!(run["error"]["code"], "step_failed", "{run}");
    assert!(message(&run).contains("cannot import"), "{run}");
    let run = run_code(&s, "bigint", "outputs.b = 10n;\n", "", json!({})).await;
    assert!(message(&run).contains("outputs.b"), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_steps_are_stopped_by_each_limit() {
    let s = server(&[]).await;
    let run = run_code(
        &s,
        "spin-time",
        "while (true) {}\n",
        "    limits: { timeout: 2s, fuel: 1000000000000 }\n",
        json!({}),
    )
    .await;
    assert_eq!(run["error"]["code"], "deadline_exceeded", "{run}");
    let run = run_code(
        &s,
        "spin-fuel",
        "while (true) {}\n",
        "    limits: { fuel: 2000000000 }\n",
        json!({}),
    )
    .await;
    assert_eq!(run["error"]["code"], "fuel_exhausted", "{run}");
    let run = run_code(
        &s,
        "hoard",
        "const xs = [];\nwhile (true) { xs.push(new Uint8Array(1 << 20)); }\n",
        "    limits: { memory_mb: 128 }\n",
        json!({}),
    )
    .await;
    assert_eq!(run["error"]["code"], "memory_limit", "{run}");
    let run = run_code(&s, "fine", "outputs.ok = true;\n", "", json!({})).await;
    assert_eq!(run["output"], json!({"ok": true}), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_reaches_only_allow_listed_hosts() {
    let (port, received) = crate::actions::receiver().await;
    let host = format!("127.0.0.1:{port}");
    let s = server(&[&host]).await;
    let code = format!(
        "const r = http.post('http://{host}/orders', {{ json: {{ sku: inputs.sku }} }});\nconst f = await fetch('http://{host}/again');\noutputs.status = r.status;\noutputs.body = r.json();\noutputs.fetched = f.status;\n"
    );
    let run = run_code(&s, "order", &code, "", json!({"sku": "A-1"})).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["output"],
        json!({"status": 201, "body": {"order": 42}, "fetched": 201})
    );
    {
        let got = received.lock().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].2, json!({"sku": "A-1"}));
        assert!(
            got[1].1.as_deref().unwrap().ends_with("/code/2"),
            "{:?}",
            got[1].1
        );
    }
    let run = run_code(
        &s,
        "elsewhere",
        &format!("http.get('http://localhost:{port}/');\n"),
        "",
        json!({}),
    )
    .await;
    assert!(
        message(&run).contains("not on this module's allow-list"),
        "{run}"
    );
    assert_eq!(received.lock().unwrap().len(), 2);
}
