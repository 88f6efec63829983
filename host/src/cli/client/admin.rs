//! `flowbox step` (server side), `team`, `token`, `provider`, `kill-switch`, `audit` and
//! `login`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::output::{self, Table, block, fields, list, text, time};
use super::{Body, Client, ClientArgs, config, query, read, read_document};
use crate::cli::{EXIT_USAGE, Failure};

#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The module's name (what workflows' `action` refers to).
    name: String,
    /// The component (.wasm), or a step project (a folder with step.toml): its built
    /// component, granted what step.toml declares.
    file: PathBuf,
    /// Grant a capability (log, variables, records, files, teams, email, http, llm, audio, clock); repeat for several.
    #[arg(long = "grant", value_name = "INTERFACE")]
    grants: Vec<String>,
    /// With `--grant http`: a host the module may call (`host`, `host:port`, `*.domain`);
    /// repeat for several.
    #[arg(long = "http-host", visible_alias = "allow-host", value_name = "HOST")]
    http_hosts: Vec<String>,
}

/// The step commands that talk to a server.
#[derive(Debug, Subcommand)]
pub(crate) enum StepServerCommand {
    /// Upload a component to a server as a step module, with its grants.
    Upload(UploadArgs),
    /// List the step modules on a server.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a step module: its hash, grants, hosts and the interfaces it imports.
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Set a module's grants (what is left out is refused).
    Grants {
        name: String,
        /// A capability to grant; repeat for several (none: grant nothing).
        #[arg(long = "grant", value_name = "INTERFACE")]
        grants: Vec<String>,
        /// With `--grant http`: a host it may call; repeat for several.
        #[arg(long = "http-host", value_name = "HOST")]
        http_hosts: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a step module (refused while a workflow's newest version uses it).
    Delete {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn module_view(v: &Value) {
    fields(&[
        ("name", text(&v["name"])),
        ("hash", text(&v["hash"])),
        ("grants", list(&v["grants"])),
        ("http hosts", list(&v["http_hosts"])),
        ("asks for", list(&v["info"]["capabilities"])),
        ("uploaded", time(&v["created_at"])),
    ]);
}

pub(crate) async fn step_server(cmd: StepServerCommand) -> Result<(), Failure> {
    match cmd {
        StepServerCommand::Upload(args) => {
            let c = Client::new(&args.client)?;
            let (mut grants, mut http_hosts) = (args.grants, args.http_hosts);
            let file = if args.file.is_dir() {
                let project = crate::cli::kit::Project::open(&args.file)?;
                grants.extend(project.manifest.capabilities.iter().cloned());
                http_hosts.extend(project.manifest.http_hosts.iter().cloned());
                let wasm = project.wasm();
                if !wasm.exists() {
                    return Err(Failure::new(
                        EXIT_USAGE,
                        format!(
                            "error: {} is not built yet: `flowbox step build {}` first",
                            wasm.display(),
                            args.file.display()
                        ),
                    ));
                }
                wasm
            } else {
                args.file
            };
            let bytes = read(&file)?;
            let q: Vec<(&str, String)> = grants
                .iter()
                .map(|g| ("grant", g.clone()))
                .chain(http_hosts.iter().map(|h| ("http_host", h.clone())))
                .collect();
            let v = c
                .call(
                    Method::PUT,
                    &["v1", "steps", &args.name],
                    &q,
                    Body::Bytes(bytes),
                )
                .await?;
            output::emit(c.format, &v, |v| {
                println!(
                    "step module {} = {} (grants: {})",
                    text(&v["name"]),
                    text(&v["hash"]),
                    list(&v["grants"])
                );
            });
        }
        StepServerCommand::List { client } => {
            let c = Client::new(&client)?;
            let v = c.get(&["v1", "steps"], &[]).await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["NAME", "GRANTS", "HTTP HOSTS", "HASH", "UPLOADED"]);
                for m in v["steps"].as_array().into_iter().flatten() {
                    let hash = text(&m["hash"]);
                    t.row(vec![
                        text(&m["name"]),
                        list(&m["grants"]),
                        list(&m["http_hosts"]),
                        hash.chars().take(12).collect(),
                        time(&m["created_at"]),
                    ]);
                }
                t.print("no step modules yet: `flowbox step upload NAME FILE` adds one");
            });
        }
        StepServerCommand::Show { name, client } => {
            let c = Client::new(&client)?;
            let v = c.get(&["v1", "steps", &name], &[]).await?;
            output::emit(c.format, &v, module_view);
        }
        StepServerCommand::Grants {
            name,
            grants,
            http_hosts,
            client,
        } => {
            let c = Client::new(&client)?;
            let body = json!({"grants": grants, "http_hosts": http_hosts});
            let v = c
                .call(
                    Method::PUT,
                    &["v1", "steps", &name, "grants"],
                    &[],
                    Body::Json(body),
                )
                .await?;
            output::emit(c.format, &v, module_view);
        }
        StepServerCommand::Delete { name, client } => {
            let c = Client::new(&client)?;
            let v = c
                .call(Method::DELETE, &["v1", "steps", &name], &[], Body::None)
                .await?;
            output::emit(c.format, &v, |_| println!("deleted step module {name}"));
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub(crate) enum TeamCommand {
    /// List the teams.
    List,
    /// Show a team: members in round-robin order, channels.
    Show { name: String },
    /// Create or replace a team from a file (JSON or YAML: `name`, `members`, `channels`).
    Apply { file: PathBuf },
    /// Delete a team.
    Delete { name: String },
    /// The notifications posted to a team, oldest first.
    Notifications {
        name: String,
        #[arg(long)]
        channel: Option<String>,
        /// After this notification id (the previous page's `next_after`).
        #[arg(long)]
        after: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

fn team_view(v: &Value) {
    fields(&[
        ("name", text(&v["name"])),
        ("members", list(&v["members"])),
        ("channels", list(&v["channels"])),
        ("updated", time(&v["updated_at"])),
    ]);
}

pub(crate) async fn team(cmd: TeamCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        TeamCommand::List => {
            let v = c.get(&["v1", "teams"], &[]).await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["NAME", "MEMBERS", "CHANNELS", "UPDATED"]);
                for m in v["teams"].as_array().into_iter().flatten() {
                    t.row(vec![
                        text(&m["name"]),
                        list(&m["members"]),
                        list(&m["channels"]),
                        time(&m["updated_at"]),
                    ]);
                }
                t.print("no teams yet: `flowbox team apply FILE` makes one");
            });
        }
        TeamCommand::Show { name } => {
            let v = c.get(&["v1", "teams", &name], &[]).await?;
            output::emit(c.format, &v, team_view);
        }
        TeamCommand::Apply { file } => {
            let (name, body) = named_document(&file)?;
            let v = c
                .call(Method::PUT, &["v1", "teams", &name], &[], Body::Json(body))
                .await?;
            output::emit(c.format, &v, team_view);
        }
        TeamCommand::Delete { name } => {
            let v = c
                .call(Method::DELETE, &["v1", "teams", &name], &[], Body::None)
                .await?;
            output::emit(c.format, &v, |_| println!("deleted team {name}"));
        }
        TeamCommand::Notifications {
            name,
            channel,
            after,
            limit,
        } => {
            let q = query(&[
                ("limit", Some(limit.to_string())),
                ("channel", channel),
                ("after", after.map(|a| a.to_string())),
            ]);
            let v = c.get(&["v1", "teams", &name, "notifications"], &q).await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["ID", "AT", "CHANNEL", "EXECUTION", "TEXT"]);
                for n in v["notifications"].as_array().into_iter().flatten() {
                    t.row(vec![
                        text(&n["id"]),
                        time(&n["created_at"]),
                        text(&n["channel"]),
                        text(&n["execution_id"]),
                        text(&n["text"]),
                    ]);
                }
                t.print("no notifications");
                if let Some(next) = v["next_after"].as_i64() {
                    eprintln!("more: --after {next}");
                }
            });
        }
    }
    Ok(())
}

