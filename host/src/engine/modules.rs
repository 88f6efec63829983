//! Step modules by name: stored components with their grants, loaded into the sandbox once and
//! cached (re-read after the cache time, so an upload on another node shows up).
//!
//! Admins upload a component, see the capabilities it asks for (its imports), and grant them;
//! a component that imports what it was not granted is refused, with the list. Every upload of
//! new bytes is a version (by content hash). A module that a workflow's newest version uses
//! cannot be deleted.

use super::error::{Invalid, Thing};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::EngineError;
use crate::sandbox::{
    Capability, Grants, ModuleInfo, Sandbox, StepModule, StepRequest, content_hash,
};
use crate::store::{ModuleRow, Store};

/// A step module as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleInfoView {
    pub name: String,
    pub hash: String,
    pub grants: Vec<Capability>,
    /// Hosts it may call with `http` (`host`, `host:port` or `*.domain`).
    pub http_hosts: Vec<String>,
    /// What the component is: its exports, its imports, its size.
    pub info: serde_json::Value,
    #[serde(with = "crate::time::ms_rfc3339")]
    pub created_at: i64,
}

/// A module ready to run, with what its grants allow.
#[derive(Clone)]
pub(crate) struct Runnable {
    pub module: StepModule,
    pub http_hosts: Arc<Vec<String>>,
}

struct Loaded {
    hash: String,
    runnable: Runnable,
    checked_at: Instant,
}

pub(crate) struct Modules {
    store: Store,
    sandbox: Arc<Sandbox>,
    ttl: Duration,
    loaded: Mutex<HashMap<String, Loaded>>,
}

fn parse_grants(text: &str) -> Grants {
    serde_json::from_str::<Vec<Capability>>(text)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn parse_hosts(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn view(row: ModuleRow) -> ModuleInfoView {
    ModuleInfoView {
        grants: parse_grants(&row.grants).iter().collect(),
        http_hosts: parse_hosts(&row.http_hosts),
        info: serde_json::from_str(&row.info).unwrap_or_default(),
        name: row.name,
        hash: row.hash,
        created_at: row.created_at,
    }
}

fn check_name(name: &str) -> Result<(), EngineError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(
            Invalid::Name,
            format!("`{name}` is not a step module name (a-z, 0-9, `-`, `_`)"),
        ))
    }
}

/// Check an allow-list: each entry a host name or address, with an optional port, or
/// `*.domain`.
pub(crate) fn check_hosts(hosts: &[String], grants: &Grants) -> Result<(), EngineError> {
    if !hosts.is_empty() && !grants.contains(Capability::Http) {
        return Err(EngineError::invalid(
            Invalid::Value,
            "allowed hosts are for modules granted `http`",
        ));
    }
    for h in hosts {
        let bare = h.strip_prefix("*.").unwrap_or(h);
        let (host, port) = match bare.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (bare, None),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
        if !host_ok || !port_ok {
            return Err(EngineError::invalid(
                Invalid::Value,
                format!("`{h}` is not an allowed host: give `host`, `host:port` or `*.domain`"),
            ));
        }
    }
    Ok(())
}

impl Modules {
    pub(crate) fn new(store: Store, sandbox: Arc<Sandbox>, ttl: Duration) -> Self {
        Modules {
            store,
            sandbox,
            ttl,
            loaded: Mutex::default(),
        }
    }

