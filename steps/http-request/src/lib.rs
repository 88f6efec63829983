//! `http_request`: an HTTP request to a host on the module's allow-list (grant `http` with
//! `allow_host`). Every request carries `idempotency-key: <execution>/<step>`.
//!
//! Input: `{"url", "method"?: "GET", "headers"?: {name: value}, "body"?: JSON or text,
//! "timeout_ms"?, "fail_on_status"?: true}`. A JSON body is sent as `application/json`.
//! Output: `{"status", "headers": {name: value}, "body"}` (the body parsed when it is JSON,
//! else text). With `fail_on_status` (the default), a 5xx fails the step as retryable and a 4xx
//! as permanent; a refused host or a malformed request is invalid input.

use flowbox_guest::{Context, HostError, StepError, Value, export_step, http, json};

fn run(input: Value, _ctx: &Context) -> Result<Value, StepError> {
    let url = input["url"]
        .as_str()
        .ok_or_else(|| StepError::invalid_input("`url` is required"))?;
    let method = input["method"].as_str().unwrap_or("GET");
    let mut request = http::Request::new(method, url);
    if let Some(headers) = input["headers"].as_object() {
        for (name, value) in headers {
            let value = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            request = request.header(name, &value);
        }
    }
    request = match &input["body"] {
        Value::Null => request,
        Value::String(text) => request.body(text.clone()),
        other => request.json(other),
    };
    if let Some(ms) = input["timeout_ms"].as_u64() {
        request = request.timeout_ms(ms.min(u64::from(u32::MAX)) as u32);
    }
    let response = request.send().map_err(|e| match e {
        HostError::Denied(m) | HostError::Invalid(m) => StepError::invalid_input(m),
        other => StepError::from(other),
    })?;
    let text = String::from_utf8_lossy(&response.body).into_owned();
    let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    let headers: serde_json::Map<String, Value> = response
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let output = json!({ "status": response.status, "headers": headers, "body": body });
    if input["fail_on_status"].as_bool().unwrap_or(true) {
        let message = format!("{url} answered {}: {}", response.status, output["body"]);
        match response.status {
            500..=599 => return Err(StepError::retryable(message)),
            400..=499 => return Err(StepError::permanent(message)),
            _ => {}
        }
    }
    Ok(output)
}

export_step!(run);
