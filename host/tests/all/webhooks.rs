//! Webhook triggers over HTTP, on SQLite and PostgreSQL: each on its own URL, authenticated by
//! its secret or an HMAC signature; JSON, form, XML, text and CSV bodies and the query string;
//! values picked with JSONPath; records found by id or a unique field.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{Db, TestServer, assert_error, on_both_databases};

on_both_databases!(
    a_webhook_starts_its_workflow_with_what_the_call_carries,
    hmac_signatures_are_checked,
    every_body_kind_and_the_query_string,
    record_scoped_webhooks_find_their_record,
);

const INBOUND: &str = r#"
name: inbound
triggers:
  - id: orders
    webhook:
      variables: { email: "$.body.customer.email", qty: "$.body.items[0].qty", src: "$.query.src" }
steps:
  - { id: done, stop: { output: { email: "{{ vars.email }}", qty: "{{ vars.qty }}", src: "{{ vars.src }}" } } }
"#;

async fn hook(s: &TestServer, workflow: &str) -> (String, String) {
    let (status, v) = s.get(&format!("/v1/workflows/{workflow}/webhooks")).await;
    assert_eq!(status, 200, "{v}");
    let w = &v["webhooks"][0];
    (
        format!("{}{}", s.url, w["path"].as_str().unwrap()),
        w["secret"].as_str().unwrap().to_string(),
    )
}

/// Call a webhook (without an API token).
async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("the answer is not JSON ({status}): {text:?}"));
    (status, body)
}