    /// The module named `name`, ready to run; `None` if there is none.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Runnable>, EngineError> {
        if let Some(l) = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            && l.checked_at.elapsed() < self.ttl
        {
            return Ok(Some(l.runnable.clone()));
        }
        let Some(row) = self.store.module(name).await? else {
            self.loaded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(name);
            return Ok(None);
        };
        let grants = parse_grants(&row.grants);
        let same = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .filter(|l| l.hash == row.hash && l.runnable.module.grants() == &grants)
            .map(|l| l.runnable.module.clone());
        let module = match same {
            Some(m) => m,
            None => {
                let bytes = self.store.module_bytes(&row.hash).await?.ok_or_else(|| {
                    EngineError::invalid(
                        Invalid::Stored,
                        format!(
                            "step module `{name}`: its component {} is missing",
                            row.hash
                        ),
                    )
                })?;
                let sandbox = self.sandbox.clone();
                // Compiling can take seconds (or a cache read): keep it off the async threads.
                tokio::task::spawn_blocking(move || sandbox.load(&bytes, &grants))
                    .await
                    .map_err(|e| {
                        EngineError::invalid(Invalid::Stored, format!("loading `{name}`: {e}"))
                    })??
            }
        };
        let runnable = Runnable {
            module,
            http_hosts: Arc::new(parse_hosts(&row.http_hosts)),
        };
        self.remember(name, &row.hash, runnable.clone());
        Ok(Some(runnable))
    }

    /// Compile a code step's source in its runner without running it: the syntax error, if
    /// there is one. `None` too when the runner cannot say (one built before runners took
    /// `{"check": source}`, or one that failed): the code is then checked when it runs.
    pub(crate) async fn syntax_error(&self, runner: &Runnable, source: &str) -> Option<String> {
        let request = StepRequest::new(serde_json::json!({ "check": source }).to_string());
        let outcome = self.sandbox.run(&runner.module, request).await;
        match outcome.result {
            Ok(answer) if answer["checked"] == true => answer["error"].as_str().map(str::to_string),
            Ok(_) => None,
            Err(e) => {
                tracing::info!(error = %e, "the runner did not check the code; it is checked when it runs");
                None
            }
        }
    }

    fn remember(&self, name: &str, hash: &str, runnable: Runnable) {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                name.to_string(),
                Loaded {
                    hash: hash.to_string(),
                    runnable,
                    checked_at: Instant::now(),
                },
            );
    }

    async fn load(
        &self,
        name: &str,
        bytes: Vec<u8>,
        grants: Grants,
    ) -> Result<StepModule, EngineError> {
        let sandbox = self.sandbox.clone();
        Ok(
            tokio::task::spawn_blocking(move || sandbox.load(&bytes, &grants))
                .await
                .map_err(|e| {
                    EngineError::invalid(Invalid::Stored, format!("loading `{name}`: {e}"))
                })??,
        )
    }

    /// Validate a component with its grants and save it under `name` (a new version if the
    /// bytes are new).
    pub(crate) async fn upload(
        &self,
        name: &str,
        bytes: &[u8],
        grants: Grants,
        http_hosts: Vec<String>,
        now: i64,
    ) -> Result<ModuleInfoView, EngineError> {
        check_name(name)?;
        check_hosts(&http_hosts, &grants)?;
        let module = self.load(name, bytes.to_vec(), grants.clone()).await?;
        let info: &ModuleInfo = module.info();
        let row = ModuleRow {
            name: name.to_string(),
            hash: content_hash(bytes),
            grants: serde_json::to_string(&grants.iter().collect::<Vec<_>>()).unwrap_or_default(),
            info: serde_json::to_string(info).unwrap_or_default(),
            created_at: now,
            http_hosts: serde_json::to_string(&http_hosts).unwrap_or_default(),
        };
        self.store.save_module(&row, bytes).await?;
        let runnable = Runnable {
            module,
            http_hosts: Arc::new(http_hosts),
        };
        self.remember(name, &row.hash, runnable);
        Ok(view(row))
    }

    /// Grant a module these capabilities (and no others), and these hosts for `http`. Refused,
    /// with the list, if its component imports what would no longer be granted.
    pub(crate) async fn set_grants(
        &self,
        name: &str,
        grants: Grants,
        http_hosts: Vec<String>,
    ) -> Result<ModuleInfoView, EngineError> {
        check_hosts(&http_hosts, &grants)?;
        let row = self
            .store
            .module(name)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: Thing::StepModule,
                id: name.to_string(),
            })?;
        let bytes = self.store.module_bytes(&row.hash).await?.ok_or_else(|| {
            EngineError::invalid(
                Invalid::Stored,
                format!("step module `{name}`: its component is missing"),
            )
        })?;
        let module = self.load(name, bytes, grants.clone()).await?;
        let grants_text =
            serde_json::to_string(&grants.iter().collect::<Vec<_>>()).unwrap_or_default();
        let hosts_text = serde_json::to_string(&http_hosts).unwrap_or_default();
        self.store
            .set_module_grants(name, &grants_text, &hosts_text)
            .await?;
        self.remember(
            name,
            &row.hash,
            Runnable {
                module,
                http_hosts: Arc::new(http_hosts),
            },
        );
        Ok(view(ModuleRow {
            grants: grants_text,
            http_hosts: hosts_text,
            ..row
        }))
    }

    /// Forget a deleted module.
    pub(crate) fn forget(&self, name: &str) {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    pub(crate) async fn list(&self) -> Result<Vec<ModuleInfoView>, EngineError> {
        Ok(self.store.modules().await?.into_iter().map(view).collect())
    }

    pub(crate) async fn one(&self, name: &str) -> Result<ModuleInfoView, EngineError> {
        self.store
            .module(name)
            .await?
            .map(view)
            .ok_or_else(|| EngineError::NotFound {
                what: Thing::StepModule,
                id: name.to_string(),
            })
    }
}
