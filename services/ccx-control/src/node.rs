//! One raft replica without I/O scheduling: a raft-rs `RawNode` over [`DiskStorage`] and the
//! [`StateMachine`] it applies to.
//!
//! The caller drives it: [`RaftNode::tick`] on a clock, [`RaftNode::step`] for each message
//! received, then [`RaftNode::handle_ready`], which persists (entries and hard state are durable
//! before it returns), applies committed entries, takes snapshots, and hands back the messages
//! to send and what was applied. The replica's event loop drives it over gRPC; the simulated
//! network tests drive it directly, deterministically.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use raft::prelude::*;
use raft::{ReadState, StateRole};
use raft_protobuf::Message as PbMessage;
use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::logger::tracing_logger;
use crate::state::{CommandError, CommandResult, CommandValue, Proposal, StateMachine};
use crate::storage::DiskStorage;

/// Raft timing and log-retention settings of one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOptions {
    pub id: u64,
    /// Voters of a new cluster, written once when the data directory is empty. Empty: the
    /// replica joins an existing cluster and waits for its leader (it never campaigns before it
    /// has learnt the configuration).
    pub bootstrap_voters: Vec<u64>,
    pub data_dir: PathBuf,
    /// fsync the log and snapshots (off only in simulated tests).
    pub sync: bool,
    /// Ticks without a leader before an election (randomized in `[min, max)`).
    pub election_tick: usize,
    pub heartbeat_tick: usize,
    /// 0 = `election_tick`.
    pub min_election_tick: usize,
    /// 0 = 2 × `election_tick`.
    pub max_election_tick: usize,
    /// Take a snapshot (and compact the log) after this many applied entries.
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot, for followers that lag a little.
    pub keep_entries: u64,
}

impl NodeOptions {
    pub fn new(id: u64, bootstrap_voters: Vec<u64>, data_dir: PathBuf) -> NodeOptions {
        NodeOptions {
            id,
            bootstrap_voters,
            data_dir,
            sync: true,
            election_tick: 10,
            heartbeat_tick: 2,
            min_election_tick: 0,
            max_election_tick: 0,
            snapshot_every: 10_000,
            keep_entries: 1_000,
        }
    }
}

/// A requested membership change, carried in the raft conf-change context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipContext {
    pub request_id: String,
    pub address: String,
}

/// What one applied log entry produced, for the waiting proposer.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub index: u64,
    pub request_id: String,
    pub result: CommandResult,
}

/// The outcome of one [`RaftNode::handle_ready`].
#[derive(Debug, Default)]
pub struct ReadyOutput {
    /// Messages to send, each to `msg.to`.
    pub messages: Vec<Message>,
    pub applied: Vec<Applied>,
    /// Linearizable-read answers: serve the read once `applied_index >= index`.
    pub reads: Vec<ReadState>,
    /// A configuration change was applied (the peer list may differ).
    pub membership_changed: bool,
    /// A snapshot was taken or installed.
    pub snapshot: bool,
}

/// Why a proposal was not accepted into the leader's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposeError {
    /// This replica is not the leader; the leader's id (0 if unknown).
    NotLeader(u64),
    /// Raft dropped it (leadership transfer in progress, …): try again.
    Dropped,
}

/// One raft replica: consensus, durable storage and the applied state.
pub struct RaftNode {
    raw: RawNode<DiskStorage>,
    storage: DiskStorage,
    state: Arc<RwLock<StateMachine>>,
    conf_state: ConfState,
    applied: u64,
    snapshot_every: u64,
    keep_entries: u64,
}

