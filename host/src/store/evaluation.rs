//! One pass of trigger evaluation, in one transaction: claim record events not yet evaluated,
//! read what deciding needs, start executions and meet goals, and mark the events evaluated
//! with what was done. Either all of that commits or none of it (a crash mid-pass evaluates the
//! same events again; no execution is started twice).
//!
//! Passes run one at a time across every node (SQLite: the write lock; PostgreSQL: an advisory
//! lock), so a record's events are evaluated in the order they happened: the first of two
//! changes is the one that starts a workflow that allows no re-entry. A pass takes hundreds of
//! events at once, so this costs little.

use sqlx::{Postgres, Sqlite, Transaction};

use super::executions::{INSERT_EXECUTION_SQL, bind_execution};
use super::records::EventRow;
use super::rows::ExecutionRow;
use super::schedules::DateRunRow;
use super::{Db, Store, StoreError};

enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Run the same code against the transaction, whichever database it is on.
macro_rules! on_tx {
    ($tx:expr, $t:ident => $body:expr) => {
        match $tx {
            Tx::Sqlite($t) => $body,
            Tx::Postgres($t) => $body,
        }
    };
}

/// A workflow's switch, as a pass reads it.
#[derive(Debug, Clone, Copy)]
pub struct Switch {
    pub on: bool,
    /// Switched on at (Unix ms).
    pub since: i64,
    /// The newest event id when it was switched on.
    pub after_event: i64,
}

impl Switch {
    /// Whether an event is the workflow's own: it is on, and the event happened after it was
    /// switched on (later, and committed after; either alone can be fooled by a clock's
    /// resolution or by a write still in flight).
    pub fn takes(&self, event_id: i64, at: i64) -> bool {
        self.on && at >= self.since && event_id > self.after_event
    }
}

/// An evaluation pass in progress.
pub struct Evaluation {
    tx: Tx,
}

impl std::fmt::Debug for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Evaluation")
    }
}

impl Store {
    /// Begin a pass; it waits for any other pass to end. On SQLite it holds the write lock until
    /// it commits (keep passes short).
    pub async fn begin_evaluation(&self) -> Result<Evaluation, StoreError> {
        /// The advisory lock that makes passes take turns (an arbitrary, fixed number).
        const PASS_LOCK: i64 = 0x666c_6f77_6576;
        let tx = match &self.db {
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with(self.begin_write()).await?),
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PASS_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Tx::Postgres(tx)
            }
        };
        Ok(Evaluation { tx })
    }
}

impl Evaluation {
    /// The oldest events not yet evaluated, at most `limit`.
    pub async fn pending_events(&mut self, limit: i64) -> Result<Vec<EventRow>, StoreError> {
        const SQL: &str =
            "SELECT * FROM record_events WHERE evaluated_at IS NULL ORDER BY id LIMIT $1";
        Ok(on_tx!(&mut self.tx, t => sqlx::query_as::<_, EventRow>(SQL)
            .bind(limit).fetch_all(&mut **t).await?))
    }

    /// Every workflow's switch: whether it is on, since when (Unix ms), and the newest event id
    /// when it was switched on.
    pub async fn switches(
        &mut self,
    ) -> Result<std::collections::HashMap<String, Switch>, StoreError> {
        const SQL: &str =
            "SELECT name, enabled, enabled_at, enabled_after_event FROM workflow_heads";
        let rows: Vec<(String, bool, i64, i64)> =
            on_tx!(&mut self.tx, t => sqlx::query_as(SQL).fetch_all(&mut **t).await?);
        Ok(rows
            .into_iter()
            .map(|(name, on, since, after_event)| {
                (
                    name,
                    Switch {
                        on,
                        since,
                        after_event,
                    },
                )
            })
            .collect())
    }

    /// Executions waiting (on a delay or a goal) on a record.
    pub async fn waiting_on_record(
        &mut self,
        object: &str,
        id: &str,
    ) -> Result<Vec<ExecutionRow>, StoreError> {
        const SQL: &str = "SELECT * FROM executions WHERE record_object = $1 AND record_id = $2 \
             AND status = 'waiting'";
        Ok(
            on_tx!(&mut self.tx, t => sqlx::query_as::<_, ExecutionRow>(SQL)
            .bind(object).bind(id).fetch_all(&mut **t).await?),
        )
    }

