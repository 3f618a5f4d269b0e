//! A control-plane replica process: the raft loop thread, the gRPC listener (the public
//! `ccx.v1.Control` service and the internal replica services) and the HTTP listener
//! (`/metrics`, `/healthz`, `/readyz`).
//!
//! Writes: a replica that leads proposes and answers once the entry is applied; a follower
//! forwards the write to the leader. A proposal lost to a leader change is proposed again with
//! the same request id until the request deadline (the state machine applies an id once), so an
//! answered write is always committed, and a write that times out is reported as such.
//! Reads: ReadIndex (raft's linearizable read), served once this replica has applied up to the
//! returned index; `local` reads skip it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ccx_proto::v1 as pb;
use ccx_proto::v1::control_server::{Control, ControlServer};
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Registry, TextEncoder};
use raft::prelude::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::error::ControlError;
use crate::node::{NodeOptions, ProposeError, RaftNode};
use crate::state::{
    AlertFilter, AlertRecord, Command, CommandResult, CommandValue, Proposal, StateMachine,
    StoredConfig,
};
use crate::transport::{self, pb as internal, AddressBook, Feedback, Transport};

/// Timing and retention knobs of a replica; the defaults suit a LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// Raft tick.
    pub tick: Duration,
    /// Election timeout in ticks (randomized between this and twice this).
    pub election_ticks: usize,
    pub heartbeat_ticks: usize,
    /// Snapshot and compact after this many applied entries.
    pub snapshot_every: u64,
    /// Entries kept behind a snapshot for slightly lagging followers.
    pub keep_entries: u64,
    /// How long a write or linearizable read may take, retries included.
    pub request_timeout: Duration,
    /// fsync the log (always on outside tests).
    pub sync: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            tick: Duration::from_millis(100),
            election_ticks: 10,
            heartbeat_ticks: 2,
            snapshot_every: 10_000,
            keep_entries: 1_000,
            request_timeout: Duration::from_secs(10),
            sync: true,
        }
    }
}

/// What a replica needs to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaOptions {
    pub id: u64,
    /// Every founding replica, this one included: (id, gRPC host:port). Empty: a single-replica
    /// cluster of this one.
    pub peers: Vec<(u64, String)>,
    pub data_dir: PathBuf,
    pub grpc_listen: SocketAddr,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub http_listen: SocketAddr,
    /// Join an existing cluster (the replica was added with a membership change) instead of
    /// founding one; ignored when the data directory already holds state.
    pub join: bool,
    pub tuning: Tuning,
}

impl ReplicaOptions {
    pub fn new(
        id: u64,
        peers: Vec<(u64, String)>,
        data_dir: PathBuf,
        grpc_listen: SocketAddr,
        http_listen: SocketAddr,
    ) -> ReplicaOptions {
        ReplicaOptions {
            id,
            peers,
            data_dir,
            grpc_listen,
            http_listen,
            join: false,
            tuning: Tuning::default(),
        }
    }

    /// A single-replica cluster on loopback ephemeral ports (the demo, tests).
    pub fn single_node(data_dir: PathBuf) -> ReplicaOptions {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        ReplicaOptions::new(1, Vec::new(), data_dir, any, any)
    }

