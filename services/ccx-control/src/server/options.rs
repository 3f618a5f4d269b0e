//! A replica's settings: where it listens, who its peers are, and its timing and retention
//! knobs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ccx_config::{ClickHouseConfig, TlsConfig};

use crate::error::ControlError;
use crate::notify::NotifyOptions;

use super::access::Access;

/// Timing and retention knobs of a replica; the defaults suit a LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// Raft tick.
    pub tick: Duration,
    /// Election timeout in ticks (randomized between this and twice this).
    pub election_ticks: usize,
    pub heartbeat_ticks: usize,
    /// Snapshot and compact after this many applied entries.
    pub snapshot_every: u64,
    /// Entries kept behind a snapshot for slightly lagging followers.
    pub keep_entries: u64,
    /// How long a write or linearizable read may take, retries included.
    pub request_timeout: Duration,
    /// fsync the log (always on outside tests).
    pub sync: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            tick: Duration::from_millis(100),
            election_ticks: 10,
            heartbeat_ticks: 2,
            snapshot_every: 10_000,
            keep_entries: 1_000,
            request_timeout: Duration::from_secs(10),
            sync: true,
        }
    }
}

/// What a replica needs to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaOptions {
    pub id: u64,
    /// Every founding replica, this one included: (id, gRPC host:port). Empty: a single-replica
    /// cluster of this one.
    pub peers: Vec<(u64, String)>,
    pub data_dir: PathBuf,
    pub grpc_listen: SocketAddr,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub http_listen: SocketAddr,
    /// Join an existing cluster (the replica was added with a membership change) instead of
    /// founding one; ignored when the data directory already holds state.
    pub join: bool,
    pub tuning: Tuning,
    /// How alert notifications are retried.
    pub notify: NotifyOptions,
    /// Where the leader writes `alert_events`; `None`: they are not written.
    pub clickhouse: Option<ClickHouseConfig>,
    /// `control.tls`: TLS of both listeners, and the certificate presented to peers.
    pub tls: Option<TlsConfig>,
    /// `control.ca`: the CA peers' certificates are verified against (TLS to peers).
    pub ca: Option<PathBuf>,
    /// The operator and service credentials accepted (at least one operator).
    pub access: Access,
}

impl ReplicaOptions {
    pub fn new(
        id: u64,
        peers: Vec<(u64, String)>,
        data_dir: PathBuf,
        grpc_listen: SocketAddr,
        http_listen: SocketAddr,
    ) -> ReplicaOptions {
        ReplicaOptions {
            id,
            peers,
            data_dir,
            grpc_listen,
            http_listen,
            join: false,
            tuning: Tuning::default(),
            notify: NotifyOptions::default(),
            clickhouse: None,
            tls: None,
            ca: None,
            access: Access::default(),
        }
    }

    /// Accepts `token` as operator `name` (its hash is kept, not the token).
    pub fn with_operator(mut self, name: &str, token: &str) -> ReplicaOptions {
        self.access.operators.push(ccx_config::NamedCredential {
            name: name.to_string(),
            token_sha256: ccx_model::hash_token(token),
        });
        self
    }

    /// Accepts `token` as service `name`.
    pub fn with_service(mut self, name: &str, token: &str) -> ReplicaOptions {
        self.access.services.push(ccx_config::NamedCredential {
            name: name.to_string(),
            token_sha256: ccx_model::hash_token(token),
        });
        self
    }

    /// A single-replica cluster on loopback ephemeral ports (the demo, tests).
    pub fn single_node(data_dir: PathBuf) -> ReplicaOptions {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        ReplicaOptions::new(1, Vec::new(), data_dir, any, any)
    }

    pub fn validate(&self) -> Result<(), ControlError> {
        if self.id == 0 {
            return Err(ControlError::Config("replica id must be 1 or more".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (id, addr) in &self.peers {
            if *id == 0 || !seen.insert(*id) {
                return Err(ControlError::Config(format!(
                    "peers: replica id {id} is zero or repeated"
                )));
            }
            if addr.is_empty() {
                return Err(ControlError::Config(format!(
                    "peers: replica {id} has no address"
                )));
            }
        }
        if !self.peers.is_empty() && !seen.contains(&self.id) && !self.join {
            return Err(ControlError::Config(format!(
                "peers must include this replica ({}) unless it joins",
                self.id
            )));
        }
        if self.access.operators.is_empty() {
            return Err(ControlError::Config(
                "operators: at least one operator credential is required ([[control.operators]] \
                 or --operator name=sha256); every call to the control plane is authenticated"
                    .into(),
            ));
        }
        if self.tuning.election_ticks <= self.tuning.heartbeat_ticks {
            return Err(ControlError::Config(
                "election ticks must exceed heartbeat ticks".into(),
            ));
        }
        Ok(())
    }
}
