//! `flowbox:step/teams`, served by a [`TeamsBackend`].

use serde_json::Value;

use super::super::StepContext;
use super::super::bindings::flowbox::step::teams::Host;
use super::super::bindings::flowbox::step::types::HostError as WitHostError;
use super::super::state::StepState;
use super::{Capability, HostError, unavailable};

/// Teams for a step: their members, the round-robin rotation, and channel notifications.
#[async_trait::async_trait]
pub trait TeamsBackend: Send + Sync {
    /// The team's members, in rotation order.
    async fn members(&self, ctx: &StepContext, team: &str) -> Result<Vec<String>, HostError>;
    /// The next member of the rotation; the same one for every attempt of the same step.
    async fn next_member(&self, ctx: &StepContext, team: &str) -> Result<String, HostError>;
    /// Post a notification (buffered, and stored with the step's result).
    async fn notify(
        &self,
        ctx: &StepContext,
        team: &str,
        channel: &str,
        text: String,
        data: Option<Value>,
    ) -> Result<(), HostError>;
}

impl Host for StepState {
    async fn members(
        &mut self,
        team: String,
    ) -> wasmtime::Result<Result<Vec<String>, WitHostError>> {
        let Some(backend) = self.backends.teams.clone() else {
            return Ok(Err(unavailable(Capability::Teams).into()));
        };
        Ok(backend
            .members(&self.context, &team)
            .await
            .map_err(Into::into))
    }

    async fn next_member(
        &mut self,
        team: String,
    ) -> wasmtime::Result<Result<String, WitHostError>> {
        let Some(backend) = self.backends.teams.clone() else {
            return Ok(Err(unavailable(Capability::Teams).into()));
        };
        Ok(backend
            .next_member(&self.context, &team)
            .await
            .map_err(Into::into))
    }

    async fn notify(
        &mut self,
        team: String,
        channel: String,
        text: String,
        data: Option<String>,
    ) -> wasmtime::Result<Result<(), WitHostError>> {
        let Some(backend) = self.backends.teams.clone() else {
            return Ok(Err(unavailable(Capability::Teams).into()));
        };
        let data = match data.map(|d| serde_json::from_str::<Value>(&d)).transpose() {
            Ok(d) => d,
            Err(e) => {
                return Ok(Err(
                    HostError::Invalid(format!("data is not JSON: {e}")).into()
                ));
            }
        };
        Ok(backend
            .notify(&self.context, &team, &channel, text, data)
            .await
            .map_err(Into::into))
    }
}