fn sign(secret: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(data);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn finished(s: &TestServer, answer: &Value) -> Value {
    let id = answer["execution_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    s.until_status(id, "completed", std::time::Duration::from_secs(10))
        .await
}

async fn a_webhook_starts_its_workflow_with_what_the_call_carries(db: Db) {
    let s = TestServer::start(db).await;
    s.apply(INBOUND).await;
    let (url, secret) = hook(&s, "inbound").await;
    assert!(url.len() > 60, "an unguessable URL: {url}");
    let body = json!({"customer": {"email": "ada@x.io"}, "items": [{"qty": 3}]});
    let (status, v) = call(
        s.http
            .post(format!("{url}?src=shop"))
            .header("x-flowbox-secret", &secret)
            .json(&body),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["workflow"], "inbound");
    let done = finished(&s, &v).await;
    assert_eq!(
        done["output"],
        json!({"email": "ada@x.io", "qty": 3, "src": "shop"})
    );
    assert_eq!(done["input"]["body"], body);
    assert_eq!(done["cause"]["kind"], "webhook");
    assert_eq!(done["cause"]["trigger"], "orders");

    // Refusals, each with its own answer.
    let post = || s.http.post(&url).json(&body);
    let (status, v) = call(post()).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "{v}"
    );
    let (status, v) = call(post().header("x-flowbox-secret", "whsec_wrong")).await;
    assert_error(status, &v, 401, "unauthorized");
    let (status, v) = call(post().header("authorization", format!("Bearer {}", s.admin))).await;
    assert_error(status, &v, 401, "unauthorized"); // an API token is not the webhook's secret
    let (status, v) = call(s.http.get(&url).header("x-flowbox-secret", &secret)).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{v}"
    );
    let (status, v) = call(
        s.http
            .post(&url)
            .header("x-flowbox-secret", &secret)
            .header("content-type", "application/json")
            .body("{\"customer\": "),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("invalid_body")),
        "{v}"
    );
    let (status, v) = call(
        s.http
            .post(format!("{}/hooks/0123456789abcdef", s.url))
            .header("x-flowbox-secret", &secret)
            .json(&body),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("webhook_not_found")),
        "{v}"
    );

    // The URL outlives new versions; rotating replaces it and the secret.
    s.apply(&INBOUND.replace("id: done", "id: finished")).await;
    assert_eq!(hook(&s, "inbound").await.0, url);
    let (status, rotated) = s
        .post("/v1/workflows/inbound/webhooks/orders/rotate", json!({}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let (status, v) = call(post().header("x-flowbox-secret", &secret)).await;
    assert_error(status, &v, 404, "webhook_not_found"); // the old URL is gone
    let (new_url, new_secret) = hook(&s, "inbound").await;
    assert_ne!(new_url, url);
    let (status, v) = call(
        s.http
            .post(&new_url)
            .header("x-flowbox-secret", &new_secret)
            .json(&body),
    )
    .await;
    assert_eq!(status, 202, "{v}");

    // Switched off: the call is refused, saying so.
    s.put("/v1/workflows/inbound/enabled", json!({"on": false}))
        .await;
    let (status, v) = call(
        s.http
            .post(&new_url)
            .header("x-flowbox-secret", &new_secret)
            .json(&body),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("workflow_off")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("switched off"),
        "{v}"
    );

    // Bad webhook definitions are refused where they are wrong.
    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: bad\ntriggers:\n  - webhook: { methods: [PUT], auth: magic, variables: { x: \"$$[\" } }\nsteps:\n  - { id: s, stop: {} }\n",
        )
        .await;
    assert_error(status, &v, 422, "invalid_definition");
    let paths: Vec<&str> = v["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "triggers[0].webhook.methods",
            "triggers[0].webhook.methods",
            "triggers[0].webhook.auth",
            "triggers[0].webhook.variables.x"
        ],
        "{v}"
    );
}

async fn hmac_signatures_are_checked(db: Db) {
    let s = TestServer::start(db).await;
    s.apply(
        r#"
name: signed
triggers:
  - webhook: { methods: [GET, POST], auth: hmac, variables: { n: "$.body.n", q: "$.query.q" } }
steps:
  - { id: done, stop: { output: { n: "{{ vars.n }}", q: "{{ vars.q }}" } } }
"#,
    )
    .await;
    let (url, secret) = hook(&s, "signed").await;
    let body = br#"{"n": 7}"#;
    let (status, v) = call(
        s.http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-flowbox-signature", sign(&secret, body))
            .body(body.to_vec()),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(finished(&s, &v).await["output"], json!({"n": 7, "q": null}));
    // A body changed after signing, a wrong key, a garbled header, none at all.
    for sig in [
        Some(sign(&secret, br#"{"n": 8}"#)),
        Some(sign("whsec_other", body)),
        Some("sha256=zz".to_string()),
        None,
    ] {
        let mut req = s
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(sig) = &sig {
            req = req.header("x-flowbox-signature", sig);
        }
        let (status, v) = call(req).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{sig:?}: {v}"
        );
    }
    // GET: the query string is signed.
    let (status, v) = call(
        s.http
            .get(format!("{url}?q=hello"))
            .header("x-flowbox-signature", sign(&secret, b"q=hello")),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(
        finished(&s, &v).await["output"],
        json!({"n": null, "q": "hello"})
    );
    let (status, v) = call(
        s.http
            .get(format!("{url}?q=other"))
            .header("x-flowbox-signature", sign(&secret, b"q=hello")),
    )
    .await;
    assert_error(status, &v, 401, "unauthorized");
}

async fn every_body_kind_and_the_query_string(db: Db) {
    let s = TestServer::start(db).await;
    s.apply(
        r#"
name: bodies
triggers:
  - webhook:
      methods: [POST, GET]
      variables: { form: "$.body.name", xml: "$.body.order.item[1]", id: "$.body.order['@id']", csv: "$.body[1].qty", text: "$.body", q: "$.query.tag" }
steps:
  - { id: done, stop: { output: "{{ vars }}" } }
"#,
    )
    .await;
    let (url, secret) = hook(&s, "bodies").await;
    let send = |content_type: &'static str, body: &'static str| {
        s.http
            .post(&url)
            .header("x-flowbox-secret", &secret)
            .header("content-type", content_type)
            .body(body)
    };
    let cases = [
        (
            send("application/x-www-form-urlencoded", "name=Ada+L&x=1"),
            "form",
            json!("Ada L"),
        ),
        (
            send(
                "application/xml",
                r#"<order id="7"><item>nut</item><item>bolt</item></order>"#,
            ),
            "xml",
            json!("bolt"),
        ),
        (
            send("text/xml", r#"<order id="7"><item>nut</item></order>"#),
            "id",
            json!("7"),
        ),
        (
            send("text/csv", "name,qty\nnut,3\nbolt,5\n"),
            "csv",
            json!("5"),
        ),
        (
            send("text/plain", "just words"),
            "text",
            json!("just words"),
        ),
    ];
    for (req, var, want) in cases {
        let (status, v) = call(req).await;
        assert_eq!(status, 202, "{var}: {v}");
        let done = finished(&s, &v).await;
        assert_eq!(done["output"][var], want, "{var}: {done}");
    }
    let (status, v) = call(
        s.http
            .get(format!("{url}?tag=a&tag=b"))
            .header("x-flowbox-secret", &secret),
    )
    .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(
        finished(&s, &v).await["output"]["q"],
        json!(["a", "b"]),
        "a repeated key is a list"
    );
    // Malformed bodies of each kind.
    for (ct, body) in [
        ("application/xml", "<order><item></order>"),
        ("text/csv", "a,b\n1,2,3\n"),
        ("application/json", "{\"a\": [1,"),
    ] {
        let (status, v) = call(send(ct, body)).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("invalid_body")),
            "{ct}: {v}"
        );
    }
}

async fn record_scoped_webhooks_find_their_record(db: Db) {
    let s = TestServer::start(db).await;
    s.define_object(
        "name: lead\nfields:\n  email: { type: email, unique: true }\n  name: { type: text }\n",
    )
    .await;
    s.create_record("lead", "l-1", json!({"email": "ada@x.io", "name": "Ada"}))
        .await;
    s.apply(
        r#"
name: by-id
scope: { object: lead }
triggers:
  - webhook: { record: { id: "$.body.lead" } }
steps:
  - { id: done, stop: { output: { name: "{{ record.name }}" } } }
"#,
    )
    .await;
    s.apply(
        r#"
name: by-email
scope: { object: lead }
triggers:
  - webhook: { record: { field: email, value: "$.body.from" } }
steps:
  - { id: done, stop: { output: { id: "{{ record.id }}" } } }
"#,
    )
    .await;
    s.apply(
        r#"
name: by-name
scope: { object: lead }
triggers:
  - webhook: { record: { field: name, value: "$.body.name" } }
steps:
  - { id: done, stop: {} }
"#,
    )
    .await;
    let (url, secret) = hook(&s, "by-id").await;
    let post = |url: &str, secret: &str, body: Value| {
        s.http
            .post(url)
            .header("x-flowbox-secret", secret)
            .json(&body)
    };
    let (status, v) = call(post(&url, &secret, json!({"lead": "l-1"}))).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["record"], json!({"object": "lead", "id": "l-1"}));
    assert_eq!(finished(&s, &v).await["output"], json!({"name": "Ada"}));
    let (status, v) = call(post(&url, &secret, json!({"lead": "l-9"}))).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("record_not_found")),
        "{v}"
    );
    let (status, v) = call(post(&url, &secret, json!({"other": 1}))).await;
    assert_error(status, &v, 422, "webhook_no_record"); // no id in the call

    let (url, secret) = hook(&s, "by-email").await;
    let (status, v) = call(post(&url, &secret, json!({"from": "ada@x.io"}))).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(finished(&s, &v).await["output"], json!({"id": "l-1"}));
    let (status, v) = call(post(&url, &secret, json!({"from": "bob@x.io"}))).await;
    assert_error(status, &v, 404, "record_not_found");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email = bob@x.io"),
        "{v}"
    );

    let (url, secret) = hook(&s, "by-name").await;
    let (status, v) = call(post(&url, &secret, json!({"name": "Ada"}))).await;
    assert_error(status, &v, 422, "webhook_no_record");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a unique field"),
        "{v}"
    );

    let (status, v) = s
        .post_raw(
            "/v1/workflows",
            "name: bad\nscope: { object: lead }\ntriggers:\n  - webhook: {}\nsteps:\n  - { id: s, stop: {} }\n",
        )
        .await;
    assert_eq!(
        status, 422,
        "a record-scoped webhook must say where its record is: {v}"
    );
}
