//! A control-plane replica process: the raft loop thread, the gRPC listener (the public
//! `ccx.v1.Control` service and the internal replica services) and the HTTP listener
//! (`/metrics`, `/healthz`, `/readyz`), and while it leads, the senders of alert
//! notifications and `alert_events` (`crate::notify`).
//!
//! Writes: a replica that leads proposes and answers once the entry is applied; a follower
//! forwards the write to the leader. A proposal lost to a leader change is proposed again with
//! the same request id until the request deadline (the state machine applies an id once), so an
//! answered write is always committed, and a write that times out is reported as such.
//! Reads: ReadIndex (raft's linearizable read), served once this replica has applied up to the
//! returned index; `local` reads skip it.
//!
//! Every public call is authenticated and authorized (`access`): operator and service
//! credentials come from the replica's options, tenant credentials from the replicated state.
//!
//! One job per file: `access` (who calls, what they may do), `options` (what a replica needs to run), `core` (the state the services
//! share), `write` (the write path), `read` (linearizable and local reads), `public` (the
//! `ccx.v1.Control` service), `internal` (the raft transport and forwarded writes),
//! `raft_loop` (the thread that owns the raft node), `http` (the HTTP listener) and `metrics`;
//! this file starts and stops a replica.

mod access;
mod core;
mod http;
mod internal;
mod metrics;
mod options;
mod public;
mod raft_loop;
mod read;
mod tls;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ccx_proto::v1::control_server::ControlServer;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

use crate::error::ControlError;
use crate::node::{NodeOptions, RaftNode};
use crate::state::StateMachine;
use crate::transport::pb::raft_transport_server::RaftTransportServer;
use crate::transport::pb::replica_writes_server::ReplicaWritesServer;
use crate::transport::{AddressBook, Transport};

use self::core::Core;
use self::internal::InternalService;
use self::metrics::Metrics;
use self::public::ControlService;
use self::raft_loop::{Input, RaftLoop};
use self::tls::ReplicaTls;

pub use self::access::Access;
pub use self::options::{ReplicaOptions, Tuning};

/// A point-in-time view of the local raft node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStatus {
    pub id: u64,
    pub leader_id: u64,
    pub term: u64,
    pub role: String,
    pub commit_index: u64,
    pub applied_index: u64,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub snapshot_index: u64,
    pub first_index: u64,
    pub last_index: u64,
}

