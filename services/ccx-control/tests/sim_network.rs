//! Deterministic raft tests over a simulated in-process network (no sockets, no clocks): the
//! test ticks every replica, routes each message through filters (isolate, cut a link, drop a
//! share, delay by a few rounds) with a seeded generator, and checks the replicated state.
//! Election timeouts are fixed per replica (10, 14, 18 … ticks) so every run is the same.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ccx_control::node::{Applied, NodeOptions, ProposeError, RaftNode};
use ccx_control::state::{AlertRecord, AlertStatus, Command, CommandValue, Proposal};
use ccx_model::rows::ChurnAlert;
use raft::prelude::Message;
use tempfile::TempDir;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Sim {
    dir: TempDir,
    options: BTreeMap<u64, NodeOptions>,
    nodes: BTreeMap<u64, RaftNode>,
    isolated: BTreeSet<u64>,
    cut: BTreeSet<(u64, u64)>,
    drop_percent: u64,
    max_delay: u64,
    rng: Rng,
    round: u64,
    in_flight: Vec<(u64, Message)>,
    applied: BTreeMap<u64, Vec<Applied>>,
    reads: BTreeMap<u64, HashMap<Vec<u8>, u64>>,
}

impl Sim {
    fn new(n: u64, seed: u64) -> Sim {
        Sim::with(n, seed, 10_000, 1_000)
    }

