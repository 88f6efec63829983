//! Executions and their step runs: reads, claims, leases and control requests.

use super::commit::Claim;
use super::rows::{EXECUTION_COLUMNS, ExecutionRow, StepRunRow};
use super::{Store, StoreError, on_db};

pub(crate) const INSERT_EXECUTION_SQL: &str = "INSERT INTO executions (id, workflow, version, status, record_object, \
     record_id, parent_id, input, output, error, state, seq, wake_at, control, pause_reason, lease_owner, lease_until, \
     event_at, created_at, updated_at, ended_at, cause, exclusive, trace) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) \
     ON CONFLICT DO NOTHING";

/// Bind every column of an execution, in [`INSERT_EXECUTION_SQL`]'s order.
macro_rules! bind_execution {
    ($query:expr, $e:expr) => {{
        let e: &ExecutionRow = $e;
        $query
            .bind(&e.id)
            .bind(&e.workflow)
            .bind(e.version)
            .bind(&e.status)
            .bind(&e.record_object)
            .bind(&e.record_id)
            .bind(&e.parent_id)
            .bind(&e.input)
            .bind(&e.output)
            .bind(&e.error)
            .bind(&e.state)
            .bind(e.seq)
            .bind(e.wake_at)
            .bind(&e.control)
            .bind(&e.pause_reason)
            .bind(&e.lease_owner)
            .bind(e.lease_until)
            .bind(e.event_at)
            .bind(e.created_at)
            .bind(e.updated_at)
            .bind(e.ended_at)
            .bind(&e.cause)
            .bind(e.exclusive)
            .bind(&e.trace)
    }};
}
pub(crate) use bind_execution;

/// Pause or cancel an execution, whatever its state, in one statement: a running one gets the
/// request in `control` (its executor acts on it at its next commit); a queued or waiting one
/// is paused, or cancelled, at once; a paused one can be cancelled. `$1` = pause | cancel,
/// `$2` = now, `$3` = id.
pub(crate) const CONTROL_SQL: &str = "UPDATE executions SET \
     status = CASE WHEN status = 'running' THEN status \
                   WHEN $1 = 'cancel' THEN 'cancelled' \
                   WHEN status IN ('queued', 'waiting') THEN 'paused' ELSE status END, \
     control = CASE WHEN status = 'running' THEN $1 ELSE control END, \
     pause_reason = CASE WHEN status IN ('queued', 'waiting') AND $1 = 'pause' THEN 'requested' ELSE pause_reason END, \
     ended_at = CASE WHEN status <> 'running' AND $1 = 'cancel' THEN $2 ELSE ended_at END, \
     updated_at = $2 \
     WHERE id = $3 AND status IN ('queued', 'running', 'waiting', 'paused')";

/// Resume a paused execution: back to waiting if it was waiting, else queued to run. `$3`, if
/// not null, resumes it only if it was paused for that reason. `$1` = now, `$2` = id.
pub(crate) const RESUME_SQL: &str = "UPDATE executions SET \
     status = CASE WHEN wake_at IS NOT NULL THEN 'waiting' ELSE 'queued' END, \
     pause_reason = NULL, control = NULL, updated_at = $1 \
     WHERE id = $2 AND status = 'paused' AND ($3 IS NULL OR pause_reason = $3)";

/// What a claim took.
#[derive(Debug, Default)]
pub struct Claimed {
    pub rows: Vec<ExecutionRow>,
    /// The ids of those that were running under a lease that lapsed: their node stopped (or
    /// gave them up after a failure), maybe in the middle of a step.
    pub taken_over: std::collections::HashSet<String>,
}

/// Filters for listing executions; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub workflow: Option<String>,
    pub status: Option<String>,
    pub record_object: Option<String>,
    pub record_id: Option<String>,
    /// Created at or after (Unix ms).
    pub since: Option<i64>,
    /// Created before (Unix ms).
    pub until: Option<i64>,
    /// What started it: `cause.kind` (`api`, `trigger`, `schedule`, `webhook`, `workflow`).
    pub cause: Option<String>,
    /// Started by this execution (a `start_workflow` step).
    pub parent: Option<String>,
    /// Continue after this (created_at, id), newest first.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

