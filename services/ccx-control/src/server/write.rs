//! The write path: propose on the leader, forward from a follower, retry with the same request
//! id until the deadline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tonic::Request;

use crate::error::ControlError;
use crate::state::{CommandResult, CommandValue, Proposal};
use crate::transport::{self, pb as internal};

use super::core::Core;
use super::raft_loop::{Input, Outcome};

/// A write as it travels to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum WriteOp {
    Command(Box<Proposal>),
    Membership {
        request_id: String,
        replica_id: u64,
        add: bool,
        address: String,
    },
}

impl WriteOp {
    pub(super) fn request_id(&self) -> &str {
        match self {
            WriteOp::Command(p) => &p.request_id,
            WriteOp::Membership { request_id, .. } => request_id,
        }
    }
}

/// The forwarding client cache: one `ReplicaWrites` client per leader address.
pub(super) type ForwardClients = Mutex<
    HashMap<
        String,
        internal::replica_writes_client::ReplicaWritesClient<tonic::transport::Channel>,
    >,
>;

impl Core {
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
                        transport::tls_channel(&address, self.peer_tls.as_ref())?,
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
        let response = match client.forward(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                // A new channel reads the TLS files again (a rotated certificate).
                if status.code() == tonic::Code::Unavailable {
                    ccx_model::sync::lock(&self.forward_clients).remove(&address);
                }
                return Err(status.into());
            }
        };
        bincode::deserialize(&response.result)
            .map_err(|e| ControlError::Unavailable(format!("bad forward answer: {e}")))
    }

    /// Writes through the leader, retrying on leader changes and losses until the deadline.
    /// With `forward` false (a write forwarded to us), only this replica may propose it.
    pub(super) async fn write(
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

    pub(super) fn request_timeout_of<T>(&self, request: &Request<T>) -> Duration {
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
