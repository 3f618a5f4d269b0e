//! The raft loop thread: owns the raft node, takes raft messages, writes and reads from its
//! input channel, ticks, and answers waiters once their entries apply.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use raft::prelude::Message;
use tokio::sync::oneshot;

use crate::error::ControlError;
use crate::node::{ProposeError, RaftNode};
use crate::state::CommandResult;
use crate::transport::{AddressBook, Feedback, Transport};

use super::write::WriteOp;
use super::NodeStatus;

/// What the raft loop answers a proposed write.
pub(super) enum Outcome {
    Applied(Box<CommandResult>),
    NotLeader(u64),
    Retry,
}

/// What the raft loop takes in: raft messages, writes, reads and transport feedback.
pub(super) enum Input {
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

/// The raft loop: owns the node, runs on its own thread (it fsyncs), and is the only place the
/// node is touched.
pub(super) struct RaftLoop {
    pub(super) node: RaftNode,
    pub(super) rx: std::sync::mpsc::Receiver<Input>,
    pub(super) transport: Transport,
    pub(super) status: Arc<RwLock<NodeStatus>>,
    pub(super) addresses: AddressBook,
    pub(super) configured: BTreeMap<u64, String>,
    pub(super) tick: Duration,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) writes: HashMap<String, Vec<(u64, oneshot::Sender<Outcome>)>>,
    pub(super) reads_deferred: Vec<oneshot::Sender<bool>>,
    pub(super) reads_issued: HashMap<Vec<u8>, (Instant, Vec<oneshot::Sender<bool>>)>,
    pub(super) reads_ready: Vec<(u64, oneshot::Sender<bool>)>,
    pub(super) next_ctx: u64,
    pub(super) last_leadership: (u64, u64),
}

impl RaftLoop {
    pub(super) fn run(mut self) {
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