impl ExecutionFilter {
    /// The conditions the filter asks for (none for what it leaves open, so that the database
    /// can use the index that fits: by workflow, status, record, parent or time), from `$1`,
    /// with their values. Only fixed text goes into the SQL; every value is bound. `status` is left out when `with_status` is false.
    fn conditions(&self, with_status: bool) -> (Vec<String>, Vec<Arg>) {
        let mut sql = Vec::new();
        let mut args = Vec::new();
        let mut add = |condition: &str, value: Arg| {
            args.push(value);
            sql.push(condition.replace('?', &format!("${}", args.len())));
        };
        let text = |v: &Option<String>| v.clone().map(Arg::Text);
        let checks = [
            ("workflow = ?", text(&self.workflow)),
            ("status = ?", text(&self.status).filter(|_| with_status)),
            ("record_object = ?", text(&self.record_object)),
            ("record_id = ?", text(&self.record_id)),
            ("parent_id = ?", text(&self.parent)),
            ("created_at >= ?", self.since.map(Arg::Int)),
            ("created_at < ?", self.until.map(Arg::Int)),
            // `cause.kind`, as a LIKE pattern over the stored JSON (compact, and no other
            // object in a cause has a `kind` key), so that one statement serves both databases.
            (
                "cause LIKE ?",
                self.cause
                    .as_ref()
                    .map(|k| Arg::Text(format!("%\"kind\":\"{k}\"%"))),
            ),
        ];
        for (condition, value) in checks {
            if let Some(value) = value {
                add(condition, value);
            }
        }
        (sql, args)
    }
}

/// A value bound to a statement built at run time.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

/// `WHERE a AND b` (or nothing).
fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

