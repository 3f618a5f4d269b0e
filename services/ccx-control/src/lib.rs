//! The ccx control plane (SPEC §1, §4): a raft-replicated state machine holding each tenant's
//! configuration and the lifecycle of churn alerts (open → acknowledged → resolved), on 3 or 5
//! replicas.
//!
//! This crate owns the raft node ([`node`], on raft-rs), its durable log and snapshots
//! ([`storage`]), the replica-to-replica transport ([`transport`]), the pure state machine
//! ([`state`]), the `ccx.v1.Control` gRPC service and the replica process ([`server`]), the
//! client ([`client`]) and the CLI types the `ccx` binary mounts ([`cli`]). It does not touch
//! events, metric computation or the analytics store: the stream raises alerts through
//! [`ControlClient::raise_alert`] and reads settings through [`ControlClient::get_settings`].
//! Design and operations: docs/control-plane.md.

pub mod cli;
pub mod client;
pub mod error;
mod logger;
pub mod node;
pub mod server;
pub mod state;
pub mod storage;
pub mod transport;

pub use cli::{
    run_alerts, run_alerts_command, run_cluster, run_cluster_command, run_config,
    run_config_command, AlertsArgs, AlertsCommand, ClusterArgs, ClusterCommand, ConfigArgs,
    ConfigCommand, ControlEndpoints, ReplicaArgs,
};
pub use client::ControlClient;
pub use error::ControlError;
pub use node::{NodeOptions, RaftNode, ReadyOutput};
pub use server::{run_replica, start_replica, NodeStatus, ReplicaHandle, ReplicaOptions, Tuning};
pub use state::{
    AlertFilter, AlertRecord, AlertStatus, Command, CommandError, Proposal, StateMachine,
    StoredConfig,
};
