//! `flowbox workflow ...` and `flowbox run`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::output::{self, Format, Table, fields, flag, list, text, time};
use super::{Body, Client, ClientArgs, execution, json_arg, object_arg, read};
use crate::cli::{EXIT_FAILED, EXIT_USAGE, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum WorkflowCommand {
    /// List the workflows: latest version, enabled, kill switch.
    List,
    /// Show a workflow's definition (the latest version, or `--version N`).
    Show {
        name: String,
        #[arg(long)]
        version: Option<i64>,
    },
    /// List a workflow's versions.
    Versions { name: String },
    /// Show what changed between two versions of a workflow [default: the latest and the one
    /// before it].
    Diff {
        name: String,
        /// The older version.
        from: Option<i64>,
        /// The newer version.
        to: Option<i64>,
    },
    /// Save a workflow definition (JSON or YAML; `-` reads stdin); prints its name and version.
    Apply { file: PathBuf },
    /// Check a definition as `apply` would (its text, the step modules, workflows and object
    /// fields it names), and save nothing; exits non-zero with every problem if it would not save.
    Validate { file: PathBuf },
    /// Let triggers start the workflow again.
    Enable { name: String },
    /// Stop triggers from starting the workflow (API starts still work).
    Disable { name: String },
    /// Delete a workflow and its versions (refused while executions of it are unfinished).
    Delete { name: String },
    /// Show the workflow's schedules and date triggers: when each fires next.
    Timers { name: String },
    /// Show the workflow's webhook URLs (and, to an admin, their secrets).
    Webhooks { name: String },
    /// Give a webhook trigger a new URL and secret; the old ones stop working.
    RotateWebhook {
        name: String,
        /// The trigger's id.
        trigger: String,
    },
    /// Turn the workflow's kill switch on (its running executions pause, new starts are
    /// refused) or, with `--off`, off (they resume).
    Kill {
        name: String,
        #[arg(long)]
        off: bool,
    },
}

pub(crate) async fn workflow(cmd: WorkflowCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        WorkflowCommand::List => {
            let v = c.get(&["v1", "workflows"], &[]).await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["NAME", "VERSION", "ENABLED", "KILL SWITCH", "UPDATED"]);
                for w in v["workflows"].as_array().into_iter().flatten() {
                    t.row(vec![
                        text(&w["name"]),
                        text(&w["latest_version"]),
                        flag(&w["enabled"]),
                        if w["kill_switch"] == true {
                            "ON".into()
                        } else {
                            "off".into()
                        },
                        time(&w["updated_at"]),
                    ]);
                }
                t.print("no workflows yet: `flowbox workflow apply FILE` saves one");
            });
        }
        WorkflowCommand::Show { name, version } => {
            let q: Vec<(&str, String)> = version
                .map(|v| ("version", v.to_string()))
                .into_iter()
                .collect();
            let v = c.get(&["v1", "workflows", &name], &q).await?;
            output::emit(c.format, &v, |v| {
                println!("# {} version {}", text(&v["name"]), text(&v["version"]));
                if !v["kill_switch"].is_null() {
                    println!("# kill switch: {}", text(&v["kill_switch"]));
                }
                print!(
                    "{}",
                    serde_yaml_ng::to_string(&v["definition"]).unwrap_or_default()
                );
            });
        }
        WorkflowCommand::Versions { name } => {
            let v = c.get(&["v1", "workflows", &name, "versions"], &[]).await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["VERSION", "CREATED"]);
                for r in v["versions"].as_array().into_iter().flatten() {
                    t.row(vec![text(&r["version"]), time(&r["created_at"])]);
                }
                t.print("no versions");
            });
        }
        WorkflowCommand::Diff { name, from, to } => diff(&c, &name, from, to).await?,
        WorkflowCommand::Apply { file } => {
            let v = c
                .call(
                    Method::POST,
                    &["v1", "workflows"],
                    &[],
                    Body::Bytes(read(&file)?),
                )
                .await?;
            output::emit(c.format, &v, |v| {
                let verb = if v["created"] == true {
                    "saved"
                } else {
                    "unchanged"
                };
                println!(
                    "{} version {} ({verb})",
                    text(&v["name"]),
                    text(&v["version"])
                );
            });
        }
        WorkflowCommand::Validate { file } => {
            let v = c
                .call(
                    Method::POST,
                    &["v1", "workflows", "validate"],
                    &[],
                    Body::Bytes(read(&file)?),
                )
                .await?;
            output::emit(c.format, &v, |v| {
                println!(
                    "{}: valid ({} steps, {} triggers)",
                    text(&v["name"]),
                    text(&v["steps"]),
                    text(&v["triggers"])
                );
            });
        }
        WorkflowCommand::Enable { name } => switch_enabled(&c, &name, true).await?,
        WorkflowCommand::Disable { name } => switch_enabled(&c, &name, false).await?,
        WorkflowCommand::Delete { name } => {
            let v = c
                .call(Method::DELETE, &["v1", "workflows", &name], &[], Body::None)
                .await?;
            output::emit(c.format, &v, |v| {
                println!("deleted workflow {}", text(&v["name"]))
            });
        }
        WorkflowCommand::Timers { name } => {
            let v = c.get(&["v1", "workflows", &name, "timers"], &[]).await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["TRIGGER", "KIND", "RECORD", "NEXT"]);
                for s in v["schedules"].as_array().into_iter().flatten() {
                    t.row(vec![
                        text(&s["trigger"]),
                        "schedule".into(),
                        "-".into(),
                        time(&s["next_at"]),
                    ]);
                }
                for d in v["date_runs"].as_array().into_iter().flatten() {
                    t.row(vec![
                        text(&d["trigger"]),
                        "date".into(),
                        format!(
                            "{}/{}",
                            text(&d["record"]["object"]),
                            text(&d["record"]["id"])
                        ),
                        time(&d["run_at"]),
                    ]);
                }
                t.print("no schedules or date triggers pending");
            });
        }
        WorkflowCommand::Webhooks { name } => {
            let v = c.get(&["v1", "workflows", &name, "webhooks"], &[]).await?;
            let base = c.base.clone();
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["TRIGGER", "METHODS", "AUTH", "URL", "SECRET"]);
                for h in v["webhooks"].as_array().into_iter().flatten() {
                    t.row(vec![
                        text(&h["trigger"]),
                        list(&h["methods"]),
                        text(&h["auth"]),
                        hook_url(&base, &h["path"]),
                        text(&h["secret"]),
                    ]);
                }
                t.print("this workflow has no webhook triggers");
            });
        }
        WorkflowCommand::RotateWebhook { name, trigger } => {
            let v = c
                .call(
                    Method::POST,
                    &["v1", "workflows", &name, "webhooks", &trigger, "rotate"],
                    &[],
                    Body::None,
                )
                .await?;
            let base = c.base.clone();
            output::emit(c.format, &v, |v| {
                fields(&[
                    ("trigger", text(&v["trigger"])),
                    ("url", hook_url(&base, &v["path"])),
                    ("secret", text(&v["secret"])),
                ]);
            });
        }
        WorkflowCommand::Kill { name, off } => {
            let v = c
                .call(
                    Method::PUT,
                    &["v1", "workflows", &name, "kill-switch"],
                    &[],
                    Body::Json(json!({"on": !off})),
                )
                .await?;
            output::emit(c.format, &v, |v| {
                println!("{}: {}", name, text(&v["message"]))
            });
        }
    }
    Ok(())
}

