//! Workflows and step modules through the API: save and read definitions, switch workflows
//! on and off, kill switches; upload modules and change their grants.

use super::error::{Conflict, Thing};
use std::sync::Arc;

use super::{Engine, EngineError, ModuleInfoView, Workflow, definition, schedules};
use crate::sandbox::Grants;

impl Engine {
    /// Validate and save a definition (JSON or YAML). Returns the workflow's name, its version
    /// and whether the version is new (an unchanged definition keeps its version).
    pub async fn apply_workflow(&self, text: &str) -> Result<(String, i64, bool), EngineError> {
        let workflow = self.validate_workflow(text).await?;
        let saved = serde_json::to_string(&workflow.source).unwrap_or_default();
        let (version, created) = self
            .inner
            .store
            .save_workflow(&workflow.name, &saved, self.now_ms())
            .await?;
        self.inner.workflows.forget(&workflow.name);
        self.ensure_webhooks(&workflow).await?;
        if created {
            let s = &workflow.settings;
            self.inner
                .store
                .set_throttle(
                    &workflow.name,
                    s.max_concurrent.map(i64::from),
                    s.max_starts_per_minute.map(i64::from),
                )
                .await?;
            schedules::sync(&self.inner, &workflow.name).await?;
            self.inner.wake_scheduler.notify_one();
        }
        Ok((workflow.name, version, created))
    }

    /// Check a definition as saving it would (its text, then what it names: step modules,
    /// workflows, the object type's fields and stages), and save nothing.
    pub async fn validate_workflow(&self, text: &str) -> Result<Workflow, EngineError> {
        let workflow = definition::parse(text)?;
        self.inner
            .workflows
            .check_references(
                &workflow,
                &self.inner.modules,
                &self.inner.objects,
                &self.inner.config,
            )
            .await?;
        Ok(workflow)
    }

    /// Delete a workflow (its triggers, webhooks and timers with it; its executions' history
    /// stays). Refused while it has unfinished executions.
    pub async fn delete_workflow(&self, name: &str) -> Result<(), EngineError> {
        match self.inner.store.delete_workflow(name).await? {
            Ok(true) => {
                self.inner.workflows.forget(name);
                Ok(())
            }
            Ok(false) => Err(EngineError::NotFound {
                what: Thing::Workflow,
                id: name.to_string(),
            }),
            Err(unfinished) => Err(EngineError::conflict(
                Conflict::WorkflowInUse,
                format!(
                    "workflow `{name}` has {unfinished} unfinished executions (queued, running, waiting or paused): cancel them or let them end first"
                ),
            )),
        }
    }

    /// A workflow version (newest with `None`).
    pub async fn workflow(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<(i64, Arc<Workflow>), EngineError> {
        match version {
            None => self.inner.workflows.latest(name).await,
            Some(v) => self.inner.workflows.version(name, v).await.map(|w| (v, w)),
        }
    }

    /// Flip a workflow's kill switch (`None`: the global one). Turning it on stops new starts and
    /// pauses running executions at their next step; turning it off resumes what it paused.
    /// Returns, turned on, how many unfinished executions it pauses (before their next step);
    /// turned off, how many it resumed.
    pub async fn set_kill_switch(
        &self,
        workflow: Option<&str>,
        on: bool,
    ) -> Result<u64, EngineError> {
        let now = self.now_ms();
        match workflow {
            Some(name) => {
                if !self.inner.store.set_workflow_killed(name, on, now).await? {
                    return Err(EngineError::NotFound {
                        what: Thing::Workflow,
                        id: name.to_string(),
                    });
                }
            }
            None => self.inner.store.set_global_killed(on).await?,
        }
        self.inner.workflows.refresh_kill_switches().await?;
        if on {
            return Ok(self.inner.store.count_unfinished(workflow).await?);
        }
        let resumed = self.inner.store.resume_killed(workflow, now).await?;
        if resumed > 0 {
            self.inner.wake_scheduler.notify_one();
        }
        Ok(resumed)
    }

    /// Switch a workflow's triggers on or off. While off, its triggers start nothing, and what
    /// happened meanwhile is ignored once it is on again.
    pub async fn set_enabled(&self, workflow: &str, on: bool) -> Result<(), EngineError> {
        if !self
            .inner
            .store
            .set_workflow_enabled(workflow, on, self.now_ms())
            .await?
        {
            return Err(EngineError::NotFound {
                what: Thing::Workflow,
                id: workflow.to_string(),
            });
        }
        self.inner.workflows.forget(workflow);
        if on {
            // Timed triggers count from now: nothing missed while off runs.
            schedules::sync(&self.inner, workflow).await?;
            self.inner.wake_scheduler.notify_one();
        }
        Ok(())
    }

    /// Whether new starts of `workflow` are refused, and why.
    pub async fn killed(&self, workflow: &str) -> Result<Option<String>, EngineError> {
        self.inner.workflows.killed(workflow).await
    }

    /// Validate a component and save it as a step module with its grants (and, with `http`,
    /// the hosts it may call).
    pub async fn upload_module(
        &self,
        name: &str,
        bytes: &[u8],
        grants: Grants,
        http_hosts: Vec<String>,
    ) -> Result<ModuleInfoView, EngineError> {
        self.inner
            .modules
            .upload(name, bytes, grants, http_hosts, self.now_ms())
            .await
    }

    /// Grant a module these capabilities (and only these) and these hosts. Refused, with the
    /// list, when its component imports what would no longer be granted.
    pub async fn set_module_grants(
        &self,
        name: &str,
        grants: Grants,
        http_hosts: Vec<String>,
    ) -> Result<ModuleInfoView, EngineError> {
        self.inner
            .modules
            .set_grants(name, grants, http_hosts)
            .await
    }

    /// A step module, its versions (by content hash, oldest first) and the workflows whose
    /// newest version uses it.
    pub async fn module(
        &self,
        name: &str,
    ) -> Result<
        (
            ModuleInfoView,
            Vec<crate::store::ModuleVersionRow>,
            Vec<String>,
        ),
        EngineError,
    > {
        let view = self.inner.modules.one(name).await?;
        let versions = self.inner.store.module_versions(name).await?;
        let users = self.inner.workflows.using_module(name).await?;
        Ok((view, versions, users))
    }

    /// Delete a step module; refused while a workflow's newest version uses it.
    pub async fn delete_module(&self, name: &str) -> Result<(), EngineError> {
        let users = self.inner.workflows.using_module(name).await?;
        if !users.is_empty() {
            return Err(EngineError::conflict(
                Conflict::ModuleInUse,
                format!(
                    "step module `{name}` is used by workflow{} {}: change {} first",
                    if users.len() == 1 { "" } else { "s" },
                    users.join(", "),
                    if users.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
        if !self.inner.store.delete_module(name).await? {
            return Err(EngineError::NotFound {
                what: Thing::StepModule,
                id: name.to_string(),
            });
        }
        self.inner.modules.forget(name);
        Ok(())
    }

    /// Every step module.
    pub async fn modules(&self) -> Result<Vec<ModuleInfoView>, EngineError> {
        self.inner.modules.list().await
    }
}
