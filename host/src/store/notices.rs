//! Failure notices: the outbox of a workflow's failure notifications. A row is written in the
//! commit that records the step failure, so a failure is reported exactly once however the
//! process stops; the dispatcher then claims due rows, delivers them, and retries.

use super::{Store, StoreError, on_db};

/// Where a notice stands.
pub mod notice_status {
    pub const PENDING: &str = "pending";
    pub const SENT: &str = "sent";
    /// Given up on after the last attempt; the error says why.
    pub const FAILED: &str = "failed";
}

/// One failure notice to one target.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeRow {
    /// Assigned by the database.
    pub id: i64,
    pub execution_id: String,
    pub step_id: String,
    /// `team`, `email` or `webhook`.
    pub kind: String,
    /// `team/channel`, an address, or a URL.
    pub target: String,
    /// The JSON sent.
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    /// When it is next tried (pending), or until when a node holds its claim.
    pub next_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}
from_row!(NoticeRow {
    id,
    execution_id,
    step_id,
    kind,
    target,
    payload,
    status,
    attempts,
    next_at,
    last_error,
    created_at,
    sent_at
});

pub(crate) const INSERT_NOTICE_SQL: &str = "INSERT INTO failure_notices \
    (execution_id, step_id, kind, target, payload, status, attempts, next_at, created_at) \
    VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)";

impl Store {
    /// Claim the oldest due notice until `hold_until`, counting the attempt. On PostgreSQL two
    /// nodes may pick the same row: the update re-checks `next_at` under the row's lock, so
    /// only one of them gets it.
    pub async fn claim_notice(
        &self,
        now: i64,
        hold_until: i64,
    ) -> Result<Option<NoticeRow>, StoreError> {
        const SQL: &str = "UPDATE failure_notices SET next_at = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM failure_notices WHERE status = 'pending' AND next_at <= $1 \
             ORDER BY next_at, id LIMIT 1) AND status = 'pending' AND next_at <= $1 RETURNING *";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, NoticeRow>(SQL).bind(now)
            .bind(hold_until).fetch_optional(p).await?),
        )
    }

    /// The earliest time a pending notice is due, if any is.
    pub async fn next_notice_at(&self) -> Result<Option<i64>, StoreError> {
        const SQL: &str = "SELECT MIN(next_at) FROM failure_notices WHERE status = 'pending'";
        Ok(on_db!(&self.db, p => sqlx::query_scalar::<_, Option<i64>>(SQL).fetch_one(p).await?))
    }

    /// Record a delivery attempt's result: sent, tried again at `retry_at`, or (no `retry_at`)
    /// given up on.
    pub async fn notice_tried(
        &self,
        id: i64,
        now: i64,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        const SENT: &str = "UPDATE failure_notices SET status = 'sent', sent_at = $2, \
             last_error = NULL WHERE id = $1";
        const RETRY: &str =
            "UPDATE failure_notices SET last_error = $2, next_at = $3 WHERE id = $1";
        const FAILED: &str =
            "UPDATE failure_notices SET status = 'failed', last_error = $2 WHERE id = $1";
        on_db!(&self.db, p => {
            match (error, retry_at) {
                (None, _) => sqlx::query(SENT).bind(id).bind(now).execute(p).await?,
                (Some(e), Some(at)) => sqlx::query(RETRY).bind(id).bind(e).bind(at).execute(p).await?,
                (Some(e), None) => sqlx::query(FAILED).bind(id).bind(e).execute(p).await?,
            };
        });
        Ok(())
    }

    /// Post a notice to a team's channel (its first, if `None`) and mark it sent, in one
    /// transaction (so it is posted once). False if the team or the channel is gone.
    pub async fn post_notice(
        &self,
        notice: &NoticeRow,
        team: &str,
        channel: Option<&str>,
        text: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        const CHANNEL: &str = "SELECT channels FROM teams WHERE name = $1";
        const SENT: &str = "UPDATE failure_notices SET status = 'sent', sent_at = $2, \
             last_error = NULL WHERE id = $1 AND status = 'pending'";
        on_db!(&self.db, p => {
            let mut tx = p.begin().await?;
            // The claim is the write that comes first: SQLite then takes its lock at once.
            let claimed = sqlx::query(SENT).bind(notice.id).bind(now).execute(&mut *tx).await?
                .rows_affected() > 0;
            let channels: Option<String> = sqlx::query_scalar(CHANNEL).bind(team)
                .fetch_optional(&mut *tx).await?;
            let channels: Vec<String> = channels
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default();
            let Some(channel) = (match channel {
                Some(c) => channels.iter().find(|have| *have == c),
                None => channels.first(),
            }) else {
                tx.rollback().await?;
                return Ok(false);
            };
            if claimed {
                sqlx::query(super::teams::INSERT_NOTIFICATION_SQL).bind(team).bind(channel)
                    .bind(text).bind(&notice.payload).bind(&notice.execution_id)
                    .bind(&notice.step_id).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// An execution's failure notices, oldest first.
    pub async fn notices_of(&self, execution_id: &str) -> Result<Vec<NoticeRow>, StoreError> {
        const SQL: &str = "SELECT * FROM failure_notices WHERE execution_id = $1 ORDER BY id";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, NoticeRow>(SQL).bind(execution_id)
            .fetch_all(p).await?),
        )
    }
}
