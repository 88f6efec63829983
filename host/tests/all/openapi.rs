//! The OpenAPI description at `/openapi.json` is the API: every served route is in it with the
//! role it needs (and nothing else is), and real answers have the shapes it describes, key by
//! key.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::auth::ROUTES;
use crate::common::{Db, TestServer};

/// Follow `$ref`s to the schema they name.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The properties a schema gives an object, and which are required (merging `allOf`).
fn properties(spec: &Value, schema: &Value) -> (serde_json::Map<String, Value>, BTreeSet<String>) {
    let schema = resolve(spec, schema);
    let mut props = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut required: BTreeSet<String> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r) = properties(spec, part);
        props.extend(p);
        required.extend(r);
    }
    (props, required)
}

/// Check `value` against `schema`: an object has only properties the schema lists, and all the
/// required ones; each scalar has the schema's type (and a `date-time` is RFC 3339); a `oneOf`
/// or `anyOf` holds when one of its variants does; nested objects and lists likewise. `path`
/// says where.
fn assert_shape(spec: &Value, schema: &Value, value: &Value, path: &str) {
    let errors = shape_errors(spec, schema, value, path);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// What in `value` does not fit `schema` (empty when it fits).
fn shape_errors(spec: &Value, schema: &Value, value: &Value, path: &str) -> Vec<String> {
    let schema = resolve(spec, schema);
    if let Some(variants) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let tried: Vec<Vec<String>> = variants
            .iter()
            .map(|v| shape_errors(spec, v, value, path))
            .collect();
        if tried.iter().any(Vec::is_empty) {
            return vec![];
        }
        return vec![format!(
            "{path}: fits none of its {} variants: {}",
            variants.len(),
            tried.concat().join("; ")
        )];
    }
    let mut errors = vec![];
    // `type` is a name or (OpenAPI 3.1) a list of names; absent means any JSON.
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let fits = |t: &str| match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !types.is_empty() && !types.iter().any(|t| fits(t)) {
        return vec![format!("{path}: {value} is not {}", types.join(" or "))];
    }
    if schema["format"] == "date-time"
        && let Some(text) = value.as_str()
        && chrono::DateTime::parse_from_rfc3339(text).is_err()
    {
        errors.push(format!("{path}: `{text}` is not an RFC 3339 date-time"));
    }
    match value {
        Value::Object(map) => {
            let (props, required) = properties(spec, schema);
            let extra = &schema["additionalProperties"];
            if props.is_empty() {
                // A map: each value fits `additionalProperties` (absent or `true`: any JSON).
                if extra.is_object() {
                    for (k, v) in map {
                        errors.extend(shape_errors(spec, extra, v, &format!("{path}.{k}")));
                    }
                }
                return errors;
            }
            let undescribed: Vec<&String> =
                map.keys().filter(|k| !props.contains_key(*k)).collect();
            let missing: Vec<&String> = required.iter().filter(|k| !map.contains_key(*k)).collect();
            if !undescribed.is_empty() || !missing.is_empty() {
                errors.push(format!(
                    "{path}: answered but not described: {undescribed:?}; described as required but missing: {missing:?}"
                ));
            }
            for (k, v) in map {
                if let Some(p) = props.get(k) {
                    errors.extend(shape_errors(spec, p, v, &format!("{path}.{k}")));
                }
            }
        }
        Value::Array(items) => {
            let item_schema = &schema["items"];
            if !item_schema.is_null() {
                for (i, item) in items.iter().enumerate() {
                    errors.extend(shape_errors(
                        spec,
                        item_schema,
                        item,
                        &format!("{path}[{i}]"),
                    ));
                }
            }
        }
        _ => {}
    }
    errors
}

