//! The wallboard's errors and their one mapping to HTTP answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ccx_control_client::ControlError;

#[derive(Debug, thiserror::Error)]
pub enum WallboardError {
    /// No session (or an ended one).
    #[error("sign in first")]
    Unauthenticated,
    /// Not found in the session's tenant (another tenant's ids are not found either).
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    BadRequest(String),
    /// The alert is not in a state the action applies to.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    /// A TLS setting that cannot be used (the field and the reason).
    #[error("{0}")]
    Tls(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl WallboardError {
    pub fn status(&self) -> StatusCode {
        match self {
            WallboardError::Unauthenticated => StatusCode::UNAUTHORIZED,
            WallboardError::NotFound(_) => StatusCode::NOT_FOUND,
            WallboardError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WallboardError::Conflict(_) => StatusCode::CONFLICT,
            WallboardError::Unavailable(_)
            | WallboardError::Listen { .. }
            | WallboardError::Tls(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// An alert action's failure: another tenant's alert, or an id that does not exist, is
    /// "no such alert" alike.
    pub fn of_alert_action(e: ControlError) -> WallboardError {
        use tonic::Code;
        match e.code() {
            Code::NotFound => WallboardError::NotFound("no such alert"),
            Code::InvalidArgument => WallboardError::BadRequest(e.to_string()),
            Code::FailedPrecondition if !matches!(e, ControlError::NotLeader { .. }) => {
                WallboardError::Conflict(e.to_string())
            }
            _ => WallboardError::Unavailable(format!("control plane: {e}")),
        }
    }
}

impl IntoResponse for WallboardError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        (self.status(), body).into_response()
    }
}