    pub fn validate(&self) -> Result<(), ControlError> {
        if self.id == 0 {
            return Err(ControlError::Config("replica id must be 1 or more".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (id, addr) in &self.peers {
            if *id == 0 || !seen.insert(*id) {
                return Err(ControlError::Config(format!(
                    "peers: replica id {id} is zero or repeated"
                )));
            }
            if addr.is_empty() {
                return Err(ControlError::Config(format!(
                    "peers: replica {id} has no address"
                )));
            }
        }
        if !self.peers.is_empty() && !seen.contains(&self.id) && !self.join {
            return Err(ControlError::Config(format!(
                "peers must include this replica ({}) unless it joins",
                self.id
            )));
        }
        if self.tuning.election_ticks <= self.tuning.heartbeat_ticks {
            return Err(ControlError::Config(
                "election ticks must exceed heartbeat ticks".into(),
            ));
        }
        Ok(())
    }
}

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

/// A write as it travels to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum WriteOp {
    Command(Box<Proposal>),
    Membership {
        request_id: String,
        replica_id: u64,
        add: bool,
        address: String,
    },
}

impl WriteOp {
    fn request_id(&self) -> &str {
        match self {
            WriteOp::Command(p) => &p.request_id,
            WriteOp::Membership { request_id, .. } => request_id,
        }
    }
}

enum Outcome {
    Applied(Box<CommandResult>),
    NotLeader(u64),
    Retry,
}

enum Input {
    Raft(Box<Message>),
    Write {
        op: Box<WriteOp>,
        reply: oneshot::Sender<Outcome>,
    },
    Read {
        reply: oneshot::Sender<bool>,
    },
    Feedback(Feedback),
}

struct Metrics {
    registry: Registry,
    term: IntGauge,
    leader_id: IntGauge,
    is_leader: IntGauge,
    commit_index: IntGauge,
    applied_index: IntGauge,
    snapshot_index: IntGauge,
    writes: IntCounter,
    write_errors: IntCounter,
    write_retries: IntCounter,
    reads: IntCounter,
    forwarded: IntCounter,
    send_failures: IntCounter,
    write_seconds: Histogram,
}

impl Metrics {
    fn new(id: u64) -> Metrics {
        let registry = Registry::new_custom(
            None,
            Some(HashMap::from([("replica".to_string(), id.to_string())])),
        )
        .expect("registry");
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("metric");
            registry.register(Box::new(g.clone())).expect("register");
            g
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("metric");
            registry.register(Box::new(c.clone())).expect("register");
            c
        };
        let m = Metrics {
            term: gauge("ccx_control_raft_term", "Current raft term."),
            leader_id: gauge(
                "ccx_control_leader_id",
                "Replica id of the known leader (0: none).",
            ),
            is_leader: gauge("ccx_control_is_leader", "1 while this replica leads."),
            commit_index: gauge("ccx_control_commit_index", "Raft commit index."),
            applied_index: gauge("ccx_control_applied_index", "Last applied log index."),
            snapshot_index: gauge(
                "ccx_control_snapshot_index",
                "Index of the latest snapshot.",
            ),
            writes: counter("ccx_control_writes_total", "Writes answered successfully."),
            write_errors: counter(
                "ccx_control_write_errors_total",
                "Writes answered with an error.",
            ),
            write_retries: counter(
                "ccx_control_write_retries_total",
                "Write attempts repeated after a leader change, loss or timeout.",
            ),
            reads: counter(
                "ccx_control_linearizable_reads_total",
                "ReadIndex reads served.",
            ),
            forwarded: counter(
                "ccx_control_forwarded_writes_total",
                "Writes forwarded to the leader by this replica.",
            ),
            send_failures: counter(
                "ccx_control_raft_send_failures_total",
                "Failed raft message batches to peers.",
            ),
            write_seconds: Histogram::with_opts(
                HistogramOpts::new("ccx_control_write_seconds", "Write latency until applied.")
                    .buckets(vec![
                        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
                    ]),
            )
            .expect("metric"),
            registry,
        };
        m.registry
            .register(Box::new(m.write_seconds.clone()))
            .expect("register");
        m
    }

    fn update(&self, s: &NodeStatus) {
        self.term.set(s.term as i64);
        self.leader_id.set(s.leader_id as i64);
        self.is_leader.set((s.leader_id == s.id) as i64);
        self.commit_index.set(s.commit_index as i64);
        self.applied_index.set(s.applied_index as i64);
        self.snapshot_index.set(s.snapshot_index as i64);
    }
}

/// What the gRPC services and the HTTP handlers share.
struct Core {
    id: u64,
    input: std::sync::mpsc::Sender<Input>,
    status: Arc<RwLock<NodeStatus>>,
    state: Arc<RwLock<StateMachine>>,
    addresses: AddressBook,
    request_timeout: Duration,
    forward_clients: Mutex<
        HashMap<
            String,
            internal::replica_writes_client::ReplicaWritesClient<tonic::transport::Channel>,
        >,
    >,
    metrics: Metrics,
    loop_alive: Arc<AtomicBool>,
    counter: AtomicU64,
}

impl Core {
    fn status(&self) -> NodeStatus {
        ccx_model::sync::read(&self.status).clone()
    }

