//! The API's one error type: a status, a stable code, a message, and optional details.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::engine::EngineError;
use crate::engine::error::Thing;
use crate::sandbox::LoadError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 404 for something of this kind (its code names the kind: `workflow_not_found`, ...).
    pub fn not_found(what: Thing, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what.not_found_code(), message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(details) = self.details {
            error["details"] = details;
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidDefinition(invalid) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_definition",
                message: invalid.to_string(),
                details: Some(json!(invalid.0)),
            },
            EngineError::InvalidModule(load) => {
                let code = match &load {
                    LoadError::NotAComponent { .. } => "not_a_component",
                    LoadError::Invalid { .. } => "invalid_component",
                    LoadError::MissingExport { .. } => "missing_export",
                    LoadError::MistypedExport { .. } => "mistyped_export",
                    LoadError::UngrantedImports { .. } => "ungranted_imports",
                    LoadError::ForbiddenImports { .. } => "forbidden_imports",
                };
                let details = match &load {
                    LoadError::UngrantedImports { missing } => Some(json!({ "missing": missing })),
                    LoadError::ForbiddenImports { imports } => Some(json!({ "imports": imports })),
                    _ => None,
                };
                ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    message: load.to_string(),
                    details,
                }
            }
            EngineError::NotFound { what, id } => {
                ApiError::not_found(what, format!("{what} `{id}` not found"))
            }
            EngineError::Invalid { kind, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, kind.code(), message)
            }
            EngineError::ExpressionLimit(message) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "expression_limit",
                message,
            ),
            EngineError::Conflict { kind, message } => {
                ApiError::new(StatusCode::CONFLICT, kind.code(), message)
            }
            EngineError::BadWebhookAuth(message) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            }
            EngineError::WebhookMethod(message) => ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                message,
            ),
            EngineError::Malformed(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", message)
            }
            EngineError::TooLarge(message) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
            }
            EngineError::InvalidFields { ref errors, .. } => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_fields",
                details: Some(json!(errors)),
                message: e.to_string(),
            },
            EngineError::Duplicate {
                ref field,
                ref value,
                ref other,
                ..
            } => ApiError {
                status: StatusCode::CONFLICT,
                code: "duplicate",
                details: Some(json!({"field": field, "value": value, "record": other})),
                message: e.to_string(),
            },
            EngineError::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "storage unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    format!("the database cannot write now, retry once it is mended: {e}"),
                )
            }
            EngineError::Store(e) => {
                tracing::error!(error = %e, "store error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error (logged)",
                )
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        EngineError::from(e).into()
    }
}
