//! Teams: members in round-robin order, and channels for notifications.

use crate::{HostError, Value, wit::teams as raw};

/// The team's members, in rotation order.
pub fn members(team: &str) -> Result<Vec<String>, HostError> {
    Ok(raw::members(team)?)
}

/// The next member of the team's rotation. The rotation advances once per step: every attempt
/// of this step (and every call in it) gets the same member.
pub fn next_member(team: &str) -> Result<String, HostError> {
    Ok(raw::next_member(team)?)
}

/// Post a notification to one of the team's channels, with optional JSON `data`. It is stored
/// with the step's result: a failed step posts nothing, a retried one posts once.
pub fn notify(
    team: &str,
    channel: &str,
    text: &str,
    data: Option<&Value>,
) -> Result<(), HostError> {
    Ok(raw::notify(
        team,
        channel,
        text,
        data.map(|d| d.to_string()).as_deref(),
    )?)
}
