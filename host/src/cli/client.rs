//! Commands that talk to a running server: apply a workflow, run one, show an execution,
//! control executions, upload a step module.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::{EXIT_INTERNAL, EXIT_STEP_FAILED, EXIT_USAGE, Failure};

#[derive(Debug, Args)]
pub(super) struct ServerArg {
    /// The flowbox server.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8080",
        env = "FLOWBOX_SERVER"
    )]
    server: String,
    /// The API token.
    #[arg(long, global = true, env = "FLOWBOX_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(super) enum WorkflowCommand {
    /// Save a workflow definition (JSON or YAML); prints its name and version.
    Apply {
        /// The definition file.
        file: PathBuf,
    },
    /// Check a definition as `apply` would (its text, the step modules, workflows and object
    /// fields it names), and save nothing; exits non-zero with every problem if it would not save.
    Validate {
        /// The definition file.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// The workflow's name.
    workflow: String,
    /// The execution's input, JSON.
    #[arg(long, default_value = "{}")]
    input: String,
    /// The record to run on (record-scoped workflows).
    #[arg(long)]
    record: Option<String>,
    /// Seconds to wait for the execution to finish (0: return once it is recorded).
    #[arg(long, default_value_t = 30.0)]
    wait: f64,
}

#[derive(Debug, Subcommand)]
pub(super) enum ExecutionCommand {
    /// Show an execution and its step history.
    Show {
        id: String,
        /// Print the JSON as the API returns it.
        #[arg(long)]
        json: bool,
    },
    /// List executions, newest first.
    List {
        #[arg(long)]
        workflow: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Pause an execution.
    Pause { id: String },
    /// Resume a paused execution.
    Resume { id: String },
    /// Cancel an execution.
    Cancel { id: String },
}

#[derive(Debug, Args)]
pub(super) struct UploadArgs {
    #[command(flatten)]
    server: ServerArg,
    /// The module's name (what workflows' `action` refers to).
    name: String,
    /// The component (.wasm).
    file: PathBuf,
    /// Grant a capability (log, variables, records, files, teams, email, http, llm, audio, clock); repeat for several.
    #[arg(long = "grant", value_name = "INTERFACE")]
    grants: Vec<String>,
    /// With `--grant http`: a host the module may call (`host`, `host:port`, `*.domain`);
    /// repeat for several.
    #[arg(long = "http-host", visible_alias = "allow-host", value_name = "HOST")]
    http_hosts: Vec<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn new(server: &ServerArg) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: server.server.trim_end_matches('/').to_string(),
            token: server.token.clone(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let request = match &self.token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        let response = request.send().await.map_err(|e| {
            Failure::new(
                EXIT_INTERNAL,
                format!(
                    "error: cannot reach the flowbox server at {}: {e}",
                    self.base
                ),
            )
        })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {status}"));
        let code = body["error"]["code"].as_str().unwrap_or("error");
        Err(Failure::new(
            if status.is_client_error() {
                EXIT_USAGE
            } else {
                EXIT_INTERNAL
            },
            format!("error: {message} ({code})"),
        ))
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| {
        Failure::new(
            EXIT_USAGE,
            format!("error: cannot read {}: {e}", path.display()),
        )
    })
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub(super) async fn workflow(cmd: WorkflowCommand, server: &ServerArg) -> Result<(), Failure> {
    let client = Client::new(server);
    match cmd {
        WorkflowCommand::Apply { file } => {
            let body = read(&file)?;
            let v = client
                .send(
                    client
                        .http
                        .post(format!("{}/v1/workflows", client.base))
                        .body(body),
                )
                .await?;
            let verb = if v["created"] == true {
                "saved"
            } else {
                "unchanged"
            };
            println!(
                "{} version {} ({verb})",
                v["name"].as_str().unwrap_or("?"),
                v["version"]
            );
            Ok(())
        }
        WorkflowCommand::Validate { file } => {
            let body = read(&file)?;
            let v = client
                .send(
                    client
                        .http
                        .post(format!("{}/v1/workflows/validate", client.base))
                        .body(body),
                )
                .await?;
            println!(
                "{}: valid ({} steps, {} triggers)",
                v["name"].as_str().unwrap_or("?"),
                v["steps"],
                v["triggers"]
            );
            Ok(())
        }
    }
}

pub(super) async fn run(args: RunArgs, server: &ServerArg) -> Result<(), Failure> {
    let client = Client::new(server);
    let input: Value = serde_json::from_str(&args.input)
        .map_err(|e| Failure::new(EXIT_USAGE, format!("error: --input is not JSON: {e}")))?;
    let mut body = serde_json::json!({ "input": input });
    if let Some(r) = args.record {
        body["record_id"] = Value::String(r);
    }
    let mut url = format!("{}/v1/workflows/{}/executions", client.base, args.workflow);
    if args.wait > 0.0 {
        url.push_str(&format!("?wait={}", args.wait));
    }
    let v = client.send(client.http.post(url).json(&body)).await?;
    print(&v);
    match v["status"].as_str() {
        Some("failed") | Some("cancelled") => Err(Failure::new(
            EXIT_STEP_FAILED,
            format!(
                "error: execution {} {}",
                v["id"].as_str().unwrap_or("?"),
                v["status"].as_str().unwrap_or("?")
            ),
        )),
        _ => Ok(()),
    }
}

pub(super) async fn execution(cmd: ExecutionCommand, server: &ServerArg) -> Result<(), Failure> {
    let client = Client::new(server);
    let base = &client.base;
    match cmd {
        ExecutionCommand::Show { id, json } => {
            let v = client
                .send(client.http.get(format!("{base}/v1/executions/{id}")))
                .await?;
            if json {
                print(&v);
            } else {
                show(&v);
            }
        }
        ExecutionCommand::List {
            workflow,
            status,
            limit,
        } => {
            let mut q = vec![("limit", limit.to_string())];
            q.extend(workflow.map(|w| ("workflow", w)));
            q.extend(status.map(|s| ("status", s)));
            let v = client
                .send(client.http.get(format!("{base}/v1/executions")).query(&q))
                .await?;
            for e in v["executions"].as_array().into_iter().flatten() {
                println!(
                    "{}  {:<10} {}@{}  {}",
                    e["id"].as_str().unwrap_or(""),
                    e["status"].as_str().unwrap_or(""),
                    e["workflow"].as_str().unwrap_or(""),
                    e["version"],
                    e["created_at"].as_str().unwrap_or("")
                );
            }
        }
        ExecutionCommand::Pause { id } => print(
            &client
                .send(client.http.post(format!("{base}/v1/executions/{id}/pause")))
                .await?,
        ),
        ExecutionCommand::Resume { id } => print(
            &client
                .send(
                    client
                        .http
                        .post(format!("{base}/v1/executions/{id}/resume")),
                )
                .await?,
        ),
        ExecutionCommand::Cancel { id } => print(
            &client
                .send(
                    client
                        .http
                        .post(format!("{base}/v1/executions/{id}/cancel")),
                )
                .await?,
        ),
    }
    Ok(())
}

/// An execution and its history, for a terminal.
pub(super) fn show(v: &Value) {
    let s = |v: &Value| {
        v.as_str().map(str::to_string).unwrap_or_else(|| {
            if v.is_null() {
                "-".into()
            } else {
                v.to_string()
            }
        })
    };
    println!(
        "execution {}  {}@{}  {}",
        s(&v["id"]),
        s(&v["workflow"]),
        v["version"],
        s(&v["status"]).to_uppercase()
    );
    if !v["record"].is_null() {
        println!(
            "  record:  {}/{}",
            s(&v["record"]["object"]),
            s(&v["record"]["id"])
        );
    }
    println!("  input:   {}", v["input"]);
    if !v["output"].is_null() {
        println!("  output:  {}", v["output"]);
    }
    if !v["error"].is_null() {
        println!("  error:   {}", s(&v["error"]["message"]));
    }
    if !v["wake_at"].is_null() {
        println!("  wakes:   {}", s(&v["wake_at"]));
    }
    println!(
        "  created: {}   ended: {}",
        s(&v["created_at"]),
        s(&v["ended_at"])
    );
    println!(
        "  {:>3}  {:<14} {:<15} {:<10} {:>3} {:>8}  detail",
        "#", "step", "kind", "status", "try", "ms"
    );
    for r in v["steps"].as_array().into_iter().flatten() {
        let mut detail = String::new();
        if !r["output"].is_null() {
            detail.push_str(&format!("output {} ", r["output"]));
        }
        if !r["error"].is_null() {
            detail.push_str(&format!("error: {} ", s(&r["error"]["message"])));
        }
        if !r["detail"].is_null() {
            detail.push_str(&r["detail"].to_string());
        }
        println!(
            "  {:>3}  {:<14} {:<15} {:<10} {:>3} {:>8}  {}",
            r["seq"],
            s(&r["step_id"]),
            s(&r["kind"]),
            s(&r["status"]),
            r["attempt"],
            s(&r["duration_ms"]),
            detail.trim()
        );
    }
}

pub(super) async fn upload(args: UploadArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server);
    let bytes = read(&args.file)?;
    let q: Vec<(&str, String)> = args
        .grants
        .iter()
        .map(|g| ("grant", g.clone()))
        .chain(args.http_hosts.iter().map(|h| ("http_host", h.clone())))
        .collect();
    let v = client
        .send(
            client
                .http
                .put(format!("{}/v1/steps/{}", client.base, args.name))
                .query(&q)
                .body(bytes),
        )
        .await?;
    println!(
        "step module {} = {} (grants: {})",
        s_of(&v["name"]),
        s_of(&v["hash"]),
        v["grants"]
    );
    Ok(())
}

fn s_of(v: &Value) -> String {
    v.as_str().unwrap_or("?").to_string()
}