    fn with(n: u64, seed: u64, snapshot_every: u64, keep_entries: u64) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let voters: Vec<u64> = (1..=n).collect();
        let mut sim = Sim {
            dir,
            options: BTreeMap::new(),
            nodes: BTreeMap::new(),
            isolated: BTreeSet::new(),
            cut: BTreeSet::new(),
            drop_percent: 0,
            max_delay: 0,
            rng: Rng(seed | 1),
            round: 0,
            in_flight: Vec::new(),
            applied: BTreeMap::new(),
            reads: BTreeMap::new(),
        };
        for id in 1..=n {
            let o = sim.node_options(id, voters.clone(), snapshot_every, keep_entries);
            sim.options.insert(id, o);
            sim.start(id);
        }
        sim
    }

    fn node_options(
        &self,
        id: u64,
        voters: Vec<u64>,
        snapshot_every: u64,
        keep_entries: u64,
    ) -> NodeOptions {
        let mut o = NodeOptions::new(id, voters, self.dir.path().join(format!("n{id}")));
        o.sync = false;
        o.election_tick = 10;
        o.heartbeat_tick = 2;
        o.min_election_tick = 10 + 4 * (id as usize - 1);
        o.max_election_tick = o.min_election_tick + 1;
        o.snapshot_every = snapshot_every;
        o.keep_entries = keep_entries;
        o
    }

    fn start(&mut self, id: u64) {
        let node = RaftNode::open(&self.options[&id]).unwrap();
        self.nodes.insert(id, node);
    }

    /// Kills a replica: it loses everything not yet persisted (nothing, here) and all messages.
    fn crash(&mut self, id: u64) {
        self.nodes.remove(&id);
        self.in_flight.retain(|(_, m)| m.to != id);
    }

    fn node(&self, id: u64) -> &RaftNode {
        &self.nodes[&id]
    }

    fn node_mut(&mut self, id: u64) -> &mut RaftNode {
        self.nodes.get_mut(&id).unwrap()
    }

    fn blocked(&mut self, m: &Message) -> bool {
        if self.isolated.contains(&m.from) || self.isolated.contains(&m.to) {
            return true;
        }
        if self.cut.contains(&(m.from, m.to)) || self.cut.contains(&(m.to, m.from)) {
            return true;
        }
        self.drop_percent > 0 && self.rng.below(100) < self.drop_percent
    }

    /// Processes ready states and delivers due messages until nothing moves.
    fn settle(&mut self) {
        for _ in 0..200 {
            let mut moved = false;
            let ids: Vec<u64> = self.nodes.keys().copied().collect();
            for id in ids {
                let out = self.node_mut(id).handle_ready().unwrap();
                for m in out.messages {
                    moved = true;
                    if self.blocked(&m) {
                        continue;
                    }
                    let delay = if self.max_delay > 0 {
                        self.rng.below(self.max_delay + 1)
                    } else {
                        0
                    };
                    self.in_flight.push((self.round + delay, m));
                }
                for r in out.reads {
                    self.reads
                        .entry(id)
                        .or_default()
                        .insert(r.request_ctx, r.index);
                }
                self.applied.entry(id).or_default().extend(out.applied);
            }
            let round = self.round;
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
                .into_iter()
                .partition(|(at, _)| *at <= round);
            self.in_flight = later;
            for (_, m) in due {
                moved = true;
                if let Some(node) = self.nodes.get_mut(&m.to) {
                    node.step(m);
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn run(&mut self, rounds: u64) {
        for _ in 0..rounds {
            self.round += 1;
            for node in self.nodes.values_mut() {
                node.tick();
            }
            self.settle();
        }
    }

    /// Runs until `pred` holds, at most `rounds`; returns how many rounds it took.
    fn run_until(&mut self, rounds: u64, mut pred: impl FnMut(&Sim) -> bool) -> Option<u64> {
        for r in 0..rounds {
            if pred(self) {
                return Some(r);
            }
            self.run(1);
        }
        pred(self).then_some(rounds)
    }

    /// The leader with the highest term among reachable replicas.
    fn leader(&self) -> Option<u64> {
        self.nodes
            .iter()
            .filter(|(id, n)| n.is_leader() && !self.isolated.contains(id))
            .max_by_key(|(_, n)| n.term())
            .map(|(id, _)| *id)
    }

    fn elect(&mut self) -> u64 {
        self.run_until(200, |s| s.leader().is_some())
            .expect("a leader is elected");
        // Let the leader commit its empty entry of the term.
        self.run(3);
        self.leader().unwrap()
    }

    fn is_applied(&self, node: u64, request_id: &str) -> bool {
        self.applied
            .get(&node)
            .is_some_and(|v| v.iter().any(|a| a.request_id == request_id))
    }

    fn alerts(&self, node: u64) -> Vec<AlertRecord> {
        ccx_model::sync::read(&self.node(node).state()).list_alerts(&Default::default())
    }

    fn assert_converged(&self) {
        let states: Vec<_> = self
            .nodes
            .values()
            .map(|n| ccx_model::sync::read(&n.state()).clone())
            .collect();
        for s in &states[1..] {
            assert_eq!(s, &states[0], "replicas hold different histories");
        }
        let indices: BTreeSet<u64> = self.nodes.values().map(|n| n.applied_index()).collect();
        assert_eq!(indices.len(), 1, "applied indices differ: {indices:?}");
    }
}

fn raise(n: u32) -> Proposal {
    let alert = AlertRecord::from_churn_alert(&ChurnAlert {
        tenant_id: "acme".into(),
        alert_id: format!("acme:c{n}:e{n}"),
        customer_id: format!("c{n}"),
        score: 60 + n % 40,
        reasons: vec!["NPS_DETRACTOR".into(), "REPEAT_CONTACT".into()],
        triggered_at: 1_700_000_000_000 + n as i64,
        contact_id: format!("k{n}"),
        channel: "VOICE".into(),
        queue_id: "q1".into(),
        agent_id: "a1".into(),
    });
    Proposal {
        request_id: format!("raise-{n}"),
        at_ms: 1_700_000_100_000 + n as i64,
        command: Command::RaiseAlert { alert },
    }
}

fn ack(n: u32) -> Proposal {
    Proposal {
        request_id: format!("ack-{n}"),
        at_ms: 1_700_000_200_000 + n as i64,
        command: Command::Acknowledge {
            tenant_id: "acme".into(),
            alert_id: format!("acme:c{n}:e{n}"),
            by: "kim".into(),
            note: "on it".into(),
        },
    }
}

/// Proposes `p` to whoever leads until it is applied on the leader (re-proposing with the same
/// request id after a leader change or a loss), within `rounds`.
fn write(sim: &mut Sim, p: &Proposal, rounds: u64) -> u64 {
    for attempt in 0..rounds / 10 {
        let Some(leader) = sim.leader() else {
            sim.run(10);
            continue;
        };
        let _ = sim.node_mut(leader).propose(p);
        if sim
            .run_until(10, |s| s.is_applied(leader, &p.request_id))
            .is_some()
        {
            return attempt;
        }
    }
    panic!("{} not committed within {rounds} rounds", p.request_id);
}

#[test]
fn elects_one_leader_and_replicates() {
    let mut sim = Sim::new(3, 1);
    let leader = sim.elect();
    // Fixed election timeouts: replica 1 times out first.
    assert_eq!(leader, 1);
    let term = sim.node(leader).term();
    for id in 1..=3 {
        assert_eq!(sim.node(id).leader_id(), leader);
        assert_eq!(sim.node(id).term(), term);
    }
    for n in 0..20 {
        write(&mut sim, &raise(n), 100);
    }
    sim.run(5);
    for id in 1..=3 {
        assert_eq!(sim.alerts(id).len(), 20);
    }
    sim.assert_converged();
}

#[test]
fn isolated_leader_is_replaced_and_its_writes_are_discarded() {
    let mut sim = Sim::new(3, 2);
    let old = sim.elect();
    write(&mut sim, &raise(1), 100);
    sim.isolated.insert(old);
    // The old leader still believes it leads for a moment and accepts a proposal that can
    // never commit.
    assert!(sim.node_mut(old).propose(&raise(99)).is_ok());
    let rounds = sim
        .run_until(100, |s| s.leader().is_some_and(|l| l != old))
        .expect("the majority elects a new leader");
    assert!(rounds <= 40, "new leader after {rounds} rounds");
    let new = sim.leader().unwrap();
    // The majority keeps committing.
    for n in 2..10 {
        write(&mut sim, &raise(n), 100);
    }
    // With check-quorum the old leader steps down and refuses writes.
    sim.run(30);
    assert!(!sim.node(old).is_leader());
    assert!(matches!(
        sim.node_mut(old).propose(&raise(100)),
        Err(ProposeError::NotLeader(_))
    ));
    assert!(!sim.is_applied(old, "raise-99"));
    // Heal: the old leader's uncommitted entry is overwritten; one history everywhere.
    sim.isolated.clear();
    sim.run(30);
    assert_eq!(sim.leader(), Some(new));
    sim.assert_converged();
    let alerts = sim.alerts(old);
    assert_eq!(alerts.len(), 9);
    assert!(alerts.iter().all(|a| a.alert_id != "acme:c99:e99"));
}

#[test]
fn partition_two_one_majority_commits_minority_refuses() {
    let mut sim = Sim::new(3, 3);
    let leader = sim.elect();
    write(&mut sim, &raise(0), 100);
    // Cut the leader off with one side of 1 (the leader) | 2 (the others).
    let others: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
    for &o in &others {
        sim.cut.insert((leader, o));
    }
    let minority = leader;
    sim.run_until(100, |s| {
        s.nodes
            .iter()
            .any(|(id, n)| *id != minority && n.is_leader())
    })
    .expect("majority side elects a leader");
    let majority_leader = *others.iter().find(|&&id| sim.node(id).is_leader()).unwrap();
    for n in 1..6 {
        let p = raise(n);
        sim.node_mut(majority_leader).propose(&p).unwrap();
        sim.run_until(20, |s| s.is_applied(majority_leader, &p.request_id))
            .expect("majority commits");
    }
    // The minority replica steps down (check-quorum) and cannot commit anything.
    sim.run(40);
    assert!(!sim.node(minority).is_leader());
    let before = sim.node(minority).commit_index();
    let _ = sim.node_mut(minority).propose(&raise(50));
    sim.run(40);
    assert_eq!(sim.node(minority).commit_index(), before);
    assert_eq!(sim.alerts(minority).len(), 1);
    // Heal: the minority catches up; no replica has raise-50.
    sim.cut.clear();
    sim.run(40);
    sim.assert_converged();
    assert_eq!(sim.alerts(minority).len(), 6);
}

#[test]
fn dropped_and_delayed_messages_still_apply_each_write_once() {
    let mut sim = Sim::new(3, 4);
    sim.elect();
    sim.drop_percent = 20;
    sim.max_delay = 3;
    for n in 0..30 {
        write(&mut sim, &raise(n), 1_000);
        // Re-raising the same alert id (another client) changes nothing.
        if n % 5 == 0 {
            let mut again = raise(n);
            again.request_id = format!("dup-{n}");
            write(&mut sim, &again, 1_000);
        }
    }
    for n in 0..30 {
        write(&mut sim, &ack(n), 1_000);
    }
    // Re-propose some acks with the same request id, as a client retry after a lost answer.
    for n in 0..5 {
        write(&mut sim, &ack(n), 1_000);
    }
    sim.drop_percent = 0;
    sim.max_delay = 0;
    sim.run(30);
    sim.assert_converged();
    let alerts = sim.alerts(1);
    assert_eq!(alerts.len(), 30);
    for a in alerts {
        assert_eq!(a.status, AlertStatus::Acknowledged);
        assert_eq!(a.history.len(), 2, "{}", a.alert_id);
    }
}

#[test]
fn follower_reads_are_linearizable() {
    let mut sim = Sim::new(3, 5);
    let leader = sim.elect();
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    write(&mut sim, &raise(7), 100);
    let commit = sim.node(leader).commit_index();
    assert!(sim.node(follower).can_read_index());
    sim.node_mut(follower).read_index(b"r1".to_vec());
    sim.run_until(20, |s| {
        s.reads
            .get(&follower)
            .is_some_and(|r| r.contains_key(&b"r1".to_vec()))
    })
    .expect("read index answered");
    let index = sim.reads[&follower][&b"r1".to_vec()];
    assert!(index >= commit, "read index {index} < commit {commit}");
    sim.run_until(20, |s| s.node(follower).applied_index() >= index)
        .unwrap();
    assert_eq!(sim.alerts(follower).len(), 1);
}

#[test]
fn restart_and_wiped_replica_catch_up_through_snapshots() {
    // Snapshot every 10 entries, keep 2 behind: a replica that misses more needs a snapshot.
    let mut sim = Sim::with(3, 6, 10, 2);
    let leader = sim.elect();
    let victim = (1..=3).rev().find(|&i| i != leader).unwrap();
    sim.crash(victim);
    for n in 0..40 {
        write(&mut sim, &raise(n), 100);
    }
    assert!(sim.node(leader).storage().snapshot_index() >= 30);
    assert!(sim.node(leader).storage().first_index_now() > 30);
    // Restart from its own disk: it has entries up to before the crash and needs a snapshot.
    sim.start(victim);
    sim.run(30);
    assert_eq!(sim.alerts(victim).len(), 40);
    sim.assert_converged();
    // Wipe it: an empty replica that joins (no bootstrap) catches up through a snapshot.
    sim.crash(victim);
    std::fs::remove_dir_all(&sim.options[&victim].data_dir).unwrap();
    sim.options
        .get_mut(&victim)
        .unwrap()
        .bootstrap_voters
        .clear();
    for n in 40..45 {
        write(&mut sim, &raise(n), 100);
    }
    sim.start(victim);
    sim.run(30);
    assert_eq!(sim.alerts(victim).len(), 45);
    assert!(sim.node(victim).storage().snapshot_index() > 0);
    sim.assert_converged();
    // Restart every replica: the state comes back from disk.
    let before = ccx_model::sync::read(&sim.node(leader).state()).clone();
    for id in 1..=3 {
        sim.crash(id);
    }
    for id in 1..=3 {
        sim.start(id);
    }
    sim.elect();
    sim.run(10);
    sim.assert_converged();
    let after = ccx_model::sync::read(&sim.node(1).state()).clone();
    assert_eq!(
        after.list_alerts(&Default::default()),
        before.list_alerts(&Default::default())
    );
}

#[test]
fn add_and_remove_a_replica() {
    let mut sim = Sim::new(3, 7);
    let leader = sim.elect();
    for n in 0..5 {
        write(&mut sim, &raise(n), 100);
    }
    // Replica 4 starts empty (joining) and is added by a configuration change.
    let o = sim.node_options(4, Vec::new(), 10_000, 1_000);
    sim.options.insert(4, o);
    sim.start(4);
    sim.node_mut(leader)
        .propose_membership("add-4", 4, true, "127.0.0.1:1")
        .unwrap();
    sim.run_until(50, |s| s.is_applied(leader, "add-4"))
        .unwrap();
    sim.run(20);
    assert_eq!(sim.node(4).members().0, vec![1, 2, 3, 4]);
    assert_eq!(sim.alerts(4).len(), 5);
    assert_eq!(
        ccx_model::sync::read(&sim.node(4).state())
            .members()
            .get(&4),
        Some(&"127.0.0.1:1".to_string())
    );
    // Remove a follower; the remaining three keep committing.
    let gone = (1..=3).find(|&i| i != leader).unwrap();
    sim.node_mut(leader)
        .propose_membership("rm", gone, false, "")
        .unwrap();
    sim.run_until(50, |s| s.is_applied(leader, "rm")).unwrap();
    sim.crash(gone);
    write(&mut sim, &raise(5), 100);
    sim.run(10);
    assert_eq!(sim.node(leader).members().0.len(), 3);
    sim.assert_converged();
    let applied = &sim.applied[&leader];
    assert!(applied
        .iter()
        .any(|a| matches!(a.result, Ok(CommandValue::Membership(4)))));
}
