//! A listener's rustls configuration, the gRPC accept loop over it and the plaintext policy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ccx_config::TlsConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

use crate::reload::ReloadingCert;
use crate::{pem, TlsError};

/// A client that has not finished its handshake by then is dropped, so a stalled one holds
/// no more than a task.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener with a `client_ca` asks of its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCerts {
    /// Every client presents a certificate of the CA (the collector, the wallboard).
    Required,
    /// A client may present one, and a presented one must chain to the CA; the service
    /// decides per call (a control replica: replica traffic needs one, the public API not).
    Optional,
}

/// The TLS side of one listener: its certificate (reloaded on change) and client policy.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl ServerTls {
    /// A gRPC listener's TLS (HTTP/2 only); `section` names the settings in errors
    /// (`control` → `control.tls.cert`).
    pub fn grpc(section: &str, tls: &TlsConfig, clients: ClientCerts) -> Result<Self, TlsError> {
        Self::new(section, tls, clients, &[b"h2"])
    }

    /// An HTTP listener's TLS (HTTP/2 and HTTP/1.1).
    pub fn http(section: &str, tls: &TlsConfig, clients: ClientCerts) -> Result<Self, TlsError> {
        Self::new(section, tls, clients, &[b"h2", b"http/1.1"])
    }

    fn new(
        section: &str,
        tls: &TlsConfig,
        clients: ClientCerts,
        alpn: &[&[u8]],
    ) -> Result<Self, TlsError> {
        let (Some(cert), Some(key)) = (&tls.cert, &tls.key) else {
            let field = if tls.cert.is_none() { "cert" } else { "key" };
            return Err(TlsError::new(
                format!("{section}.tls.{field}"),
                "required when the [tls] section is given",
            ));
        };
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::new(format!("{section}.tls"), e.to_string()))?;
        let builder = match &tls.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let field = format!("{section}.tls.client_ca");
                let roots = Arc::new(pem::roots(&field, ca)?);
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(&provider));
                let verifier = match clients {
                    ClientCerts::Required => verifier,
                    ClientCerts::Optional => verifier.allow_unauthenticated(),
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| TlsError::new(&field, e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let resolver = ReloadingCert::load(section, cert.clone(), key.clone(), provider)?;
        let mut config = builder.with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration (for servers that run their own accept loop).
    pub fn rustls(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    /// The connections of `listener` once their handshake succeeded, for tonic's
    /// `serve_with_incoming*`. Handshakes run concurrently, each in its own task; a failed one
    /// (a plaintext client, an untrusted certificate) is logged and dropped. The stream ends
    /// when it is dropped.
    pub fn incoming(
        &self,
        listener: TcpListener,
    ) -> ReceiverStream<std::io::Result<TlsStream<TcpStream>>> {
        let acceptor = TlsAcceptor::from(self.rustls());
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of descriptors and the like: wait instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send(Ok(tls)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        ReceiverStream::new(rx)
    }
}

/// The policy for a listener without TLS: plaintext is meant for loopback (development, the
/// demo, tests); on any other address it is allowed, since TLS may end in front of ccx (a
/// service mesh, a load balancer), but logged as a warning at start.
pub fn warn_if_plaintext(listener: &str, addr: SocketAddr, tls: bool) -> bool {
    let warned = !tls && !addr.ip().is_loopback();
    if warned {
        tracing::warn!(listener, %addr,
            "listening in plaintext on a non-loopback address: set its [tls] section unless \
             TLS ends in front of this process");
    }
    warned
}
