//! ccx configuration: one struct per section, built-in defaults, layered loading
//! (defaults < each `--config` file in order < `CCX__SECTION__KEY` environment variables) and
//! a `validate()` step. It owns no behaviour of the services, only what they are told.

use ccx_model::settings::TenantSettings;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod clickhouse;

pub use clickhouse::{ClickHouseConfig, ClusterConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot load configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("config file {0}: not found")]
    Missing(PathBuf),
    #[error("invalid configuration: {field}: {reason}")]
    Invalid { field: String, reason: String },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub collector: CollectorConfig,
    pub kafka: KafkaConfig,
    pub validation: ValidationConfig,
    pub clickhouse: ClickHouseConfig,
    pub stream: StreamConfig,
    pub control: ControlConfig,
    pub tenants: Vec<TenantToken>,
}

/// Where the events go after the collector validated them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// Kafka (the product).
    #[default]
    Kafka,
    /// Discard after encoding: only for measuring the collector alone.
    Null,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorConfig {
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub max_batch_events: usize,
    /// Largest batch body: HTTP bodies and gRPC messages over it are refused from their
    /// declared length, before they are read.
    pub max_batch_bytes: usize,
    /// Largest request header list (HTTP headers or gRPC metadata), counted as HTTP/2 does:
    /// name + value + 32 bytes per entry. Lists up to twice this are read and refused with a
    /// message; longer ones are cut off by the HTTP layer itself.
    pub max_header_bytes: usize,
    /// Concurrent HTTP/2 streams per connection (both listeners); clients queue beyond it.
    pub max_concurrent_streams: u32,
    /// Publish requests in flight in this process (both listeners together); more are refused
    /// at once, before their body is read. Bounds memory to about this × `max_batch_bytes`.
    pub max_in_flight: usize,
    /// Events per second each tenant may publish through this process (0: unlimited).
    pub tenant_events_per_second: u32,
    /// Events a tenant may publish at once above its rate (the token bucket's size).
    pub tenant_burst_events: u32,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub sink: SinkKind,
    /// How long a graceful stop waits for in-flight batches.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            grpc_listen: ([127, 0, 0, 1], 50051).into(),
            http_listen: ([127, 0, 0, 1], 8088).into(),
            max_batch_events: 10_000,
            max_batch_bytes: 4 * 1024 * 1024,
            max_header_bytes: 16 * 1024,
            max_concurrent_streams: 100,
            max_in_flight: 256,
            tenant_events_per_second: 0,
            tenant_burst_events: 20_000,
            tls_cert: None,
            tls_key: None,
            sink: SinkKind::Kafka,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    pub brokers: String,
    pub topic: String,
    pub partitions: u32,
    /// How long the producer keeps retrying one record before the batch fails (UNAVAILABLE).
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Passed verbatim to librdkafka (security.protocol, sasl.*, ssl.*, linger.ms, …).
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topic: "ccx.events".into(),
            partitions: 8,
            delivery_timeout: Duration::from_secs(5),
            properties: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationConfig {
    /// Oldest accepted `occurredAt`, before now.
    #[serde(with = "humantime_serde")]
    pub max_past: Duration,
    /// Latest accepted `occurredAt`, after now.
    #[serde(with = "humantime_serde")]
    pub max_future: Duration,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            max_past: Duration::from_secs(7 * 24 * 3600),
            max_future: Duration::from_secs(5 * 60),
        }
    }
}

impl ValidationConfig {
    pub fn limits(&self) -> ccx_model::Limits {
        ccx_model::Limits {
            max_past_ms: self.max_past.as_millis() as i64,
            max_future_ms: self.max_future.as_millis() as i64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    pub checkpoint_dir: PathBuf,
    pub http_listen: SocketAddr,
    /// Worker threads per process (`--workers` overrides).
    pub workers: usize,
    /// SPEC §2 allowed lateness of tenants whose settings set none (SPEC's default).
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// A tenant that sent nothing for this long, with every partition caught up, has its
    /// watermark follow the wall clock (so its quiet minutes become final).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Rows of open minutes are written at least this often.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Processing time between checkpoints (0 disables them).
    #[serde(with = "humantime_serde")]
    pub checkpoint_every: Duration,
}

impl StreamConfig {
    /// The settings of a tenant the control plane holds none for: SPEC's, with this
    /// process-wide allowed lateness.
    pub fn tenant_defaults(&self) -> TenantSettings {
        TenantSettings {
            allowed_lateness_ms: self.allowed_lateness.as_millis() as i64,
            ..TenantSettings::default()
        }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            checkpoint_dir: PathBuf::from("/var/lib/ccx/stream"),
            http_listen: ([127, 0, 0, 1], 9090).into(),
            workers: 1,
            allowed_lateness: Duration::from_millis(
                TenantSettings::default().allowed_lateness_ms as u64,
            ),
            idle_timeout: Duration::from_secs(10),
            flush_interval: Duration::from_millis(500),
            checkpoint_every: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    pub data_dir: PathBuf,
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// Control-plane replicas the stream raises churn alerts into (host:port); empty: none.
    pub endpoints: Vec<String>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            data_dir: PathBuf::from("/var/lib/ccx/control"),
            grpc_listen: ([127, 0, 0, 1], 50061).into(),
            http_listen: ([127, 0, 0, 1], 9091).into(),
            endpoints: Vec::new(),
        }
    }
}

/// One collector bearer token of a tenant, stored only as its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantToken {
    pub id: String,
    pub token_sha256: String,
}

