//! `flowbox:step/records`, served by a [`RecordsBackend`].

use serde_json::Value;

use super::super::bindings::flowbox::step::records::Host;
use super::super::bindings::flowbox::step::types::{
    HostError as WitHostError, RecordRef as WitRecordRef,
};
use super::super::state::StepState;
use super::super::{RecordRef, StepContext};
use super::{Capability, HostError, unavailable};

/// Reads and writes records for a step. Writes should be buffered and committed with the step's
/// result (that is what makes them exactly-once).
#[async_trait::async_trait]
pub trait RecordsBackend: Send + Sync {
    /// The record's fields.
    async fn get(&self, ctx: &StepContext, record: &RecordRef) -> Result<Value, HostError>;
    /// Update some fields (a JSON object).
    async fn update_fields(
        &self,
        ctx: &StepContext,
        record: &RecordRef,
        fields: Value,
    ) -> Result<(), HostError>;
    /// Add `by` to a number field when the step commits.
    async fn increment(
        &self,
        ctx: &StepContext,
        record: &RecordRef,
        field: &str,
        by: serde_json::Number,
    ) -> Result<(), HostError>;
    /// Create a record related to `parent`.
    async fn create_related(
        &self,
        ctx: &StepContext,
        parent: &RecordRef,
        object: &str,
        relation: &str,
        fields: Value,
    ) -> Result<RecordRef, HostError>;
    /// Attach an activity (a JSON object) to a record; returns its id.
    async fn add_activity(
        &self,
        ctx: &StepContext,
        record: &RecordRef,
        activity: Value,
    ) -> Result<String, HostError>;
}

fn parse_object(what: &str, text: &str) -> Result<Value, HostError> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(HostError::Invalid(format!("{what} must be a JSON object"))),
        Err(e) => Err(HostError::Invalid(format!("{what} is not JSON: {e}"))),
    }
}

impl Host for StepState {
    async fn get(
        &mut self,
        record: WitRecordRef,
    ) -> wasmtime::Result<Result<String, WitHostError>> {
        let Some(backend) = self.backends.records.clone() else {
            return Ok(Err(unavailable(Capability::Records).into()));
        };
        let record = RecordRef::from(record);
        Ok(backend
            .get(&self.context, &record)
            .await
            .map(|v| v.to_string())
            .map_err(Into::into))
    }

    async fn update_fields(
        &mut self,
        record: WitRecordRef,
        fields: String,
    ) -> wasmtime::Result<Result<(), WitHostError>> {
        let Some(backend) = self.backends.records.clone() else {
            return Ok(Err(unavailable(Capability::Records).into()));
        };
        let fields = match parse_object("fields", &fields) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e.into())),
        };
        let record = RecordRef::from(record);
        Ok(backend
            .update_fields(&self.context, &record, fields)
            .await
            .map_err(Into::into))
    }

    async fn increment(
        &mut self,
        record: WitRecordRef,
        field: String,
        by: f64,
    ) -> wasmtime::Result<Result<(), WitHostError>> {
        let Some(backend) = self.backends.records.clone() else {
            return Ok(Err(unavailable(Capability::Records).into()));
        };
        // Whole numbers stay integers in the record.
        let by = if by.fract() == 0.0 && by.abs() < 9.0e15 {
            Some(serde_json::Number::from(by as i64))
        } else {
            serde_json::Number::from_f64(by)
        };
        let Some(by) = by else {
            return Ok(Err(HostError::Invalid(
                "`by` must be a finite number".into(),
            )
            .into()));
        };
        let record = RecordRef::from(record);
        Ok(backend
            .increment(&self.context, &record, &field, by)
            .await
            .map_err(Into::into))
    }

    async fn create_related(
        &mut self,
        parent: WitRecordRef,
        object: String,
        relation: String,
        fields: String,
    ) -> wasmtime::Result<Result<WitRecordRef, WitHostError>> {
        let Some(backend) = self.backends.records.clone() else {
            return Ok(Err(unavailable(Capability::Records).into()));
        };
        let fields = match parse_object("fields", &fields) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e.into())),
        };
        let parent = RecordRef::from(parent);
        Ok(backend
            .create_related(&self.context, &parent, &object, &relation, fields)
            .await
            .map(Into::into)
            .map_err(Into::into))
    }

    async fn add_activity(
        &mut self,
        record: WitRecordRef,
        activity: String,
    ) -> wasmtime::Result<Result<String, WitHostError>> {
        let Some(backend) = self.backends.records.clone() else {
            return Ok(Err(unavailable(Capability::Records).into()));
        };
        let activity = match parse_object("activity", &activity) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e.into())),
        };
        let record = RecordRef::from(record);
        Ok(backend
            .add_activity(&self.context, &record, activity)
            .await
            .map_err(Into::into))
    }
}