    /// The unfinished execution of `workflow` on a record, if there is one.
    pub async fn active_on_record(
        &mut self,
        workflow: &str,
        object: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT id FROM executions WHERE workflow = $1 AND record_object = $2 \
             AND record_id = $3 AND status IN ('queued', 'running', 'waiting', 'paused') LIMIT 1";
        Ok(
            on_tx!(&mut self.tx, t => sqlx::query_scalar::<_, String>(SQL)
            .bind(workflow).bind(object).bind(id).fetch_optional(&mut **t).await?),
        )
    }

    /// Insert an execution. False when its workflow allows no re-entry and the record is in it.
    pub async fn insert_execution(&mut self, row: &ExecutionRow) -> Result<bool, StoreError> {
        Ok(
            on_tx!(&mut self.tx, t => bind_execution!(sqlx::query(INSERT_EXECUTION_SQL), row)
            .execute(&mut **t).await?.rows_affected() == 1),
        )
    }

    /// Wake a waiting execution now with a signal (`met` for a goal). False if it no longer waits.
    pub async fn signal(&mut self, id: &str, control: &str, now: i64) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE executions SET control = $1, wake_at = $2, updated_at = $2 \
             WHERE id = $3 AND status = 'waiting'";
        Ok(on_tx!(&mut self.tx, t => sqlx::query(SQL)
            .bind(control).bind(now).bind(id).execute(&mut **t).await?.rows_affected() > 0))
    }

    /// Move a cron trigger's next run from `from` to `to`. False if another pass moved it.
    pub async fn advance_schedule(
        &mut self,
        workflow: &str,
        trigger: &str,
        from: i64,
        to: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE schedules SET next_at = $1 WHERE workflow = $2 AND trigger_id = $3 \
             AND next_at = $4";
        Ok(on_tx!(&mut self.tx, t => sqlx::query(SQL)
            .bind(to).bind(workflow).bind(trigger).bind(from).execute(&mut **t).await?.rows_affected() > 0))
    }

    /// Take a due date run (it runs once). False if it moved or another pass took it.
    pub async fn take_date_run(&mut self, run: &DateRunRow) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM date_runs WHERE workflow = $1 AND trigger_id = $2 AND object = $3 \
             AND record_id = $4 AND run_at = $5";
        Ok(on_tx!(&mut self.tx, t => sqlx::query(SQL)
            .bind(&run.workflow).bind(&run.trigger_id).bind(&run.object).bind(&run.record_id)
            .bind(run.run_at).execute(&mut **t).await?.rows_affected() > 0))
    }

    /// Set (or, with `None`, remove) a record's date run for a trigger.
    pub async fn set_date_run(
        &mut self,
        workflow: &str,
        trigger: &str,
        object: &str,
        record_id: &str,
        run_at: Option<i64>,
    ) -> Result<(), StoreError> {
        const UPSERT: &str = "INSERT INTO date_runs (workflow, trigger_id, object, record_id, run_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workflow, trigger_id, object, record_id) \
             DO UPDATE SET run_at = excluded.run_at";
        const DELETE: &str = "DELETE FROM date_runs WHERE workflow = $1 AND trigger_id = $2 \
             AND object = $3 AND record_id = $4";
        on_tx!(&mut self.tx, t => {
            match run_at {
                Some(at) => sqlx::query(UPSERT).bind(workflow).bind(trigger).bind(object)
                    .bind(record_id).bind(at).execute(&mut **t).await?,
                None => sqlx::query(DELETE).bind(workflow).bind(trigger).bind(object)
                    .bind(record_id).execute(&mut **t).await?,
            };
        });
        Ok(())
    }

    /// Mark an event evaluated, with what was done (JSON).
    pub async fn evaluated(&mut self, id: i64, now: i64, outcome: &str) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE record_events SET evaluated_at = $1, outcome = $2 WHERE id = $3";
        on_tx!(&mut self.tx, t => {
            sqlx::query(SQL).bind(now).bind(outcome).bind(id).execute(&mut **t).await?;
        });
        Ok(())
    }

    /// Make it all durable.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.tx {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}
