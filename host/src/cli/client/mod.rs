//! Commands that talk to a running server: one module per resource, one HTTP client, one
//! way to print answers and errors.

mod admin;
pub(crate) mod config;
mod execution;
pub(crate) mod output;
mod records;
mod workflow;

use std::path::Path;

use clap::Args;
use reqwest::{Method, Url};
use serde_json::Value;

pub(crate) use admin::{
    AuditCommand, KillSwitchCommand, LoginArgs, ProviderCommand, TeamCommand, TokenCommand, audit,
    kill_switch, login, provider, team, token,
};
pub(crate) use admin::{StepServerCommand, step_server};
pub(crate) use execution::{ExecutionCommand, execution};
pub(crate) use records::{
    ActivityCommand, EventCommand, ObjectCommand, RecordCommand, activity, event, object, record,
};
pub(crate) use workflow::{RunArgs, WorkflowCommand, run, workflow};

use super::{EXIT_FAILED, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, Failure};
use output::Format;

/// Where the server is, who calls it, and how answers are printed.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    /// The flowbox server [default: the profile's, else http://127.0.0.1:8080].
    #[arg(long, global = true, env = "FLOWBOX_SERVER")]
    server: Option<String>,
    /// The API token [default: the profile's].
    #[arg(long, global = true, env = "FLOWBOX_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The profile of the config file to use (`flowbox login` writes them).
    #[arg(long, global = true, env = "FLOWBOX_PROFILE")]
    profile: Option<String>,
    /// Print the API's answer as JSON (the same as `--output json`).
    #[arg(long, global = true)]
    json: bool,
    /// How to print answers.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
}

impl ClientArgs {
    /// `flowbox login`'s check of a token.
    fn for_login(server: &str, token: &str) -> Self {
        ClientArgs {
            server: Some(server.to_string()),
            token: Some(token.to_string()),
            profile: None,
            json: false,
            output: Format::Table,
        }
    }
}

/// An API client with the server, token and output format resolved.
pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    pub(crate) format: Format,
}

/// A request body.
pub(crate) enum Body {
    None,
    Json(Value),
    Bytes(Vec<u8>),
}

impl Client {
    /// The server and token: flag or environment first, then the profile, then the default.
    pub(crate) fn new(args: &ClientArgs) -> Result<Self, Failure> {
        let config = config::load()?;
        let name = config.profile_name(args.profile.as_deref());
        let profile = config.profiles.get(&name);
        if args.profile.is_some() && profile.is_none() {
            return Err(Failure::new(
                EXIT_USAGE,
                format!(
                    "error: no profile `{name}` in the config file; `flowbox login --profile {name} --server URL` makes it"
                ),
            ));
        }
        let server = args
            .server
            .clone()
            .or_else(|| profile.map(|p| p.server.clone()))
            .unwrap_or_else(|| config::DEFAULT_SERVER.to_string());
        let token = args
            .token
            .clone()
            .or_else(|| profile.and_then(|p| p.token.clone()));
        let format = if args.json { Format::Json } else { args.output };
        Ok(Client {
            http: reqwest::Client::new(),
            base: server_url(&server)?,
            token,
            format,
        })
    }

