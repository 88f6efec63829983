//! Step modules by name: stored components with their grants, loaded into the sandbox once and
//! cached (re-read after the cache time, so an upload on another node shows up).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::EngineError;
use crate::sandbox::{Capability, Grants, ModuleInfo, Sandbox, StepModule, content_hash};
use crate::store::{ModuleRow, Store};

/// A step module as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleInfoView {
    pub name: String,
    pub hash: String,
    pub grants: Vec<Capability>,
    pub info: serde_json::Value,
    pub created_at: i64,
}

struct Loaded {
    hash: String,
    module: StepModule,
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

fn view(row: ModuleRow) -> ModuleInfoView {
    ModuleInfoView {
        grants: parse_grants(&row.grants).iter().collect(),
        info: serde_json::from_str(&row.info).unwrap_or_default(),
        name: row.name,
        hash: row.hash,
        created_at: row.created_at,
    }
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
    pub(crate) async fn get(&self, name: &str) -> Result<Option<StepModule>, EngineError> {
        if let Some(l) = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            && l.checked_at.elapsed() < self.ttl
        {
            return Ok(Some(l.module.clone()));
        }
        let Some(row) = self.store.module(name).await? else {
            self.loaded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(name);
            return Ok(None);
        };
        let same = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .filter(|l| l.hash == row.hash)
            .map(|l| l.module.clone());
        let module = match same {
            Some(m) => m,
            None => {
                let bytes = self.store.module_bytes(&row.hash).await?.ok_or_else(|| {
                    EngineError::Invalid(format!(
                        "step module `{name}`: its component {} is missing",
                        row.hash
                    ))
                })?;
                let sandbox = self.sandbox.clone();
                let grants = parse_grants(&row.grants);
                // Compiling can take seconds (or a cache read): keep it off the async threads.
                tokio::task::spawn_blocking(move || sandbox.load(&bytes, &grants))
                    .await
                    .map_err(|e| EngineError::Invalid(format!("loading `{name}`: {e}")))??
            }
        };
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                name.to_string(),
                Loaded {
                    hash: row.hash,
                    module: module.clone(),
                    checked_at: Instant::now(),
                },
            );
        Ok(Some(module))
    }

    /// Validate a component with its grants and save it under `name`.
    pub(crate) async fn upload(
        &self,
        name: &str,
        bytes: &[u8],
        grants: Grants,
        now: i64,
    ) -> Result<ModuleInfoView, EngineError> {
        if name.is_empty()
            || name.len() > 100
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(EngineError::Invalid(format!(
                "`{name}` is not a step module name (a-z, 0-9, `-`, `_`)"
            )));
        }
        let sandbox = self.sandbox.clone();
        let owned = bytes.to_vec();
        let load_grants = grants.clone();
        let module = tokio::task::spawn_blocking(move || sandbox.load(&owned, &load_grants))
            .await
            .map_err(|e| EngineError::Invalid(format!("loading `{name}`: {e}")))??;
        let info: &ModuleInfo = module.info();
        let row = ModuleRow {
            name: name.to_string(),
            hash: content_hash(bytes),
            grants: serde_json::to_string(&grants.iter().collect::<Vec<_>>()).unwrap_or_default(),
            info: serde_json::to_string(info).unwrap_or_default(),
            created_at: now,
        };
        self.store.save_module(&row, bytes).await?;
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                name.to_string(),
                Loaded {
                    hash: row.hash.clone(),
                    module,
                    checked_at: Instant::now(),
                },
            );
        Ok(view(row))
    }

    pub(crate) async fn list(&self) -> Result<Vec<ModuleInfoView>, EngineError> {
        Ok(self.store.modules().await?.into_iter().map(view).collect())
    }
}
