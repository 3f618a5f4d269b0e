//! Request-level failures and their one mapping to gRPC and HTTP status codes.

use axum::http::StatusCode;
use tonic::Code;

#[derive(Debug, Clone, thiserror::Error)]
pub enum CollectorError {
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("event {index}: tenantId {event_tenant:?} does not belong to the caller's tenant {caller:?}")]
    PermissionDenied {
        index: usize,
        event_tenant: String,
        caller: String,
    },
    #[error("batch of {0} exceeds the limit of {1}")]
    TooLarge(String, String),
    #[error("{0}")]
    Malformed(String),
    #[error("Kafka is unavailable, nothing of this batch was accepted, retry it: {0}")]
    Unavailable(String),
}

impl CollectorError {
    pub fn grpc_code(&self) -> Code {
        match self {
            CollectorError::Unauthenticated(_) => Code::Unauthenticated,
            CollectorError::PermissionDenied { .. } => Code::PermissionDenied,
            CollectorError::TooLarge(..) => Code::ResourceExhausted,
            CollectorError::Malformed(_) => Code::InvalidArgument,
            CollectorError::Unavailable(_) => Code::Unavailable,
        }
    }

    pub fn http_status(&self) -> StatusCode {
        match self {
            CollectorError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            CollectorError::PermissionDenied { .. } => StatusCode::FORBIDDEN,
            CollectorError::TooLarge(..) => StatusCode::PAYLOAD_TOO_LARGE,
            CollectorError::Malformed(_) => StatusCode::BAD_REQUEST,
            CollectorError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The gRPC code name, also used as the `code` of HTTP error bodies.
    pub fn code_name(&self) -> &'static str {
        match self.grpc_code() {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            _ => "UNAVAILABLE",
        }
    }
}

impl From<CollectorError> for tonic::Status {
    fn from(e: CollectorError) -> Self {
        tonic::Status::new(e.grpc_code(), e.to_string())
    }
}
