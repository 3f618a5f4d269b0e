//! The supervisor wallboard (SPEC §7.4): one page, one API, two row sources.
//!
//! A viewer signs in with a tenant, a name and one of the tenant's credentials (a tenant
//! credential of the control plane, or one of its ingest tokens) and sees only that tenant: per queue, waiting contacts and the longest wait now, service level (coloured
//! against the queue's target), ASA and abandonment over the last 15 and 60 minutes and
//! today (in the tenant's time zone), callbacks; agents by state now; occupancy; FCR and CSAT
//! today; the latest churn alerts, acknowledged or resolved from the page. The server pushes
//! the board with server-sent events when it changes.
//!
//! Where things live: [`source`] is the row-source trait, [`clickhouse`] and [`memory`] its
//! two implementations (`ccx wallboard`, `ccx demo`); [`board`] computes every number of the
//! page once; [`auth`] signs viewers in; `feed.rs` recomputes each watched tenant's board;
//! `sse.rs` streams it; `reused.rs` keeps costly reads for a moment; `routes.rs` is the HTTP surface, `metrics.rs` its Prometheus metrics; `page.html` and `signin.html` are the
//! two pages. This crate reads rows and alerts; it writes nothing but alert status changes
//! through the control plane.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ccx_config::TenantToken;
use ccx_control_client::{ControlClient, StoredConfig, TenantCredential};
use ccx_model::token::TokenTable;
use ccx_tls::{ClientCerts, ServerTls};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod auth;
pub mod board;
pub mod clickhouse;
pub mod error;
mod feed;
pub mod memory;
mod metrics;
mod reused;
mod routes;
pub mod source;
mod sse;

pub use clickhouse::ClickHouseSource;
pub use error::WallboardError;
pub use memory::MemorySource;
pub use source::{RowSource, Snapshot, SourceError};

/// How long a stop waits for requests in flight over TLS (open event streams end at once).
const DRAIN: Duration = Duration::from_secs(5);

/// How the wallboard runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// Tenants and token hashes of the config file (`[[tenants]]`).
    pub tenants: Vec<TenantToken>,
    /// Control-plane replicas (alerts, tenant settings, more tokens); empty: none.
    pub control: Vec<String>,
    /// The credential presented to them: a service credential (the wallboard acts for the
    /// viewers it signed in, each limited to their session's tenant).
    pub control_token: String,
    /// How often a watched tenant's board is recomputed.
    pub refresh: Duration,
    /// How often the control plane's tokens are read again.
    pub tokens_every: Duration,
    /// `wallboard.tls`: the page over HTTPS; `None`: plaintext.
    pub tls: Option<ccx_config::TlsConfig>,
    /// What the control plane's replicas are verified against (`control.ca`); `None`:
    /// plaintext.
    pub control_tls: Option<ccx_control_client::ClientTls>,
}

impl Options {
    pub fn new(listen: SocketAddr) -> Options {
        Options {
            listen,
            tenants: Vec::new(),
            control: Vec::new(),
            control_token: String::new(),
            refresh: Duration::from_millis(250),
            tokens_every: Duration::from_secs(2),
            tls: None,
            control_tls: None,
        }
    }
}

/// What the handlers share.
pub(crate) struct App {
    source: Arc<dyn RowSource>,
    control: Option<ControlClient>,
    auth: auth::Auth,
    feeds: feed::Feeds,
    metrics: metrics::Metrics,
    refresh: Duration,
    shutdown: CancellationToken,
}

/// A running wallboard.
pub struct Running {
    pub addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Running {
    /// Waits until the server stopped (after the shutdown token was cancelled).
    pub async fn wait(self) {
        let _ = self.server.await;
    }
}

/// What signs a viewer into a tenant: the ingest token hashes of the config file and of the
/// control plane's tenant configurations, and the control plane's tenant credentials.
pub fn token_table(
    configured: &[TenantToken],
    held: &[StoredConfig],
    credentials: &[TenantCredential],
) -> TokenTable {
    TokenTable::new(
        configured
            .iter()
            .map(|t| (t.id.as_str(), t.token_sha256.as_str()))
            .chain(held.iter().flat_map(|c| {
                c.token_sha256
                    .iter()
                    .map(|h| (c.tenant_id.as_str(), h.as_str()))
            }))
            .chain(
                credentials
                    .iter()
                    .map(|c| (c.tenant_id.as_str(), c.token_sha256.as_str())),
            ),
    )
}

/// Reads the control plane's ingest tokens and tenant credentials every `every` and applies
/// them to sign-in, until `stop`; a failed read keeps what was applied last.
async fn follow_sign_in(
    app: Arc<App>,
    client: ControlClient,
    configured: Vec<TenantToken>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        // A configuration this version cannot read is skipped, not the others.
        let held = client.list_configs().await.map(|configs| {
            configs
                .iter()
                .filter_map(|c| StoredConfig::from_proto(c).ok())
                .collect::<Vec<_>>()
        });
        match (held, client.list_credentials(None).await) {
            (Ok(held), Ok(credentials)) => {
                app.auth
                    .set_tokens(token_table(&configured, &held, &credentials))
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot read sign-in credentials from the control plane")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Serves the wallboard until `shutdown` is cancelled.
pub async fn serve(
    options: Options,
    source: Arc<dyn RowSource>,
    shutdown: CancellationToken,
) -> Result<Running, WallboardError> {
    if !options.control.is_empty() && options.control_token.trim().is_empty() {
        return Err(WallboardError::Unavailable(
            "control.token: required to call the control plane (a service credential; \
             CCX__CONTROL__TOKEN)"
                .into(),
        ));
    }
    let control_client = || {
        ControlClient::new(options.control.iter())
            .map(|c| c.with_tls(options.control_tls.clone()))
            .and_then(|c| c.with_credential(&options.control_token))
            .map_err(|e| WallboardError::Unavailable(format!("control plane: {e}")))
    };
    let control = if options.control.is_empty() {
        None
    } else {
        Some(control_client()?)
    };
    let app = Arc::new(App {
        source,
        control,
        auth: auth::Auth::new(token_table(&options.tenants, &[], &[])),
        feeds: feed::Feeds::default(),
        metrics: metrics::Metrics::new(),
        refresh: options.refresh,
        shutdown: shutdown.clone(),
    });
    if !options.control.is_empty() {
        tokio::spawn(follow_sign_in(
            Arc::clone(&app),
            control_client()?,
            options.tenants.clone(),
            options.tokens_every,
            shutdown.clone(),
        ));
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| WallboardError::Listen {
            addr: options.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| WallboardError::Listen {
            addr: options.listen,
            source,
        })?;
    let tls = options
        .tls
        .as_ref()
        .map(|tls| ServerTls::http("wallboard", tls, ClientCerts::Required))
        .transpose()
        .map_err(|e| WallboardError::Tls(e.to_string()))?;
    ccx_tls::warn_if_plaintext("wallboard", addr, tls.is_some());
    let router = routes::router(Arc::clone(&app));
    let server = tokio::spawn(async move {
        let stop = app.shutdown.clone();
        let served = ccx_tls::serve_http(listener, router, tls, stop, DRAIN).await;
        app.feeds.close();
        if let Err(e) = served {
            tracing::error!(error = %e, "wallboard server failed");
        }
    });
    Ok(Running { addr, server })
}
