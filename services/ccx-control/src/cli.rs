//! Command-line types the `ccx` binary mounts: `ccx control <ReplicaArgs>` runs a replica,
//! `ccx alerts <AlertsArgs>`, `ccx config <ConfigArgs>` and `ccx cluster <ClusterArgs>` talk
//! to the control plane named by `--control host:port,...` (env `CCX_CONTROL`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ccx_proto::v1 as pb;
use serde_json::json;

use crate::client::ControlClient;
use crate::error::ControlError;
use crate::server::{ReplicaOptions, Tuning};
use crate::state::{AlertFilter, AlertRecord, AlertStatus};
use ccx_model::settings::{Signal, TenantSettings};

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

/// Where the control plane is: `--control host:port,...` (env `CCX_CONTROL`).
#[derive(clap::Args, Debug, Clone)]
pub struct ControlEndpoints {
    #[arg(
        long = "control",
        env = "CCX_CONTROL",
        value_delimiter = ',',
        default_value = "127.0.0.1:7400",
        global = true
    )]
    pub control: Vec<String>,
}

/// `ccx alerts …`
#[derive(clap::Args, Debug, Clone)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub endpoints: ControlEndpoints,
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum AlertsCommand {
    /// List churn alerts, oldest trigger first.
    List {
        #[arg(long)]
        tenant: Option<String>,
        /// open | acknowledged | resolved
        #[arg(long, value_parser = parse_status)]
        status: Option<AlertStatus>,
        /// Triggered at or after (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        from: Option<i64>,
        /// Triggered before (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        to: Option<i64>,
        #[arg(long)]
        limit: Option<usize>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an open alert.
    Ack {
        #[arg(long)]
        tenant: String,
        alert_id: String,
        /// Who acknowledges.
        #[arg(long, env = "CCX_USER")]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Resolve an open or acknowledged alert.
    Resolve {
        #[arg(long)]
        tenant: String,
        alert_id: String,
        #[arg(long, env = "CCX_USER")]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

/// `ccx config …`
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub endpoints: ControlEndpoints,
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ConfigCommand {
    /// Print a tenant's configuration (JSON).
    Get { tenant: String },
    /// Change settings: key=value ... Keys: sl_threshold, short_abandon, fcr_window,
    /// allowed_lateness, churn_lookback, churn_cooldown, churn_long_abandon (durations: 20s,
    /// 5m, 24h, 30d or ms), churn_threshold, churn.SIGNAL.weight, churn.SIGNAL.cap,
    /// token=PLAINTEXT (stored as sha256), token_sha256=HEX, remove_token_sha256=HEX,
    /// clear_tokens=true.
    Set {
        tenant: String,
        #[arg(required = true, value_parser = parse_setting)]
        settings: Vec<(String, String)>,
        /// Recorded as the author of the change.
        #[arg(long, env = "CCX_USER", default_value = "")]
        by: String,
    },
}

/// `ccx cluster …`: membership and status.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub endpoints: ControlEndpoints,
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ClusterCommand {
    /// Leader, term, members, commit and applied index.
    Status,
    /// Add a replica (started with --join) as a voter.
    Add {
        id: u64,
        /// Its gRPC host:port.
        address: String,
    },
    /// Remove a replica from the voters.
    Remove { id: u64 },
}

fn parse_status(text: &str) -> Result<AlertStatus, String> {
    AlertStatus::parse(text).ok_or_else(|| format!("{text:?}: open, acknowledged or resolved"))
}

fn parse_time(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{text:?}: not an RFC 3339 time ({e})"))
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("{text:?}: expected key=value"))
}

/// `1500`, `1500ms`, `20s`, `5m`, `24h`, `30d` → milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?}: expected a duration like 20s, 5m, 24h or ms"))?;
    let factor = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h, d)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?}: too large"))
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ControlError> {
    value
        .parse()
        .map_err(|_| ControlError::InvalidArgument(format!("{key}: {value:?} is not a number")))
}

/// Applies `key=value` edits (see [`ConfigCommand::Set`]) to a tenant's settings and token
/// hashes. The result is validated by the control plane's put.
pub fn apply_settings(
    settings: &mut TenantSettings,
    tokens: &mut Vec<String>,
    edits: &[(String, String)],
) -> Result<(), ControlError> {
    let dur = |k: &str, v: &str| -> Result<i64, ControlError> {
        let ms =
            parse_duration_ms(v).map_err(|e| ControlError::InvalidArgument(format!("{k}: {e}")))?;
        i64::try_from(ms)
            .map_err(|_| ControlError::InvalidArgument(format!("{k}: {v:?} is too large")))
    };
    let churn = &mut settings.churn;
    for (key, value) in edits {
        match key.trim_end_matches("_ms") {
            "sl_threshold" => settings.sl_threshold_ms = dur(key, value)?,
            "short_abandon" => settings.short_abandon_ms = dur(key, value)?,
            "fcr_window" => settings.fcr_window_ms = dur(key, value)?,
            "allowed_lateness" => settings.allowed_lateness_ms = dur(key, value)?,
            "churn_lookback" => churn.lookback_ms = dur(key, value)?,
            "churn_cooldown" => churn.cooldown_ms = dur(key, value)?,
            "churn_long_abandon" => churn.long_abandon_ms = dur(key, value)?,
            "churn_threshold" => churn.threshold = number(key, value)?,
            "token" => tokens.push(ccx_model::hash_token(value)),
            "token_sha256" => tokens.push(value.to_ascii_lowercase()),
            "remove_token_sha256" => {
                let v = value.to_ascii_lowercase();
                tokens.retain(|t| *t != v)
            }
            "clear_tokens" if value == "true" => tokens.clear(),
            _ => {
                let parts: Vec<&str> = key.split('.').collect();
                let ["churn", signal, field] = parts[..] else {
                    return Err(ControlError::InvalidArgument(format!(
                        "unknown setting {key:?}"
                    )));
                };
                let Some(signal) = Signal::parse(signal) else {
                    return Err(ControlError::InvalidArgument(format!(
                        "{key}: unknown signal {signal}"
                    )));
                };
                let rule = &mut churn.rules[signal.index()];
                match field {
                    "weight" => rule.weight = number(key, value)?,
                    "cap" => rule.cap = number(key, value)?,
                    _ => {
                        return Err(ControlError::InvalidArgument(format!(
                            "{key}: expected churn.<SIGNAL>.weight or .cap"
                        )))
                    }
                }
            }
        }
    }
    Ok(())
}

fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// An alert as one JSON object.
pub fn alert_json(a: &AlertRecord) -> serde_json::Value {
    json!({
        "tenantId": a.tenant_id,
        "alertId": a.alert_id,
        "customerId": a.customer_id,
        "score": a.score,
        "reasons": a.reasons,
        "triggeredAt": time_text(a.triggered_at_ms),
        "contactId": a.contact_id,
        "channel": a.channel,
        "queueId": a.queue_id,
        "agentId": a.agent_id,
        "status": a.status.name(),
        "history": a.history.iter().map(|h| json!({
            "status": h.status.name(),
            "by": h.by,
            "note": h.note,
            "at": time_text(h.at_ms),
        })).collect::<Vec<_>>(),
    })
}

/// A configuration as one JSON object: its settings as serde writes them (proto3 JSON names)
/// with the tenant, version, token hashes and last change.
pub fn config_json(c: &pb::TenantConfig) -> Result<serde_json::Value, ControlError> {
    let settings = TenantSettings::from_proto(c)?;
    let mut v = json!({
        "tenantId": c.tenant_id,
        "version": c.version,
    });
    if let (Some(out), Ok(serde_json::Value::Object(fields))) =
        (v.as_object_mut(), serde_json::to_value(&settings))
    {
        out.extend(fields);
        out.insert("tokenSha256".into(), json!(c.token_sha256));
        out.insert(
            "updatedAt".into(),
            json!(c
                .updated_at
                .as_ref()
                .map(|t| time_text(ccx_model::timestamp_ms(t)))),
        );
        out.insert("updatedBy".into(), json!(c.updated_by));
    }
    Ok(v)
}

fn endpoints_or_default(endpoints: &[String]) -> Vec<String> {
    if endpoints.is_empty() {
        vec!["127.0.0.1:7400".to_string()]
    } else {
        endpoints.to_vec()
    }
}

/// Runs an alerts command against `endpoints` and returns what it prints.
pub async fn alerts_command_output(
    cmd: AlertsCommand,
    endpoints: &[String],
) -> Result<String, ControlError> {
    let client = ControlClient::new(endpoints_or_default(endpoints))?;
    let mut out = String::new();
    match cmd {
        AlertsCommand::List {
            tenant,
            status,
            from,
            to,
            limit,
            json,
        } => {
            let alerts = client
                .list_alerts(&AlertFilter {
                    tenant_id: tenant,
                    status,
                    from_ms: from,
                    to_ms: to,
                    limit,
                })
                .await?;
            if json {
                for a in &alerts {
                    let _ = writeln!(out, "{}", alert_json(a));
                }
            } else {
                let _ = writeln!(
                    out,
                    "{:<24} {:<12} {:>5}  {:<13} {:<40} REASONS",
                    "TRIGGERED", "TENANT", "SCORE", "STATUS", "ALERT"
                );
                for a in &alerts {
                    let _ = writeln!(
                        out,
                        "{:<24} {:<12} {:>5}  {:<13} {:<40} {}",
                        time_text(a.triggered_at_ms),
                        a.tenant_id,
                        a.score,
                        a.status.name(),
                        a.alert_id,
                        a.reasons.join(",")
                    );
                }
            }
        }
        AlertsCommand::Ack {
            tenant,
            alert_id,
            by,
            note,
        } => {
            let a = client.acknowledge(&tenant, &alert_id, &by, &note).await?;
            let _ = writeln!(out, "{}", alert_json(&a));
        }
        AlertsCommand::Resolve {
            tenant,
            alert_id,
            by,
            note,
        } => {
            let a = client.resolve(&tenant, &alert_id, &by, &note).await?;
            let _ = writeln!(out, "{}", alert_json(&a));
        }
    }
    Ok(out)
}

/// Runs an alerts command against `endpoints` (empty: 127.0.0.1:7400), printing to stdout.
pub async fn run_alerts_command(
    cmd: AlertsCommand,
    endpoints: &[String],
) -> Result<(), ControlError> {
    print!("{}", alerts_command_output(cmd, endpoints).await?);
    Ok(())
}

/// Runs a config command against `endpoints` and returns what it prints.
pub async fn config_command_output(
    cmd: ConfigCommand,
    endpoints: &[String],
) -> Result<String, ControlError> {
    let client = ControlClient::new(endpoints_or_default(endpoints))?;
    let config = match cmd {
        ConfigCommand::Get { tenant } => client.get_config(&tenant).await?,
        ConfigCommand::Set {
            tenant,
            settings,
            by,
        } => {
            let current = client.get_config(&tenant).await?;
            let mut edited = TenantSettings::from_proto(&current)?;
            let mut tokens = current.token_sha256.clone();
            apply_settings(&mut edited, &mut tokens, &settings)?;
            let config = pb::TenantConfig {
                token_sha256: tokens,
                // The version read makes the put conditional: a concurrent change is not
                // overwritten.
                version: current.version,
                ..edited.to_proto(&tenant)
            };
            client.put_config_by(config, &by).await?
        }
    };
    Ok(format!(
        "{}\n",
        serde_json::to_string_pretty(&config_json(&config)?).unwrap_or_default()
    ))
}

/// Runs a config command against `endpoints` (empty: 127.0.0.1:7400), printing to stdout.
pub async fn run_config_command(
    cmd: ConfigCommand,
    endpoints: &[String],
) -> Result<(), ControlError> {
    print!("{}", config_command_output(cmd, endpoints).await?);
    Ok(())
}

/// Runs a cluster command against `endpoints` and returns what it prints.
pub async fn cluster_command_output(
    cmd: ClusterCommand,
    endpoints: &[String],
) -> Result<String, ControlError> {
    let client = ControlClient::new(endpoints_or_default(endpoints))?;
    let s = match cmd {
        ClusterCommand::Status => client.status().await?,
        ClusterCommand::Add { id, address } => client.add_replica(id, &address).await?,
        ClusterCommand::Remove { id } => client.remove_replica(id).await?,
    };
    let v = json!({
        "replica": s.node_id,
        "role": s.role,
        "leader": s.leader_id,
        "leaderAddress": s.leader_address,
        "term": s.term,
        "commitIndex": s.commit_index,
        "appliedIndex": s.applied_index,
        "snapshotIndex": s.snapshot_index,
        "firstIndex": s.first_index,
        "lastIndex": s.last_index,
        "members": s.member_addresses.iter().map(|m| json!({
            "id": m.id, "address": m.address, "voter": m.voter
        })).collect::<Vec<_>>(),
    });
    Ok(format!(
        "{}\n",
        serde_json::to_string_pretty(&v).unwrap_or_default()
    ))
}

/// Runs a cluster command against `endpoints` (empty: 127.0.0.1:7400), printing to stdout.
pub async fn run_cluster_command(
    cmd: ClusterCommand,
    endpoints: &[String],
) -> Result<(), ControlError> {
    print!("{}", cluster_command_output(cmd, endpoints).await?);
    Ok(())
}

/// `ccx alerts <AlertsArgs>`.
pub async fn run_alerts(args: AlertsArgs) -> Result<(), ControlError> {
    run_alerts_command(args.command, &args.endpoints.control).await
}

/// `ccx config <ConfigArgs>`.
pub async fn run_config(args: ConfigArgs) -> Result<(), ControlError> {
    run_config_command(args.command, &args.endpoints.control).await
}

/// `ccx cluster <ClusterArgs>`.
pub async fn run_cluster(args: ClusterArgs) -> Result<(), ControlError> {
    run_cluster_command(args.command, &args.endpoints.control).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: Sub,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Sub {
        Control(ReplicaArgs),
        Alerts(AlertsArgs),
        Config(ConfigArgs),
    }

    #[test]
    fn parses_replica_args() {
        let cli = Cli::try_parse_from([
            "ccx",
            "control",
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
        let Sub::Control(args) = cli.cmd else {
            panic!()
        };
        let o = args.to_options();
        assert_eq!(o.id, 2);
        assert_eq!(o.peers.len(), 3);
        assert_eq!(o.peers[2], (3, "127.0.0.1:7420".to_string()));
        o.validate().unwrap();
        assert!(parse_peer("x=1").is_err());
    }

    #[test]
    fn parses_alerts_and_config_commands() {
        let cli = Cli::try_parse_from([
            "ccx",
            "alerts",
            "--control",
            "a:1,b:2",
            "list",
            "--tenant",
            "acme",
            "--status",
            "open",
            "--from",
            "2024-01-01T00:00:00Z",
        ])
        .unwrap();
        let Sub::Alerts(a) = cli.cmd else { panic!() };
        assert_eq!(a.endpoints.control, vec!["a:1", "b:2"]);
        let AlertsCommand::List { status, from, .. } = a.command else {
            panic!()
        };
        assert_eq!(status, Some(AlertStatus::Open));
        assert_eq!(from, Some(1_704_067_200_000));
        let cli = Cli::try_parse_from([
            "ccx",
            "config",
            "set",
            "acme",
            "sl_threshold=30s",
            "churn.nps_detractor.weight=40",
            "token=s3cret",
            "--control",
            "x:1",
        ])
        .unwrap();
        let Sub::Config(c) = cli.cmd else { panic!() };
        assert_eq!(c.endpoints.control, vec!["x:1"]);
        let ConfigCommand::Set { settings, .. } = c.command else {
            panic!()
        };
        let (mut edited, mut tokens) = (TenantSettings::default(), Vec::new());
        apply_settings(&mut edited, &mut tokens, &settings).unwrap();
        assert_eq!(edited.sl_threshold_ms, 30_000);
        assert_eq!(edited.churn.rules[Signal::NpsDetractor.index()].weight, 40);
        assert_eq!(tokens, vec![ccx_model::hash_token("s3cret")]);
        let unknown = apply_settings(&mut edited, &mut tokens, &[("nope".into(), "1".into())]);
        assert!(unknown.is_err());
        assert_eq!(parse_duration_ms("24h").unwrap(), 86_400_000);
    }
}
