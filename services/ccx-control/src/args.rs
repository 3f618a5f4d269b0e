//! The command line of a replica process (`ccx control`, `ccx-control-replica`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ccx_config::{ClickHouseConfig, NamedCredential};

use crate::notify::{Backoff, NotifyOptions};
use crate::server::{Access, ReplicaOptions, Tuning};

/// Parses `name=sha256` (a credential's name and the SHA-256 hex of its token).
pub fn parse_credential(text: &str) -> Result<NamedCredential, String> {
    let (name, sha256) = text
        .split_once('=')
        .ok_or_else(|| "expected name=sha256 (ccx hash-token <token>)".to_string())?;
    let (name, sha256) = (name.trim(), sha256.trim().to_ascii_lowercase());
    if !ccx_model::token::is_credential_name(name) {
        return Err(format!("{name:?}: a name is [a-z0-9][a-z0-9_.@-]{{0,63}}"));
    }
    if !ccx_model::token::is_token_hash(&sha256) {
        return Err(format!(
            "{name}: the hash must be 64 hex digits (ccx hash-token <token>)"
        ));
    }
    Ok(NamedCredential {
        name: name.to_string(),
        token_sha256: sha256,
    })
}

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
    /// Operator credentials, name=sha256,... (`ccx control` takes `[[control.operators]]` of
    /// the config when none is given). At least one is required.
    #[arg(long = "operator", env = "CCX_CONTROL_OPERATORS", value_delimiter = ',', value_parser = parse_credential)]
    pub operators: Vec<NamedCredential>,
    /// Service credentials (collector, stream, wallboard), name=sha256,... (default:
    /// `[[control.services]]` of the config).
    #[arg(long = "service", env = "CCX_CONTROL_SERVICES", value_delimiter = ',', value_parser = parse_credential)]
    pub services: Vec<NamedCredential>,
    /// ClickHouse HTTP URL for `alert_events` (`ccx control` takes the config's
    /// `[clickhouse]` section when this is not given). Without it, alert transitions are not
    /// written to ClickHouse.
    #[arg(long, env = "CCX_CONTROL_CLICKHOUSE_URL")]
    pub clickhouse_url: Option<String>,
    #[arg(long, env = "CCX_CONTROL_CLICKHOUSE_DATABASE", default_value = "ccx")]
    pub clickhouse_database: String,
    #[arg(long, env = "CCX_CONTROL_CLICKHOUSE_USER", default_value = "default")]
    pub clickhouse_user: String,
    #[arg(long, env = "CCX_CONTROL_CLICKHOUSE_PASSWORD", default_value = "")]
    pub clickhouse_password: String,
    /// The config's `[clickhouse]` section, for what has no flag (failover servers, the
    /// cluster layout); the flags above win over its url, database and credentials.
    #[arg(skip)]
    pub clickhouse_section: Option<Box<ClickHouseConfig>>,
    /// First wait after a failed notification post; it doubles per failure.
    #[arg(
        long,
        env = "CCX_CONTROL_NOTIFY_RETRY_FIRST_MS",
        default_value_t = 1_000
    )]
    pub notify_retry_first_ms: u64,
    /// Longest wait between notification posts.
    #[arg(
        long,
        env = "CCX_CONTROL_NOTIFY_RETRY_MAX_MS",
        default_value_t = 300_000
    )]
    pub notify_retry_max_ms: u64,
    /// How long after a transition its notification is retried before it is given up.
    #[arg(
        long,
        env = "CCX_CONTROL_NOTIFY_GIVE_UP_AFTER_MS",
        default_value_t = 86_400_000
    )]
    pub notify_give_up_after_ms: u64,
    /// How long one notification post may take.
    #[arg(long, env = "CCX_CONTROL_NOTIFY_TIMEOUT_MS", default_value_t = 10_000)]
    pub notify_timeout_ms: u64,
    /// `control.tls` of the configuration (`ccx control` sets it from `--config`).
    #[arg(skip)]
    pub tls: Option<ccx_config::TlsConfig>,
    /// `control.ca` of the configuration.
    #[arg(skip)]
    pub ca: Option<PathBuf>,
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
        o.access = Access {
            operators: self.operators.clone(),
            services: self.services.clone(),
        };
        o.tuning = Tuning {
            tick: Duration::from_millis(self.tick_ms.max(1)),
            snapshot_every: self.snapshot_every.max(1),
            keep_entries: (self.snapshot_every / 10).clamp(1, 1_000),
            ..Tuning::default()
        };
        o.notify = NotifyOptions {
            retry: Backoff {
                first: Duration::from_millis(self.notify_retry_first_ms.max(1)),
                max: Duration::from_millis(
                    self.notify_retry_max_ms
                        .max(self.notify_retry_first_ms.max(1)),
                ),
            },
            give_up_after: Duration::from_millis(self.notify_give_up_after_ms),
            timeout: Duration::from_millis(self.notify_timeout_ms.max(1)),
        };
        o.tls = self.tls.clone();
        o.ca = self.ca.clone();
        o.clickhouse = self.clickhouse_url.as_ref().map(|url| ClickHouseConfig {
            url: url.clone(),
            database: self.clickhouse_database.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
            ..self
                .clickhouse_section
                .as_deref()
                .cloned()
                .unwrap_or_default()
        });
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
            "--operator",
            &format!("ops={}", ccx_model::hash_token("op")),
        ])
        .unwrap();
        let o = cli.args.to_options();
        assert_eq!(o.id, 2);
        assert_eq!(o.peers.len(), 3);
        assert_eq!(o.peers[2], (3, "127.0.0.1:7420".to_string()));
        o.validate().unwrap();
        assert!(parse_peer("x=1").is_err());
        assert_eq!(o.access.operators[0].name, "ops");
        assert!(parse_credential("ops=abc")
            .unwrap_err()
            .contains("64 hex digits"));
        assert!(parse_credential("Ops").is_err());
        assert_eq!(o.notify, NotifyOptions::default());
        assert_eq!(o.clickhouse, None);
        let cli = Replica::try_parse_from([
            "ccx-control-replica",
            "--id",
            "1",
            "--clickhouse-url",
            "http://127.0.0.1:8123",
            "--notify-retry-first-ms",
            "50",
        ])
        .unwrap();
        let mut args = cli.args;
        let o = args.to_options();
        assert_eq!(o.clickhouse.unwrap().database, "ccx");
        assert_eq!(o.notify.retry.first, Duration::from_millis(50));
        // The config's failover servers and cluster come along; the flag's URL wins.
        args.clickhouse_section = Some(Box::new(ClickHouseConfig {
            url: "http://ignored:8123".into(),
            failover_urls: vec!["http://127.0.0.2:8123".into()],
            cluster: Some(ccx_config::ClusterConfig {
                name: "analytics".into(),
                ..Default::default()
            }),
            ..ClickHouseConfig::default()
        }));
        let ch = args.to_options().clickhouse.unwrap();
        assert_eq!(ch.url, "http://127.0.0.1:8123");
        assert_eq!(ch.failover_urls, vec!["http://127.0.0.2:8123"]);
        assert_eq!(ch.cluster.unwrap().name, "analytics");
    }
}
