//! `[clickhouse]`: where the analytics store is, its layout (one server, or a cluster of
//! shards and replicas) and how long each table keeps its rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{invalid, ConfigError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// The HTTP interface statements go to first.
    pub url: String,
    /// More HTTP interfaces of the same cluster (other replicas or shards): a statement whose
    /// server does not answer is sent to the next one, and the one that answered is used
    /// from then on.
    pub failover_urls: Vec<String>,
    pub database: String,
    pub user: String,
    pub password: String,
    /// The replicated, sharded layout; absent: tables on one server (the default).
    pub cluster: Option<ClusterConfig>,
    /// Days a partitioned table keeps its rows, by table. Tables are partitioned by month:
    /// a month is dropped whole once its last day is more than this many days old, so rows
    /// live between this and this + 31 days. A table not listed keeps its rows.
    pub retention_days: BTreeMap<String, u32>,
}

/// A ClickHouse cluster as its servers' `remote_servers` define it; every server has the
/// `{shard}` and `{replica}` macros.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The cluster's name in `remote_servers` (the `ON CLUSTER` of every statement).
    pub name: String,
    /// `ReplicatedReplacingMergeTree` tables (ZooKeeper keeps the replicas of a shard
    /// equal); off: `ReplacingMergeTree` tables, one server per shard.
    pub replicated: bool,
    /// Shards of the cluster; `ccx migrate` refuses a cluster with another number.
    pub shards: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            name: String::new(),
            replicated: true,
            shards: 1,
        }
    }
}

/// Minute rows are kept a quarter, hourly rollups, the 15-minute staffing intervals and alert
/// histories about a year, daily rollups five years; stored events as long as the minutes a backfill recomputes from them.
const DEFAULT_RETENTION_DAYS: [(&str, u32); 16] = [
    ("queue_metrics_1m", 92),
    ("agent_metrics_1m", 92),
    ("agent_state_1m", 92),
    ("reason_metrics_1m", 92),
    ("ingest_quality_1m", 92),
    ("backfills", 92),
    ("events", 92),
    ("staffing_15m", 400),
    ("churn_alerts", 400),
    ("alert_events", 400),
    // Rollups outlive the minutes they sum: trends reach back a year and more.
    ("queue_metrics_1h", 400),
    ("agent_metrics_1h", 400),
    ("reason_metrics_1h", 400),
    ("queue_metrics_1d", 1_830),
    ("agent_metrics_1d", 1_830),
    ("reason_metrics_1d", 1_830),
];

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            failover_urls: Vec::new(),
            database: "ccx".into(),
            user: "default".into(),
            password: String::new(),
            cluster: None,
            retention_days: DEFAULT_RETENTION_DAYS
                .iter()
                .map(|(table, days)| (table.to_string(), *days))
                .collect(),
        }
    }
}

/// A ClickHouse identifier ccx writes into statements unquoted.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_url(field: &str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{url:?}: expected http://host:port"),
        ))
    }
}

impl ClickHouseConfig {
    /// Every URL, the first one first.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.url.as_str()).chain(self.failover_urls.iter().map(String::as_str))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("clickhouse.url", &self.url)?;
        for (i, url) in self.failover_urls.iter().enumerate() {
            check_url(&format!("clickhouse.failover_urls[{i}]"), url)?;
        }
        if !is_identifier(&self.database) {
            return Err(invalid(
                "clickhouse.database",
                format!(
                    "{:?}: expected letters, digits and '_', not starting with a digit",
                    self.database
                ),
            ));
        }
        if let Some(cluster) = &self.cluster {
            if !is_identifier(&cluster.name) {
                return Err(invalid(
                    "clickhouse.cluster.name",
                    format!(
                        "{:?}: expected the cluster's name in remote_servers (letters, digits, '_')",
                        cluster.name
                    ),
                ));
            }
            if cluster.shards == 0 {
                return Err(invalid("clickhouse.cluster.shards", "must be at least 1"));
            }
        }
        for (table, days) in &self.retention_days {
            if !is_identifier(table) {
                return Err(invalid(
                    format!("clickhouse.retention_days.{table}"),
                    "not a table name",
                ));
            }
            if *days == 0 {
                return Err(invalid(
                    format!("clickhouse.retention_days.{table}"),
                    "must be at least 1 (leave a table out to keep its rows)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(config: &ClickHouseConfig) -> String {
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_one_server_and_minutes_kept_shorter() {
        let config = ClickHouseConfig::default();
        config.validate().unwrap();
        assert!(config.cluster.is_none());
        assert!(config.retention_days["queue_metrics_1m"] < config.retention_days["staffing_15m"]);
        assert_eq!(
            config.urls().collect::<Vec<_>>(),
            vec!["http://127.0.0.1:8123"]
        );
    }

    #[test]
    fn names_are_identifiers() {
        assert!(is_identifier("ccx"));
        assert!(is_identifier("ccx_test_1"));
        assert!(!is_identifier("1ccx"));
        assert!(!is_identifier("ccx; DROP"));
        assert!(!is_identifier(""));
        let config = ClickHouseConfig {
            database: "ccx-db".into(),
            ..ClickHouseConfig::default()
        };
        assert!(reason(&config).starts_with("invalid configuration: clickhouse.database: "));
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut config = ClickHouseConfig {
            cluster: Some(ClusterConfig::default()),
            ..ClickHouseConfig::default()
        };
        assert!(reason(&config).contains("clickhouse.cluster.name"));
        config.cluster = Some(ClusterConfig {
            name: "ccx".into(),
            shards: 0,
            replicated: true,
        });
        assert_eq!(
            reason(&config),
            "invalid configuration: clickhouse.cluster.shards: must be at least 1"
        );
        config.cluster = None;
        config.retention_days.insert("events".into(), 0);
        assert!(reason(&config).starts_with(
            "invalid configuration: clickhouse.retention_days.events: must be at least 1"
        ));
        config.retention_days.insert("events".into(), 30);
        config.failover_urls = vec!["127.0.0.1:8124".into()];
        assert!(reason(&config).contains("clickhouse.failover_urls[0]"));
        config.failover_urls = vec!["http://127.0.0.1:8124".into()];
        config.validate().unwrap();
        assert_eq!(config.urls().count(), 2);
    }
}
