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
    pub wallboard: WallboardConfig,
    pub tenants: Vec<TenantToken>,
}

/// TLS of one listener (the same shape for every listener). Absent: plaintext, meant for
/// loopback development; a listener on another address without it starts with a warning
/// (docs/operations.md, "TLS"). The certificate and key are read again when their files
/// change, so a rotation needs no restart; the client CA is read at start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, the listener's own certificate first.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// PEM CA certificates that clients' certificates must chain to. Unset: clients present
    /// none. On the collector and the wallboard every client must then present one; on a
    /// control replica only replica-to-replica traffic must (docs/operations.md).
    pub client_ca: Option<PathBuf>,
}

impl TlsConfig {
    /// Checks that `cert` and `key` are both set; `section` names the field in errors.
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        if self.cert.is_none() {
            return Err(invalid(
                format!("{section}.tls.cert"),
                "required when the [tls] section is given",
            ));
        }
        if self.key.is_none() {
            return Err(invalid(
                format!("{section}.tls.key"),
                "required when the [tls] section is given",
            ));
        }
        Ok(())
    }
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
    /// TLS of both listeners (gRPC and HTTP); absent: plaintext.
    pub tls: Option<TlsConfig>,
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
            tls: None,
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
    /// The live floor (`queue_now`, `agent_now`) is recomputed from every event received and
    /// written this often (SPEC §7.4: within a second of the event); the minute tables at
    /// most once a second.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Processing time between checkpoints (0 disables them).
    #[serde(with = "humantime_serde")]
    pub checkpoint_every: Duration,
    /// TLS of the probe and metrics listener (its metrics name tenants); absent: plaintext.
    pub tls: Option<TlsConfig>,
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
            flush_interval: Duration::from_millis(250),
            checkpoint_every: Duration::from_secs(10),
            tls: None,
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
    /// PEM CA certificates the control plane's clients (collector, stream, wallboard, the
    /// `ccx` commands, and replicas calling each other) verify the replicas against. Set: they
    /// connect with TLS; unset: plaintext.
    pub ca: Option<PathBuf>,
    /// TLS of a replica's listeners (gRPC and HTTP). Its `client_ca` is required: replicas
    /// present their own certificate to each other (mutual TLS), clients of the public API
    /// need none.
    pub tls: Option<TlsConfig>,
    /// The credential this process presents to the control plane (a service credential for
    /// the collector, stream and wallboard; an operator's for `ccx` commands). Set it through
    /// `CCX__CONTROL__TOKEN` or a file kept secret; `ccx check-config` does not print it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// Credentials a replica (`ccx control`) accepts as operators: everything, cluster and
    /// tenant administration included.
    pub operators: Vec<NamedCredential>,
    /// Credentials a replica accepts as services: read every tenant, raise, acknowledge and
    /// resolve alerts; no configuration, credential or membership changes.
    pub services: Vec<NamedCredential>,
}

/// The supervisor wallboard (`ccx wallboard`); its address and sources are flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WallboardConfig {
    /// TLS of the page's listener; absent: plaintext.
    pub tls: Option<TlsConfig>,
}

/// A control-plane credential: its name (recorded as who acted) and the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedCredential {
    pub name: String,
    pub token_sha256: String,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            data_dir: PathBuf::from("/var/lib/ccx/control"),
            grpc_listen: ([127, 0, 0, 1], 50061).into(),
            http_listen: ([127, 0, 0, 1], 9091).into(),
            endpoints: Vec::new(),
            ca: None,
            tls: None,
            token: String::new(),
            operators: Vec::new(),
            services: Vec::new(),
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
        if let Some(tls) = &c.tls {
            tls.validate("collector")?;
        }
        if let Some(tls) = &self.control.tls {
            tls.validate("control")?;
            if tls.client_ca.is_none() {
                return Err(invalid(
                    "control.tls.client_ca",
                    "required with control.tls: replicas authenticate each other with \
                     certificates (mutual TLS)",
                ));
            }
            if self.control.ca.is_none() {
                return Err(invalid(
                    "control.ca",
                    "required with control.tls: replicas verify each other against it",
                ));
            }
        }
        if let Some(tls) = &self.stream.tls {
            tls.validate("stream")?;
        }
        if let Some(tls) = &self.wallboard.tls {
            tls.validate("wallboard")?;
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
        let mut names = HashSet::new();
        let control = &self.control;
        let credentials = (control.operators.iter().enumerate())
            .map(|(i, c)| (format!("control.operators[{i}]"), c))
            .chain(
                (control.services.iter().enumerate())
                    .map(|(i, c)| (format!("control.services[{i}]"), c)),
            );
        for (field, c) in credentials {
            if !ccx_model::token::is_credential_name(&c.name) {
                return Err(invalid(
                    format!("{field}.name"),
                    format!("{:?} does not match [a-z0-9][a-z0-9_.@-]{{0,63}}", c.name),
                ));
            }
            if !names.insert(c.name.as_str()) {
                return Err(invalid(
                    format!("{field}.name"),
                    format!("{:?} is used by another credential", c.name),
                ));
            }
            if !ccx_model::token::is_token_hash(&c.token_sha256) {
                return Err(invalid(
                    format!("{field}.token_sha256"),
                    "must be 64 hex digits (ccx hash-token <token>)",
                ));
            }
        }
        if control.token.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(invalid(
                "control.token",
                "must be printable ASCII without spaces",
            ));
        }
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
        let f = file("[collector.tls]\ncert = \"/c.pem\"\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: collector.tls.key: required when the [tls] section is given"
        );
        let f = file("[wallboard.tls]\nkey = \"/k.pem\"\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("wallboard.tls.cert"), "{err}");
        let f = file("[control.tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("control.tls.client_ca"), "{err}");
        let f =
            file("[control.tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\nclient_ca = \"/ca.pem\"\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("control.ca"), "{err}");
        let f = file(
            "[control]\nca = \"/ca.pem\"\n[control.tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n\
             client_ca = \"/ca.pem\"\n[collector.tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n",
        );
        let config = Config::load(&[f.path().to_path_buf()]).unwrap();
        assert_eq!(
            config.collector.tls.unwrap().cert,
            Some(PathBuf::from("/c.pem"))
        );
        let f = file(&format!(
            "[[control.operators]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\n\
             [[control.services]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\n",
            ccx_model::hash_token("a"),
            ccx_model::hash_token("b")
        ));
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: control.services[0].name: \"ops\" is used by another credential"
        );
        let f = file("[[control.operators]]\nname = \"ops\"\ntoken_sha256 = \"00\"\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert!(
            err.to_string()
                .contains("control.operators[0].token_sha256"),
            "{err}"
        );
        let f = file("[kafka]\nbrokerz = \"x\"\n");
        let err = Config::load(&[f.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("brokerz"), "{err}");
    }
}