/// A document whose `name` names the resource: the name, and the rest as the body.
fn named_document(file: &std::path::Path) -> Result<(String, Value), Failure> {
    let mut doc = read_document(file)?;
    let name = doc
        .as_object_mut()
        .and_then(|m| m.remove("name"))
        .and_then(|n| n.as_str().map(str::to_string))
        .ok_or_else(|| {
            Failure::new(
                EXIT_USAGE,
                format!("error: {} has no `name`", file.display()),
            )
        })?;
    Ok((name, doc))
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// List the API tokens (never their secrets).
    List,
    /// Make a token; it is printed once, and never shown again.
    Create {
        name: String,
        /// admin, developer or client.
        #[arg(long)]
        role: String,
    },
    /// Revoke a token: it stops working at once.
    Revoke { id: String },
}

pub(crate) async fn token(cmd: TokenCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        TokenCommand::List => {
            let v = c.get(&["v1", "tokens"], &[]).await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["ID", "NAME", "ROLE", "CREATED", "REVOKED"]);
                for k in v["tokens"].as_array().into_iter().flatten() {
                    t.row(vec![
                        text(&k["id"]),
                        text(&k["name"]),
                        text(&k["role"]),
                        time(&k["created_at"]),
                        time(&k["revoked_at"]),
                    ]);
                }
                t.print("no tokens");
            });
        }
        TokenCommand::Create { name, role } => {
            let v = c
                .call(
                    Method::POST,
                    &["v1", "tokens"],
                    &[],
                    Body::Json(json!({"name": name, "role": role})),
                )
                .await?;
            output::emit(c.format, &v, |v| {
                fields(&[
                    ("id", text(&v["id"])),
                    ("name", text(&v["name"])),
                    ("role", text(&v["role"])),
                    ("token", text(&v["token"])),
                ]);
                eprintln!("keep the token now: it is not shown again");
            });
        }
        TokenCommand::Revoke { id } => {
            let v = c
                .call(Method::DELETE, &["v1", "tokens", &id], &[], Body::None)
                .await?;
            output::emit(c.format, &v, |_| println!("revoked token {id}"));
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProviderCommand {
    /// List the LLM providers (never a key: only whether one is set).
    List,
    /// Show one LLM provider.
    Show { name: String },
    /// Create or replace a provider from a file (JSON or YAML: `name`, `base_url`,
    /// `default_model`, `api_key_env`, ...).
    Apply { file: PathBuf },
    /// Delete a provider.
    Delete { name: String },
}

fn provider_view(v: &Value) {
    let mut shown = v.clone();
    if let Some(m) = shown.as_object_mut() {
        m.remove("name");
    }
    println!("provider {}", text(&v["name"]));
    block("settings", &shown);
}

pub(crate) async fn provider(cmd: ProviderCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    match cmd {
        ProviderCommand::List => {
            let v = c.get(&["v1", "llm", "providers"], &[]).await?;
            output::emit(c.format, &v, |v| {
                let mut t = Table::new(&["NAME", "BASE URL", "MODEL", "KEY SET", "UPDATED"]);
                for p in v["providers"].as_array().into_iter().flatten() {
                    t.row(vec![
                        text(&p["name"]),
                        text(&p["base_url"]),
                        text(&p["default_model"]),
                        output::flag(&p["api_key_set"]),
                        time(&p["updated_at"]),
                    ]);
                }
                t.print("no LLM providers yet: `flowbox provider apply FILE` adds one");
            });
        }
        ProviderCommand::Show { name } => {
            let v = c.get(&["v1", "llm", "providers", &name], &[]).await?;
            output::emit(c.format, &v, provider_view);
        }
        ProviderCommand::Apply { file } => {
            let (name, body) = named_document(&file)?;
            let v = c
                .call(
                    Method::PUT,
                    &["v1", "llm", "providers", &name],
                    &[],
                    Body::Json(body),
                )
                .await?;
            output::emit(c.format, &v, provider_view);
        }
        ProviderCommand::Delete { name } => {
            let v = c
                .call(
                    Method::DELETE,
                    &["v1", "llm", "providers", &name],
                    &[],
                    Body::None,
                )
                .await?;
            output::emit(c.format, &v, |_| println!("deleted provider {name}"));
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub(crate) enum KillSwitchCommand {
    /// Turn the global kill switch on: every running execution pauses, starts are refused.
    On,
    /// Turn it off: what it paused resumes.
    Off,
    /// Whether it is on.
    Status,
}

pub(crate) async fn kill_switch(cmd: KillSwitchCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    let on = match cmd {
        KillSwitchCommand::Status => {
            let v = c.get(&["v1", "kill-switch"], &[]).await?;
            let state = if v["kill_switch"] == true {
                "on"
            } else {
                "off"
            };
            output::emit(c.format, &v, |_| println!("global kill switch: {state}"));
            return Ok(());
        }
        KillSwitchCommand::On => true,
        KillSwitchCommand::Off => false,
    };
    let v = c
        .call(
            Method::PUT,
            &["v1", "kill-switch"],
            &[],
            Body::Json(json!({"on": on})),
        )
        .await?;
    output::emit(c.format, &v, |v| {
        println!("global kill switch {}", text(&v["message"]))
    });
    Ok(())
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// The audit log, newest first: who changed what.
    List {
        /// Only this action, e.g. `workflow.apply`.
        #[arg(long)]
        action: Option<String>,
        /// Only this actor (as the log names it).
        #[arg(long)]
        actor: Option<String>,
        /// At or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
}

pub(crate) async fn audit(cmd: AuditCommand, args: &ClientArgs) -> Result<(), Failure> {
    let c = Client::new(args)?;
    let AuditCommand::List {
        action,
        actor,
        since,
        limit,
        cursor,
    } = cmd;
    let q = query(&[
        ("limit", Some(limit.to_string())),
        ("action", action),
        ("actor", actor),
        ("since", since),
        ("cursor", cursor),
    ]);
    let v = c.get(&["v1", "audit"], &q).await?;
    output::emit(c.format, &v, |v| {
        let mut t = Table::new(&["AT", "ACTOR", "ACTION", "TARGET", "DETAIL"]);
        for e in v["entries"].as_array().into_iter().flatten() {
            t.row(vec![
                time(&e["at"]),
                text(&e["actor"]),
                text(&e["action"]),
                text(&e["target"]),
                text(&e["detail"]),
            ]);
        }
        t.print("no audit entries match");
        if let Some(next) = v["next_cursor"].as_str() {
            eprintln!("more: --cursor {next}");
        }
    });
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The flowbox server.
    #[arg(long, env = "FLOWBOX_SERVER", default_value = config::DEFAULT_SERVER)]
    server: String,
    /// The API token [default: the first line of stdin].
    #[arg(long, env = "FLOWBOX_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The profile to save it as; it becomes the current one.
    #[arg(long, env = "FLOWBOX_PROFILE", default_value = config::DEFAULT_PROFILE)]
    profile: String,
}

/// Check the token against the server, then keep it in the config file (0600) as a profile.
pub(crate) async fn login(args: LoginArgs) -> Result<(), Failure> {
    let token = match args.token {
        Some(t) => t,
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprint!("API token for {}: ", args.server);
            }
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| {
                Failure::new(
                    EXIT_USAGE,
                    format!("error: cannot read the token from stdin: {e}"),
                )
            })?;
            line.trim().to_string()
        }
    };
    if token.is_empty() {
        return Err(Failure::new(
            EXIT_USAGE,
            "error: no token: pass --token, set FLOWBOX_TOKEN, or give it on stdin",
        ));
    }
    let client_args = ClientArgs::for_login(&args.server, &token);
    let c = Client::new(&client_args)?;
    c.get(&["v1", "executions"], &[("limit", "1".into())])
        .await?;
    let mut cfg = config::load()?;
    cfg.profiles.insert(
        args.profile.clone(),
        config::Profile {
            server: args.server.clone(),
            token: Some(token),
        },
    );
    cfg.current = Some(args.profile.clone());
    let path = config::save(&cfg)?;
    println!(
        "logged in to {} as profile `{}` (saved in {})",
        args.server,
        args.profile,
        path.display()
    );
    Ok(())
}
