//! Teams, their round-robin rotation, and the notifications posted to their channels.

use super::{Store, StoreError, on_db};

/// A team: members (JSON array, in rotation order) and channels (JSON array).
#[derive(Debug, Clone, PartialEq)]
pub struct TeamRow {
    pub name: String,
    pub members: String,
    pub channels: String,
    pub rotation: i64,
    pub created_at: i64,
    pub updated_at: i64,
}
from_row!(TeamRow {
    name,
    members,
    channels,
    rotation,
    created_at,
    updated_at
});

/// A notification on a team's channel.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRow {
    /// Assigned by the database; increasing, so it serves as a cursor.
    pub id: i64,
    pub team: String,
    pub channel: String,
    pub text: String,
    /// JSON, if the step attached any.
    pub data: Option<String>,
    pub execution_id: Option<String>,
    pub step_id: Option<String>,
    pub created_at: i64,
}
from_row!(NotificationRow {
    id,
    team,
    channel,
    text,
    data,
    execution_id,
    step_id,
    created_at
});

pub(crate) const INSERT_NOTIFICATION_SQL: &str = "INSERT INTO notifications \
    (team, channel, text, data, execution_id, step_id, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

impl Store {
    /// Create a team or replace its members and channels (its rotation count is kept).
    pub async fn put_team(&self, row: &TeamRow) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO teams (name, members, channels, rotation, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT (name) DO UPDATE \
             SET members = excluded.members, channels = excluded.channels, updated_at = excluded.updated_at";
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(&row.name).bind(&row.members).bind(&row.channels)
                .bind(row.updated_at).execute(p).await?;
        });
        Ok(())
    }

    pub async fn team(&self, name: &str) -> Result<Option<TeamRow>, StoreError> {
        const SQL: &str = "SELECT * FROM teams WHERE name = $1";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, TeamRow>(SQL).bind(name).fetch_optional(p).await?),
        )
    }

    /// Whether `member` is in some team.
    pub async fn is_team_member(&self, member: &str) -> Result<bool, StoreError> {
        // Members are stored as a JSON array of names: LIKE narrows the teams to those whose
        // text holds the name in quotes (its wildcards escaped: a name may hold `_`), and the
        // parsed list decides (SQLite's LIKE ignores case).
        const SQL: &str = "SELECT members FROM teams WHERE members LIKE $1 ESCAPE '\\'";
        let escaped = serde_json::to_string(member)
            .unwrap_or_default()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let lists: Vec<String> =
            on_db!(&self.db, p => sqlx::query_scalar(SQL).bind(&pattern).fetch_all(p).await?);
        Ok(lists.iter().any(|l| {
            serde_json::from_str::<Vec<String>>(l).is_ok_and(|m| m.iter().any(|x| x == member))
        }))
    }

    pub async fn teams(&self) -> Result<Vec<TeamRow>, StoreError> {
        const SQL: &str = "SELECT * FROM teams ORDER BY name";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, TeamRow>(SQL).fetch_all(p).await?))
    }

    /// Delete a team (its notifications stay). False if there was none.
    pub async fn delete_team(&self, name: &str) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM teams WHERE name = $1";
        Ok(on_db!(&self.db, p => sqlx::query(SQL).bind(name).execute(p).await?.rows_affected() > 0))
    }

    /// The member the rotation gives this step: the one it gave before, if it did, or else the
    /// next one (the rotation advances atomically, so concurrent steps get different members).
    /// `None` if the team does not exist or has no members.
    pub async fn pick_member(
        &self,
        team: &str,
        execution_id: &str,
        step_id: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        const PICKED: &str =
            "SELECT member FROM team_picks WHERE execution_id = $1 AND step_id = $2 AND team = $3";
        // The write comes first in the transaction: SQLite then waits for its lock instead of
        // failing a read transaction that tries to become a write one.
        const ADVANCE: &str = "UPDATE teams SET rotation = rotation + 1 WHERE name = $1 \
             RETURNING rotation, members";
        const RECORD: &str = "INSERT INTO team_picks (execution_id, step_id, team, member, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
        on_db!(&self.db, p => {
            let before: Option<String> = sqlx::query_scalar(PICKED).bind(execution_id)
                .bind(step_id).bind(team).fetch_optional(p).await?;
            if before.is_some() {
                return Ok(before);
            }
            let mut tx = p.begin().await?;
            let Some((rotation, members)): Option<(i64, String)> = sqlx::query_as(ADVANCE)
                .bind(team).fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            let members: Vec<String> = serde_json::from_str(&members).unwrap_or_default();
            if members.is_empty() {
                return Ok(None);
            }
            let member = members[((rotation - 1) as usize) % members.len()].clone();
            let recorded = sqlx::query(RECORD).bind(execution_id).bind(step_id).bind(team)
                .bind(&member).bind(now).execute(&mut *tx).await?.rows_affected();
            if recorded == 0 {
                // Another attempt of the same step picked meanwhile: keep its member.
                tx.rollback().await?;
                let before: Option<String> = sqlx::query_scalar(PICKED).bind(execution_id)
                    .bind(step_id).bind(team).fetch_optional(p).await?;
                return Ok(before);
            }
            tx.commit().await?;
            Ok(Some(member))
        })
    }

    /// Notifications on a team's channels (one channel, if named), oldest first, after the
    /// cursor `after` (a notification id).
    pub async fn notifications(
        &self,
        team: &str,
        channel: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        const SQL: &str = "SELECT * FROM notifications WHERE team = $1 \
             AND ($2 IS NULL OR channel = $2) AND id > $3 ORDER BY id LIMIT $4";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, NotificationRow>(SQL).bind(team)
            .bind(channel).bind(after).bind(limit).fetch_all(p).await?),
        )
    }
}