    fn address_of(&self, id: u64) -> Option<String> {
        ccx_model::sync::read(&self.addresses).get(&id).cloned()
    }

    fn new_request_id(&self) -> String {
        format!(
            "{}-{}-{}",
            self.id,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn not_leader(&self, leader_id: u64) -> ControlError {
        ControlError::NotLeader {
            leader_id,
            leader_address: (leader_id != 0)
                .then(|| self.address_of(leader_id))
                .flatten(),
        }
    }

    /// Proposes on this replica (which must lead) and waits for the entry to apply.
    async fn propose_local(
        &self,
        op: &WriteOp,
        wait: Duration,
    ) -> Result<CommandResult, ControlError> {
        let (reply, rx) = oneshot::channel();
        self.input
            .send(Input::Write {
                op: Box::new(op.clone()),
                reply,
            })
            .map_err(|_| ControlError::Unavailable("replica is stopping".into()))?;
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(Outcome::Applied(r))) => Ok(*r),
            Ok(Ok(Outcome::NotLeader(l))) => Err(self.not_leader(l)),
            Ok(Ok(Outcome::Retry)) | Ok(Err(_)) => Err(ControlError::Unavailable(
                "leader changed before the write applied".into(),
            )),
            Err(_) => Err(ControlError::Unavailable(
                "write not applied in time".into(),
            )),
        }
    }

    async fn forward(
        &self,
        leader_id: u64,
        op: &WriteOp,
        wait: Duration,
    ) -> Result<CommandResult, ControlError> {
        let address = self.address_of(leader_id).ok_or_else(|| {
            ControlError::Unavailable(format!("no address for leader {leader_id}"))
        })?;
        let mut client = {
            let mut clients = ccx_model::sync::lock(&self.forward_clients);
            match clients.get(&address) {
                Some(c) => c.clone(),
                None => {
                    let c = internal::replica_writes_client::ReplicaWritesClient::new(
                        transport::channel(&address)?,
                    );
                    clients.insert(address.clone(), c.clone());
                    c
                }
            }
        };
        self.metrics.forwarded.inc();
        let mut request = Request::new(internal::ForwardRequest {
            op: bincode::serialize(op).expect("op serializes"),
            timeout_ms: wait.as_millis() as u64,
        });
        request.set_timeout(wait + Duration::from_millis(200));
        let response = client.forward(request).await?.into_inner();
        bincode::deserialize(&response.result)
            .map_err(|e| ControlError::Unavailable(format!("bad forward answer: {e}")))
    }