impl Config {
    /// Defaults, then each file in order, then `CCX__SECTION__KEY` variables; then validated.
    pub fn load(files: &[PathBuf]) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        for file in files {
            if !Path::new(file).exists() {
                return Err(ConfigError::Missing(file.clone()));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("CCX__").split("__"));
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: ranges, patterns, consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.collector;
        if c.max_batch_events == 0 {
            return Err(invalid("collector.max_batch_events", "must be at least 1"));
        }
        if c.max_batch_bytes < 1024 {
            return Err(invalid(
                "collector.max_batch_bytes",
                "must be at least 1024",
            ));
        }
        // hyper's HTTP/1 read buffer, which cuts off headers at twice this, is at least 8 KiB.
        if !(4096..=1 << 30).contains(&c.max_header_bytes) {
            return Err(invalid(
                "collector.max_header_bytes",
                "must be between 4096 and 1073741824",
            ));
        }
        if c.max_concurrent_streams == 0 {
            return Err(invalid(
                "collector.max_concurrent_streams",
                "must be at least 1",
            ));
        }
        if c.max_in_flight == 0 {
            return Err(invalid("collector.max_in_flight", "must be at least 1"));
        }
        if c.tenant_events_per_second > 0 && (c.tenant_burst_events as usize) < c.max_batch_events {
            return Err(invalid(
                "collector.tenant_burst_events",
                format!(
                    "must be at least max_batch_events ({}) when tenant_events_per_second is set, \
                     or a full batch could never pass",
                    c.max_batch_events
                ),
            ));
        }
        if c.tls_cert.is_some() != c.tls_key.is_some() {
            return Err(invalid(
                "collector.tls_cert",
                "tls_cert and tls_key must be set together",
            ));
        }
        if self.kafka.brokers.trim().is_empty() {
            return Err(invalid("kafka.brokers", "must not be empty"));
        }
        if self.kafka.topic.trim().is_empty() {
            return Err(invalid("kafka.topic", "must not be empty"));
        }
        if self.kafka.partitions == 0 {
            return Err(invalid("kafka.partitions", "must be at least 1"));
        }
        self.clickhouse.validate()?;
        let mut hashes = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if !ccx_model::validate::is_tenant_id(&t.id) {
                return Err(invalid(
                    format!("tenants[{i}].id"),
                    format!("{:?} does not match [a-z0-9][a-z0-9_-]{{0,62}}", t.id),
                ));
            }
            if !ccx_model::token::is_token_hash(&t.token_sha256) {
                return Err(invalid(
                    format!("tenants[{i}].token_sha256"),
                    "must be 64 hex digits (ccx hash-token <token>)",
                ));
            }
            if !hashes.insert(t.token_sha256.to_ascii_lowercase()) {
                return Err(invalid(
                    format!("tenants[{i}].token_sha256"),
                    "the same token is listed twice",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn files_merge_in_order_and_env_wins() {
        let a = file("[kafka]\ntopic = \"a\"\npartitions = 3\n");
        let b = file(&format!(
            "[kafka]\ntopic = \"b\"\n[[tenants]]\nid = \"t1\"\ntoken_sha256 = \"{}\"\n",
            ccx_model::hash_token("x")
        ));
        let files = [a.path().to_path_buf(), b.path().to_path_buf()];
        let config = Config::load(&files).unwrap();
        assert_eq!(config.kafka.topic, "b");
        assert_eq!(config.kafka.partitions, 3);
        assert_eq!(config.tenants.len(), 1);
        // Env layering is covered with a variable no other test reads.
        std::env::set_var("CCX__VALIDATION__MAX_FUTURE", "10m");
        let config = Config::load(&files).unwrap();
        std::env::remove_var("CCX__VALIDATION__MAX_FUTURE");
        assert_eq!(config.validation.max_future, Duration::from_secs(600));
    }

    #[test]
    fn bad_values_name_the_field() {
        let f = file("[kafka]\npartitions = 0\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: kafka.partitions: must be at least 1"
        );
        let f = file("[[tenants]]\nid = \"Bad\"\ntoken_sha256 = \"00\"\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("tenants[0].id"), "{err}");
        let f = file("[collector]\nmax_header_bytes = 100\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert!(
            err.to_string().contains("collector.max_header_bytes"),
            "{err}"
        );
        let f = file("[collector]\nmax_concurrent_streams = 0\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: collector.max_concurrent_streams: must be at least 1"
        );
        let f = file("[collector]\nmax_in_flight = 0\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("collector.max_in_flight"), "{err}");
        let f = file("[collector]\ntenant_events_per_second = 100\ntenant_burst_events = 50\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert!(
            err.to_string().contains("collector.tenant_burst_events"),
            "{err}"
        );
        // Unlimited (0) needs no burst; a burst that holds a full batch is fine.
        let f = file("[collector]\ntenant_burst_events = 1\n");
        Config::load(&[f.path().to_path_buf()]).unwrap();
        let f = file("[collector]\ntenant_events_per_second = 100\ntenant_burst_events = 10000\n");
        Config::load(&[f.path().to_path_buf()]).unwrap();
        let f = file("[kafka]\nbrokerz = \"x\"\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("brokerz"), "{err}");
    }
}