fn hook_url(base: &reqwest::Url, path: &Value) -> String {
    match path.as_str() {
        Some(p) => format!("{}{}", base.as_str().trim_end_matches('/'), p),
        None => "-".into(),
    }
}

async fn switch_enabled(c: &Client, name: &str, on: bool) -> Result<(), Failure> {
    let v = c
        .call(
            Method::PUT,
            &["v1", "workflows", name, "enabled"],
            &[],
            Body::Json(json!({"on": on})),
        )
        .await?;
    output::emit(c.format, &v, |v| {
        let state = if v["enabled"] == true {
            "enabled"
        } else {
            "disabled"
        };
        println!("workflow {name} {state}");
    });
    Ok(())
}

async fn diff(c: &Client, name: &str, from: Option<i64>, to: Option<i64>) -> Result<(), Failure> {
    let to = match to {
        Some(v) => v,
        None => {
            let latest = c.get(&["v1", "workflows", name], &[]).await?;
            latest["version"].as_i64().unwrap_or(1)
        }
    };
    let from = from.unwrap_or(to - 1);
    if from < 1 {
        return Err(Failure::new(
            EXIT_USAGE,
            format!("error: workflow {name} has only version {to}: nothing to compare it with"),
        ));
    }
    let definition = |v: Value| serde_yaml_ng::to_string(&v["definition"]).unwrap_or_default();
    let old = definition(
        c.get(&["v1", "workflows", name], &[("version", from.to_string())])
            .await?,
    );
    let new = definition(
        c.get(&["v1", "workflows", name], &[("version", to.to_string())])
            .await?,
    );
    let d = similar::TextDiff::from_lines(&old, &new);
    let unified = d
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{name} version {from}"),
            &format!("{name} version {to}"),
        )
        .to_string();
    match c.format {
        Format::Table => {
            if unified.is_empty() {
                println!("versions {from} and {to} of {name} are the same");
            } else {
                print!("{unified}");
            }
        }
        format => output::emit(
            format,
            &json!({"name": name, "from": from, "to": to, "diff": unified}),
            |_| {},
        ),
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The workflow's name.
    workflow: String,
    /// The execution's input: JSON, or @FILE.
    #[arg(long, default_value = "{}")]
    input: String,
    /// The record to run on (record-scoped workflows).
    #[arg(long, conflicts_with_all = ["bulk_ids", "bulk_filter"])]
    record: Option<String>,
    /// Variables set before the declared ones are resolved: a JSON object, or @FILE.
    #[arg(long, conflicts_with_all = ["bulk_ids", "bulk_filter"])]
    variables: Option<String>,
    /// Seconds to wait for the execution to finish (0: return once it is recorded; at most 300).
    #[arg(long, default_value_t = 30.0)]
    wait: f64,
    /// Start one execution per record: these record ids, comma-separated (up to 10,000).
    #[arg(long, value_delimiter = ',', conflicts_with = "bulk_filter")]
    bulk_ids: Vec<String>,
    /// Start one execution per record this expression over `record` holds for.
    #[arg(long)]
    bulk_filter: Option<String>,
}