/// Bind `args` in order to a statement.
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(t) => q.bind(t.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// One page of executions, newest first.
#[derive(Debug, Clone)]
pub struct ExecutionPage {
    pub items: Vec<ExecutionRow>,
    /// Pass back as `after` for the next page; `None` on the last page.
    pub next: Option<(i64, String)>,
}

impl Store {
    /// One execution.
    pub async fn execution(&self, id: &str) -> Result<Option<ExecutionRow>, StoreError> {
        const SQL: &str = "SELECT * FROM executions WHERE id = $1";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, ExecutionRow>(SQL).bind(id).fetch_optional(p).await?),
        )
    }

    /// An execution's step runs, in order.
    pub async fn step_runs(&self, id: &str) -> Result<Vec<StepRunRow>, StoreError> {
        const SQL: &str = "SELECT * FROM step_runs WHERE execution_id = $1 ORDER BY seq";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, StepRunRow>(SQL).bind(id).fetch_all(p).await?))
    }

    /// Executions matching a filter, newest first.
    pub async fn list_executions(&self, f: &ExecutionFilter) -> Result<ExecutionPage, StoreError> {
        let limit = f.limit.clamp(1, 1000);
        let (mut conditions, mut args) = f.conditions(true);
        if let Some((t, id)) = &f.after {
            let n = args.len();
            conditions.push(format!(
                "(created_at < ${} OR (created_at = ${} AND id < ${}))",
                n + 1,
                n + 1,
                n + 2
            ));
            args.push(Arg::Int(*t));
            args.push(Arg::Text(id.clone()));
        }
        args.push(Arg::Int(limit + 1));
        let sql = format!(
            "SELECT * FROM executions{} ORDER BY created_at DESC, id DESC LIMIT ${}",
            where_clause(&conditions),
            args.len()
        );
        let mut items = on_db!(&self.db, p => bind_all!(sqlx::query_as::<_, ExecutionRow>(sqlx::AssertSqlSafe(sql.clone())), &args)
            .fetch_all(p)
            .await?);
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|e| (e.created_at, e.id.clone()))
        } else {
            None
        };
        Ok(ExecutionPage { items, next })
    }

    /// How many executions match a filter, by status (the filter's status, paging and limit are
    /// not used). Only the statuses some execution has are listed.
    pub async fn count_executions(
        &self,
        f: &ExecutionFilter,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let (conditions, args) = f.conditions(false);
        let sql = format!(
            "SELECT status, COUNT(*) FROM executions{} GROUP BY status",
            where_clause(&conditions)
        );
        Ok(
            on_db!(&self.db, p => bind_all!(sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql.clone())), &args)
                .fetch_all(p)
                .await?),
        )
    }

    /// Claim work for `owner`: queued executions, waiting ones whose time has come, and
    /// running ones whose lease expired and whose node is gone (not seen since `alive_since`),
    /// released, or `owner`'s own. Oldest due first. Returns them, now running under `owner`'s
    /// lease.
    ///
    /// A live node's claims are kept by its heartbeat (`nodes.seen_at`), not by renewing each
    /// execution's lease: a node with 100,000 claimed executions writes one row to keep them.
    pub async fn claim_due(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        alive_since: i64,
        limit: i64,
    ) -> Result<Claimed, StoreError> {
        let (ids, taken_over) = self
            .writer()
            .claim(Claim {
                owner: owner.to_string(),
                now,
                lease_until,
                alive_since,
                limit,
            })
            .await?;
        Ok(Claimed {
            rows: self.executions_by_ids(&ids).await?,
            taken_over: ids.into_iter().take(taken_over).collect(),
        })
    }

    /// These executions (those that exist), in no order.
    async fn executions_by_ids(&self, ids: &[String]) -> Result<Vec<ExecutionRow>, StoreError> {
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut sql = String::from("SELECT * FROM executions WHERE id IN (");
            for i in 0..chunk.len() {
                sql.push_str(if i == 0 { "$" } else { ", $" });
                sql.push_str(&(i + 1).to_string());
            }
            sql.push(')');
            on_db!(&self.db, p => {
                let mut q = sqlx::query_as::<_, ExecutionRow>(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(id);
                }
                rows.extend(q.fetch_all(p).await?);
            });
        }
        Ok(rows)
    }

    /// Claim queued executions of throttled workflows, as many as each workflow's limits allow
    /// now: fewer running or waiting than `max_concurrent`, fewer started in the last minute than
    /// `max_per_minute`. Oldest first. Each workflow is claimed under a lock, so several nodes
    /// never exceed a limit together.
    pub async fn claim_throttled(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ExecutionRow>, StoreError> {
        const THROTTLED: &str = "SELECT name, max_concurrent, max_per_minute FROM workflow_heads h \
             WHERE (max_concurrent IS NOT NULL OR max_per_minute IS NOT NULL) \
             AND EXISTS (SELECT 1 FROM executions e WHERE e.workflow = h.name AND e.status = 'queued')";
        const LOCK_PG: &str = "SELECT name FROM workflow_heads WHERE name = $1 FOR UPDATE";
        const ACTIVE: &str = "SELECT COUNT(*) FROM executions WHERE workflow = $1 AND status IN ('running', 'waiting')";
        const RECENT: &str =
            "SELECT COUNT(*) FROM executions WHERE workflow = $1 AND started_at >= $2";
        let claim = format!(
            "UPDATE executions SET status = 'running', lease_owner = $1, lease_until = $2, updated_at = $3, \
             started_at = $3 WHERE id IN (SELECT id FROM executions WHERE workflow = $4 AND status = 'queued' \
             ORDER BY created_at, id LIMIT $5) RETURNING {EXECUTION_COLUMNS}"
        );
        let mut claimed = Vec::new();
        on_db!(&self.db, p => {
            let throttled: Vec<(String, Option<i64>, Option<i64>)> =
                sqlx::query_as(THROTTLED).fetch_all(p).await?;
            for (name, max_concurrent, max_per_minute) in throttled {
                let mut tx = p.begin_with(self.begin_write()).await?;
                if !self.is_sqlite() {
                    sqlx::query(LOCK_PG).bind(&name).execute(&mut *tx).await?;
                }
                let mut allowed = limit - claimed.len() as i64;
                if let Some(max) = max_concurrent {
                    let active: i64 = sqlx::query_scalar(ACTIVE).bind(&name).fetch_one(&mut *tx).await?;
                    allowed = allowed.min(max - active);
                }
                if let Some(max) = max_per_minute {
                    let recent: i64 = sqlx::query_scalar(RECENT).bind(&name).bind(now - 60_000)
                        .fetch_one(&mut *tx).await?;
                    allowed = allowed.min(max - recent);
                }
                if allowed > 0 {
                    let rows = sqlx::query_as::<_, ExecutionRow>(sqlx::AssertSqlSafe(claim.clone()))
                        .bind(owner).bind(lease_until).bind(now).bind(&name).bind(allowed)
                        .fetch_all(&mut *tx).await?;
                    claimed.extend(rows);
                }
                tx.commit().await?;
            }
        });
        Ok(claimed)
    }

    /// Of these executions, the ones that have ended.
    pub async fn ended_among(&self, ids: &[String]) -> Result<Vec<ExecutionRow>, StoreError> {
        let mut rows = self.executions_by_ids(ids).await?;
        rows.retain(|r| matches!(r.status.as_str(), "completed" | "failed" | "cancelled"));
        Ok(rows)
    }

    /// Make the executions `owner` held claimable now: a node that restarts with the same id
    /// takes back at once what it was driving when it stopped.
    pub async fn expire_leases_of(&self, owner: &str) -> Result<u64, StoreError> {
        const SQL: &str =
            "UPDATE executions SET lease_until = 0 WHERE status = 'running' AND lease_owner = $1";
        Ok(on_db!(&self.db, p => sqlx::query(SQL).bind(owner).execute(p).await?.rows_affected()))
    }

    /// Make every running execution claimable now: on SQLite, at start, every one of them was
    /// left by a process that is gone (this one holds the database's lock).
    pub async fn expire_all_leases(&self) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE executions SET lease_until = 0 WHERE status = 'running'";
        Ok(on_db!(&self.db, p => sqlx::query(SQL).execute(p).await?.rows_affected()))
    }

    /// How many executions are queued, running, waiting and paused (for `/metrics`).
    pub async fn unfinished_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        const SQL: &str = "SELECT status, COUNT(*) FROM executions \
            WHERE status IN ('queued', 'running', 'waiting', 'paused') GROUP BY status";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(p).await?))
    }

    /// The earliest wake-up time among waiting executions.
    pub async fn next_wake(&self) -> Result<Option<i64>, StoreError> {
        const SQL: &str = "SELECT MIN(wake_at) FROM executions WHERE status = 'waiting'";
        Ok(on_db!(&self.db, p => sqlx::query_scalar::<_, Option<i64>>(SQL).fetch_one(p).await?))
    }

    /// Ask an execution to pause or cancel (see [`CONTROL_SQL`]). False if it is finished.
    /// A cancel that ends a waiting (or paused) execution at once closes the step run that
    /// waited, in the same transaction: the history never shows a finished execution waiting.
    pub async fn control(&self, id: &str, control: &str, now: i64) -> Result<bool, StoreError> {
        const CLOSE_WAIT_SQL: &str = "UPDATE step_runs SET status = 'cancelled', ended_at = $1 \
             WHERE execution_id = $2 AND status = 'waiting' \
             AND EXISTS (SELECT 1 FROM executions WHERE id = $2 AND status = 'cancelled')";
        Ok(on_db!(&self.db, p => {
            let mut tx = p.begin().await?;
            let changed = sqlx::query(CONTROL_SQL).bind(control).bind(now).bind(id)
                .execute(&mut *tx).await?.rows_affected() > 0;
            if changed && control == "cancel" {
                sqlx::query(CLOSE_WAIT_SQL).bind(now).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            changed
        }))
    }

    /// Resume a paused execution (see [`RESUME_SQL`]).
    pub async fn resume(
        &self,
        id: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(
            on_db!(&self.db, p => sqlx::query(RESUME_SQL).bind(now).bind(id).bind(reason).execute(p).await?.rows_affected() > 0),
        )
    }

    /// Give up this node's lease on an execution so that it is claimed again at once.
    pub async fn release_lease(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE executions SET lease_until = 0 WHERE id = $1 AND lease_owner = $2 AND status = 'running'";
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(id).bind(owner).execute(p).await?;
        });
        Ok(())
    }

    /// Resume every execution a kill switch paused (of one workflow, or all with `None`).
    pub async fn resume_killed(&self, workflow: Option<&str>, now: i64) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE executions SET \
             status = CASE WHEN wake_at IS NOT NULL THEN 'waiting' ELSE 'queued' END, \
             pause_reason = NULL, control = NULL, updated_at = $1 \
             WHERE status = 'paused' AND pause_reason = 'kill switch' AND ($2 IS NULL OR workflow = $2)";
        Ok(
            on_db!(&self.db, p => sqlx::query(SQL).bind(now).bind(workflow).execute(p).await?.rows_affected()),
        )
    }

    /// How many executions (of `workflow`, or of all) are queued, running or waiting: those a
    /// kill switch turned on pauses before their next step.
    pub async fn count_unfinished(&self, workflow: Option<&str>) -> Result<u64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM executions \
             WHERE status IN ('queued', 'running', 'waiting') AND ($1 IS NULL OR workflow = $1)";
        let n: i64 =
            on_db!(&self.db, p => sqlx::query_scalar(SQL).bind(workflow).fetch_one(p).await?);
        Ok(n.max(0) as u64)
    }

    /// Wake a waiting execution now with a signal in `control` (e.g. `met` for a goal).
    pub async fn signal(&self, id: &str, control: &str, now: i64) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE executions SET control = $1, wake_at = $2, updated_at = $2 \
             WHERE id = $3 AND status = 'waiting'";
        Ok(
            on_db!(&self.db, p => sqlx::query(SQL).bind(control).bind(now).bind(id).execute(p).await?.rows_affected() > 0),
        )
    }

    /// Unfinished executions of `workflow` on a record, newest first.
    pub async fn active_on_record(
        &self,
        workflow: &str,
        object: &str,
        id: &str,
    ) -> Result<Vec<ExecutionRow>, StoreError> {
        const SQL: &str = "SELECT * FROM executions WHERE workflow = $1 AND record_object = $2 AND record_id = $3 \
             AND status IN ('queued', 'running', 'waiting', 'paused') ORDER BY created_at DESC";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, ExecutionRow>(SQL).bind(workflow).bind(object).bind(id).fetch_all(p).await?),
        )
    }

    /// How many executions are in each status.
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        const SQL: &str = "SELECT status, COUNT(*) FROM executions GROUP BY status ORDER BY status";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(p).await?))
    }
}
