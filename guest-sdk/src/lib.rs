//! Write flowbox steps in Rust.
//!
//! A step is one function from JSON to JSON plus one macro. The function receives the input the
//! workflow built for it and the [`Context`] it runs in, and returns its output or a
//! [`StepError`] that tells the host what to do next (fail for good, or retry).
//!
//! ```no_run
//! use flowbox_guest::{export_step, json, log, Context, StepError, Value};
//!
//! fn run(input: Value, ctx: &Context) -> Result<Value, StepError> {
//!     let n = input["n"]
//!         .as_i64()
//!         .ok_or_else(|| StepError::invalid_input("`n` must be an integer"))?;
//!     log::info(&format!("step {} adds one to {n}", ctx.step_id));
//!     Ok(json!({ "n": n + 1 }))
//! }
//!
//! export_step!(run);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasip2` (see the project's `scripts/build-guests.sh`); the
//! result is a component that exports the `flowbox:step/step` world.
//!
//! The host functions live in the modules [`log`], [`variables`], [`clock`], [`records`],
//! [`teams`], [`email`], [`http`], [`llm`], [`files`] and [`audio`]. A component imports only the interfaces it calls, and an admin must grant each
//! of them to the module; a call to a capability this host does not back returns
//! [`HostError::Unavailable`].
#![deny(missing_docs)]

extern crate self as flowbox_guest;

use std::fmt;

pub use serde_json::{Value, json};

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

#[doc(hidden)]
#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod __bindings {
    wit_bindgen::generate!({
        world: "step",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_step_world",
        default_bindings_module: "flowbox_guest::__bindings",
        runtime_path: "flowbox_guest::__wit_bindgen::rt",
    });
}

use __bindings::flowbox::step as wit;

pub mod audio;
pub mod clock;
pub mod email;
pub mod files;
pub mod http;
pub mod llm;
pub mod log;
pub mod records;
pub mod teams;
pub mod variables;

/// A reference to one record: its object type and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    /// The object type, e.g. `deal`.
    pub object: String,
    /// The record's id.
    pub id: String,
}

impl From<wit::types::RecordRef> for RecordRef {
    fn from(r: wit::types::RecordRef) -> Self {
        RecordRef {
            object: r.object,
            id: r.id,
        }
    }
}

impl From<&RecordRef> for wit::types::RecordRef {
    fn from(r: &RecordRef) -> Self {
        wit::types::RecordRef {
            object: r.object.clone(),
            id: r.id.clone(),
        }
    }
}

/// Where a step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The execution this step belongs to.
    pub execution_id: String,
    /// The workflow being executed.
    pub workflow_id: String,
    /// The step's id in the workflow definition.
    pub step_id: String,
    /// 1 on the first attempt, 2 on the first retry, and so on.
    pub attempt: u32,
    /// The record the execution runs against; `None` for a global workflow.
    pub record: Option<RecordRef>,
}

/// How a step failed. The host decides what happens next from the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// The input does not fit what the step expects; a retry cannot help.
    InvalidInput(String),
    /// The step failed for good.
    Permanent(String),
    /// The step may succeed if tried again later.
    Retryable(String),
}

impl StepError {
    /// The input does not fit what the step expects.
    pub fn invalid_input(message: impl fmt::Display) -> Self {
        StepError::InvalidInput(message.to_string())
    }

    /// The step failed for good.
    pub fn permanent(message: impl fmt::Display) -> Self {
        StepError::Permanent(message.to_string())
    }

    /// The step may succeed if tried again later.
    pub fn retryable(message: impl fmt::Display) -> Self {
        StepError::Retryable(message.to_string())
    }

    /// A host error that the step's input caused (`invalid`: a bad field, address or URL;
    /// `not-found`: an unknown record, team or file) as invalid input; any other as `From`
    /// maps it (`failed` retryable, the rest permanent).
    pub fn from_input(e: HostError) -> Self {
        match e {
            HostError::Invalid(m) => StepError::InvalidInput(m),
            HostError::NotFound(m) => StepError::InvalidInput(format!("not found: {m}")),
            other => StepError::from(other),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            StepError::Permanent(m) => write!(f, "permanent failure: {m}"),
            StepError::Retryable(m) => write!(f, "retryable failure: {m}"),
        }
    }
}

impl std::error::Error for StepError {}

/// Why a call to the host failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// This host does not provide the capability (not configured, or not yet supported).
    Unavailable(String),
    /// The request was malformed.
    Invalid(String),
    /// The thing asked for does not exist.
    NotFound(String),
    /// Policy refused the request.
    Denied(String),
    /// The call was valid but failed on the way; trying again may help.
    Failed(String),
}

impl From<wit::types::HostError> for HostError {
    fn from(e: wit::types::HostError) -> Self {
        use wit::types::HostError as W;
        match e {
            W::Unavailable(m) => HostError::Unavailable(m),
            W::Invalid(m) => HostError::Invalid(m),
            W::NotFound(m) => HostError::NotFound(m),
            W::Denied(m) => HostError::Denied(m),
            W::Failed(m) => HostError::Failed(m),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Unavailable(m) => write!(f, "unavailable: {m}"),
            HostError::Invalid(m) => write!(f, "invalid: {m}"),
            HostError::NotFound(m) => write!(f, "not found: {m}"),
            HostError::Denied(m) => write!(f, "denied: {m}"),
            HostError::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for HostError {}

/// A host error fails the step: for good, except `Failed`, which may pass on a retry.
impl From<HostError> for StepError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Failed(_) => StepError::Retryable(e.to_string()),
            _ => StepError::Permanent(e.to_string()),
        }
    }
}

/// Export `run` as the step's entry point: `fn(Value, &Context) -> Result<Value, StepError>`.
///
/// The macro parses the input JSON (a non-JSON input fails with
/// [`StepError::InvalidInput`]), calls the function, and serialises its output.
#[macro_export]
macro_rules! export_step {
    ($run:path) => {
        #[doc(hidden)]
        pub struct __FlowboxStep;

        impl $crate::__bindings::Guest for __FlowboxStep {
            fn run(
                ctx: $crate::__bindings::Context,
                input: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::__bindings::StepError> {
                $crate::__run_step(ctx, input, $run)
            }
        }

        $crate::__bindings::__export_step_world!(__FlowboxStep with_types_in $crate::__bindings);
    };
}

#[doc(hidden)]
pub fn __run_step(
    ctx: __bindings::Context,
    input: String,
    run: fn(Value, &Context) -> Result<Value, StepError>,
) -> Result<String, __bindings::StepError> {
    let ctx = Context {
        execution_id: ctx.execution_id,
        workflow_id: ctx.workflow_id,
        step_id: ctx.step_id,
        attempt: ctx.attempt,
        record: ctx.record.map(RecordRef::from),
    };
    let outcome = serde_json::from_str(&input)
        .map_err(|e| StepError::invalid_input(format!("input is not JSON: {e}")))
        .and_then(|input| run(input, &ctx));
    match outcome {
        Ok(output) => Ok(output.to_string()),
        Err(StepError::InvalidInput(m)) => Err(__bindings::StepError::InvalidInput(m)),
        Err(StepError::Permanent(m)) => Err(__bindings::StepError::Permanent(m)),
        Err(StepError::Retryable(m)) => Err(__bindings::StepError::Retryable(m)),
    }
}
