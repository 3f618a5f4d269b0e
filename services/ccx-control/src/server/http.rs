//! The HTTP listener: `/metrics`, `/healthz` and `/readyz`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus::{Encoder, TextEncoder};
use tokio_util::sync::CancellationToken;

use super::core::Core;

/// Serves the HTTP endpoints on `http_listener` (over TLS with `tls`) until `token` is
/// cancelled.
pub(super) fn spawn(
    id: u64,
    http_listener: tokio::net::TcpListener,
    tls: Option<ccx_tls::ServerTls>,
    http_core: Arc<Core>,
    token: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get({
                let core = http_core.clone();
                move || async move {
                    core.metrics.update(&core.status());
                    let mut buf = Vec::new();
                    let _ = TextEncoder::new().encode(&core.metrics.registry.gather(), &mut buf);
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        String::from_utf8_lossy(&buf).into_owned(),
                    )
                }
            }),
        )
        .route(
            "/healthz",
            axum::routing::get({
                let core = http_core.clone();
                move || async move {
                    if core.loop_alive.load(Ordering::SeqCst) {
                        (axum::http::StatusCode::OK, "ok")
                    } else {
                        (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "raft loop stopped",
                        )
                    }
                }
            }),
        )
        .route(
            "/readyz",
            axum::routing::get({
                let core = http_core;
                move || async move {
                    let s = core.status();
                    if core.loop_alive.load(Ordering::SeqCst) && s.leader_id != 0 {
                        (axum::http::StatusCode::OK, "ready")
                    } else {
                        (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "no leader known",
                        )
                    }
                }
            }),
        );
    tokio::spawn(async move {
        let drain = std::time::Duration::from_secs(5);
        if let Err(e) = ccx_tls::serve_http(http_listener, app, tls, token, drain).await {
            tracing::error!(id, error = %e, "control HTTP server failed");
        }
    })
}
