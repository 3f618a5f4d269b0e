//! A stream process as `ccx stream` runs it: the dataflow from the Kafka partitions into
//! ClickHouse, tenant settings followed live from the control plane, churn alerts raised into
//! it, and the probes served.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccx_config::Config;
use ccx_control_client::{watch_configs, ControlClient};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::dataflow::{run, Progress, RowSink, StreamOptions};
use crate::engine::SharedSettings;
use crate::error::StreamError;
use crate::sink::{ClickHouseSinks, WithAlerts};
use crate::source::KafkaLog;
use crate::Settings;

/// How often the control plane's tenant settings are read.
const SETTINGS_POLL: Duration = Duration::from_secs(2);

/// This process's place in the timely cluster (flags, since they differ per process).
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Worker threads (default: `stream.workers`).
    pub workers: Option<usize>,
    pub processes: usize,
    pub process_id: usize,
    /// host:port of every process, in index order.
    pub peers: Vec<String>,
}

/// A started stream process.
pub struct Running {
    pub http_addr: SocketAddr,
    pub progress: Arc<Progress>,
    worker: JoinHandle<Result<(), StreamError>>,
}

impl Running {
    /// Waits for the dataflow to end: after `shutdown` (the last rows written), or on its own
    /// with the error that stopped it.
    pub async fn wait(self) -> Result<(), StreamError> {
        self.worker
            .await
            .map_err(|e| StreamError::Timely(format!("stream task: {e}")))?
    }
}

/// Starts the stream of `config` until `shutdown` is cancelled.
pub async fn serve(
    config: &Config,
    cluster: Cluster,
    shutdown: CancellationToken,
) -> Result<Running, StreamError> {
    let processes = cluster.processes.max(1);
    if processes > 1 && cluster.peers.len() != processes {
        return Err(StreamError::Invalid {
            field: "--peers",
            reason: format!(
                "{} addresses for {processes} processes",
                cluster.peers.len()
            ),
        });
    }
    let s = &config.stream;
    let options = StreamOptions {
        workers: cluster.workers.unwrap_or(s.workers).max(1),
        processes,
        process_id: cluster.process_id,
        peers: cluster.peers,
        partitions: config.kafka.partitions,
        idle_timeout: s.idle_timeout,
        flush_interval: s.flush_interval,
        checkpoint_every_ms: s.checkpoint_every.as_millis() as u64,
        checkpoint_dir: Some(s.checkpoint_dir.clone()),
        finish_at: None,
        keep_events: true,
        provisional: true,
        ..StreamOptions::default()
    };
    let endpoints = config.control.endpoints.clone();
    let mut settings = Settings::new(s.tenant_defaults());
    if !endpoints.is_empty() {
        // Tenant settings held by the control plane apply without a restart.
        let shared = Arc::new(SharedSettings::default());
        settings.shared = Some(Arc::clone(&shared));
        let client = ControlClient::from_config(&config.control)?;
        tokio::spawn(follow_settings(
            shared,
            client,
            SETTINGS_POLL,
            shutdown.clone(),
        ));
    }

    let progress = Arc::new(Progress::default());
    let listener = tokio::net::TcpListener::bind(s.http_listen)
        .await
        .map_err(StreamError::io(format!(
            "stream.http_listen {}",
            s.http_listen
        )))?;
    let http_addr = listener
        .local_addr()
        .map_err(StreamError::io("stream.http_listen"))?;
    let tls = s
        .tls
        .as_ref()
        .map(|tls| ccx_tls::ServerTls::http("stream", tls, ccx_tls::ClientCerts::Required))
        .transpose()?;
    ccx_tls::warn_if_plaintext("stream HTTP", http_addr, tls.is_some());
    let router = crate::http::router(Arc::clone(&progress));
    let drain = Duration::from_secs(5);
    tokio::spawn(ccx_tls::serve_http(
        listener,
        router,
        tls,
        shutdown.clone(),
        drain,
    ));

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            tracing::info!("stopping stream: writing the last rows");
            stop.store(true, Ordering::Relaxed);
        });
    }
    if cluster.process_id == 0 {
        // One process of the stream drops what is past retention.
        tokio::spawn(crate::retention::keep_retention(
            config.clickhouse.clone(),
            crate::retention::RETENTION_EVERY,
            shutdown.clone(),
        ));
    }
    let kafka = config.kafka.clone();
    let sinks = ClickHouseSinks::new(&config.clickhouse);
    let control_tls = ccx_control_client::client_tls(&config.control)?;
    let control_token = config.control.token.clone();
    let worker = {
        let progress = Arc::clone(&progress);
        tokio::task::spawn_blocking(move || {
            run(
                options,
                settings,
                move |_| KafkaLog::new(&kafka),
                move |_| {
                    let sink = sinks.sink()?;
                    let sink: Box<dyn RowSink> = if endpoints.is_empty() {
                        Box::new(sink)
                    } else {
                        Box::new(WithAlerts::with_tls(
                            sink,
                            &endpoints,
                            &control_token,
                            control_tls.clone(),
                        )?)
                    };
                    Ok(sink)
                },
                stop,
                progress,
            )
        })
    };
    Ok(Running {
        http_addr,
        progress,
        worker,
    })
}

/// Keeps `shared` equal to the tenant settings the control plane holds (read every `every`)
/// until `stop`.
pub async fn follow_settings(
    shared: Arc<SharedSettings>,
    client: ControlClient,
    every: Duration,
    stop: CancellationToken,
) {
    watch_configs(client, every, stop, |held| {
        shared.replace(
            held.into_iter()
                .map(|c| (c.tenant_id, c.settings))
                .collect(),
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cluster_without_every_peer_is_refused_naming_the_flag() {
        let cluster = Cluster {
            processes: 3,
            peers: vec!["a:1".into(), "b:1".into()],
            ..Cluster::default()
        };
        let err = serve(&Config::default(), cluster, CancellationToken::new())
            .await
            .err()
            .expect("refused");
        assert_eq!(err.to_string(), "--peers: 2 addresses for 3 processes");
    }

    #[tokio::test]
    async fn a_taken_probe_address_is_named() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = Config::default();
        config.stream.http_listen = taken.local_addr().unwrap();
        let err = serve(&config, Cluster::default(), CancellationToken::new())
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().starts_with("stream.http_listen"), "{err}");
    }
}
