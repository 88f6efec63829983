//! Python code steps: the source is data, run by the prebuilt Python component
//! (target/wasm/python.wasm, built by scripts/build-python-step.sh). They read inputs, variables
//! and the record, set outputs, print to the log, fail with the traceback of the user's own
//! lines, are stopped by each limit, and reach the network only through the allow-listed `http`.

use serde_json::{Value, json};

use crate::common::{Db, TestServer, assert_error, on_both_databases};

on_both_databases!(python_steps_read_and_write_what_they_are_given);

async fn server(db: Db, hosts: &[&str]) -> TestServer {
    crate::common::with_runner(db, "python", hosts).await
}

/// Run a one-step workflow of `code` (`extra`: more lines of the step) and return its step run.
async fn run_code(s: &TestServer, name: &str, code: &str, extra: &str, input: Value) -> Value {
    crate::common::run_code(s, "python", name, code, extra, input).await
}

fn logs(run: &Value) -> Vec<String> {
    run["logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|x| x["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn python_steps_read_and_write_what_they_are_given(db: Db) {
    let s = server(db, &[]).await;
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
    input: { factor: 2, amount: "{{ record.amount }}" }
    python: |
      import pytz, msgpack, datetime
      total = inputs["amount"] * inputs["factor"]
      print("total is", total)
      outputs.log("scoring", record.id)
      record["score"] = total
      variables["seen"] = {"by": context["step_id"]}
      when = datetime.datetime(2026, 1, 1, 12, tzinfo=pytz.utc).astimezone(pytz.timezone("Europe/Paris"))
      outputs["total"] = total
      outputs["name"] = record["name"]
      outputs["paris"] = when.isoformat()
      outputs["packed"] = msgpack.unpackb(msgpack.packb([1, "a"]))
  - id: after
    python: |
      outputs["seen"] = variables["seen"]
      outputs["previous"] = inputs
"#,
    )
    .await;
    let v = s.run("score", json!({"record_id": "d1"})).await;
    assert_eq!(v["status"], "completed", "{v}");
    let v = s.execution(v["id"].as_str().unwrap()).await;
    let first = &v["steps"][0];
    assert_eq!(first["kind"], "python", "{first}");
    assert_eq!(
        first["output"],
        json!({"total": 42, "name": "Big", "paris": "2026-01-01T13:00:00+01:00", "packed": [1, "a"]})
    );
    let lines = logs(first);
    assert!(lines.contains(&"total is 42".to_string()), "{lines:?}");
    assert!(lines.contains(&"scoring d1".to_string()), "{lines:?}");
    // A step without `input` gets the previous step's output; variables set earlier are there.
    assert_eq!(
        v["steps"][1]["output"],
        json!({"seen": {"by": "score"}, "previous": first["output"]})
    );
    let (_, record) = s.get("/v1/records/deal/d1").await;
    assert_eq!(record["fields"]["score"], 42, "{record}");

    // A write the object type refuses fails the step, naming the field, and writes nothing.
    s.apply(
        "name: bad-write\nscope: { object: deal }\nsteps:\n  - id: py\n    python: |\n      record['amount'] = 1\n      record['score'] = 'high'\n",
    )
    .await;
    let v = s.run("bad-write", json!({"record_id": "d1"})).await;
    assert_eq!(v["status"], "failed", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("InvalidRequest") && message.contains("score"),
        "{message}"
    );
    let (_, after) = s.get("/v1/records/deal/d1").await;
    assert_eq!(after["fields"], record["fields"], "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_failures_name_the_users_own_lines() {
    let s = server(Db::Sqlite, &[]).await;
    let run = run_code(
        &s,
        "raises",
        "def half(x):\n    return x / 0\n\nprint('before')\ny = half(inputs['n'])\n",
        "",
        json!({"n": 4}),
    )
    .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"]["code"], "step_failed");
    let message = run["error"]["message"].as_str().unwrap();
    for want in [
        "Traceback (most recent call last):",
        "File \"<code>\", line 5, in <module>",
        "y = half(inputs['n'])",
        "File \"<code>\", line 2, in half",
        "ZeroDivisionError: division by zero",
    ] {
        assert!(message.contains(want), "{want:?} not in:\n{message}");
    }
    assert!(
        !message.contains("app.py"),
        "the runner's frames are hidden:\n{message}"
    );
    assert!(logs(&run).contains(&"before".to_string()), "{run}");

    // A syntax error is found at save, with its line; nothing of the code runs then.
    let message =
        crate::common::code_refused(&s, "python", "syntax", "print('ran')\ny = = 2\n").await;
    assert!(
        message.contains("line 2") && message.contains("SyntaxError"),
        "{message}"
    );

    // Outputs that are not JSON are named.
    let run = run_code(&s, "bytes", "outputs['b'] = b'raw'\n", "", json!({})).await;
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outputs['b']"),
        "{run}"
    );
    // An unknown library says what there is.
    let run = run_code(&s, "numpy", "import numpy\n", "", json!({})).await;
    let message = run["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("No module named 'numpy'") && message.contains("pytz"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_steps_are_stopped_by_each_limit() {
    let s = server(Db::Sqlite, &[]).await;
    let run = run_code(
        &s,
        "spin-time",
        "while True:\n    pass\n",
        "    limits: { timeout: 2s, fuel: 1000000000000 }\n",
        json!({}),
    )
    .await;
    assert_eq!(run["error"]["code"], "deadline_exceeded", "{run}");
    let run = run_code(
        &s,
        "spin-fuel",
        "while True:\n    pass\n",
        "    limits: { fuel: 2000000000 }\n",
        json!({}),
    )
    .await;
    assert_eq!(run["error"]["code"], "fuel_exhausted", "{run}");
    let run = run_code(
        &s,
        "hoard",
        "xs = []\nwhile True:\n    xs.append('x' * 100000)\n",
        "    limits: { memory_mb: 128 }\n",
        json!({}),
    )
    .await;
    assert_eq!(run["error"]["code"], "memory_limit", "{run}");
    // The interpreter's own refusal of a huge list is an ordinary Python error.
    let run = run_code(&s, "huge", "xs = [0] * 10**10\n", "", json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]["message"].as_str().unwrap().contains("Error"),
        "{run}"
    );
    // After all that the runner still works: nothing survives from one run to the next.
    let run = run_code(&s, "fine", "outputs['ok'] = True\n", "", json!({})).await;
    assert_eq!(run["output"], json!({"ok": true}), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reaches_the_network_only_through_allow_listed_http() {
    let (port, received) = crate::actions::receiver().await;
    let host = format!("127.0.0.1:{port}");
    let s = server(Db::Sqlite, &[&host]).await;
    let code = format!(
        "import requests\nr = requests.post('http://{host}/orders', json={{'sku': inputs['sku']}})\nr.raise_for_status()\nrequests.get('http://{host}/again')\nrequests.get('http://{host}/mine', headers={{'Idempotency-Key': 'k-1'}})\noutputs['status'] = r.status_code\noutputs['body'] = r.json()\n"
    );
    s.apply(&format!(
        "name: order\nsteps:\n  - id: call\n    python: |\n{}",
        code.lines()
            .map(|l| format!("      {l}\n"))
            .collect::<String>()
    ))
    .await;
    let v = s.run("order", json!({"input": {"sku": "A-1"}})).await;
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["output"], json!({"status": 201, "body": {"order": 42}}));
    {
        let got = received.lock().unwrap();
        assert_eq!(got.len(), 3);
        let id = v["id"].as_str().unwrap();
        let keys: Vec<_> = got
            .iter()
            .map(|r| r.1.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                format!("{id}/call"),
                format!("{id}/call/2"),
                "k-1".to_string()
            ],
            "one key per request; a step's own key is kept"
        );
        assert_eq!(
            got[0].1.as_deref(),
            Some(format!("{}/call", v["id"].as_str().unwrap()).as_str())
        );
        assert_eq!(got[0].2, json!({"sku": "A-1"}));
    }
    // Another host is refused by the host; raw sockets are refused by the sandbox.
    let run = run_code(
        &s,
        "elsewhere",
        &format!("import requests\nrequests.get('http://localhost:{port}/')\n"),
        "",
        json!({}),
    )
    .await;
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not on this module's allow-list"),
        "{run}"
    );
    let run = run_code(
        &s,
        "socket",
        &format!("import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {port}))\n"),
        "",
        json!({}),
    )
    .await;
    assert!(
        run["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PermissionError"),
        "{run}"
    );
    assert_eq!(received.lock().unwrap().len(), 3, "nothing else arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_runner_needs_its_grants() {
    let s = TestServer::start(Db::Sqlite).await;
    let (status, v) = s.upload("python", "python", &["log", "variables"]).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("ungranted_imports")),
        "{v}"
    );
    let missing = v["error"]["details"]["missing"].to_string();
    for cap in ["records", "http", "clock"] {
        assert!(missing.contains(&format!("(grant: {cap})")), "{missing}");
    }
    // A python step needs its runner.
    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: p\nsteps:\n  - { id: a, python: \"outputs['x'] = 1\" }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    assert_eq!(
        v["error"]["details"][0]["path"], "steps (id \"a\").runner",
        "{v}"
    );
    assert!(
        v.to_string()
            .contains("upload target/wasm/python.wasm as PUT /v1/steps/python"),
        "{v}"
    );
    // Definitions are checked.
    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: q\nsteps:\n  - { id: a, python: \"  \", action: x, runner: \"bad name\" }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: q\nsteps:\n  - { id: a, python: \" \" }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    assert!(v.to_string().contains("the code is empty"), "{v}");
}