    /// `path` as URL segments, each escaped (a name may hold any character).
    fn url(&self, path: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    pub(crate) async fn get(
        &self,
        path: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, Failure> {
        self.call(Method::GET, path, query, Body::None).await
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Body,
    ) -> Result<Value, Failure> {
        let mut request = self.http.request(method, self.url(path, query));
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        request = match body {
            Body::None => request,
            Body::Json(v) => request.json(&v),
            Body::Bytes(b) => request.body(b),
        };
        let response = request.send().await.map_err(|e| {
            let why = if e.is_connect() {
                "is it running? (--server, FLOWBOX_SERVER)".to_string()
            } else {
                e.to_string()
            };
            Failure::new(
                EXIT_UNREACHABLE,
                format!(
                    "error: cannot reach the flowbox server at {}: {why}",
                    self.base
                ),
            )
        })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        Err(api_failure(status.as_u16(), &body))
    }
}

fn server_url(server: &str) -> Result<Url, Failure> {
    let url = Url::parse(server).map_err(|e| {
        Failure::new(
            EXIT_USAGE,
            format!("error: --server `{server}` is not a URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Failure::new(
            EXIT_USAGE,
            format!("error: --server `{server}` is not an http:// or https:// URL"),
        ));
    }
    Ok(url)
}

/// The API's refusal: its message and stable code, the exit code its status means, and a
/// hint for the errors a user can fix from here.
fn api_failure(status: u16, body: &Value) -> Failure {
    // A bulk start that started nothing answers with its per-record errors instead.
    let error = if body["error"].is_object() {
        &body["error"]
    } else {
        &body["errors"][0]
    };
    let code = error["code"].as_str().unwrap_or("error");
    let message = error["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status}"));
    // A component the server will not load is refused, as `step run` says locally.
    let refused_component = matches!(
        code,
        "invalid_component"
            | "missing_export"
            | "mistyped_export"
            | "ungranted_imports"
            | "forbidden_imports"
    );
    let exit = match status {
        // A bulk start whose records are all missing is a 422 naming `record_not_found`.
        _ if code.ends_with("_not_found") => EXIT_NOT_FOUND,
        _ if refused_component => EXIT_REFUSED,
        404 => EXIT_NOT_FOUND,
        401 | 403 | 409 | 423 | 429 => EXIT_REFUSED,
        400..=499 => EXIT_USAGE,
        _ => EXIT_FAILED,
    };
    let mut text = format!("error: {message} ({code})");
    if let Some(hint) = hint(code) {
        text.push_str("\nhint: ");
        text.push_str(hint);
    }
    Failure::new(exit, text)
}

fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "unauthorized" => "pass --token, set FLOWBOX_TOKEN, or run `flowbox login`",
        "ungranted_imports" => {
            "grant them (--grant), or list them in the project's step.toml `capabilities`"
        }
        "forbidden" => {
            "this needs a token with a higher role; an admin makes one with `flowbox token create`"
        }
        "workflow_not_found" => "`flowbox workflow list` shows the workflows",
        "execution_not_found" => "`flowbox execution list` shows the executions",
        "module_not_found" => "`flowbox step list` shows the step modules",
        "object_not_found" => "`flowbox object list` shows the object types",
        "record_not_found" => "`flowbox record list OBJECT` shows the records",
        "team_not_found" => "`flowbox team list` shows the teams",
        "provider_not_found" => "`flowbox provider list` shows the LLM providers",
        "token_not_found" => "`flowbox token list` shows the tokens",
        "kill_switch_on" => {
            "`flowbox kill-switch status` and `flowbox workflow list` show which switch is on"
        }
        _ => return None,
    })
}

/// A file's bytes (`-`: stdin).
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("error: cannot read stdin: {e}")))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| {
        Failure::new(
            EXIT_USAGE,
            format!("error: cannot read {}: {e}", path.display()),
        )
    })
}

/// A JSON or YAML document from a file (`-`: stdin), as JSON.
pub(crate) fn read_document(path: &Path) -> Result<Value, Failure> {
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::new(
            EXIT_USAGE,
            format!("error: {} is not UTF-8 text", path.display()),
        )
    })?;
    serde_json::from_str(&text)
        .or_else(|_| serde_yaml_ng::from_str(&text))
        .map_err(|e| {
            Failure::new(
                EXIT_USAGE,
                format!("error: {} is neither JSON nor YAML: {e}", path.display()),
            )
        })
}

/// A JSON argument: inline text, or `@FILE` for a file's contents (JSON or YAML).
pub(crate) fn json_arg(flag: &str, text: &str) -> Result<Value, Failure> {
    if let Some(file) = text.strip_prefix('@') {
        return read_document(Path::new(file));
    }
    serde_json::from_str(text)
        .map_err(|e| Failure::new(EXIT_USAGE, format!("error: {flag} is not JSON: {e}")))
}

/// A JSON-object argument (fields, variables).
pub(crate) fn object_arg(
    flag: &str,
    text: &str,
) -> Result<serde_json::Map<String, Value>, Failure> {
    match json_arg(flag, text)? {
        Value::Object(map) => Ok(map),
        _ => Err(Failure::new(
            EXIT_USAGE,
            format!("error: {flag} must be a JSON object"),
        )),
    }
}

/// The query pairs of the options that were given.
pub(crate) fn query(pairs: &[(&'static str, Option<String>)]) -> Vec<(&'static str, String)> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (*k, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        let body =
            json!({"error": {"code": "workflow_not_found", "message": "workflow `x` not found"}});
        let f = api_failure(404, &body);
        assert_eq!(f.code, EXIT_NOT_FOUND);
        assert!(
            f.message
                .starts_with("error: workflow `x` not found (workflow_not_found)\nhint: ")
        );
        assert_eq!(api_failure(401, &Value::Null).code, EXIT_REFUSED);
        assert_eq!(api_failure(409, &Value::Null).code, EXIT_REFUSED);
        assert_eq!(api_failure(422, &Value::Null).code, EXIT_USAGE);
        assert_eq!(api_failure(500, &Value::Null).code, EXIT_FAILED);
        assert_eq!(
            api_failure(500, &Value::Null).message,
            "error: HTTP 500 (error)"
        );
    }

    #[test]
    fn path_segments_are_escaped() {
        flowbox::install_tls_provider();
        let c = Client {
            http: reqwest::Client::new(),
            base: server_url("http://h:1/base/").unwrap(),
            token: None,
            format: Format::Table,
        };
        let url = c.url(&["v1", "workflows", "a/b c"], &[("limit", "5".into())]);
        assert_eq!(
            url.as_str(),
            "http://h:1/base/v1/workflows/a%2Fb%20c?limit=5"
        );
    }
}
