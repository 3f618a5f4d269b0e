//! Replica-to-replica transport over gRPC (`proto/raft_transport.proto`): raft messages in
//! batches, one sender task per peer, and the forwarding of writes to the leader.
//!
//! Raft tolerates loss, so a failed send is not retried: the peer is reported unreachable (and
//! a snapshot in the batch as failed) and raft resends what is needed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use raft::prelude::{Message, MessageType};
use raft_protobuf::Message as PbMessage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use ccx_control_client::{channel, tls_channel, ClientTls};

#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("ccx.control.internal");
}

/// Events the transport reports back to the raft loop.
#[derive(Debug)]
pub enum Feedback {
    Unreachable(u64),
    Snapshot { to: u64, ok: bool },
}

/// Where the transport reports [`Feedback`].
pub type FeedbackFn = Arc<dyn Fn(Feedback) + Send + Sync>;

/// Replica id → gRPC address (host:port), from the configured peers and applied changes.
pub type AddressBook = Arc<RwLock<BTreeMap<u64, String>>>;

/// Sends raft messages to peers; cheap to share.
pub struct Transport {
    id: u64,
    addresses: AddressBook,
    senders: Mutex<HashMap<u64, mpsc::UnboundedSender<Message>>>,
    runtime: tokio::runtime::Handle,
    feedback: FeedbackFn,
    shutdown: CancellationToken,
    failures: prometheus::IntCounter,
    /// What peers are trusted with and shown; `None`: plaintext.
    tls: Option<ClientTls>,
}

impl Transport {
    pub fn new(
        id: u64,
        addresses: AddressBook,
        runtime: tokio::runtime::Handle,
        feedback: FeedbackFn,
        shutdown: CancellationToken,
        failures: prometheus::IntCounter,
        tls: Option<ClientTls>,
    ) -> Transport {
        Transport {
            id,
            addresses,
            senders: Mutex::new(HashMap::new()),
            runtime,
            feedback,
            shutdown,
            failures,
            tls,
        }
    }

    /// Queues messages to their peers (never blocks).
    pub fn send(&self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        let mut senders = ccx_model::sync::lock(&self.senders);
        for m in messages {
            let to = m.to;
            if to == self.id {
                continue;
            }
            let tx = senders.entry(to).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                self.runtime.spawn(peer_loop(
                    self.id,
                    to,
                    self.addresses.clone(),
                    rx,
                    self.feedback.clone(),
                    self.shutdown.clone(),
                    self.failures.clone(),
                    self.tls.clone(),
                ));
                tx
            });
            let _ = tx.send(m);
        }
    }
}

const MAX_BATCH: usize = 512;

// One peer's sender owns each of these; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn peer_loop(
    from: u64,
    to: u64,
    addresses: AddressBook,
    mut rx: mpsc::UnboundedReceiver<Message>,
    feedback: FeedbackFn,
    shutdown: CancellationToken,
    failures: prometheus::IntCounter,
    tls: Option<ClientTls>,
) {
    let mut client: Option<(
        String,
        pb::raft_transport_client::RaftTransportClient<Channel>,
    )> = None;
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            m = rx.recv() => match m { Some(m) => m, None => return },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let has_snapshot = batch
            .iter()
            .any(|m| m.get_msg_type() == MessageType::MsgSnapshot);
        let Some(address) = ccx_model::sync::read(&addresses).get(&to).cloned() else {
            tracing::debug!(to, "no address for replica; messages dropped");
            feedback(Feedback::Unreachable(to));
            continue;
        };
        if client.as_ref().is_none_or(|(a, _)| *a != address) {
            match tls_channel(&address, tls.as_ref()) {
                Ok(ch) => {
                    let c = pb::raft_transport_client::RaftTransportClient::new(ch)
                        .max_decoding_message_size(usize::MAX)
                        .max_encoding_message_size(usize::MAX);
                    client = Some((address.clone(), c));
                }
                Err(e) => {
                    tracing::warn!(to, %address, error = %e, "bad replica address");
                    feedback(Feedback::Unreachable(to));
                    continue;
                }
            }
        }
        let (_, c) = client.as_mut().unwrap();
        let messages: Vec<Vec<u8>> = batch
            .iter()
            .filter_map(|m| m.write_to_bytes().ok())
            .collect();
        let from_address = ccx_model::sync::read(&addresses)
            .get(&from)
            .cloned()
            .unwrap_or_default();
        let mut request = tonic::Request::new(pb::RaftBatch {
            from,
            to,
            messages,
            from_address,
        });
        request.set_timeout(if has_snapshot {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(3)
        });
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = c.step(request) => r,
        };
        match result {
            Ok(_) => {
                if has_snapshot {
                    feedback(Feedback::Snapshot { to, ok: true });
                }
            }
            Err(status) => {
                failures.inc();
                tracing::debug!(to, code = ?status.code(), "raft send failed");
                feedback(Feedback::Unreachable(to));
                if has_snapshot {
                    feedback(Feedback::Snapshot { to, ok: false });
                }
                // A new channel reads the TLS files again: a rotated certificate is presented
                // from the next connection on.
                client = None;
                // Messages queued meanwhile are stale: raft resends what it still needs.
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                while rx.try_recv().is_ok() {}
            }
        }
    }
}

/// Decodes a received batch.
pub fn decode_batch(batch: &pb::RaftBatch) -> Vec<Message> {
    batch
        .messages
        .iter()
        .filter_map(|b| match Message::parse_from_bytes(b) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(error = %e, "undecodable raft message dropped");
                None
            }
        })
        .collect()
}
