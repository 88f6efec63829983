//! Parsed workflows, cached: versions forever (they never change), the newest version of each
//! name and the kill switches for a short time (other nodes' changes show up within it).

use super::error::{Invalid, Thing};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::definition::{self, Workflow};
use super::modules::Modules;
use super::{EngineError, InvalidDefinition};
use crate::store::Store;

/// A workflow whose triggers watch an object type's record events. Whether it is switched on
/// is read by each evaluation pass itself, not cached.
#[derive(Debug, Clone)]
pub(crate) struct Watcher {
    pub wf: Arc<Workflow>,
    pub version: i64,
}

/// Watchers by object type, and when they were read.
type Index = (Arc<HashMap<String, Vec<Watcher>>>, Instant);

#[derive(Default)]
struct Kills {
    global: bool,
    workflows: HashSet<String>,
    read_at: Option<Instant>,
}

pub(crate) struct Workflows {
    store: Store,
    ttl: Duration,
    versions: Mutex<HashMap<(String, i64), Arc<Workflow>>>,
    latest: Mutex<HashMap<String, (i64, Instant)>>,
    kills: Mutex<Kills>,
    index: Mutex<Option<Index>>,
    /// Bumped by every `forget`: an index built from reads older than the newest bump is not
    /// kept.
    generation: std::sync::atomic::AtomicU64,
}

