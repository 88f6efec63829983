//! `flowbox record|object|activity|event ...`.

use std::path::PathBuf;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::output::{self, Table, block, fields, flag, text, time};
use super::{Body, Client, ClientArgs, execution, object_arg, query, read_document};
use crate::cli::{EXIT_USAGE, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum RecordCommand {
    /// List the records of an object type, in id order.
    List {
        object: String,
        /// An expression over `record`, e.g. "record.seats > 10".
        #[arg(long)]
        filter: Option<String>,
        /// false (the default), true (only archived) or any.
        #[arg(long)]
        archived: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one record.
    Get { object: String, id: String },
    /// Create a record.
    Create {
        object: String,
        /// Its fields: a JSON object, or @FILE (JSON or YAML).
        #[arg(long, default_value = "{}")]
        fields: String,
        /// Its id [default: a new one].
        #[arg(long)]
        id: Option<String>,
    },
    /// Change some of a record's fields (a null clears one).
    Patch {
        object: String,
        id: String,
        /// The fields to change: a JSON object, or @FILE.
        #[arg(long)]
        fields: String,
    },
    /// Archive a record (it stays, with its history; lists leave it out).
    Archive { object: String, id: String },
    /// Bring an archived record back.
    Unarchive { object: String, id: String },
    /// Delete a record and its activities (its events stay).
    Delete { object: String, id: String },
    /// Import records from a file: a JSON or YAML list of `{id?, fields}` (or `{records: [...]}`),
    /// each checked and written on its own, in one transaction.
    Import {
        object: String,
        file: PathBuf,
        /// Replace the fields of records whose id exists (default: refuse them).
        #[arg(long)]
        upsert: bool,
    },
    /// A record's events (each change, with what it started), newest first.
    Events { object: String, id: String },
    /// The executions that ran on a record, newest first.
    Executions {
        object: String,
        id: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ObjectCommand {
    /// List the object types.
    List,
    /// Show an object type's fields.
    Show { name: String },
    /// Define or change an object type from a file (JSON or YAML: `name` and `fields`).
    Apply { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ActivityCommand {
    /// Log an activity on a record (or schedule one with `--due`).
    Add {
        object: String,
        id: String,
        /// Its type: call, meeting, ...
        #[arg(long = "type")]
        kind: String,
        #[arg(long)]
        subject: Option<String>,
        /// Details: a JSON value, or @FILE.
        #[arg(long)]
        details: Option<String>,
        /// RFC 3339: schedule it for then (it is not done until completed).
        #[arg(long)]
        due: Option<String>,
    },
    /// A record's activities, newest first.
    List { object: String, id: String },
    /// Mark a scheduled activity done.
    Complete { id: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum EventCommand {
    /// Events across records, newest first; with `--workflow`, each with its verdict for that
    /// workflow (why it did or did not start).
    List {
        #[arg(long)]
        workflow: Option<String>,
        #[arg(long)]
        object: Option<String>,
        /// created, updated, stage_changed, form_submitted, archived, unarchived, deleted,
        /// activity_scheduled, activity_logged, activity_past_due.
        #[arg(long)]
        kind: Option<String>,
        /// At or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Older than this event id (the previous page's `next_before`).
        #[arg(long)]
        before: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

fn record_view(v: &Value) {
    let r = if v["record"].is_object() {
        &v["record"]
    } else {
        v
    };
    fields(&[
        ("id", text(&r["id"])),
        ("object", text(&r["object"])),
        ("archived", flag(&r["archived"])),
        ("created", time(&r["created_at"])),
        ("updated", time(&r["updated_at"])),
    ]);
    block("fields", &r["fields"]);
}

fn written(v: &Value, verb: &str) {
    println!("{verb} {}/{}", text(&v["object"]), text(&v["id"]));
    if let Some(e) = v["event"].as_object() {
        let changed: Vec<&String> = e
            .get("changes")
            .and_then(Value::as_object)
            .map(|c| c.keys().collect())
            .unwrap_or_default();
        let names: Vec<&str> = changed.iter().map(|s| s.as_str()).collect();
        println!(
            "event {} ({}): {}",
            text(&e["id"]),
            text(&e["kind"]),
            if names.is_empty() {
                "-".into()
            } else {
                names.join(", ")
            }
        );
    } else if verb == "updated" {
        println!("nothing changed: no event");
    }
}

fn events_table(v: &Value) {
    let mut t = Table::new(&["ID", "AT", "KIND", "RECORD", "CHANGED", "VERDICT / OUTCOME"]);
    for e in v["events"].as_array().into_iter().flatten() {
        let changed: Vec<String> = e["changes"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        let verdict = if !e["verdict"].is_null() {
            &e["verdict"]
        } else {
            &e["outcome"]
        };
        t.row(vec![
            text(&e["id"]),
            time(&e["at"]),
            text(&e["kind"]),
            format!("{}/{}", text(&e["object"]), text(&e["record_id"])),
            if changed.is_empty() {
                "-".into()
            } else {
                changed.join(",")
            },
            text(verdict),
        ]);
    }
    t.print("no events match");
    if let Some(before) = v["next_before"].as_i64() {
        eprintln!("more: --before {before}");
    }
}

pub(crate) async fn record(cmd: RecordCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        RecordCommand::List {
            object,
            filter,
            archived,
            limit,
            cursor,
        } => {
            let q = query(&[
                ("limit", Some(limit.to_string())),
                ("filter", filter),
                ("archived", archived),
                ("cursor", cursor),
            ]);
            let v = c.get(&["v1", "records", &object], &q).await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["ID", "UPDATED", "FIELDS"]);
                for r in v["records"].as_array().into_iter().flatten() {
                    t.row(vec![
                        text(&r["id"]),
                        time(&r["updated_at"]),
                        r["fields"].to_string(),
                    ]);
                }
                t.print("no records match");
                if let Some(next) = v["next_cursor"].as_str() {
                    eprintln!("more: --cursor {next}");
                }
            });
        }
        RecordCommand::Get { object, id } => {
            let v = c.get(&["v1", "records", &object, &id], &[]).await?;
            output::emit(c.format, &v, record_view);
        }
        RecordCommand::Create { object, fields, id } => {
            let mut body = json!({ "fields": object_arg("--fields", &fields)? });
            if let Some(id) = id {
                body["id"] = Value::String(id);
            }
            let v = c
                .call(
                    Method::POST,
                    &["v1", "records", &object],
                    &[],
                    Body::Json(body),
                )
                .await?;
            output::emit(c.format, &v, |v| written(v, "created"));
        }
        RecordCommand::Patch { object, id, fields } => {
            let body = Value::Object(object_arg("--fields", &fields)?);
            let v = c
                .call(
                    Method::PATCH,
                    &["v1", "records", &object, &id],
                    &[],
                    Body::Json(body),
                )
                .await?;
            output::emit(c.format, &v, |v| written(v, "updated"));
        }
        RecordCommand::Archive { object, id } => {
            let v = c
                .call(
                    Method::POST,
                    &["v1", "records", &object, &id, "archive"],
                    &[],
                    Body::None,
                )
                .await?;
            output::emit(c.format, &v, |v| written(v, "archived"));
        }
        RecordCommand::Unarchive { object, id } => {
            let v = c
                .call(
                    Method::POST,
                    &["v1", "records", &object, &id, "unarchive"],
                    &[],
                    Body::None,
                )
                .await?;
            output::emit(c.format, &v, |v| written(v, "unarchived"));
        }
        RecordCommand::Delete { object, id } => {
            let v = c
                .call(
                    Method::DELETE,
                    &["v1", "records", &object, &id],
                    &[],
                    Body::None,
                )
                .await?;
            output::emit(c.format, &v, |_| println!("deleted {object}/{id}"));
        }
        RecordCommand::Import {
            object,
            file,
            upsert,
        } => {
            let records = match read_document(&file)? {
                Value::Array(items) => Value::Array(items),
                Value::Object(mut map) if map.get("records").is_some_and(Value::is_array) => {
                    map.remove("records").unwrap_or_default()
                }
                _ => {
                    return Err(Failure::new(
                        EXIT_USAGE,
                        format!(
                            "error: {} holds neither a list of records nor {{records: [...]}}",
                            file.display()
                        ),
                    ));
                }
            };
            let mode = if upsert { "upsert" } else { "create" };
            let body = json!({ "mode": mode, "records": records });
            let v = c
                .call(
                    Method::POST,
                    &["v1", "records", &object, "import"],
                    &[],
                    Body::Json(body),
                )
                .await?;
            output::emit(c.format, &v, |v| {
                println!(
                    "created {}, updated {}, unchanged {}, failed {}",
                    text(&v["created"]),
                    text(&v["updated"]),
                    text(&v["unchanged"]),
                    text(&v["failed"])
                );
                for r in v["results"].as_array().into_iter().flatten() {
                    if r["status"] == "failed" {
                        println!(
                            "  #{}: {} [{}]",
                            text(&r["index"]),
                            text(&r["error"]["message"]),
                            text(&r["error"]["code"])
                        );
                    }
                }
            });
            if v["failed"].as_i64().unwrap_or(0) > 0 {
                return Err(Failure::new(
                    crate::cli::EXIT_FAILED,
                    format!(
                        "error: {} of the records were not imported",
                        text(&v["failed"])
                    ),
                ));
            }
        }
        RecordCommand::Events { object, id } => {
            let v = c
                .get(&["v1", "records", &object, &id, "events"], &[])
                .await?;
            output::emit(c.format, &v, events_table);
        }
        RecordCommand::Executions { object, id, limit } => {
            let q = vec![
                ("record_object", object),
                ("record_id", id),
                ("limit", limit.to_string()),
            ];
            let v = c.get(&["v1", "executions"], &q).await?;
            output::emit(c.format, &v, execution::list);
        }
    }
    Ok(())
}

pub(crate) async fn object(cmd: ObjectCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    let fields_table = |v: &Value| {
        let mut t = Table::new(&["FIELD", "TYPE", "REQUIRED", "UNIQUE", "DETAIL"]);
        for (name, f) in v["fields"].as_object().into_iter().flatten() {
            let mut detail = f.clone();
            if let Some(m) = detail.as_object_mut() {
                for k in ["type", "required", "unique"] {
                    m.remove(k);
                }
            }
            let detail = if detail.as_object().is_some_and(|m| m.is_empty()) {
                "-".into()
            } else {
                detail.to_string()
            };
            t.row(vec![
                name.clone(),
                text(&f["type"]),
                flag(&f["required"]),
                flag(&f["unique"]),
                detail,
            ]);
        }
        t.print("no fields");
    };
    match cmd {
        ObjectCommand::List => {
            let v = c.get(&["v1", "objects"], &[]).await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["NAME", "FIELDS"]);
                for o in v["objects"].as_array().into_iter().flatten() {
                    let names: Vec<String> = o["fields"]
                        .as_object()
                        .map(|f| f.keys().cloned().collect())
                        .unwrap_or_default();
                    t.row(vec![text(&o["name"]), names.join(", ")]);
                }
                t.print("no object types yet: `flowbox object apply FILE` defines one");
            });
        }
        ObjectCommand::Show { name } => {
            let v = c.get(&["v1", "objects", &name], &[]).await?;
            output::emit(c.format, &v, |v| {
                println!("object {}", text(&v["name"]));
                fields_table(v);
            });
        }
        ObjectCommand::Apply { file } => {
            let body = read_document(&file)?;
            let v = c
                .call(Method::POST, &["v1", "objects"], &[], Body::Json(body))
                .await?;
            output::emit(c.format, &v, |v| {
                println!("object {} saved", text(&v["name"]));
                fields_table(v);
            });
        }
    }
    Ok(())
}

fn activity_view(v: &Value) {
    fields(&[
        ("id", text(&v["id"])),
        ("type", text(&v["type"])),
        ("subject", text(&v["subject"])),
        ("status", text(&v["status"])),
        ("due", time(&v["due_at"])),
        ("done", time(&v["done_at"])),
    ]);
}

pub(crate) async fn activity(cmd: ActivityCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        ActivityCommand::Add {
            object,
            id,
            kind,
            subject,
            details,
            due,
        } => {
            let mut body = json!({ "type": kind });
            if let Some(s) = subject {
                body["subject"] = Value::String(s);
            }
            if let Some(d) = details {
                body["details"] = super::json_arg("--details", &d)?;
            }
            if let Some(due) = due {
                body["due_at"] = Value::String(due);
            }
            let v = c
                .call(
                    Method::POST,
                    &["v1", "records", &object, &id, "activities"],
                    &[],
                    Body::Json(body),
                )
                .await?;
            output::emit(c.format, &v, activity_view);
        }
        ActivityCommand::List { object, id } => {
            let v = c
                .get(&["v1", "records", &object, &id, "activities"], &[])
                .await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["ID", "TYPE", "SUBJECT", "STATUS", "DUE", "CREATED"]);
                for a in v["activities"].as_array().into_iter().flatten() {
                    t.row(vec![
                        text(&a["id"]),
                        text(&a["type"]),
                        text(&a["subject"]),
                        text(&a["status"]),
                        time(&a["due_at"]),
                        time(&a["created_at"]),
                    ]);
                }
                t.print("no activities on this record");
            });
        }
        ActivityCommand::Complete { id } => {
            let v = c
                .call(
                    Method::POST,
                    &["v1", "activities", &id, "complete"],
                    &[],
                    Body::None,
                )
                .await?;
            output::emit(c.format, &v, activity_view);
        }
    }
    Ok(())
}

pub(crate) async fn event(cmd: EventCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    let EventCommand::List {
        workflow,
        object,
        kind,
        since,
        before,
        limit,
    } = cmd;
    let q = query(&[
        ("limit", Some(limit.to_string())),
        ("workflow", workflow),
        ("object", object),
        ("kind", kind),
        ("since", since),
        ("before", before.map(|b| b.to_string())),
    ]);
    let v = c.get(&["v1", "events"], &q).await?;
    output::emit(c.format, &v, events_table);
    Ok(())
}