/// The checker itself catches what it claims to: a wrong scalar type, a value that fits no
/// variant, a missing required key, a key not described, a time that is not RFC 3339.
#[test]
fn the_shape_check_fails_on_what_it_names() {
    let spec = json!({"components": {"schemas": {"Row": {
        "type": "object",
        "required": ["n"],
        "properties": {
            "n": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "v": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["k"], "properties": {"k": {"type": "string"}}}]}
        }
    }}}});
    let row = json!({"$ref": "#/components/schemas/Row"});
    let fits = |v: Value| shape_errors(&spec, &row, &v, "row").is_empty();
    assert!(fits(
        json!({"n": 1, "at": "2026-01-01T00:00:00.000Z", "v": null})
    ));
    assert!(fits(json!({"n": 1, "v": {"k": "x"}})));
    assert!(!fits(json!({"n": "1"})), "a string for an integer");
    assert!(!fits(json!({"n": 1, "v": {"k": 2}})), "fits no variant");
    assert!(
        !fits(json!({"n": 1, "v": {}})),
        "the variant's required key is missing"
    );
    assert!(!fits(json!({"at": "2026-01-01T00:00:00Z"})), "missing `n`");
    assert!(!fits(json!({"n": 1, "extra": true})), "a key not described");
    assert!(
        !fits(json!({"n": 1, "at": 1764547200000_i64})),
        "epoch ms for a time"
    );
    assert!(!fits(json!({"n": 1, "at": "yesterday"})), "not RFC 3339");
}

