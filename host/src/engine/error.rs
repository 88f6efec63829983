//! What can go wrong in an engine call; the API maps each to a status code.

use super::definition::InvalidDefinition;
use crate::records::objects::FieldError;
use crate::sandbox::LoadError;
use crate::store::StoreError;

/// Why an engine call failed; the API maps each to a status code.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A definition did not validate.
    #[error(transparent)]
    InvalidDefinition(#[from] InvalidDefinition),
    /// A step module did not load.
    #[error(transparent)]
    InvalidModule(#[from] LoadError),
    /// Something asked for does not exist.
    #[error("{what} `{id}` not found")]
    NotFound { what: Thing, id: String },
    /// A request that does not fit the workflow, the data or the names the host takes.
    #[error("{message}")]
    Invalid { kind: Invalid, message: String },
    /// An expression (a filter) ran out of its budget.
    #[error("{0}")]
    ExpressionLimit(String),
    /// The request conflicts with the current state (a kill switch, a finished execution).
    #[error("{message}")]
    Conflict { kind: Conflict, message: String },
    /// A record's (or an object type's) fields do not fit; each error names its field.
    #[error("invalid fields{}: {}", if object.is_empty() { String::new() } else { format!(" for `{object}`") }, errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidFields {
        object: String,
        errors: Vec<FieldError>,
    },
    /// A webhook call did not prove it comes from the sender (its secret or signature).
    #[error("{0}")]
    BadWebhookAuth(String),
    /// A webhook was called with a method it does not take (GET or POST).
    #[error("{0}")]
    WebhookMethod(String),
    /// The request's content does not parse.
    #[error("{0}")]
    Malformed(String),
    /// The request's content parses into more than the host takes (values, rows, depth).
    #[error("{0}")]
    TooLarge(String),
    /// A unique field's value is taken by another record.
    #[error("`{field}` must be unique: {object}/{other} already has `{value}`")]
    Duplicate {
        object: String,
        field: String,
        value: String,
        other: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EngineError {
    pub(crate) fn invalid(kind: Invalid, message: impl Into<String>) -> Self {
        EngineError::Invalid {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn conflict(kind: Conflict, message: impl Into<String>) -> Self {
        EngineError::Conflict {
            kind,
            message: message.into(),
        }
    }
}

/// What a `NotFound` did not find; each kind has its own error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thing {
    Workflow,
    WorkflowVersion,
    Execution,
    Record,
    StepModule,
    ObjectType,
    Activity,
    Webhook,
    Team,
    Provider,
    File,
}

impl Thing {
    /// The stable error code of its `NotFound`.
    pub fn not_found_code(self) -> &'static str {
        match self {
            Thing::Workflow | Thing::WorkflowVersion => "workflow_not_found",
            Thing::Execution => "execution_not_found",
            Thing::Record => "record_not_found",
            Thing::StepModule => "module_not_found",
            Thing::ObjectType => "object_not_found",
            Thing::Activity => "activity_not_found",
            Thing::Webhook => "webhook_not_found",
            Thing::Team => "team_not_found",
            Thing::Provider => "provider_not_found",
            Thing::File => "file_not_found",
        }
    }
}

impl std::fmt::Display for Thing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Thing::Workflow => "workflow",
            Thing::WorkflowVersion => "workflow version",
            Thing::Execution => "execution",
            Thing::Record => "record",
            Thing::StepModule => "step module",
            Thing::ObjectType => "object type",
            Thing::Activity => "activity",
            Thing::Webhook => "webhook",
            Thing::Team => "team",
            Thing::Provider => "provider",
            Thing::File => "file",
        })
    }
}

/// Why a request does not fit; each has its own stable error code (docs/api.md lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// A name or id the host does not take (a record id, a team, module, file, provider or
    /// activity type name).
    Name,
    /// A start that does not fit the workflow's scope: a record for a global workflow, none for
    /// a record workflow, or a record of another object type.
    Scope,
    /// A record filter that does not parse.
    Filter,
    /// A value the host does not take (an increment of a non-number, an empty or oversized
    /// file, too many team members, an activity without its due time, a host pattern).
    Value,
    /// A webhook call that does not name the record its workflow runs on.
    WebhookRecord,
    /// A stored step module (or workflow) that cannot be used any more: its component is
    /// missing or does not load, its definition no longer validates.
    Stored,
}

impl Invalid {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            Invalid::Name => "invalid_name",
            Invalid::Scope => "wrong_scope",
            Invalid::Filter => "invalid_filter",
            Invalid::Value => "invalid_value",
            Invalid::WebhookRecord => "webhook_no_record",
            Invalid::Stored => "stored_unusable",
        }
    }
}

/// Why a request conflicts with the current state; each has its own stable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The global kill switch, or the workflow's, is on.
    KillSwitchOn,
    /// The workflow is switched off.
    WorkflowOff,
    /// The record is already in a workflow that does not allow re-entry.
    Reentry,
    /// The execution has already ended.
    ExecutionFinished,
    /// Resume asked of an execution that is not paused.
    NotPaused,
    /// A goal met by hand on an execution that does not wait on that goal.
    NotWaitingOnGoal,
    /// A create with an id another record (or activity) already has.
    IdTaken,
    /// A step module still used by a workflow's newest version.
    ModuleInUse,
    /// An activity already completed.
    ActivityDone,
    /// A due time in the past for an activity that is not done.
    ActivityPastDue,
    /// An object type change that saved workflows' triggers, goals or delays could not run on.
    BreaksWorkflows,
    /// A workflow with unfinished executions cannot be deleted.
    WorkflowInUse,
}

impl Conflict {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            Conflict::KillSwitchOn => "kill_switch_on",
            Conflict::WorkflowOff => "workflow_off",
            Conflict::Reentry => "reentry",
            Conflict::ExecutionFinished => "execution_finished",
            Conflict::NotPaused => "not_paused",
            Conflict::NotWaitingOnGoal => "not_waiting_on_goal",
            Conflict::IdTaken => "id_taken",
            Conflict::ModuleInUse => "module_in_use",
            Conflict::ActivityDone => "activity_done",
            Conflict::ActivityPastDue => "activity_past_due",
            Conflict::BreaksWorkflows => "breaks_workflows",
            Conflict::WorkflowInUse => "workflow_in_use",
        }
    }
}
