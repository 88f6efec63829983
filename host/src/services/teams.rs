//! Teams: named lists of members (who can own records) with channels. Steps granted `teams`
//! read the members, take the next member of a round-robin rotation, and post notifications to
//! a channel; the API defines teams and reads their notifications.

use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use crate::sandbox::{HostError, StepContext, TeamsBackend};
use crate::store::{NotificationRow, SideWrite, Store, TeamRow};

/// Members a team may have.
pub(crate) const MAX_MEMBERS: usize = 1000;
/// The longest notification text, in bytes.
pub(crate) const MAX_TEXT: usize = 16 << 10;
/// The largest `data` kept with a notification, in bytes of JSON.
pub(crate) const MAX_DATA: usize = 64 << 10;
/// The channel a team gets when its definition names none.
pub const DEFAULT_CHANNEL: &str = "general";

/// A team as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TeamView {
    pub name: String,
    pub members: Vec<String>,
    pub channels: Vec<String>,
    /// How many round-robin picks were made; the next goes to `members[rotation % len]`.
    pub rotation: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<TeamRow> for TeamView {
    fn from(r: TeamRow) -> Self {
        TeamView {
            name: r.name,
            members: serde_json::from_str(&r.members).unwrap_or_default(),
            channels: serde_json::from_str(&r.channels).unwrap_or_default(),
            rotation: r.rotation,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub(crate) fn check_names(
    what: &str,
    names: &[String],
    valid: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        if !valid(n) {
            return Err(format!("{what}: `{n}` is not a valid name"));
        }
        if !seen.insert(n) {
            return Err(format!("{what}: `{n}` appears twice"));
        }
    }
    Ok(())
}

/// One step run's view of the teams: notifications are buffered and committed with the step's
/// result, so a failed step posts nothing and a retried one posts once.
pub(crate) struct StepTeams {
    store: Store,
    now: i64,
    posted: Mutex<Vec<NotificationRow>>,
}

impl StepTeams {
    pub(crate) fn new(store: Store, now: i64) -> Self {
        StepTeams {
            store,
            now,
            posted: Mutex::default(),
        }
    }

    /// The notifications, as side writes of the step's commit.
    pub(crate) fn into_side_writes(self) -> Vec<SideWrite> {
        self.posted
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|n| SideWrite::Notify(Box::new(n)))
            .collect()
    }

    async fn team(&self, name: &str) -> Result<TeamView, HostError> {
        self.store
            .team(name)
            .await
            .map_err(|e| HostError::Failed(format!("reading team `{name}`: {e}")))?
            .map(TeamView::from)
            .ok_or_else(|| HostError::NotFound(format!("team `{name}`")))
    }
}

#[async_trait::async_trait]
impl TeamsBackend for StepTeams {
    async fn members(&self, _ctx: &StepContext, team: &str) -> Result<Vec<String>, HostError> {
        Ok(self.team(team).await?.members)
    }

    async fn next_member(&self, ctx: &StepContext, team: &str) -> Result<String, HostError> {
        let picked = self
            .store
            .pick_member(team, &ctx.execution_id, &ctx.step_id, self.now)
            .await
            .map_err(|e| HostError::Failed(format!("the rotation of team `{team}`: {e}")))?;
        match picked {
            Some(member) => Ok(member),
            // Tell a missing team from an empty one.
            None => {
                self.team(team).await?;
                Err(HostError::Invalid(format!("team `{team}` has no members")))
            }
        }
    }

    async fn notify(
        &self,
        ctx: &StepContext,
        team: &str,
        channel: &str,
        text: String,
        data: Option<Value>,
    ) -> Result<(), HostError> {
        let t = self.team(team).await?;
        if !t.channels.iter().any(|c| c == channel) {
            return Err(HostError::NotFound(format!(
                "channel `{channel}` of team `{team}` (its channels: {})",
                t.channels.join(", ")
            )));
        }
        if text.trim().is_empty() {
            return Err(HostError::Invalid("a notification needs text".into()));
        }
        if text.len() > MAX_TEXT {
            return Err(HostError::Invalid(format!(
                "the text is {} bytes: at most {MAX_TEXT}",
                text.len()
            )));
        }
        let data = data.map(|d| d.to_string());
        if let Some(d) = data.as_ref().filter(|d| d.len() > MAX_DATA) {
            return Err(HostError::Invalid(format!(
                "`data` is {} bytes of JSON: at most {MAX_DATA}",
                d.len()
            )));
        }
        self.posted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(NotificationRow {
                id: 0,
                team: team.to_string(),
                channel: channel.to_string(),
                text,
                data,
                execution_id: Some(ctx.execution_id.clone()),
                step_id: Some(ctx.step_id.clone()),
                created_at: self.now,
            });
        Ok(())
    }
}
