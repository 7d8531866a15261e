//! The one place engine and store errors become HTTP answers. Internals are
//! logged here, once, and never sent to clients.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use strato_engine::buckets::{BucketError, KeyError};
use strato_engine::{DeployError, InvokeError};

/// An error answered by the control API as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Machine-readable facts the CLI uses to point at a manifest line
    /// (`function`, `route`).
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            details: Default::default(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error while {context}; see the server log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.details;
        body.insert("error".into(), self.message.into());
        (self.status, axum::Json(serde_json::Value::Object(body))).into_response()
    }
}

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        let mut error = match &e {
            DeployError::Storage(_) => return ApiError::internal("deploying", e),
            DeployError::RouteConflict { .. }
            | DeployError::BucketTaken(_)
            | DeployError::BucketNotEmpty(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            DeployError::NoSuchApp(_) => ApiError::not_found(e.to_string()),
            _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        };
        match &e {
            DeployError::RouteConflict {
                kind, name, route, ..
            } => {
                // `function` or `service`: the CLI points at its line.
                error.details.insert((*kind).into(), name.clone().into());
                error.details.insert("route".into(), route.clone().into());
            }
            DeployError::ServiceNotReady { service, .. }
            | DeployError::NothingToRun { service, .. } => {
                error
                    .details
                    .insert("service".into(), service.clone().into());
            }
            DeployError::MissingImage { kind, name, .. } => {
                error.details.insert((*kind).into(), name.clone().into());
            }
            DeployError::MissingComponent { function, .. }
            | DeployError::Prepare { function, .. }
            | DeployError::NoExecutor { function, .. } => {
                error
                    .details
                    .insert("function".into(), function.clone().into());
            }
            _ => {}
        }
        error
    }
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> Self {
        match &e {
            InvokeError::NoSuchFunction(_) => ApiError::not_found(e.to_string()),
            InvokeError::Ambiguous { .. } => ApiError::bad_request(e.to_string()),
            InvokeError::Forbidden(_) => ApiError::forbidden(e.to_string()),
            InvokeError::Throttled => ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
            InvokeError::Storage(_) => ApiError::internal("queueing an invocation", e),
        }
    }
}

impl From<strato_store::StoreError> for ApiError {
    fn from(e: strato_store::StoreError) -> Self {
        ApiError::internal("reading the store", e)
    }
}

impl From<BucketError> for ApiError {
    fn from(e: BucketError) -> Self {
        let status = match &e {
            BucketError::Storage(_) | BucketError::Conflict(_) => {
                return ApiError::internal("using a bucket", e);
            }
            BucketError::NoSuchBucket(_)
            | BucketError::NoSuchKey { .. }
            | BucketError::NoSuchUpload(_)
            | BucketError::NoSuchVersion { .. }
            | BucketError::HiddenByMarker { .. } => StatusCode::NOT_FOUND,
            BucketError::AccessDenied(_) => StatusCode::FORBIDDEN,
            BucketError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            BucketError::DeleteMarker { .. } => StatusCode::METHOD_NOT_ALLOWED,
            BucketError::BucketAlreadyExists(_)
            | BucketError::BucketAlreadyOwnedByYou(_)
            | BucketError::BucketNotEmpty(_) => StatusCode::CONFLICT,
            BucketError::EntityTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NotFound(_) => ApiError::not_found(e.to_string()),
            KeyError::Store(e) => ApiError::internal("managing access keys", e),
        }
    }
}
