//! The state the gRPC services and the HTTP handlers share, and its small accessors.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::error::ControlError;
use crate::notify::Cluster;
use crate::state::{Command, Proposal, StateMachine};
use crate::transport::AddressBook;

use super::access::Access;
use super::metrics::Metrics;
use super::raft_loop::Input;
use super::write::{ForwardClients, WriteOp};
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
    /// What this replica trusts of its peers and presents to them; `None`: plaintext.
    pub(super) peer_tls: Option<ccx_control_client::ClientTls>,
    pub(super) metrics: Metrics,
    pub(super) loop_alive: Arc<AtomicBool>,
    pub(super) counter: AtomicU64,
    /// The operator and service credentials this replica accepts.
    pub(super) access: Access,
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

/// The senders of `notify` run on the replica: they lead when it leads, read its applied
/// state and record through its write path.
impl Cluster for Core {
    fn is_leader(&self) -> bool {
        self.status().leader_id == self.id
    }

    fn applied_index(&self) -> u64 {
        ccx_model::sync::read(&self.state).applied_index()
    }

    fn state(&self) -> Arc<RwLock<StateMachine>> {
        self.state.clone()
    }

    async fn record(&self, command: Command) -> Result<(), ControlError> {
        let proposal = Proposal {
            request_id: self.new_request_id(),
            at_ms: ccx_model::now_ms(),
            command,
        };
        self.write(
            WriteOp::Command(Box::new(proposal)),
            true,
            self.request_timeout,
        )
        .await
        .map(|_| ())
    }
}
