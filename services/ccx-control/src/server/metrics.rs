//! The replica's prometheus metrics: raft progress gauges and write/read counters.

use std::collections::HashMap;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};

use crate::notify::NotifyMetrics;

use super::NodeStatus;

pub(super) struct Metrics {
    pub(super) registry: Registry,
    term: IntGauge,
    leader_id: IntGauge,
    is_leader: IntGauge,
    commit_index: IntGauge,
    applied_index: IntGauge,
    snapshot_index: IntGauge,
    pub(super) writes: IntCounter,
    pub(super) write_errors: IntCounter,
    pub(super) write_retries: IntCounter,
    pub(super) reads: IntCounter,
    pub(super) forwarded: IntCounter,
    /// Calls refused: no, an unknown, or a too narrow credential.
    pub(super) refused: IntCounter,
    pub(super) send_failures: IntCounter,
    pub(super) write_seconds: Histogram,
    /// Notifications and `alert_events` writes.
    pub(super) notify: NotifyMetrics,
}

impl Metrics {
    pub(super) fn new(id: u64) -> Metrics {
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
            refused: counter(
                "ccx_control_refused_calls_total",
                "Calls refused for a missing, unknown or too narrow credential.",
            ),
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
            notify: NotifyMetrics::new(&registry),
            registry,
        };
        m.registry
            .register(Box::new(m.write_seconds.clone()))
            .expect("register");
        m
    }

    pub(super) fn update(&self, s: &NodeStatus) {
        self.term.set(s.term as i64);
        self.leader_id.set(s.leader_id as i64);
        self.is_leader.set((s.leader_id == s.id) as i64);
        self.commit_index.set(s.commit_index as i64);
        self.applied_index.set(s.applied_index as i64);
        self.snapshot_index.set(s.snapshot_index as i64);
    }
}
