//! Request-level failures and their one mapping to gRPC and HTTP status codes.

use axum::http::StatusCode;
use tonic::Code;

/// What a too-large batch exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Bytes,
    Events,
}

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
    #[error("batch of {size} exceeds the limit of {limit}")]
    TooLarge {
        measure: Measure,
        size: String,
        limit: String,
    },
    #[error("request headers of {size} bytes exceed the limit of {limit} bytes")]
    HeadersTooLarge { size: usize, limit: usize },
    #[error("the collector is at its limit of {limit} requests in flight: retry later")]
    Overloaded { limit: usize },
    #[error(
        "tenant {tenant:?} is over its ingest rate of {rate} events/s (burst {burst}): nothing \
         of this batch of {events} events was accepted, retry in {retry_after_secs} s"
    )]
    RateLimited {
        tenant: String,
        events: usize,
        rate: u32,
        burst: u32,
        retry_after_secs: u64,
    },
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
            CollectorError::TooLarge { .. }
            | CollectorError::HeadersTooLarge { .. }
            | CollectorError::Overloaded { .. }
            | CollectorError::RateLimited { .. } => Code::ResourceExhausted,
            CollectorError::Malformed(_) => Code::InvalidArgument,
            CollectorError::Unavailable(_) => Code::Unavailable,
        }
    }

    pub fn http_status(&self) -> StatusCode {
        match self {
            CollectorError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            CollectorError::PermissionDenied { .. } => StatusCode::FORBIDDEN,
            CollectorError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            CollectorError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            CollectorError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            CollectorError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
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

    /// The limit a request was refused by (the `reason` of `ccx_collector_refused_total`), or
    /// `None` when it was not refused for a limit.
    pub fn limit(&self) -> Option<&'static str> {
        match self {
            CollectorError::TooLarge {
                measure: Measure::Bytes,
                ..
            } => Some("batch_bytes"),
            CollectorError::TooLarge {
                measure: Measure::Events,
                ..
            } => Some("batch_events"),
            CollectorError::HeadersTooLarge { .. } => Some("header_bytes"),
            CollectorError::Overloaded { .. } => Some("in_flight"),
            CollectorError::RateLimited { .. } => Some("tenant_rate"),
            _ => None,
        }
    }

    /// Seconds the client should wait before retrying (`Retry-After`), when known.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            CollectorError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl From<CollectorError> for tonic::Status {
    fn from(e: CollectorError) -> Self {
        let mut status = tonic::Status::new(e.grpc_code(), e.to_string());
        if let Some(secs) = e.retry_after_secs() {
            status
                .metadata_mut()
                .insert("retry-after", secs.to_string().parse().expect("digits"));
        }
        status
    }
}