pub(crate) async fn run(args: RunArgs, client: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(client)?;
    let input = json_arg("--input", &args.input)?;
    if !args.bulk_ids.is_empty() || args.bulk_filter.is_some() {
        let mut body = json!({ "input": input });
        if let Some(filter) = args.bulk_filter {
            body["filter"] = Value::String(filter);
        } else {
            body["record_ids"] = json!(args.bulk_ids);
        }
        let v = c
            .call(
                Method::POST,
                &["v1", "workflows", &args.workflow, "executions", "bulk"],
                &[],
                Body::Json(body),
            )
            .await?;
        output::emit(c.format, &v, |v| {
            let mut t = Table::new(&["EXECUTION", "RECORD", "STATUS"]);
            for e in v["executions"].as_array().into_iter().flatten() {
                t.row(vec![
                    text(&e["id"]),
                    text(&e["record_id"]),
                    text(&e["status"]),
                ]);
            }
            for e in v["errors"].as_array().into_iter().flatten() {
                t.row(vec![
                    "-".into(),
                    text(&e["record_id"]),
                    format!(
                        "not started: {} ({})",
                        text(&e["message"]),
                        text(&e["code"])
                    ),
                ]);
            }
            t.print("no records matched: nothing started");
        });
        return Ok(());
    }
    let mut body = json!({ "input": input });
    if let Some(r) = args.record {
        body["record_id"] = Value::String(r);
    }
    if let Some(vars) = args.variables {
        body["variables"] = Value::Object(object_arg("--variables", &vars)?);
    }
    if !(args.wait.is_finite() && args.wait >= 0.0) {
        return Err(Failure::new(
            EXIT_USAGE,
            "error: --wait must be 0 or more seconds",
        ));
    }
    let q: Vec<(&str, String)> = if args.wait > 0.0 {
        vec![("wait", args.wait.to_string())]
    } else {
        Vec::new()
    };
    let v = c
        .call(
            Method::POST,
            &["v1", "workflows", &args.workflow, "executions"],
            &q,
            Body::Json(body),
        )
        .await?;
    // The start answer has no step history: show the whole execution, as `execution show`.
    let shown = match (c.format, v["id"].as_str()) {
        (Format::Table, Some(id)) => c
            .get(&["v1", "executions", id], &[])
            .await
            .unwrap_or(v.clone()),
        _ => v.clone(),
    };
    output::emit(c.format, &shown, |v| execution::show(v, false));
    match v["status"].as_str() {
        Some(status @ ("failed" | "cancelled")) => Err(Failure::new(
            EXIT_FAILED,
            format!("error: execution {} {status}", text(&v["id"])),
        )),
        _ => Ok(()),
    }
}
