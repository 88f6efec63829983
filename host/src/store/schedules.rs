//! Timed triggers: cron schedules' next runs, date-field runs, and activities coming due.

use super::records::ActivityRow;
use super::{Store, StoreError, on_db};

/// A cron trigger's next run.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRow {
    pub workflow: String,
    pub trigger_id: String,
    pub next_at: i64,
}
from_row!(ScheduleRow {
    workflow,
    trigger_id,
    next_at
});

/// A date-field trigger's run for one record.
#[derive(Debug, Clone, PartialEq)]
pub struct DateRunRow {
    pub workflow: String,
    pub trigger_id: String,
    pub object: String,
    pub record_id: String,
    pub run_at: i64,
}
from_row!(DateRunRow {
    workflow,
    trigger_id,
    object,
    record_id,
    run_at
});

impl Store {
    /// Replace a workflow's cron runs with these (its triggers as they are now).
    pub async fn sync_schedules(
        &self,
        workflow: &str,
        rows: &[ScheduleRow],
    ) -> Result<(), StoreError> {
        const DELETE: &str = "DELETE FROM schedules WHERE workflow = $1";
        const INSERT: &str =
            "INSERT INTO schedules (workflow, trigger_id, next_at) VALUES ($1, $2, $3)";
        on_db!(&self.db, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            sqlx::query(DELETE).bind(workflow).execute(&mut *tx).await?;
            for r in rows {
                sqlx::query(INSERT).bind(&r.workflow).bind(&r.trigger_id).bind(r.next_at)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Replace a workflow's date runs with these.
    pub async fn sync_date_runs(
        &self,
        workflow: &str,
        rows: &[DateRunRow],
    ) -> Result<(), StoreError> {
        const DELETE: &str = "DELETE FROM date_runs WHERE workflow = $1";
        const INSERT: &str = "INSERT INTO date_runs (workflow, trigger_id, object, record_id, run_at) \
             VALUES ($1, $2, $3, $4, $5)";
        on_db!(&self.db, p => {
            let mut tx = p.begin_with(self.begin_write()).await?;
            sqlx::query(DELETE).bind(workflow).execute(&mut *tx).await?;
            for r in rows {
                sqlx::query(INSERT).bind(&r.workflow).bind(&r.trigger_id).bind(&r.object)
                    .bind(&r.record_id).bind(r.run_at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Cron runs due by `now`, of switched-on workflows.
    pub async fn due_schedules(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<ScheduleRow>, StoreError> {
        const SQL: &str = "SELECT s.workflow, s.trigger_id, s.next_at FROM schedules s \
             JOIN workflow_heads h ON h.name = s.workflow \
             WHERE h.enabled AND s.next_at <= $1 ORDER BY s.next_at LIMIT $2";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, ScheduleRow>(SQL)
            .bind(now).bind(limit).fetch_all(p).await?))
    }

    /// Date runs due by `now`, of switched-on workflows.
    pub async fn due_date_runs(&self, now: i64, limit: i64) -> Result<Vec<DateRunRow>, StoreError> {
        const SQL: &str = "SELECT d.workflow, d.trigger_id, d.object, d.record_id, d.run_at FROM date_runs d \
             JOIN workflow_heads h ON h.name = d.workflow \
             WHERE h.enabled AND d.run_at <= $1 ORDER BY d.run_at LIMIT $2";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, DateRunRow>(SQL)
            .bind(now).bind(limit).fetch_all(p).await?))
    }

    /// A workflow's date runs, soonest first.
    pub async fn date_runs_of(&self, workflow: &str) -> Result<Vec<DateRunRow>, StoreError> {
        const SQL: &str = "SELECT * FROM date_runs WHERE workflow = $1 ORDER BY run_at, record_id";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, DateRunRow>(SQL)
            .bind(workflow).fetch_all(p).await?))
    }

    /// A workflow's cron runs.
    pub async fn schedules_of(&self, workflow: &str) -> Result<Vec<ScheduleRow>, StoreError> {
        const SQL: &str = "SELECT * FROM schedules WHERE workflow = $1 ORDER BY trigger_id";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, ScheduleRow>(SQL)
            .bind(workflow).fetch_all(p).await?))
    }

    /// Open activities whose due time has passed and whose past-due event is not recorded yet.
    pub async fn due_activities(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<ActivityRow>, StoreError> {
        const SQL: &str = "SELECT * FROM activities WHERE done_at IS NULL AND past_due_at IS NULL \
             AND due_at <= $1 ORDER BY due_at LIMIT $2";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, ActivityRow>(SQL)
            .bind(now).bind(limit).fetch_all(p).await?))
    }

    /// The earliest time a timed trigger is due: a cron run or a date run of a switched-on
    /// workflow, an open activity's due time. (A switched-off workflow's runs wait without
    /// waking anyone: the scheduler would otherwise spin on them.)
    pub async fn next_trigger_time(&self) -> Result<Option<i64>, StoreError> {
        const SQL: &str = "SELECT MIN(t) FROM ( \
             SELECT MIN(s.next_at) AS t FROM schedules s JOIN workflow_heads h ON h.name = s.workflow WHERE h.enabled \
             UNION ALL SELECT MIN(d.run_at) AS t FROM date_runs d JOIN workflow_heads h ON h.name = d.workflow WHERE h.enabled \
             UNION ALL SELECT MIN(due_at) AS t FROM activities WHERE done_at IS NULL AND past_due_at IS NULL \
             ) AS times";
        Ok(on_db!(&self.db, p => sqlx::query_scalar::<_, Option<i64>>(SQL).fetch_one(p).await?))
    }
}