impl RaftNode {
    /// Opens the replica's storage (creating the cluster configuration on first start) and
    /// restores the state machine from the latest snapshot; committed entries after it are
    /// re-applied by the next [`RaftNode::handle_ready`] calls.
    pub fn open(options: &NodeOptions) -> Result<RaftNode, ControlError> {
        let storage = DiskStorage::open(&options.data_dir, options.sync)?;
        if !storage.is_initialized() && !options.bootstrap_voters.is_empty() {
            storage.bootstrap(options.bootstrap_voters.clone())?;
        }
        let snapshot = storage.latest_snapshot();
        let meta = snapshot.get_metadata();
        let mut sm = StateMachine::decode(&snapshot.data).map_err(ControlError::Storage)?;
        sm.set_applied_index(meta.index);
        let mut config = Config {
            id: options.id,
            election_tick: options.election_tick,
            heartbeat_tick: options.heartbeat_tick,
            applied: meta.index,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            min_election_tick: options.min_election_tick,
            max_election_tick: options.max_election_tick,
            ..Default::default()
        };
        config.read_only_option = raft::ReadOnlyOption::Safe;
        config.validate().map_err(raft_error)?;
        let conf_state = meta.get_conf_state().clone();
        let applied = meta.index;
        let raw = RawNode::new(&config, storage.clone(), &tracing_logger(options.id))
            .map_err(raft_error)?;
        Ok(RaftNode {
            raw,
            storage,
            state: Arc::new(RwLock::new(sm)),
            conf_state,
            applied,
            snapshot_every: options.snapshot_every.max(1),
            keep_entries: options.keep_entries,
        })
    }

    pub fn id(&self) -> u64 {
        self.raw.raft.id
    }

    /// The applied state, shared with readers.
    pub fn state(&self) -> Arc<RwLock<StateMachine>> {
        self.state.clone()
    }

    pub fn storage(&self) -> &DiskStorage {
        &self.storage
    }

    pub fn tick(&mut self) {
        self.raw.tick();
    }

    /// Starts an election now (tests, and a single-replica cluster's first start).
    pub fn campaign(&mut self) -> Result<(), ControlError> {
        self.raw.campaign().map_err(raft_error)
    }

    /// Feeds a message from another replica. Messages from unknown or removed peers and stale
    /// ones are ignored.
    pub fn step(&mut self, mut msg: Message) {
        // A replica that lost its data (wiped and restarted under the same id) is behind what
        // the leader believes it has. Raft assumes that never happens; two adjustments make it
        // safe to recover: the follower never takes a commit index beyond its own log from a
        // heartbeat, and the leader forgets what it believed matched when the follower reports a
        // shorter log, so it probes again (and sends a snapshot when the log is compacted).
        match msg.get_msg_type() {
            MessageType::MsgHeartbeat if msg.commit > self.raw.raft.raft_log.last_index() => {
                tracing::warn!(
                    id = self.id(),
                    commit = msg.commit,
                    last_index = self.raw.raft.raft_log.last_index(),
                    "leader believes this replica has entries it does not have (data lost?)"
                );
                msg.commit = self.raw.raft.raft_log.committed;
            }
            MessageType::MsgAppendResponse if msg.reject && self.is_leader() => {
                let from = msg.from;
                if let Some(pr) = self.raw.raft.mut_prs().get_mut(from) {
                    if msg.reject_hint < pr.matched {
                        tracing::warn!(
                            peer = from,
                            has = msg.reject_hint,
                            matched = pr.matched,
                            "replica reports a shorter log than it acknowledged; probing it again"
                        );
                        pr.matched = 0;
                        pr.become_probe();
                    }
                }
            }
            _ => {}
        }
        if let Err(e) = self.raw.step(msg) {
            tracing::debug!(id = self.id(), error = %e, "raft message ignored");
        }
    }

    /// Appends a proposal to the leader's log. Applied later, reported by `handle_ready`.
    pub fn propose(&mut self, proposal: &Proposal) -> Result<(), ProposeError> {
        if !self.is_leader() {
            return Err(ProposeError::NotLeader(self.leader_id()));
        }
        self.raw
            .propose(Vec::new(), proposal.encode())
            .map_err(|_| ProposeError::Dropped)
    }