impl Workflows {
    pub(crate) fn new(store: Store, ttl: Duration) -> Self {
        Workflows {
            store,
            ttl,
            versions: Mutex::default(),
            latest: Mutex::default(),
            kills: Mutex::default(),
            index: Mutex::default(),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A version, parsed once.
    pub(crate) async fn version(
        &self,
        name: &str,
        version: i64,
    ) -> Result<Arc<Workflow>, EngineError> {
        let key = (name.to_string(), version);
        if let Some(w) = self
            .versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(w.clone());
        }
        let row = self
            .store
            .workflow(name, Some(version))
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: Thing::WorkflowVersion,
                id: format!("{name}@{version}"),
            })?;
        let parsed = definition::parse(&row.definition).map_err(|e: InvalidDefinition| {
            EngineError::invalid(
                Invalid::Stored,
                format!("stored workflow {name}@{version} no longer validates: {e}"),
            )
        })?;
        let parsed = Arc::new(parsed);
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, parsed.clone());
        Ok(parsed)
    }

    /// The newest version.
    pub(crate) async fn latest(&self, name: &str) -> Result<(i64, Arc<Workflow>), EngineError> {
        let cached = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied();
        let version =
            match cached {
                Some((v, at)) if at.elapsed() < self.ttl => v,
                _ => {
                    let head = self.store.workflow_head(name).await?.ok_or_else(|| {
                        EngineError::NotFound {
                            what: Thing::Workflow,
                            id: name.to_string(),
                        }
                    })?;
                    self.latest
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name.to_string(), (head.latest_version, Instant::now()));
                    head.latest_version
                }
            };
        Ok((version, self.version(name, version).await?))
    }

    /// Forget the cached newest version of `name` (it was just saved, or switched).
    pub(crate) fn forget(&self, name: &str) {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *index = None;
    }

    /// The workflows (newest versions) whose triggers watch `object`'s events (record events, and
    /// date fields), switched on or not.
    pub(crate) async fn watching(&self, object: &str) -> Result<Vec<Watcher>, EngineError> {
        let cached = self
            .index
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(index, _)| index.clone());
        let index = match cached {
            Some(index) => index,
            None => {
                let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
                let mut index: HashMap<String, Vec<Watcher>> = HashMap::new();
                for head in self.store.workflow_heads().await? {
                    let wf = match self.version(&head.name, head.latest_version).await {
                        Ok(wf) => wf,
                        Err(e) => {
                            tracing::error!(workflow = %head.name, error = %e, "workflow skipped by triggers");
                            continue;
                        }
                    };
                    let definition::Scope::Record(watched) = &wf.scope else {
                        continue;
                    };
                    if wf.triggers.iter().any(|t| {
                        matches!(
                            t.kind,
                            crate::records::triggers::TriggerKind::Event(_)
                                | crate::records::triggers::TriggerKind::Date(_)
                        )
                    }) {
                        index.entry(watched.clone()).or_default().push(Watcher {
                            wf: wf.clone(),
                            version: head.latest_version,
                        });
                    }
                }
                let index = Arc::new(index);
                let mut cache = self.index.lock().unwrap_or_else(|e| e.into_inner());
                if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
                    *cache = Some((index.clone(), Instant::now()));
                }
                index
            }
        };
        Ok(index.get(object).cloned().unwrap_or_default())
    }

    /// Why starts of `name` are refused (a kill switch), if they are.
    pub(crate) async fn killed(&self, name: &str) -> Result<Option<String>, EngineError> {
        let fresh = self
            .kills
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .read_at
            .is_some_and(|t| t.elapsed() < self.ttl);
        if !fresh {
            self.refresh_kill_switches().await?;
        }
        let kills = self.kills.lock().unwrap_or_else(|e| e.into_inner());
        Ok(if kills.global {
            Some("the global kill switch is on".to_string())
        } else if kills.workflows.contains(name) {
            Some(format!("the kill switch of workflow `{name}` is on"))
        } else {
            None
        })
    }

    pub(crate) async fn refresh_kill_switches(&self) -> Result<(), EngineError> {
        let global = self.store.global_killed().await?;
        let workflows = self.store.killed_workflows().await?.into_iter().collect();
        *self.kills.lock().unwrap_or_else(|e| e.into_inner()) = Kills {
            global,
            workflows,
            read_at: Some(Instant::now()),
        };
        Ok(())
    }

    /// The workflows whose newest version has an action step using step module `module`.
    pub(crate) async fn using_module(&self, module: &str) -> Result<Vec<String>, EngineError> {
        let mut users = Vec::new();
        for head in self.store.workflow_heads().await? {
            let wf = self.version(&head.name, head.latest_version).await?;
            if wf.modules().any(|(_, m)| m == module) {
                users.push(head.name);
            }
        }
        Ok(users)
    }

    /// Check what a definition refers to: step modules and other workflows must exist, and
    /// the object type it runs on must have what it names (see [`super::data_model`]).
    pub(crate) async fn check_references(
        &self,
        wf: &Workflow,
        modules: &Modules,
        objects: &crate::records::Objects,
        config: &super::EngineConfig,
    ) -> Result<(), EngineError> {
        let mut errors = over_ceilings(wf, &config.step_ceilings);
        if let Some(notify) = &wf.settings.notify {
            errors.extend(self.notify_problems(notify, config).await?);
        }
        if let definition::Scope::Record(name) = &wf.scope {
            let object = objects.get(name).await?;
            errors.extend(super::data_model::check(wf, object.as_deref()));
        }
        for (step, module) in wf.modules() {
            let code = wf.position(step).and_then(|i| match &wf.steps[i].kind {
                definition::StepKind::Action { code: Some(c), .. } => Some(c),
                _ => None,
            });
            let runnable = modules.get(module).await?;
            if let (Some(runner), Some(code)) = (&runnable, code)
                && let Some(error) = modules.syntax_error(runner, &code.source).await
            {
                errors.push(definition::DefinitionError {
                    path: format!("steps (id {step:?}).code"),
                    message: format!("the code does not compile: {error}"),
                });
            }
            if runnable.is_none() {
                let language = code.map(|c| c.language);
                let (field, what) = match language {
                    Some(l) => (
                        "runner",
                        format!(
                            "the {} runner: upload target/wasm/{}.wasm as",
                            match l {
                                definition::CodeLanguage::Python => "Python",
                                definition::CodeLanguage::JavaScript => "JavaScript",
                            },
                            l.runner()
                        ),
                    ),
                    None => ("action", "upload it first:".to_string()),
                };
                errors.push(definition::DefinitionError {
                    path: format!("steps (id {step:?}).{field}"),
                    message: format!(
                        "there is no step module `{module}` ({what} PUT /v1/steps/{module})"
                    ),
                });
            }
        }
        for (step, other) in wf.related_workflows() {
            if other != wf.name && self.store.workflow_head(other).await?.is_none() {
                errors.push(definition::DefinitionError {
                    path: format!("steps (id {step:?})"),
                    message: format!("there is no workflow `{other}`"),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(InvalidDefinition(errors).into())
        }
    }
}

impl Workflows {
    /// What `settings.notify` names that this server cannot reach: a team or channel that does
    /// not exist, an email without an SMTP server, a webhook without a signing key.
    async fn notify_problems(
        &self,
        n: &definition::Notify,
        config: &super::EngineConfig,
    ) -> Result<Vec<definition::DefinitionError>, EngineError> {
        let mut errors = Vec::new();
        let mut say = |path: &str, message: String| {
            errors.push(definition::DefinitionError {
                path: path.into(),
                message,
            })
        };
        if let Some(team) = &n.team {
            match self.store.team(team).await? {
                None => say(
                    "settings.notify.team",
                    format!("there is no team `{team}` (PUT /v1/teams/{team} first)"),
                ),
                Some(row) => {
                    let channels: Vec<String> =
                        serde_json::from_str(&row.channels).unwrap_or_default();
                    if let Some(c) = &n.channel
                        && !channels.contains(c)
                    {
                        say(
                            "settings.notify.channel",
                            format!(
                                "team `{team}` has no channel `{c}` (its channels: {})",
                                channels.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        if n.email.is_some() && config.mailer.is_none() {
            say(
                "settings.notify.email",
                "this server sends no email: start it with --smtp-url".into(),
            );
        }
        if n.webhook.is_some() && config.notify_secret.is_none() {
            say(
                "settings.notify.webhook",
                "this server has no key to sign webhooks with: start it with --notify-secret (or FLOWBOX_NOTIFY_SECRET)".into(),
            );
        }
        Ok(errors)
    }
}

/// The steps whose `limits` ask for more than this server allows, each limit named with its
/// ceiling.
fn over_ceilings(
    wf: &Workflow,
    ceilings: &crate::sandbox::Limits,
) -> Vec<definition::DefinitionError> {
    let mut errors = Vec::new();
    for step in &wf.steps {
        let definition::StepKind::Action { limits, code, .. } = &step.kind else {
            continue;
        };
        // A default over a lowered ceiling is not the definition's doing: it is held to the
        // ceiling when it runs.
        let default = code
            .as_ref()
            .map_or_else(crate::sandbox::Limits::default, |c| c.language.limits());
        let limits = crate::sandbox::Limits {
            fuel: if limits.fuel == default.fuel {
                0
            } else {
                limits.fuel
            },
            memory_bytes: if limits.memory_bytes == default.memory_bytes {
                0
            } else {
                limits.memory_bytes
            },
            timeout: if limits.timeout == default.timeout {
                Duration::ZERO
            } else {
                limits.timeout
            },
            output_bytes: if limits.output_bytes == default.output_bytes {
                0
            } else {
                limits.output_bytes
            },
        };
        let over = [
            (
                "fuel",
                limits.fuel > ceilings.fuel,
                format!("at most {} (--max-step-fuel)", ceilings.fuel),
            ),
            (
                "memory_mb",
                limits.memory_bytes > ceilings.memory_bytes,
                format!(
                    "at most {} (--max-step-memory-mb)",
                    ceilings.memory_bytes >> 20
                ),
            ),
            (
                "timeout",
                limits.timeout > ceilings.timeout,
                format!(
                    "at most {}s (--max-step-timeout-secs)",
                    ceilings.timeout.as_secs()
                ),
            ),
            (
                "output_kb",
                limits.output_bytes > ceilings.output_bytes,
                format!(
                    "at most {} (--max-step-output-kb)",
                    ceilings.output_bytes >> 10
                ),
            ),
        ];
        for (field, _, ceiling) in over.into_iter().filter(|(_, over, _)| *over) {
            errors.push(definition::DefinitionError {
                path: format!("steps (id {:?}).limits.{field}", step.id),
                message: format!("over this server's ceiling: {ceiling}"),
            });
        }
    }
    errors
}
