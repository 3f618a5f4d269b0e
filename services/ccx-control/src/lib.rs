//! The ccx control plane (SPEC §1, §4): a raft-replicated state machine holding each tenant's
//! configuration and the lifecycle of churn alerts (open → acknowledged → resolved), on 3 or 5
//! replicas.
//!
//! This crate owns the raft node ([`node`], on raft-rs), its durable log and snapshots
//! ([`storage`]), the replica-to-replica transport ([`transport`]), the pure state machine
//! ([`state`]), the `ccx.v1.Control` gRPC service and the replica process ([`server`]) with
//! its command-line options ([`args`]), and what the leader sends about alerts ([`notify`]:
//! notifications to the tenants' targets, transitions into ClickHouse `alert_events`). The client, the records it answers with and the errors
//! are `ccx-control-client`'s, which collectors, streams and the CLI link without raft. It does
//! not touch events, metric computation or the analytics store. Design and operations:
//! docs/control-plane.md.

pub mod args;
mod logger;
pub mod node;
pub mod notify;
pub mod server;
pub mod state;
pub mod storage;
pub mod transport;

pub use args::ReplicaArgs;
pub use ccx_control_client::{error, ControlClient, ControlError};
pub use node::{NodeOptions, RaftNode, ReadyOutput};
pub use notify::NotifyOptions;
pub use server::{run_replica, start_replica, NodeStatus, ReplicaHandle, ReplicaOptions, Tuning};
pub use state::{
    AlertFilter, AlertRecord, AlertStatus, Command, CommandError, DeliveryKey, DeliveryOutcome,
    Proposal, Sent, StateMachine, StoredConfig,
};