    /// Proposes adding (`address` non-empty) a voter, or removing one.
    pub fn propose_membership(
        &mut self,
        request_id: &str,
        replica_id: u64,
        add: bool,
        address: &str,
    ) -> Result<(), ProposeError> {
        if !self.is_leader() {
            return Err(ProposeError::NotLeader(self.leader_id()));
        }
        let mut cc = ConfChange {
            node_id: replica_id,
            ..Default::default()
        };
        cc.set_change_type(if add {
            ConfChangeType::AddNode
        } else {
            ConfChangeType::RemoveNode
        });
        let ctx = serde_json::to_vec(&MembershipContext {
            request_id: request_id.to_string(),
            address: address.to_string(),
        })
        .expect("context serializes");
        cc.context = ctx.clone().into();
        self.raw
            .propose_conf_change(ctx, cc)
            .map_err(|_| ProposeError::Dropped)
    }

    /// Asks for a read index; the answer comes in a later [`ReadyOutput::reads`] with `ctx`.
    pub fn read_index(&mut self, ctx: Vec<u8>) {
        self.raw.read_index(ctx);
    }

    /// True when a read index asked now can be answered: a leader that has committed an entry
    /// of its term (raft-rs drops the request otherwise), or a follower that knows a leader.
    pub fn can_read_index(&self) -> bool {
        match self.raw.raft.state {
            StateRole::Leader => self.raw.raft.commit_to_current_term(),
            StateRole::Follower => self.raw.raft.leader_id != 0,
            _ => false,
        }
    }

    pub fn report_unreachable(&mut self, peer: u64) {
        self.raw.report_unreachable(peer);
    }

