//! The control plane's errors and their one mapping to gRPC status codes: [`ControlError`]
//! (what a call or a replica reports) and [`CommandError`] (the deterministic failure of a
//! command, the same on every replica).

use serde::{Deserialize, Serialize};

/// Metadata key naming the leader's address on a FAILED_PRECONDITION "not leader" answer.
pub const LEADER_HEADER: &str = "x-ccx-leader";

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// No credential, or one the control plane does not know.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The credential is known but does not allow this call.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// This replica is not the leader (and may not forward); the leader if known.
    #[error("not the leader; leader is {}", leader_address.as_deref().map(|a| format!("{leader_id} at {a}")).unwrap_or_else(|| "unknown".into()))]
    NotLeader {
        leader_id: u64,
        leader_address: Option<String>,
    },
    /// No leader, or the write or read did not complete in time. A write answered this way may
    /// or may not have been applied; retry it with the same request id.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("storage: {0}")]
    Storage(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("raft: {0}")]
    Raft(String),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("{}: {}", .0.code(), .0.message())]
    Rpc(Box<tonic::Status>),
    #[error("{0}")]
    Config(String),
}

/// Deterministic failure of a command; the same on every replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
}

impl CommandError {
    pub fn invalid(msg: impl Into<String>) -> CommandError {
        CommandError::InvalidArgument(msg.into())
    }
}

impl From<CommandError> for ControlError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::InvalidArgument(m) => ControlError::InvalidArgument(m),
            CommandError::NotFound(m) => ControlError::NotFound(m),
            CommandError::FailedPrecondition(m) => ControlError::FailedPrecondition(m),
        }
    }
}

impl From<ccx_model::settings::SettingsError> for ControlError {
    fn from(e: ccx_model::settings::SettingsError) -> Self {
        ControlError::InvalidArgument(e.to_string())
    }
}

impl From<tonic::Status> for ControlError {
    fn from(s: tonic::Status) -> Self {
        ControlError::Rpc(Box::new(s))
    }
}

impl ControlError {
    /// The gRPC code of this error (the one place codes are chosen).
    pub fn code(&self) -> tonic::Code {
        match self {
            ControlError::InvalidArgument(_) | ControlError::Config(_) => {
                tonic::Code::InvalidArgument
            }
            ControlError::NotFound(_) => tonic::Code::NotFound,
            ControlError::Unauthenticated(_) => tonic::Code::Unauthenticated,
            ControlError::PermissionDenied(_) => tonic::Code::PermissionDenied,
            ControlError::FailedPrecondition(_) | ControlError::NotLeader { .. } => {
                tonic::Code::FailedPrecondition
            }
            ControlError::Unavailable(_) | ControlError::Transport(_) => tonic::Code::Unavailable,
            ControlError::Storage(_) | ControlError::Io(_) | ControlError::Raft(_) => {
                tonic::Code::Internal
            }
            ControlError::Rpc(s) => s.code(),
        }
    }

    /// True for answers after which the same call may succeed on another replica or later.
    /// `Cancelled` is what a call gets when the replica's connection closes under it (the
    /// replica died): every call is safe to repeat (writes carry request ids).
    pub fn is_retryable(&self) -> bool {
        match self {
            ControlError::NotLeader { .. }
            | ControlError::Unavailable(_)
            | ControlError::Transport(_) => true,
            ControlError::Rpc(s) => {
                matches!(
                    s.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Unknown
                        | tonic::Code::Cancelled
                ) || is_not_leader(s)
            }
            _ => false,
        }
    }

    pub fn to_status(&self) -> tonic::Status {
        match self {
            ControlError::Rpc(s) => (**s).clone(),
            ControlError::NotLeader {
                leader_address: Some(addr),
                ..
            } => {
                let mut status = tonic::Status::new(self.code(), self.to_string());
                if let Ok(v) = addr.parse() {
                    status.metadata_mut().insert(LEADER_HEADER, v);
                }
                status
            }
            other => tonic::Status::new(other.code(), other.to_string()),
        }
    }
}

impl From<ControlError> for tonic::Status {
    fn from(e: ControlError) -> Self {
        e.to_status()
    }
}

/// A "not the leader" answer, and the leader's address when it names one.
pub fn is_not_leader(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::FailedPrecondition
        && (status.metadata().contains_key(LEADER_HEADER)
            || status.message().starts_with("not the leader"))
}

pub fn leader_of(status: &tonic::Status) -> Option<String> {
    status
        .metadata()
        .get(LEADER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_connection_is_retried_and_a_refusal_is_not() {
        let closed = tonic::Status::cancelled("operation was canceled");
        assert!(ControlError::from(closed).is_retryable());
        let refused = tonic::Status::invalid_argument("churn_threshold: above 100");
        assert!(!ControlError::from(refused).is_retryable());
    }
}
