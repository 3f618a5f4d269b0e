//! Runs both listeners until shut down; a graceful stop lets in-flight batches finish.

use std::net::SocketAddr;
use std::sync::Arc;

use ccx_config::{CollectorConfig, Config};
use ccx_proto::v1::collector_server::CollectorServer;
use ccx_tls::{ClientCerts, ServerTls};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

use crate::grpc::CollectorService;
use crate::grpc_door::GrpcDoor;
use crate::{http, Ingest, Sink};

/// Where the HTTP layers themselves cut off a header list: twice the collector's own limit,
/// so that lists up to there are read and refused with a message (`limits.rs`), and longer
/// ones are refused (431) without being held.
fn header_cutoff(c: &CollectorConfig) -> usize {
    c.max_header_bytes.saturating_mul(2)
}

/// The HTTP listener's protocol limits: HTTP/1 head size (hyper's read buffer, so also the
/// largest read of a body) and HTTP/2 streams and header lists per connection.
fn http_limits<A>(
    mut server: axum_server::Server<A>,
    c: &CollectorConfig,
) -> axum_server::Server<A> {
    let builder = server.http_builder();
    builder.http1().max_buf_size(header_cutoff(c));
    builder
        .http2()
        .max_concurrent_streams(c.max_concurrent_streams)
        .max_header_list_size(u32::try_from(header_cutoff(c)).unwrap_or(u32::MAX));
    server
}

/// A running collector: its bound addresses and a handle to stop it.
pub struct Running {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub ingest: Arc<Ingest>,
    shutdown: CancellationToken,
    tasks: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, waits for in-flight batches, flushes the producer.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.tasks.await;
    }

    /// Resolves when the collector stopped (after `shutdown` was cancelled).
    pub async fn wait(self) {
        let _ = self.tasks.await;
    }
}

/// Binds the gRPC and HTTP listeners of `config.collector` (port 0 picks a free port) and
/// serves until `shutdown` is cancelled.
pub async fn serve(
    config: &Config,
    sink: Sink,
    shutdown: CancellationToken,
) -> std::io::Result<Running> {
    let ingest = Arc::new(Ingest::new(config, sink.clone()));
    let grpc_listener = tokio::net::TcpListener::bind(config.collector.grpc_listen).await?;
    let http_listener = std::net::TcpListener::bind(config.collector.http_listen)?;
    http_listener.set_nonblocking(true)?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;

    let c = &config.collector;
    let tls = |http: bool| -> std::io::Result<Option<ServerTls>> {
        let Some(tls) = &c.tls else {
            return Ok(None);
        };
        let built = if http {
            ServerTls::http("collector", tls, ClientCerts::Required)
        } else {
            ServerTls::grpc("collector", tls, ClientCerts::Required)
        };
        built.map(Some).map_err(std::io::Error::other)
    };
    let (grpc_tls, http_tls) = (tls(false)?, tls(true)?);
    ccx_tls::warn_if_plaintext("collector gRPC", grpc_addr, grpc_tls.is_some());
    ccx_tls::warn_if_plaintext("collector HTTP", http_addr, http_tls.is_some());
    let mut grpc = Server::builder()
        .max_concurrent_streams(c.max_concurrent_streams)
        .http2_max_header_list_size(u32::try_from(header_cutoff(c)).unwrap_or(u32::MAX));
    // tonic refuses a longer message from its length prefix, before reading it.
    let service = CollectorServer::new(CollectorService::new(Arc::clone(&ingest)))
        .max_decoding_message_size(c.max_batch_bytes);
    let service = GrpcDoor::new(service, Arc::clone(&ingest));
    let grpc = grpc.add_service(service);
    let stop = shutdown.clone();
    let stopped = async move { stop.cancelled().await };
    let grpc_task = match &grpc_tls {
        Some(tls) => {
            tokio::spawn(grpc.serve_with_incoming_shutdown(tls.incoming(grpc_listener), stopped))
        }
        None => {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener);
            tokio::spawn(grpc.serve_with_incoming_shutdown(incoming, stopped))
        }
    };

    let app = http::router(Arc::clone(&ingest)).into_make_service();
    let handle = axum_server::Handle::new();
    let http_task = match &http_tls {
        Some(tls) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_config(tls.rustls());
            tokio::spawn(
                http_limits(axum_server::from_tcp_rustls(http_listener, tls), c)
                    .handle(handle.clone())
                    .serve(app),
            )
        }
        None => tokio::spawn(
            http_limits(axum_server::from_tcp(http_listener), c)
                .handle(handle.clone())
                .serve(app),
        ),
    };

    let readiness = tokio::spawn({
        let sink = sink.clone();
        let stop = shutdown.clone();
        async move { sink.watch_readiness(stop).await }
    });
    let drain = config.collector.drain_timeout;
    let stop = shutdown.clone();
    let tasks = tokio::spawn(async move {
        stop.cancelled().await;
        handle.graceful_shutdown(Some(drain));
        if let Ok(Err(e)) = grpc_task.await {
            tracing::warn!(error = %e, "gRPC server stopped with an error");
        }
        if let Ok(Err(e)) = http_task.await {
            tracing::warn!(error = %e, "HTTP server stopped with an error");
        }
        let _ = readiness.await;
        sink.flush(drain).await;
        tracing::info!("collector stopped");
    });
    tracing::info!(%grpc_addr, %http_addr, tls = grpc_tls.is_some(), "collector listening");
    Ok(Running {
        grpc_addr,
        http_addr,
        ingest,
        shutdown,
        tasks,
    })
}