    pub fn report_snapshot(&mut self, peer: u64, ok: bool) {
        let status = if ok {
            raft::SnapshotStatus::Finish
        } else {
            raft::SnapshotStatus::Failure
        };
        self.raw.report_snapshot(peer, status);
    }

    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    pub fn leader_id(&self) -> u64 {
        self.raw.raft.leader_id
    }

    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    pub fn role(&self) -> &'static str {
        match self.raw.raft.state {
            StateRole::Leader => "leader",
            StateRole::Follower => "follower",
            StateRole::Candidate => "candidate",
            StateRole::PreCandidate => "pre-candidate",
        }
    }

    pub fn commit_index(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }

    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    pub fn last_index(&self) -> u64 {
        self.raw.raft.raft_log.last_index()
    }

    /// Voters and learners of the applied configuration.
    pub fn members(&self) -> (Vec<u64>, Vec<u64>) {
        let cs = self.raw.raft.prs().conf();
        let mut voters: Vec<u64> = cs.voters().ids().iter().collect();
        voters.sort_unstable();
        let mut learners: Vec<u64> = cs.learners().iter().copied().collect();
        learners.sort_unstable();
        (voters, learners)
    }

    /// Persists, applies and collects everything raft has ready. Entries and the hard state are
    /// durable before any message that acknowledges them is returned.
    pub fn handle_ready(&mut self) -> Result<ReadyOutput, ControlError> {
        let mut out = ReadyOutput::default();
        if !self.raw.has_ready() {
            return Ok(out);
        }
        let mut ready = self.raw.ready();
        out.messages.extend(ready.take_messages());
        if !ready.snapshot().is_empty() {
            let snapshot = ready.snapshot().clone();
            self.install_snapshot(&snapshot)?;
            out.snapshot = true;
        }
        self.apply_entries(ready.take_committed_entries(), &mut out)?;
        self.storage.append(ready.entries(), ready.hs())?;
        out.reads.extend(ready.take_read_states());
        out.messages.extend(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.storage.set_commit(commit);
        }
        out.messages.extend(light.take_messages());
        self.apply_entries(light.take_committed_entries(), &mut out)?;
        self.raw.advance_apply_to(self.applied);
        let wanted = self.storage.take_snapshot_wanted();
        if self.applied >= self.storage.snapshot_index() + self.snapshot_every
            || (wanted && self.applied > self.storage.snapshot_index())
        {
            self.take_snapshot()?;
            out.snapshot = true;
        }
        Ok(out)
    }

    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), ControlError> {
        let meta = snapshot.get_metadata();
        let sm = StateMachine::decode(&snapshot.data).map_err(ControlError::Storage)?;
        self.storage.apply_snapshot(snapshot)?;
        let mut state = ccx_model::sync::write(&self.state);
        *state = sm;
        state.set_applied_index(meta.index);
        self.applied = meta.index;
        self.conf_state = meta.get_conf_state().clone();
        tracing::info!(
            id = self.id(),
            index = meta.index,
            term = meta.term,
            "installed snapshot"
        );
        Ok(())
    }

    /// Snapshots the applied state and compacts the log behind it.
    pub fn take_snapshot(&mut self) -> Result<(), ControlError> {
        let index = self.applied;
        let Some(term) = self.storage.term_of(index) else {
            return Ok(());
        };
        let mut snapshot = Snapshot {
            data: ccx_model::sync::read(&self.state).encode().into(),
            ..Default::default()
        };
        let meta = snapshot.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(self.conf_state.clone());
        let keep_from = (index + 1).saturating_sub(self.keep_entries).max(1);
        self.storage.compact(snapshot, keep_from)?;
        tracing::debug!(id = self.id(), index, "snapshot taken, log compacted");
        Ok(())
    }

    fn apply_entries(
        &mut self,
        entries: Vec<Entry>,
        out: &mut ReadyOutput,
    ) -> Result<(), ControlError> {
        for entry in entries {
            if entry.index <= self.applied {
                continue;
            }
            match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => {
                    ccx_model::sync::write(&self.state).set_applied_index(entry.index);
                }
                EntryType::EntryNormal => match Proposal::decode(&entry.data) {
                    Ok(p) => {
                        let result = ccx_model::sync::write(&self.state).apply(entry.index, &p);
                        out.applied.push(Applied {
                            index: entry.index,
                            request_id: p.request_id,
                            result,
                        });
                    }
                    Err(e) => {
                        tracing::error!(index = entry.index, error = %e, "undecodable entry skipped");
                        ccx_model::sync::write(&self.state).set_applied_index(entry.index);
                    }
                },
                EntryType::EntryConfChange => {
                    let cc = ConfChange::parse_from_bytes(&entry.data)
                        .map_err(|e| ControlError::Storage(e.to_string()))?;
                    let ctx: Option<MembershipContext> = serde_json::from_slice(&cc.context).ok();
                    let result = match self.raw.apply_conf_change(&cc) {
                        Ok(cs) => {
                            self.conf_state = cs;
                            let mut sm = ccx_model::sync::write(&self.state);
                            match cc.get_change_type() {
                                ConfChangeType::RemoveNode => {
                                    sm.remove_member(cc.node_id, entry.index)
                                }
                                _ => sm.add_member(
                                    cc.node_id,
                                    ctx.as_ref().map(|c| c.address.clone()).unwrap_or_default(),
                                    entry.index,
                                ),
                            }
                            Ok(CommandValue::Membership(cc.node_id))
                        }
                        Err(e) => {
                            ccx_model::sync::write(&self.state).set_applied_index(entry.index);
                            Err(CommandError::FailedPrecondition(format!(
                                "membership change rejected: {e}"
                            )))
                        }
                    };
                    out.membership_changed = true;
                    out.applied.push(Applied {
                        index: entry.index,
                        request_id: ctx.map(|c| c.request_id).unwrap_or_default(),
                        result,
                    });
                }
                EntryType::EntryConfChangeV2 => {
                    let cc = ConfChangeV2::parse_from_bytes(&entry.data)
                        .map_err(|e| ControlError::Storage(e.to_string()))?;
                    if let Ok(cs) = self.raw.apply_conf_change(&cc) {
                        self.conf_state = cs;
                    }
                    ccx_model::sync::write(&self.state).set_applied_index(entry.index);
                    out.membership_changed = true;
                }
            }
            self.applied = entry.index;
        }
        Ok(())
    }
}

/// A raft-rs error as the control plane reports it.
pub(crate) fn raft_error(e: raft::Error) -> ControlError {
    ControlError::Raft(e.to_string())
}