    /// Writes through the leader, retrying on leader changes and losses until the deadline.
    /// With `forward` false (a write forwarded to us), only this replica may propose it.
    async fn write(
        &self,
        op: WriteOp,
        forward: bool,
        timeout: Duration,
    ) -> Result<CommandValue, ControlError> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut backoff = Duration::from_millis(10);
        let result = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let leader = self.status().leader_id;
            let attempt = if leader == self.id {
                self.propose_local(&op, remaining.min(Duration::from_secs(3)))
                    .await
            } else if !forward {
                Err(self.not_leader(leader))
            } else if leader != 0 {
                self.forward(leader, &op, remaining).await
            } else {
                Err(ControlError::Unavailable("no leader".into()))
            };
            match attempt {
                Ok(result) => break result.map_err(ControlError::from),
                Err(e) if !forward && matches!(e, ControlError::NotLeader { .. }) => break Err(e),
                Err(e) if e.is_retryable() && Instant::now() + backoff < deadline => {
                    tracing::debug!(request_id = op.request_id(), error = %e, "write retried");
                    self.metrics.write_retries.inc();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
                Err(e) if e.is_retryable() => {
                    break Err(ControlError::Unavailable(format!(
                        "write {} not confirmed within {:?} ({e}); it may still apply: retry with the same request id",
                        op.request_id(),
                        timeout
                    )))
                }
                Err(e) => break Err(e),
            }
        };
        self.metrics
            .write_seconds
            .observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(_) => self.metrics.writes.inc(),
            Err(_) => self.metrics.write_errors.inc(),
        }
        result
    }

    /// Waits until this replica's state reflects every write committed before the call.
    async fn linearizable(&self) -> Result<(), ControlError> {
        let deadline = Instant::now() + self.request_timeout;
        loop {
            let (reply, rx) = oneshot::channel();
            self.input
                .send(Input::Read { reply })
                .map_err(|_| ControlError::Unavailable("replica is stopping".into()))?;
            if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_millis(1_000), rx).await {
                self.metrics.reads.inc();
                return Ok(());
            }
            if Instant::now() + Duration::from_millis(20) >= deadline {
                return Err(ControlError::Unavailable(
                    "no leader confirmed a read index in time".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn cluster_status(&self) -> pb::ClusterStatusResponse {
        let s = self.status();
        let addresses = ccx_model::sync::read(&self.addresses);
        let mut members: Vec<u64> = s.voters.iter().chain(&s.learners).copied().collect();
        members.sort_unstable();
        pb::ClusterStatusResponse {
            node_id: s.id,
            leader_id: s.leader_id,
            leader_address: addresses.get(&s.leader_id).cloned().unwrap_or_default(),
            term: s.term,
            members: members.clone(),
            commit_index: s.commit_index,
            applied_index: s.applied_index,
            role: s.role.clone(),
            member_addresses: members
                .iter()
                .map(|id| pb::Member {
                    id: *id,
                    address: addresses.get(id).cloned().unwrap_or_default(),
                    voter: s.voters.contains(id),
                })
                .collect(),
            snapshot_index: s.snapshot_index,
            first_index: s.first_index,
            last_index: s.last_index,
        }
    }

    fn request_timeout_of<T>(&self, request: &Request<T>) -> Duration {
        request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map(|d| d.min(self.request_timeout))
            .unwrap_or(self.request_timeout)
    }
}

fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn request_id_or(core: &Core, id: &str) -> String {
    if id.is_empty() {
        core.new_request_id()
    } else {
        id.to_string()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn alert_of(v: CommandValue) -> Result<pb::Alert, ControlError> {
    match v {
        CommandValue::Alert(a) => Ok(a.to_proto()),
        other => Err(ControlError::Storage(format!(
            "unexpected result {other:?}"
        ))),
    }
}

#[derive(Clone)]
struct ControlService(Arc<Core>);

impl ControlService {
    async fn command(
        &self,
        request_id: String,
        command: Command,
        timeout: Duration,
    ) -> Result<CommandValue, Status> {
        command.validate().map_err(ControlError::from)?;
        let proposal = Proposal {
            request_id,
            at_ms: now_ms(),
            command,
        };
        Ok(self
            .0
            .write(WriteOp::Command(Box::new(proposal)), true, timeout)
            .await?)
    }

    /// Acknowledge or resolve: the same request, a different command.
    async fn alert_action(
        &self,
        request: Request<pb::AlertActionRequest>,
        command: impl FnOnce(String, String, String, String) -> Command,
    ) -> Result<Response<pb::Alert>, Status> {
        let timeout = self.0.request_timeout_of(&request);
        let r = request.into_inner();
        let request_id = request_id_or(&self.0, &r.request_id);
        let v = self
            .command(
                request_id,
                command(r.tenant_id, r.alert_id, r.by, r.note),
                timeout,
            )
            .await?;
        Ok(Response::new(alert_of(v)?))
    }
}

#[tonic::async_trait]
impl Control for ControlService {
    async fn get_tenant_config(
        &self,
        request: Request<pb::GetTenantConfigRequest>,
    ) -> Result<Response<pb::TenantConfig>, Status> {
        let req = request.into_inner();
        if !ccx_model::validate::is_tenant_id(&req.tenant_id) {
            return Err(ControlError::InvalidArgument(format!(
                "tenantId: {:?} is not a tenant id",
                req.tenant_id
            ))
            .into());
        }
        if !req.local {
            self.0.linearizable().await?;
        }
        let config = ccx_model::sync::read(&self.0.state).config_or_default(&req.tenant_id);
        Ok(Response::new(config.to_proto()))
    }

    async fn list_tenant_configs(
        &self,
        request: Request<pb::ListTenantConfigsRequest>,
    ) -> Result<Response<pb::ListTenantConfigsResponse>, Status> {
        if !request.into_inner().local {
            self.0.linearizable().await?;
        }
        let configs = ccx_model::sync::read(&self.0.state)
            .configs()
            .map(|c| c.to_proto())
            .collect();
        Ok(Response::new(pb::ListTenantConfigsResponse { configs }))
    }

    async fn put_tenant_config(
        &self,
        request: Request<pb::PutTenantConfigRequest>,
    ) -> Result<Response<pb::TenantConfig>, Status> {
        let timeout = self.0.request_timeout_of(&request);
        let req = request.into_inner();
        let config = req
            .config
            .ok_or_else(|| ControlError::InvalidArgument("config: required".into()))?;
        let mut stored = StoredConfig::from_proto(&config).map_err(ControlError::from)?;
        stored.updated_by = req.by;
        let expected_version = stored.version;
        let v = self
            .command(
                request_id_or(&self.0, &req.request_id),
                Command::PutConfig {
                    config: stored,
                    expected_version,
                },
                timeout,
            )
            .await?;
        match v {
            CommandValue::Config(c) => Ok(Response::new(c.to_proto())),
            other => Err(Status::internal(format!("unexpected result {other:?}"))),
        }
    }

    async fn raise_alert(
        &self,
        request: Request<pb::RaiseAlertRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        let timeout = self.0.request_timeout_of(&request);
        let req = request.into_inner();
        let alert = req
            .alert
            .ok_or_else(|| ControlError::InvalidArgument("alert: required".into()))?;
        let record = AlertRecord::from_proto(&alert);
        let v = self
            .command(
                request_id_or(&self.0, &req.request_id),
                Command::RaiseAlert { alert: record },
                timeout,
            )
            .await?;
        Ok(Response::new(alert_of(v)?))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let req = request.into_inner();
        if !req.local {
            self.0.linearizable().await?;
        }
        let filter = AlertFilter::from_proto(&req);
        let alerts = ccx_model::sync::read(&self.0.state).list_alerts(&filter);
        Ok(Response::new(pb::ListAlertsResponse {
            alerts: alerts.iter().map(AlertRecord::to_proto).collect(),
        }))
    }

    async fn acknowledge_alert(
        &self,
        request: Request<pb::AlertActionRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        self.alert_action(request, |tenant_id, alert_id, by, note| {
            Command::Acknowledge {
                tenant_id,
                alert_id,
                by,
                note,
            }
        })
        .await
    }

    async fn resolve_alert(
        &self,
        request: Request<pb::AlertActionRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        self.alert_action(request, |tenant_id, alert_id, by, note| Command::Resolve {
            tenant_id,
            alert_id,
            by,
            note,
        })
        .await
    }

    async fn cluster_status(
        &self,
        _request: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        Ok(Response::new(self.0.cluster_status()))
    }

    async fn change_membership(
        &self,
        request: Request<pb::ChangeMembershipRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        let timeout = self.0.request_timeout_of(&request);
        let req = request.into_inner();
        let add = match pb::MembershipChange::try_from(req.change) {
            Ok(pb::MembershipChange::AddReplica) => true,
            Ok(pb::MembershipChange::RemoveReplica) => false,
            _ => {
                return Err(ControlError::InvalidArgument(
                    "change: ADD_REPLICA or REMOVE_REPLICA".into(),
                )
                .into())
            }
        };
        if req.replica_id == 0 || (add && req.address.is_empty()) {
            return Err(ControlError::InvalidArgument(
                "replicaId is required, and address when adding".into(),
            )
            .into());
        }
        let op = WriteOp::Membership {
            request_id: self.0.new_request_id(),
            replica_id: req.replica_id,
            add,
            address: req.address,
        };
        self.0.write(op, true, timeout).await?;
        // Answer with this replica's view once it has applied the change.
        self.0.linearizable().await?;
        Ok(Response::new(self.0.cluster_status()))
    }
}

#[derive(Clone)]
struct InternalService(Arc<Core>);

#[tonic::async_trait]
impl internal::raft_transport_server::RaftTransport for InternalService {
    async fn step(
        &self,
        request: Request<internal::RaftBatch>,
    ) -> Result<Response<internal::RaftAck>, Status> {
        let batch = request.into_inner();
        if batch.to != self.0.id {
            return Err(Status::failed_precondition(format!(
                "batch for replica {} reached replica {}",
                batch.to, self.0.id
            )));
        }
        if !batch.from_address.is_empty() {
            let known = ccx_model::sync::read(&self.0.addresses).contains_key(&batch.from);
            if !known {
                ccx_model::sync::write(&self.0.addresses)
                    .insert(batch.from, batch.from_address.clone());
            }
        }
        for m in transport::decode_batch(&batch) {
            self.0
                .input
                .send(Input::Raft(Box::new(m)))
                .map_err(|_| Status::unavailable("replica is stopping"))?;
        }
        Ok(Response::new(internal::RaftAck {}))
    }
}

#[tonic::async_trait]
impl internal::replica_writes_server::ReplicaWrites for InternalService {
    async fn forward(
        &self,
        request: Request<internal::ForwardRequest>,
    ) -> Result<Response<internal::ForwardResponse>, Status> {
        let req = request.into_inner();
        let op: WriteOp = bincode::deserialize(&req.op)
            .map_err(|e| Status::invalid_argument(format!("bad forwarded write: {e}")))?;
        let wait = Duration::from_millis(req.timeout_ms.clamp(100, 60_000));
        let result: CommandResult = match self.0.write(op, false, wait).await {
            Ok(v) => Ok(v),
            Err(ControlError::InvalidArgument(m)) => {
                Err(crate::state::CommandError::InvalidArgument(m))
            }
            Err(ControlError::NotFound(m)) => Err(crate::state::CommandError::NotFound(m)),
            Err(ControlError::FailedPrecondition(m)) => {
                Err(crate::state::CommandError::FailedPrecondition(m))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Response::new(internal::ForwardResponse {
            result: bincode::serialize(&result).expect("result serializes"),
        }))
    }
}

/// The raft loop: owns the node, runs on its own thread (it fsyncs), and is the only place the
/// node is touched.
struct RaftLoop {
    node: RaftNode,
    rx: std::sync::mpsc::Receiver<Input>,
    transport: Transport,
    status: Arc<RwLock<NodeStatus>>,
    addresses: AddressBook,
    configured: BTreeMap<u64, String>,
    tick: Duration,
    stop: Arc<AtomicBool>,
    writes: HashMap<String, Vec<(u64, oneshot::Sender<Outcome>)>>,
    reads_deferred: Vec<oneshot::Sender<bool>>,
    reads_issued: HashMap<Vec<u8>, (Instant, Vec<oneshot::Sender<bool>>)>,
    reads_ready: Vec<(u64, oneshot::Sender<bool>)>,
    next_ctx: u64,
    last_leadership: (u64, u64),
}

impl RaftLoop {
    fn run(mut self) {
        let mut next_tick = Instant::now() + self.tick;
        let (voters, _) = self.node.members();
        if voters == [self.node.id()] && !self.node.is_leader() {
            // A single-replica cluster need not wait for an election timeout.
            let _ = self.node.campaign();
        }
        self.publish();
        while !self.stop.load(Ordering::SeqCst) {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(input) => self.handle(input),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            for _ in 0..4096 {
                match self.rx.try_recv() {
                    Ok(input) => self.handle(input),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                self.node.tick();
                next_tick += self.tick;
                if next_tick < now {
                    next_tick = now + self.tick;
                }
                self.expire();
            }
            if !self.reads_deferred.is_empty() && self.node.can_read_index() {
                let ctx = self.next_ctx.to_le_bytes().to_vec();
                self.next_ctx += 1;
                self.node.read_index(ctx.clone());
                let waiters = std::mem::take(&mut self.reads_deferred);
                self.reads_issued.insert(ctx, (Instant::now(), waiters));
            }
            if let Err(e) = self.ready() {
                tracing::error!(id = self.node.id(), error = %e, "raft loop stopped: storage failure");
                break;
            }
        }
        tracing::info!(id = self.node.id(), "raft loop stopped");
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Raft(m) => self.node.step(*m),
            Input::Write { op, reply } => {
                let result = match op.as_ref() {
                    WriteOp::Command(p) => self.node.propose(p),
                    WriteOp::Membership {
                        request_id,
                        replica_id,
                        add,
                        address,
                    } => self
                        .node
                        .propose_membership(request_id, *replica_id, *add, address),
                };
                match result {
                    Ok(()) => self
                        .writes
                        .entry(op.request_id().to_string())
                        .or_default()
                        .push((self.node.term(), reply)),
                    Err(ProposeError::NotLeader(l)) => {
                        let _ = reply.send(Outcome::NotLeader(l));
                    }
                    Err(ProposeError::Dropped) => {
                        let _ = reply.send(Outcome::Retry);
                    }
                }
            }
            Input::Read { reply } => self.reads_deferred.push(reply),
            Input::Feedback(Feedback::Unreachable(to)) => self.node.report_unreachable(to),
            Input::Feedback(Feedback::Snapshot { to, ok }) => self.node.report_snapshot(to, ok),
        }
    }

    /// Drops waiters whose callers gave up, and read indexes never answered.
    fn expire(&mut self) {
        self.writes.retain(|_, v| {
            v.retain(|(_, tx)| !tx.is_closed());
            !v.is_empty()
        });
        self.reads_deferred.retain(|tx| !tx.is_closed());
        self.reads_issued
            .retain(|_, (at, _)| at.elapsed() < Duration::from_secs(5));
    }

    fn ready(&mut self) -> Result<(), ControlError> {
        loop {
            let out = self.node.handle_ready()?;
            let idle = out.messages.is_empty()
                && out.applied.is_empty()
                && out.reads.is_empty()
                && !out.snapshot;
            self.transport.send(out.messages);
            for a in out.applied {
                if let Some(waiters) = self.writes.remove(&a.request_id) {
                    for (_, tx) in waiters {
                        let _ = tx.send(Outcome::Applied(Box::new(a.result.clone())));
                    }
                }
            }
            for r in out.reads {
                if let Some((_, waiters)) = self.reads_issued.remove(&r.request_ctx) {
                    self.reads_ready
                        .extend(waiters.into_iter().map(|tx| (r.index, tx)));
                }
            }
            if out.membership_changed {
                self.refresh_addresses();
            }
            if idle {
                break;
            }
        }
        let leadership = (self.node.term(), self.node.leader_id());
        if leadership != self.last_leadership {
            tracing::info!(
                id = self.node.id(),
                term = leadership.0,
                leader = leadership.1,
                "leadership changed"
            );
            self.last_leadership = leadership;
            // Proposals of an earlier term may be lost: their callers propose again (same id).
            let term = self.node.term();
            let still_leader = self.node.is_leader();
            self.writes.retain(|_, v| {
                v.retain(|(t, _)| still_leader && *t == term);
                !v.is_empty()
            });
            for (_, (_, waiters)) in self.reads_issued.drain() {
                for tx in waiters {
                    let _ = tx.send(false);
                }
            }
        }
        self.publish();
        let applied = self.node.applied_index();
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads_ready)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.reads_ready = waiting;
        for (_, tx) in done {
            let _ = tx.send(true);
        }
        Ok(())
    }

    fn refresh_addresses(&self) {
        let learned = ccx_model::sync::read(&self.node.state()).members().clone();
        let mut book = ccx_model::sync::write(&self.addresses);
        book.extend(learned);
        for (id, address) in &self.configured {
            book.entry(*id).or_insert_with(|| address.clone());
        }
    }

    fn publish(&self) {
        let (voters, learners) = self.node.members();
        let s = NodeStatus {
            id: self.node.id(),
            leader_id: self.node.leader_id(),
            term: self.node.term(),
            role: self.node.role().to_string(),
            commit_index: self.node.commit_index(),
            applied_index: self.node.applied_index(),
            voters,
            learners,
            snapshot_index: self.node.storage().snapshot_index(),
            first_index: self.node.storage().first_index_now(),
            last_index: self.node.last_index(),
        };
        let mut current = ccx_model::sync::write(&self.status);
        if *current != s {
            *current = s;
        }
    }
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

    /// A client of this replica (it follows the leader from here).
    pub fn client(&self) -> Result<crate::client::ControlClient, ControlError> {
        crate::client::ControlClient::new([self.grpc_addr.to_string()])
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
    let tuning = options.tuning.clone();
    let grpc_listener = tokio::net::TcpListener::bind(options.grpc_listen).await?;
    let http_listener = tokio::net::TcpListener::bind(options.http_listen).await?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;

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
        metrics,
        loop_alive: loop_alive.clone(),
        counter: AtomicU64::new(0),
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

    let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener);
    let incoming = tokio_stream::StreamExt::map(incoming, |s| {
        if let Ok(s) = &s {
            let _ = s.set_nodelay(true);
        }
        s
    });
    let grpc = tonic::transport::Server::builder()
        .add_service(ControlServer::new(ControlService(core.clone())))
        .add_service(
            internal::raft_transport_server::RaftTransportServer::new(InternalService(
                core.clone(),
            ))
            .max_decoding_message_size(usize::MAX),
        )
        .add_service(internal::replica_writes_server::ReplicaWritesServer::new(
            InternalService(core.clone()),
        ));
    let token = shutdown.clone();
    let id = options.id;
    let grpc_task = tokio::spawn(async move {
        if let Err(e) = grpc
            .serve_with_incoming_shutdown(incoming, token.cancelled_owned())
            .await
        {
            tracing::error!(id, error = %e, "control gRPC server failed");
        }
    });
    let http_core = core.clone();
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
    let token = shutdown.clone();
    let http_task = tokio::spawn(async move {
        if let Err(e) = axum::serve(http_listener, app)
            .with_graceful_shutdown(token.cancelled_owned())
            .await
        {
            tracing::error!(id, error = %e, "control HTTP server failed");
        }
    });
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
        tasks: vec![grpc_task, http_task],
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
