//! Teams through the API: define, list, delete, and read their notifications (the `teams`
//! capability's backend is [`crate::services::teams`]).

use super::error::{Invalid, Thing};
use super::{Engine, EngineError};
use crate::records::objects::valid_name;
use crate::services::teams::{DEFAULT_CHANNEL, MAX_MEMBERS, TeamView, check_names};
use crate::store::{NotificationRow, TeamRow};

impl Engine {
    /// Create a team, or replace its members and channels (the rotation goes on from where it
    /// was). No channels means one, `general`.
    pub async fn put_team(
        &self,
        name: &str,
        members: Vec<String>,
        channels: Vec<String>,
    ) -> Result<TeamView, EngineError> {
        if !valid_name(name) {
            return Err(EngineError::invalid(
                Invalid::Name,
                format!(
                    "`{name}` is not a team name: 1-200 characters of a-z, A-Z, 0-9, `-`, `_`, `.`"
                ),
            ));
        }
        if members.len() > MAX_MEMBERS {
            return Err(EngineError::invalid(
                Invalid::Value,
                format!("{} members: at most {MAX_MEMBERS}", members.len()),
            ));
        }
        // As the API's schema says (MemberName): 1-200 characters, no control characters, no
        // space at either end.
        let member_ok = |m: &str| {
            !m.trim().is_empty()
                && m.chars().count() <= 200
                && m.trim() == m
                && !m.chars().any(char::is_control)
        };
        check_names("members", &members, member_ok)
            .map_err(|m| EngineError::invalid(Invalid::Name, m))?;
        let channels = if channels.is_empty() {
            vec![DEFAULT_CHANNEL.to_string()]
        } else {
            channels
        };
        check_names("channels", &channels, valid_name)
            .map_err(|m| EngineError::invalid(Invalid::Name, m))?;
        let now = self.now_ms();
        let row = TeamRow {
            name: name.to_string(),
            members: serde_json::to_string(&members).unwrap_or_default(),
            channels: serde_json::to_string(&channels).unwrap_or_default(),
            rotation: 0,
            created_at: now,
            updated_at: now,
        };
        self.inner.store.put_team(&row).await?;
        self.team(name).await
    }

    /// One team.
    pub async fn team(&self, name: &str) -> Result<TeamView, EngineError> {
        self.inner
            .store
            .team(name)
            .await?
            .map(TeamView::from)
            .ok_or_else(|| EngineError::NotFound {
                what: Thing::Team,
                id: name.to_string(),
            })
    }

    /// Every team, by name.
    pub async fn teams(&self) -> Result<Vec<TeamView>, EngineError> {
        Ok(self
            .inner
            .store
            .teams()
            .await?
            .into_iter()
            .map(TeamView::from)
            .collect())
    }

    /// Delete a team; its notifications stay readable.
    pub async fn delete_team(&self, name: &str) -> Result<(), EngineError> {
        if self.inner.store.delete_team(name).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound {
                what: Thing::Team,
                id: name.to_string(),
            })
        }
    }

    /// A team's notifications (on one channel, if named), oldest first, after the cursor.
    pub async fn notifications(
        &self,
        team: &str,
        channel: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<NotificationRow>, EngineError> {
        let rows = self
            .inner
            .store
            .notifications(team, channel, after, limit)
            .await?;
        if rows.is_empty() && self.inner.store.team(team).await?.is_none() {
            return Err(EngineError::NotFound {
                what: Thing::Team,
                id: team.to_string(),
            });
        }
        Ok(rows)
    }
}