/// A running replica. Dropping it does not stop it: call [`ReplicaHandle::stop`].
pub struct ReplicaHandle {
    id: u64,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    core: Arc<Core>,
    shutdown: CancellationToken,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ReplicaHandle {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The bound gRPC address (`ccx.v1.Control` and the replica services).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The bound HTTP address (`/metrics`, `/healthz`, `/readyz`).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn status(&self) -> NodeStatus {
        self.core.status()
    }

    /// This replica's applied state (not a linearizable read).
    pub fn state(&self) -> Arc<RwLock<StateMachine>> {
        self.core.state.clone()
    }

    /// A client of this replica presenting `token` (it follows the leader from here), over
    /// TLS if the replica's peers are reached so.
    pub fn client(&self, token: &str) -> Result<ccx_control_client::ControlClient, ControlError> {
        ccx_control_client::ControlClient::new([self.grpc_addr.to_string()])?
            .with_tls(self.core.peer_tls.clone())
            .with_credential(token)
    }

    /// True while the raft loop runs.
    pub fn is_alive(&self) -> bool {
        self.core.loop_alive.load(Ordering::SeqCst)
    }

    /// Stops the listeners and the raft loop; everything acknowledged is already durable.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Starts a replica in this process and returns once its listeners are bound.
pub async fn start_replica(options: ReplicaOptions) -> Result<ReplicaHandle, ControlError> {
    options.validate()?;
    let tls = ReplicaTls::load(&options)?;
    let tuning = options.tuning.clone();
    let grpc_listener = tokio::net::TcpListener::bind(options.grpc_listen).await?;
    let http_listener = tokio::net::TcpListener::bind(options.http_listen).await?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    ccx_tls::warn_if_plaintext("control gRPC", grpc_addr, tls.grpc.is_some());
    ccx_tls::warn_if_plaintext("control HTTP", http_addr, tls.http.is_some());

    let mut configured: BTreeMap<u64, String> = options.peers.iter().cloned().collect();
    configured
        .entry(options.id)
        .or_insert_with(|| grpc_addr.to_string());
    let voters: Vec<u64> = if options.join {
        Vec::new()
    } else {
        configured.keys().copied().collect()
    };
    let mut node_options = NodeOptions::new(options.id, voters, options.data_dir.clone());
    node_options.sync = tuning.sync;
    node_options.election_tick = tuning.election_ticks;
    node_options.heartbeat_tick = tuning.heartbeat_ticks;
    node_options.snapshot_every = tuning.snapshot_every;
    node_options.keep_entries = tuning.keep_entries;
    let node = tokio::task::spawn_blocking(move || RaftNode::open(&node_options))
        .await
        .map_err(|e| ControlError::Storage(e.to_string()))??;
    let state = node.state();
    let mut book = configured.clone();
    book.extend(ccx_model::sync::read(&state).members().clone());
    let addresses: AddressBook = Arc::new(RwLock::new(book));

    let (input_tx, input_rx) = std::sync::mpsc::channel::<Input>();
    let shutdown = CancellationToken::new();
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = Metrics::new(options.id);
    let feedback_tx = Mutex::new(input_tx.clone());
    let transport = Transport::new(
        options.id,
        addresses.clone(),
        tokio::runtime::Handle::current(),
        Arc::new(move |f| {
            let _ = ccx_model::sync::lock(&feedback_tx).send(Input::Feedback(f));
        }),
        shutdown.clone(),
        metrics.send_failures.clone(),
        tls.peers.clone(),
    );
    let status = Arc::new(RwLock::new(NodeStatus {
        id: options.id,
        ..Default::default()
    }));
    let loop_alive = Arc::new(AtomicBool::new(true));
    let core = Arc::new(Core {
        id: options.id,
        input: input_tx,
        status: status.clone(),
        state,
        addresses: addresses.clone(),
        request_timeout: tuning.request_timeout,
        forward_clients: Mutex::new(HashMap::new()),
        peer_tls: tls.peers.clone(),
        metrics,
        loop_alive: loop_alive.clone(),
        counter: AtomicU64::new(0),
        access: options.access.clone(),
    });
    let raft_loop = RaftLoop {
        last_leadership: (node.term(), node.leader_id()),
        node,
        rx: input_rx,
        transport,
        status,
        addresses,
        configured,
        tick: tuning.tick,
        stop: stop.clone(),
        writes: HashMap::new(),
        reads_deferred: Vec::new(),
        reads_issued: HashMap::new(),
        reads_ready: Vec::new(),
        next_ctx: 1,
    };
    let thread = std::thread::Builder::new()
        .name(format!("ccx-control-raft-{}", options.id))
        .spawn(move || {
            raft_loop.run();
            loop_alive.store(false, Ordering::SeqCst);
        })?;

    let replica_only = tls.replica_only();
    let http_tls = tls.http.clone();
    let grpc = tonic::transport::Server::builder()
        .add_service(ControlServer::new(ControlService(core.clone())))
        .add_service(InterceptedService::new(
            RaftTransportServer::new(InternalService(core.clone()))
                .max_decoding_message_size(usize::MAX),
            replica_only,
        ))
        .add_service(InterceptedService::new(
            ReplicaWritesServer::new(InternalService(core.clone())),
            replica_only,
        ));
    let token = shutdown.clone();
    let id = options.id;
    let grpc_task = tokio::spawn(async move {
        let stopped = token.cancelled_owned();
        let served = match &tls.grpc {
            Some(server_tls) => {
                grpc.serve_with_incoming_shutdown(server_tls.incoming(grpc_listener), stopped)
                    .await
            }
            None => {
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener);
                let incoming = tokio_stream::StreamExt::map(incoming, |s| {
                    if let Ok(s) = &s {
                        let _ = s.set_nodelay(true);
                    }
                    s
                });
                grpc.serve_with_incoming_shutdown(incoming, stopped).await
            }
        };
        if let Err(e) = served {
            tracing::error!(id, error = %e, "control gRPC server failed");
        }
    });
    let http_task = http::spawn(id, http_listener, http_tls, core.clone(), shutdown.clone());
    let deliveries = tokio::spawn(crate::notify::run_deliveries(
        core.clone(),
        options.notify.clone(),
        core.metrics.notify.clone(),
        shutdown.clone(),
    ));
    let alert_events = tokio::spawn(crate::notify::run_alert_events(
        core.clone(),
        options.clickhouse.clone(),
        core.metrics.notify.clone(),
        shutdown.clone(),
    ));
    tracing::info!(
        id = options.id,
        %grpc_addr,
        %http_addr,
        data_dir = %options.data_dir.display(),
        "control replica started"
    );
    Ok(ReplicaHandle {
        id: options.id,
        grpc_addr,
        http_addr,
        core,
        shutdown,
        stop,
        thread: Some(thread),
        tasks: vec![grpc_task, http_task, deliveries, alert_events],
    })
}

/// Runs a replica until `shutdown` is cancelled, then stops it gracefully.
pub async fn run_replica(
    options: ReplicaOptions,
    shutdown: CancellationToken,
) -> Result<(), ControlError> {
    let handle = start_replica(options).await?;
    shutdown.cancelled().await;
    tracing::info!(id = handle.id(), "stopping control replica");
    handle.stop().await;
    Ok(())
}
