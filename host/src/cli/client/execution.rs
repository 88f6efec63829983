//! `flowbox execution ...`: list, show, watch and control executions.

use std::collections::HashMap;
use std::time::Duration;

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::output::{self, Format, Table, text, time};
use super::{Body, Client, ClientArgs, query};
use crate::cli::{EXIT_FAILED, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum ExecutionCommand {
    /// Show an execution and its step history: one line per step run with its status,
    /// duration, fuel, peak memory and error, then the steps' logs.
    Show {
        id: String,
        /// Also each step's input and output.
        #[arg(long, short)]
        verbose: bool,
    },
    /// List executions, newest first.
    List {
        #[arg(long)]
        workflow: Option<String>,
        /// queued, running, waiting, paused, completed, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Of this record: OBJECT/ID.
        #[arg(long, value_name = "OBJECT/ID")]
        record: Option<String>,
        /// Created at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Created before this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// How many at most (1-1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Continue from a previous page (its `next_cursor`).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Follow an execution live: print each step as it runs and ends, until the execution
    /// ends; exits 1 if it failed or was cancelled.
    Watch {
        id: String,
        /// Seconds between looks.
        #[arg(long, default_value_t = 0.5)]
        interval: f64,
    },
    /// Pause an execution (it stops before its next step).
    Pause { id: String },
    /// Resume a paused execution.
    Resume { id: String },
    /// Cancel an execution.
    Cancel { id: String },
    /// Meet the goal an execution waits on: it takes the goal's `met` path now.
    MeetGoal {
        id: String,
        /// The goal step's id.
        step: String,
    },
}

pub(crate) async fn execution(cmd: ExecutionCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        ExecutionCommand::Show { id, verbose } => {
            let v = c.get(&["v1", "executions", &id], &[]).await?;
            output::emit(c.format, &v, |v| show(v, verbose));
        }
        ExecutionCommand::List {
            workflow,
            status,
            record,
            since,
            until,
            limit,
            cursor,
        } => {
            let (object, record_id) = match record.as_deref().map(|r| r.split_once('/')) {
                Some(Some((o, i))) => (Some(o.to_string()), Some(i.to_string())),
                Some(None) => {
                    return Err(Failure::new(
                        crate::cli::EXIT_USAGE,
                        "error: --record takes OBJECT/ID, e.g. customer/0192...",
                    ));
                }
                None => (None, None),
            };
            let q = query(&[
                ("limit", Some(limit.to_string())),
                ("workflow", workflow),
                ("status", status),
                ("record_object", object),
                ("record_id", record_id),
                ("since", since),
                ("until", until),
                ("cursor", cursor),
            ]);
            let v = c.get(&["v1", "executions"], &q).await?;
            output::emit(c.format, &v, list);
        }
        ExecutionCommand::Watch { id, interval } => return watch(&c, &id, interval).await,
        ExecutionCommand::Pause { id } => control(&c, &id, "pause").await?,
        ExecutionCommand::Resume { id } => control(&c, &id, "resume").await?,
        ExecutionCommand::Cancel { id } => control(&c, &id, "cancel").await?,
        ExecutionCommand::MeetGoal { id, step } => {
            let v = c
                .call(
                    Method::POST,
                    &["v1", "executions", &id, "goals", &step, "meet"],
                    &[],
                    Body::None,
                )
                .await?;
            output::emit(c.format, &v, |v| {
                println!(
                    "execution {}: goal {step} met, now {}",
                    text(&v["id"]),
                    text(&v["status"])
                );
            });
        }
    }
    Ok(())
}

/// A page of executions as a table (also `record executions`).
pub(crate) fn list(v: &Value) {
    let mut t = Table::new(&["ID", "WORKFLOW", "STATUS", "RECORD", "CREATED", "ENDED"]);
    for e in v["executions"].as_array().into_iter().flatten() {
        t.row(vec![
            text(&e["id"]),
            format!("{}@{}", text(&e["workflow"]), text(&e["version"])),
            text(&e["status"]),
            record_of(e),
            time(&e["created_at"]),
            time(&e["ended_at"]),
        ]);
    }
    t.print("no executions match");
    if let Some(next) = v["next_cursor"].as_str() {
        eprintln!("more: --cursor {next}");
    }
}

fn record_of(e: &Value) -> String {
    if e["record"].is_null() {
        "-".into()
    } else {
        format!(
            "{}/{}",
            text(&e["record"]["object"]),
            text(&e["record"]["id"])
        )
    }
}

async fn control(c: &Client, id: &str, verb: &str) -> Result<(), Failure> {
    let v = c
        .call(
            Method::POST,
            &["v1", "executions", id, verb],
            &[],
            Body::None,
        )
        .await?;
    output::emit(c.format, &v, |v| {
        let asked = if v["pause_requested"] == true && verb == "pause" {
            " (pauses before its next step)"
        } else if v["cancel_requested"] == true && verb == "cancel" {
            " (cancels when its running step ends)"
        } else {
            ""
        };
        println!(
            "execution {}: {}{asked}",
            text(&v["id"]),
            text(&v["status"])
        );
    });
    Ok(())
}

fn is_final(status: &Value) -> bool {
    matches!(status.as_str(), Some("completed" | "failed" | "cancelled"))
}

/// Poll the execution and print what changed: a step run that appeared or changed status,
/// and the execution's own status. JSON output prints each as one line (NDJSON).
async fn watch(c: &Client, id: &str, interval: f64) -> Result<(), Failure> {
    let interval = Duration::from_secs_f64(interval.clamp(0.05, 60.0));
    let mut seen: HashMap<i64, String> = HashMap::new();
    let mut status = String::new();
    let mut first = true;
    loop {
        let v = c.get(&["v1", "executions", id], &[]).await?;
        if first && c.format == Format::Table {
            println!(
                "execution {}  {}@{}",
                text(&v["id"]),
                text(&v["workflow"]),
                text(&v["version"])
            );
        }
        first = false;
        for r in v["steps"].as_array().into_iter().flatten() {
            let seq = r["seq"].as_i64().unwrap_or(0);
            let now = text(&r["status"]);
            if seen.get(&seq) == Some(&now) {
                continue;
            }
            seen.insert(seq, now);
            match c.format {
                Format::Table => println!("  {}", step_line(r)),
                _ => println!("{}", serde_json::to_string(r).unwrap_or_default()),
            }
        }
        let current = text(&v["status"]);
        if current != status {
            if c.format == Format::Table {
                let wake = if v["wake_at"].is_null() {
                    String::new()
                } else {
                    format!(" until {}", time(&v["wake_at"]))
                };
                println!("  -> {}{wake}", current.to_uppercase());
            }
            status = current;
        }
        if is_final(&v["status"]) {
            if c.format != Format::Table {
                println!("{}", serde_json::to_string(&v).unwrap_or_default());
            }
            if status == "completed" {
                return Ok(());
            }
            let why = v["error"]["message"]
                .as_str()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(Failure::new(
                EXIT_FAILED,
                format!("error: execution {id} {status}{why}"),
            ));
        }
        tokio::time::sleep(interval).await;
    }
}

fn step_line(r: &Value) -> String {
    let mut line = format!(
        "#{} {} ({}) {} try {}",
        text(&r["seq"]),
        text(&r["step_id"]),
        text(&r["kind"]),
        text(&r["status"]),
        text(&r["attempt"]),
    );
    if let Some(ms) = r["duration_ms"].as_i64() {
        line.push_str(&format!(" {ms} ms"));
    }
    if !r["error"].is_null() {
        line.push_str(&format!(" error: {}", text(&r["error"]["message"])));
    }
    line
}

fn bytes(v: &Value) -> String {
    match v.as_i64() {
        Some(b) if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        Some(b) if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        Some(b) => format!("{b} B"),
        None => "-".into(),
    }
}

/// An execution and its history, for a terminal.
pub(crate) fn show(v: &Value, verbose: bool) {
    println!(
        "execution {}  {}@{}  {}",
        text(&v["id"]),
        text(&v["workflow"]),
        text(&v["version"]),
        text(&v["status"]).to_uppercase()
    );
    let mut head: Vec<(&str, String)> = Vec::new();
    if !v["record"].is_null() {
        head.push(("record", record_of(v)));
    }
    head.push(("cause", cause(&v["cause"])));
    if !v["parent_id"].is_null() {
        head.push(("parent", text(&v["parent_id"])));
    }
    head.push(("input", compact(&v["input"])));
    if !v["output"].is_null() {
        head.push(("output", compact(&v["output"])));
    }
    if !v["error"].is_null() {
        let at = v["error"]["step"]
            .as_str()
            .map(|s| format!(" (step {s})"))
            .unwrap_or_default();
        head.push((
            "error",
            format!(
                "{} [{}]{at}",
                text(&v["error"]["message"]),
                text(&v["error"]["code"])
            ),
        ));
    }
    if !v["pause_reason"].is_null() {
        head.push(("paused", text(&v["pause_reason"])));
    }
    if !v["wake_at"].is_null() {
        head.push(("wakes", time(&v["wake_at"])));
    }
    head.push(("created", time(&v["created_at"])));
    head.push(("ended", time(&v["ended_at"])));
    for (k, val) in head {
        println!("  {:<8} {val}", format!("{k}:"));
    }
    let steps: Vec<&Value> = v["steps"].as_array().into_iter().flatten().collect();
    if !steps.is_empty() {
        println!();
        let mut t = Table::new(&[
            "#", "STEP", "KIND", "STATUS", "TRY", "DURATION", "FUEL", "MEMORY", "ERROR",
        ]);
        for r in &steps {
            let error = if r["error"].is_null() {
                String::new()
            } else {
                format!(
                    "{} [{}]",
                    text(&r["error"]["message"]),
                    text(&r["error"]["code"])
                )
            };
            t.row(vec![
                text(&r["seq"]),
                text(&r["step_id"]),
                text(&r["kind"]),
                text(&r["status"]),
                text(&r["attempt"]),
                r["duration_ms"]
                    .as_i64()
                    .map(|ms| format!("{ms} ms"))
                    .unwrap_or_else(|| "-".into()),
                text(&r["fuel_used"]),
                bytes(&r["memory_peak_bytes"]),
                error,
            ]);
        }
        t.print("");
    }
    let logs: Vec<(&Value, &Value)> = steps
        .iter()
        .flat_map(|r| {
            r["logs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |l| (*r, l))
        })
        .collect();
    if !logs.is_empty() {
        println!("\nlogs:");
        for (r, l) in logs {
            println!(
                "  #{} {} [{} {}] {}",
                text(&r["seq"]),
                text(&r["step_id"]),
                text(&l["level"]),
                text(&l["source"]),
                text(&l["message"])
            );
        }
    }
    if verbose {
        for r in &steps {
            println!("\n#{} {}:", text(&r["seq"]), text(&r["step_id"]));
            println!("  input:   {}", compact(&r["input"]));
            println!("  output:  {}", compact(&r["output"]));
            if !r["error"].is_null() {
                println!("  error:   {}", compact(&r["error"]));
            }
            if !r["detail"].is_null() {
                println!("  detail:  {}", compact(&r["detail"]));
            }
            println!(
                "  started: {}   ended: {}",
                time(&r["started_at"]),
                time(&r["ended_at"])
            );
        }
    }
    let notices: Vec<&Value> = v["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if !notices.is_empty() {
        println!("\nnotifications:");
        for n in notices {
            let why = n["last_error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            println!(
                "  {} {} (step {}): {} after {} attempts{why}",
                text(&n["kind"]),
                text(&n["target"]),
                text(&n["step_id"]),
                text(&n["status"]),
                text(&n["attempts"])
            );
        }
    }
}

fn compact(v: &Value) -> String {
    if v.is_null() {
        "-".into()
    } else {
        v.to_string()
    }
}

/// What started an execution, in a few words.
fn cause(c: &Value) -> String {
    match c["kind"].as_str() {
        Some("api") => format!("API call by {}", text(&c["name"])),
        Some("trigger") => {
            let event = c["event"]
                .as_i64()
                .map(|e| format!(", event {e}"))
                .unwrap_or_default();
            format!("trigger {}{event}", text(&c["trigger"]))
        }
        Some(kind) => kind.to_string(),
        None => "-".into(),
    }
}
