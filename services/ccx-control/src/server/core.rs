//! The state the gRPC services and the HTTP handlers share, and its small accessors.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::error::ControlError;
use crate::state::StateMachine;
use crate::transport::AddressBook;

use super::metrics::Metrics;
use super::raft_loop::Input;
use super::write::ForwardClients;
use super::NodeStatus;

/// What the gRPC services and the HTTP handlers share.
pub(super) struct Core {
    pub(super) id: u64,
    pub(super) input: std::sync::mpsc::Sender<Input>,
    pub(super) status: Arc<RwLock<NodeStatus>>,
    pub(super) state: Arc<RwLock<StateMachine>>,
    pub(super) addresses: AddressBook,
    pub(super) request_timeout: Duration,
    pub(super) forward_clients: ForwardClients,
    pub(super) metrics: Metrics,
    pub(super) loop_alive: Arc<AtomicBool>,
    pub(super) counter: AtomicU64,
}

impl Core {
    pub(super) fn status(&self) -> NodeStatus {
        ccx_model::sync::read(&self.status).clone()
    }

    pub(super) fn address_of(&self, id: u64) -> Option<String> {
        ccx_model::sync::read(&self.addresses).get(&id).cloned()
    }

    pub(super) fn new_request_id(&self) -> String {
        format!(
            "{}-{}-{}",
            self.id,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub(super) fn not_leader(&self, leader_id: u64) -> ControlError {
        ControlError::NotLeader {
            leader_id,
            leader_address: (leader_id != 0)
                .then(|| self.address_of(leader_id))
                .flatten(),
        }
    }
}
