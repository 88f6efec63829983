//! Workflow definitions (versioned), their kill switches, and the global one.

use sqlx::Row;

use super::{Store, StoreError, on_db};

/// One saved version of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRow {
    pub name: String,
    pub version: i64,
    pub definition: String,
    pub created_at: i64,
}
from_row!(WorkflowRow {
    name,
    version,
    definition,
    created_at
});

/// A workflow's newest version, its kill switch, and whether its triggers are on.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowHead {
    pub name: String,
    pub latest_version: i64,
    pub killed: bool,
    pub updated_at: i64,
    /// Whether its triggers start it.
    pub enabled: bool,
    /// Since when (Unix ms): events before it are ignored.
    pub enabled_at: i64,
    /// The newest event id when it was switched on: events up to it are ignored.
    pub enabled_after_event: i64,
}
from_row!(WorkflowHead {
    name,
    latest_version,
    killed,
    updated_at,
    enabled,
    enabled_at,
    enabled_after_event
});

const GLOBAL_KILL: &str = "kill_switch";

impl Store {
    /// Save a definition: a new version if it differs from the newest one. Returns the version
    /// and whether it is new.
    pub async fn save_workflow(
        &self,
        name: &str,
        definition: &str,
        now: i64,
    ) -> Result<(i64, bool), StoreError> {
        const LATEST: &str = "SELECT w.version, w.definition FROM workflow_heads h \
             JOIN workflows w ON w.name = h.name AND w.version = h.latest_version WHERE h.name = $1";
        const INSERT: &str =
            "INSERT INTO workflows (name, version, definition, created_at) VALUES ($1, $2, $3, $4)";
        const HEAD: &str = "INSERT INTO workflow_heads (name, latest_version, killed, updated_at, enabled, enabled_at, \
             enabled_after_event) VALUES ($1, $2, FALSE, $3, TRUE, $3, (SELECT COALESCE(MAX(id), 0) FROM record_events)) \
             ON CONFLICT (name) DO UPDATE SET latest_version = excluded.latest_version, updated_at = excluded.updated_at";
        Ok(on_db!(&self.db, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            let latest = sqlx::query(LATEST).bind(name).fetch_optional(&mut *tx).await?;
            let version = match latest {
                Some(row) if row.try_get::<String, _>(1)? == definition => {
                    return Ok((row.try_get::<i64, _>(0)?, false));
                }
                Some(row) => row.try_get::<i64, _>(0)? + 1,
                // New, or saved again after a delete: its old versions stay, for the history
                // of their executions.
                None => {
                    const NEXT: &str = "SELECT COALESCE(MAX(version), 0) + 1 FROM workflows WHERE name = $1";
                    sqlx::query_scalar::<_, i64>(NEXT).bind(name).fetch_one(&mut *tx).await?
                }
            };
            sqlx::query(INSERT).bind(name).bind(version).bind(definition).bind(now).execute(&mut *tx).await?;
            sqlx::query(HEAD).bind(name).bind(version).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            (version, true)
        }))
    }

    /// Delete a workflow: its head (and with it its switch, kill switch and limits), webhooks
    /// and timers. Its versions stay, for the history of its executions. Refused (`Err` with
    /// how many) while any of its executions is unfinished; `Ok(false)` if there is none.
    pub async fn delete_workflow(&self, name: &str) -> Result<Result<bool, i64>, StoreError> {
        const UNFINISHED: &str = "SELECT COUNT(*) FROM executions WHERE workflow = $1 \
             AND status IN ('queued', 'running', 'waiting', 'paused')";
        const DELETE: [&str; 4] = [
            "DELETE FROM webhooks WHERE workflow = $1",
            "DELETE FROM schedules WHERE workflow = $1",
            "DELETE FROM date_runs WHERE workflow = $1",
            "DELETE FROM workflow_heads WHERE name = $1",
        ];
        Ok(on_db!(&self.db, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            let unfinished: i64 = sqlx::query_scalar(UNFINISHED).bind(name).fetch_one(&mut *tx).await?;
            if unfinished > 0 {
                return Ok(Err(unfinished));
            }
            let mut deleted = 0;
            for sql in DELETE {
                deleted = sqlx::query(sql).bind(name).execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok(deleted > 0)
        }))
    }

    /// A version of a workflow, or its newest with `None`.
    pub async fn workflow(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<WorkflowRow>, StoreError> {
        const SQL: &str = "SELECT w.* FROM workflows w JOIN workflow_heads h ON h.name = w.name \
             WHERE w.name = $1 AND w.version = COALESCE($2, h.latest_version)";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, WorkflowRow>(SQL).bind(name).bind(version).fetch_optional(p).await?),
        )
    }

    /// Every workflow's head.
    pub async fn workflow_heads(&self) -> Result<Vec<WorkflowHead>, StoreError> {
        const SQL: &str = "SELECT * FROM workflow_heads ORDER BY name";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, WorkflowHead>(SQL).fetch_all(p).await?))
    }

    /// One workflow's head.
    pub async fn workflow_head(&self, name: &str) -> Result<Option<WorkflowHead>, StoreError> {
        const SQL: &str = "SELECT * FROM workflow_heads WHERE name = $1";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, WorkflowHead>(SQL).bind(name).fetch_optional(p).await?),
        )
    }

    /// Every version of a workflow, oldest first (empty if there is no such workflow).
    pub async fn versions_or_empty(&self, name: &str) -> Result<Vec<WorkflowRow>, StoreError> {
        const SQL: &str = "SELECT * FROM workflows WHERE name = $1 ORDER BY version";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, WorkflowRow>(SQL).bind(name).fetch_all(p).await?),
        )
    }

    /// Flip a workflow's kill switch. False if there is no such workflow.
    pub async fn set_workflow_killed(
        &self,
        name: &str,
        killed: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE workflow_heads SET killed = $1, updated_at = $2 WHERE name = $3";
        Ok(
            on_db!(&self.db, p => sqlx::query(SQL).bind(killed).bind(now).bind(name).execute(p).await?.rows_affected() > 0),
        )
    }

    /// Set a workflow's throttle (from its newest version; `None`: no limit).
    pub async fn set_throttle(
        &self,
        name: &str,
        max_concurrent: Option<i64>,
        max_per_minute: Option<i64>,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "UPDATE workflow_heads SET max_concurrent = $1, max_per_minute = $2 WHERE name = $3";
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(max_concurrent).bind(max_per_minute).bind(name).execute(p).await?;
        });
        Ok(())
    }

    /// Switch a workflow's triggers on or off. Switching on starts a new period: events from
    /// before it are ignored. False if there is no such workflow.
    pub async fn set_workflow_enabled(
        &self,
        name: &str,
        enabled: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE workflow_heads SET \
             enabled_at = CASE WHEN $1 AND NOT enabled THEN $2 ELSE enabled_at END, \
             enabled_after_event = CASE WHEN $1 AND NOT enabled \
                THEN (SELECT COALESCE(MAX(id), 0) FROM record_events) ELSE enabled_after_event END, \
             enabled = $1, updated_at = $2 WHERE name = $3";
        Ok(
            on_db!(&self.db, p => sqlx::query(SQL).bind(enabled).bind(now).bind(name).execute(p).await?.rows_affected() > 0),
        )
    }

    /// Flip the global kill switch.
    pub async fn set_global_killed(&self, killed: bool) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        let value = if killed { "on" } else { "off" };
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(GLOBAL_KILL).bind(value).execute(p).await?;
        });
        Ok(())
    }

    /// Whether the global kill switch is on.
    pub async fn global_killed(&self) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT value FROM settings WHERE key = $1";
        let value = on_db!(&self.db, p => sqlx::query_scalar::<_, String>(SQL).bind(GLOBAL_KILL).fetch_optional(p).await?);
        Ok(value.as_deref() == Some("on"))
    }

    /// Names of workflows whose kill switch is on.
    pub async fn killed_workflows(&self) -> Result<Vec<String>, StoreError> {
        const SQL: &str = "SELECT name FROM workflow_heads WHERE killed = TRUE";
        Ok(on_db!(&self.db, p => sqlx::query_scalar::<_, String>(SQL).fetch_all(p).await?))
    }
}
