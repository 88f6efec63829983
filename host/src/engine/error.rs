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
    NotFound { what: &'static str, id: String },
    /// A request that does not fit the workflow or the execution's state.
    #[error("{0}")]
    Invalid(String),
    /// An expression (a filter) ran out of its budget.
    #[error("{0}")]
    ExpressionLimit(String),
    /// The request conflicts with the current state (a kill switch, a finished execution).
    #[error("{0}")]
    Conflict(String),
    /// A record's (or an object type's) fields do not fit; each error names its field.
    #[error("invalid fields{}: {}", if object.is_empty() { String::new() } else { format!(" for `{object}`") }, errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidFields {
        object: String,
        errors: Vec<FieldError>,
    },
    /// The caller did not prove it may do this (a webhook's secret or signature).
    #[error("{0}")]
    Unauthorized(String),
    /// The method is not one this endpoint takes.
    #[error("{0}")]
    MethodNotAllowed(String),
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