/// The schema of an operation's answer with `status`.
fn answer_schema<'a>(spec: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let op = &spec["paths"][path][method.to_lowercase()];
    let schema = &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} describes no {status} answer"
    );
    schema
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_lists_every_route_with_its_role() {
    let s = TestServer::start(Db::Sqlite).await;
    let resp = s
        .http
        .get(format!("{}/openapi.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "served without a token");
    let spec: Value = resp.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        spec["components"]["securitySchemes"]["token"]["scheme"],
        "bearer"
    );

    let start = &spec["paths"]["/v1/workflows/{name}/executions"]["post"]["requestBody"];
    assert_ne!(
        start["required"], true,
        "the start body is optional: {start}"
    );
    // Every `$ref` names a schema the description has.
    let text = spec.to_string();
    let dangling: BTreeSet<&str> = text
        .split("\"$ref\":\"#/components/schemas/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| spec["components"]["schemas"][*name].is_null())
        .collect();
    assert!(dangling.is_empty(), "dangling $refs: {dangling:?}");

    // docs/api.md names every described path (followed by a space, `?`, a backtick...).
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).unwrap();
    let undocumented: Vec<&String> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|path| {
            !docs.match_indices(path.as_str()).any(|(at, p)| {
                docs[at + p.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| !(c.is_alphanumeric() || "/{_-".contains(c)))
            })
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/api.md: {undocumented:?}"
    );

    let mut described = BTreeSet::new();
    let mut operation_ids = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty() && operation_ids.insert(id.to_string()),
                "{method} {path}: operationId `{id}` is missing or not unique"
            );
            let roles: Vec<String> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["token"].as_array().cloned().unwrap_or_default())
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect();
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} describes no answer"
            );
            described.insert((method, path.clone(), roles));
        }
    }
    let mut expected: BTreeSet<(String, String, Vec<String>)> = ROUTES
        .iter()
        .map(|(m, p, role)| (m.to_string(), p.to_string(), vec![role.to_string()]))
        .collect();
    // Webhooks check their own secret, not an API token.
    expected.insert(("GET".into(), "/hooks/{token}".into(), vec![]));
    expected.insert(("POST".into(), "/hooks/{token}".into(), vec![]));
    let missing: Vec<_> = expected.difference(&described).collect();
    let extra: Vec<_> = described.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes and description differ:\n  served but not described (or another role): {missing:?}\n  described but not in the route list: {extra:?}"
    );
    // And every described route is served: without a token, a 401, not a 404 or 405.
    for (method, path, roles) in &described {
        if roles.is_empty() {
            continue;
        }
        let url = format!("{}{}", s.url, path.replace(['{', '}'], ""));
        let req = s
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        let status = req.send().await.unwrap().status().as_u16();
        assert_eq!(status, 401, "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_have_the_described_shapes() {
    let s = TestServer::start(Db::Sqlite).await;
    let (_, spec) = s.get("/openapi.json").await;
    let check = |method: &str, path: &str, want: u16, status: u16, value: &Value| {
        assert_eq!(status, want, "{method} {path}: {value}");
        assert_shape(
            &spec,
            answer_schema(&spec, method, path, status),
            value,
            &format!("{method} {path}"),
        );
    };
    let (status, v) = s.upload("increment", "increment", &[]).await;
    check("PUT", "/v1/steps/{name}", 201, status, &v);
    let (status, v) = s.get("/v1/steps").await;
    check("GET", "/v1/steps", 200, status, &v);

    let deal = "name: deal\nfields:\n  amount: { type: number }\n  stage: { type: stage, stages: [a, b] }\n";
    let (status, v) = s.post_raw("/v1/objects", deal).await;
    check("POST", "/v1/objects", 201, status, &v);
    let (status, v) = s.get("/v1/objects").await;
    check("GET", "/v1/objects", 200, status, &v);
    let (status, v) = s
        .post(
            "/v1/records/deal",
            json!({"id": "d1", "fields": {"amount": 1, "stage": "a"}}),
        )
        .await;
    check("POST", "/v1/records/{object}", 201, status, &v);
    let (status, v) = s.patch("/v1/records/deal/d1", json!({"stage": "b"})).await;
    check("PATCH", "/v1/records/{object}/{id}", 200, status, &v);
    let (status, v) = s.get("/v1/records/deal?limit=1").await;
    check("GET", "/v1/records/{object}", 200, status, &v);
    let (status, v) = s
        .post("/v1/records/deal/d1/activities", json!({"type": "call"}))
        .await;
    check(
        "POST",
        "/v1/records/{object}/{id}/activities",
        201,
        status,
        &v,
    );
    let (status, v) = s
        .post(
            "/v1/records/deal/import",
            json!({"records": [{"id": "d2", "fields": {}}, {"fields": {"amount": "x"}}]}),
        )
        .await;
    check("POST", "/v1/records/{object}/import", 200, status, &v);

    s.apply("name: seq\nsteps:\n  - { id: a, action: increment }\n")
        .await;
    s.apply("name: hooked\nscope: { object: deal }\ntriggers:\n  - field_updated: { field: amount }\n  - webhook: { record: { id: \"$.body.id\" } }\nsteps:\n  - { id: s, stop: {} }\n").await;
    let (status, v) = s.get("/v1/workflows").await;
    check("GET", "/v1/workflows", 200, status, &v);
    let (status, v) = s
        .post(
            "/v1/workflows/seq/executions?wait=10",
            json!({"input": {"n": 1}}),
        )
        .await;
    check("POST", "/v1/workflows/{name}/executions", 200, status, &v);
    let id = v["id"].as_str().unwrap().to_string();
    let (status, v) = s.get(&format!("/v1/executions/{id}")).await;
    check("GET", "/v1/executions/{id}", 200, status, &v);
    assert!(!v["steps"].as_array().unwrap().is_empty());
    let (status, v) = s.get("/v1/executions?limit=5").await;
    check("GET", "/v1/executions", 200, status, &v);
    let (status, v) = s.get("/v1/workflows/hooked/webhooks").await;
    check("GET", "/v1/workflows/{name}/webhooks", 200, status, &v);
    let hook = format!("{}{}", s.url, v["webhooks"][0]["path"].as_str().unwrap());
    let secret = v["webhooks"][0]["secret"].as_str().unwrap().to_string();
    let resp = s
        .http
        .post(hook)
        .header("x-flowbox-secret", secret)
        .json(&json!({"id": "d1"}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap();
    check("POST", "/hooks/{token}", 202, status, &v);
    // Until the webhook's execution ends, d1 is in `hooked`: a trigger start would be skipped
    // (re-entry), and the event below would start nothing.
    s.until_status(
        v["execution_id"].as_str().unwrap(),
        "completed",
        Duration::from_secs(10),
    )
    .await;

    s.patch("/v1/records/deal/d1", json!({"amount": 2})).await;
    s.engine.evaluate_events().await.unwrap();
    let (status, v) = s.get("/v1/records/deal/d1/events").await;
    check("GET", "/v1/records/{object}/{id}/events", 200, status, &v);
    let triggered = v["events"][0]["outcome"]["started"][0]["execution"]
        .as_str()
        .unwrap()
        .to_string();
    let watcher = v["events"][0]["outcome"]["started"][0]["workflow"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, v) = s
        .get(&format!("/v1/events?workflow={watcher}&limit=1"))
        .await;
    check("GET", "/v1/events", 200, status, &v);
    assert_eq!(v["events"][0]["verdict"]["result"], "started", "{v}");
    let v = s
        .until_status(&triggered, "completed", Duration::from_secs(10))
        .await;
    check("GET", "/v1/executions/{id}", 200, 200, &v);
    let (status, v) = s.get("/v1/tokens").await;
    check("GET", "/v1/tokens", 200, status, &v);
    let (status, v) = s.get("/v1/records/deal/nope").await;
    check("GET", "/v1/records/{object}/{id}", 404, status, &v);
}
