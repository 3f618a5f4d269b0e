//! The command line of a replica process (`ccx control`, `ccx-control-replica`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::server::{ReplicaOptions, Tuning};

/// Parses `id=host:port`.
pub fn parse_peer(text: &str) -> Result<(u64, String), String> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected id=host:port"))?;
    let id: u64 = id
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: replica id must be a positive integer"))?;
    if id == 0 || addr.trim().is_empty() || !addr.contains(':') {
        return Err(format!("{text:?}: expected id=host:port with id >= 1"));
    }
    Ok((id, addr.trim().to_string()))
}

/// `ccx control`: run one control-plane replica.
#[derive(clap::Args, Debug, Clone)]
pub struct ReplicaArgs {
    /// This replica's id (1, 2, 3 …), unique in the cluster and never reused for other data.
    #[arg(long, env = "CCX_CONTROL_ID")]
    pub id: u64,
    /// Founding replicas, this one included: id=host:port,... (gRPC addresses). Empty: a
    /// single-replica cluster.
    #[arg(long, env = "CCX_CONTROL_PEERS", value_delimiter = ',', value_parser = parse_peer)]
    pub peers: Vec<(u64, String)>,
    /// Raft log, hard state and snapshots.
    #[arg(long, env = "CCX_CONTROL_DATA_DIR", default_value = "data/control")]
    pub data_dir: PathBuf,
    /// gRPC listener: ccx.v1.Control and replica-to-replica traffic.
    #[arg(long, env = "CCX_CONTROL_GRPC_LISTEN", default_value = "0.0.0.0:7400")]
    pub grpc_listen: SocketAddr,
    /// HTTP listener: /metrics, /healthz, /readyz.
    #[arg(long, env = "CCX_CONTROL_HTTP_LISTEN", default_value = "0.0.0.0:7401")]
    pub http_listen: SocketAddr,
    /// Join a running cluster (after `ccx cluster add`) instead of founding one.
    #[arg(long, env = "CCX_CONTROL_JOIN")]
    pub join: bool,
    /// Snapshot and compact the log every this many applied entries.
    #[arg(long, env = "CCX_CONTROL_SNAPSHOT_EVERY", default_value_t = 10_000)]
    pub snapshot_every: u64,
    /// Raft tick in milliseconds (election timeout = 10–20 ticks, heartbeat = 2).
    #[arg(long, env = "CCX_CONTROL_TICK_MS", default_value_t = 100)]
    pub tick_ms: u64,
}

impl ReplicaArgs {
    pub fn to_options(&self) -> ReplicaOptions {
        let mut o = ReplicaOptions::new(
            self.id,
            self.peers.clone(),
            self.data_dir.clone(),
            self.grpc_listen,
            self.http_listen,
        );
        o.join = self.join;
        o.tuning = Tuning {
            tick: Duration::from_millis(self.tick_ms.max(1)),
            snapshot_every: self.snapshot_every.max(1),
            keep_entries: (self.snapshot_every / 10).clamp(1, 1_000),
            ..Tuning::default()
        };
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A replica process's command line (as `ccx-control-replica` has it).
    #[derive(clap::Parser, Debug)]
    struct Replica {
        #[command(flatten)]
        args: ReplicaArgs,
    }

    #[test]
    fn parses_replica_args() {
        let cli = Replica::try_parse_from([
            "ccx-control-replica",
            "--id",
            "2",
            "--peers",
            "1=127.0.0.1:7400,2=127.0.0.1:7410,3=127.0.0.1:7420",
            "--data-dir",
            "/tmp/x",
            "--grpc-listen",
            "127.0.0.1:7410",
            "--http-listen",
            "127.0.0.1:7411",
        ])
        .unwrap();
        let o = cli.args.to_options();
        assert_eq!(o.id, 2);
        assert_eq!(o.peers.len(), 3);
        assert_eq!(o.peers[2], (3, "127.0.0.1:7420".to_string()));
        o.validate().unwrap();
        assert!(parse_peer("x=1").is_err());
    }
}
