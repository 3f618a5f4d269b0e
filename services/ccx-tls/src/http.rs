//! Serving an axum router on a listener, over TLS when it has a [`ServerTls`].

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ServerTls;

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets requests in flight
/// finish for up to `drain` (TLS) or until they do (plaintext, axum's own server).
pub async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<ServerTls>,
    shutdown: CancellationToken,
    drain: Duration,
) -> std::io::Result<()> {
    let Some(tls) = tls else {
        return axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    };
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stopper.graceful_shutdown(Some(drain));
    });
    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls.rustls());
    axum_server::from_tcp_rustls(listener.into_std()?, config)
        .handle(handle)
        .serve(router.into_make_service())
        .await
}
