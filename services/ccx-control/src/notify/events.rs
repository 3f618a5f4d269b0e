//! The leader's `alert_events` writer: every transition of every alert, in batches, into
//! ClickHouse, each batch then recorded with `AlertEventsWritten`.
//!
//! Progress is recorded per transition in the replicated state, like deliveries, rather than
//! as a time mark from which everything is written again: transitions are stamped by the
//! leader that applied them, whose clock may lag the next leader's, so a time mark could skip
//! a transition; a per-transition record cannot, and it also writes the history of alerts
//! raised before ClickHouse was configured. A batch written but not recorded (the leader died
//! in between) is written again by the next leader, which is harmless: a row's version is its
//! transition's time, so the rewrite is the same row.

use std::sync::Arc;
use std::time::Duration;

use ccx_config::ClickHouseConfig;
use ccx_store::{AlertEvent, Store};
use tokio_util::sync::CancellationToken;

use crate::state::{Command, StateMachine};

use super::{Cluster, NotifyMetrics};

/// Transitions per insert, at most.
const BATCH: usize = 1_000;
/// How often a leader with nothing to write looks again.
const IDLE: Duration = Duration::from_millis(200);
/// Longest wait between attempts while ClickHouse fails.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Up to `limit` transitions not recorded as written, by tenant and alert id.
pub fn unwritten(state: &StateMachine, limit: usize) -> Vec<AlertEvent> {
    let mut out = Vec::new();
    for (alert, sent) in state.alerts_with_sent() {
        for h in &alert.history {
            if sent.is_some_and(|s| s.events_written.contains(&h.status)) {
                continue;
            }
            if out.len() == limit {
                return out;
            }
            out.push(AlertEvent {
                tenant_id: alert.tenant_id.clone(),
                alert_id: alert.alert_id.clone(),
                kind: alert.kind.name().to_string(),
                status: h.status.name().to_string(),
                at_ms: h.at_ms,
                by: h.by.clone(),
                note: h.note.clone(),
            });
        }
    }
    out
}

/// Runs until `shutdown`: writes while this replica leads. Without ClickHouse settings it
/// says so once and returns.
pub(crate) async fn run<C: Cluster>(
    cluster: Arc<C>,
    clickhouse: Option<ClickHouseConfig>,
    metrics: NotifyMetrics,
    shutdown: CancellationToken,
) {
    let Some(config) = clickhouse else {
        tracing::info!(
            "no ClickHouse configured: alert transitions are not written to alert_events"
        );
        return;
    };
    let mut store: Option<Store> = None;
    let mut backoff = Duration::from_secs(1);
    let mut wait = Duration::ZERO;
    // The applied index at which nothing was left to write: no need to look again until
    // something is applied.
    let mut idle_at: Option<u64> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = IDLE;
        if !cluster.is_leader() {
            metrics.events_pending.set(0);
            idle_at = None;
            continue;
        }
        let applied = cluster.applied_index();
        if idle_at == Some(applied) {
            continue;
        }
        let batch = {
            let state = cluster.state();
            let state = ccx_model::sync::read(&state);
            unwritten(&state, BATCH)
        };
        metrics.events_pending.set(batch.len() as i64);
        if batch.is_empty() {
            idle_at = Some(applied);
            continue;
        }
        idle_at = None;
        let result = match &store {
            Some(s) => s.write_alert_events(&batch).await,
            None => match Store::connect(&config).await {
                Ok(s) => {
                    let r = s.write_alert_events(&batch).await;
                    store = Some(s);
                    r
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            metrics.event_write_failures.inc();
            tracing::warn!(error = %e, retry_in = ?backoff, "alert_events not written");
            wait = backoff;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        backoff = Duration::from_secs(1);
        metrics.events_written.inc_by(batch.len() as u64);
        let events = batch
            .into_iter()
            .filter_map(|e| {
                ccx_control_client::AlertStatus::parse(&e.status)
                    .map(|s| (e.tenant_id, e.alert_id, s))
            })
            .collect();
        match cluster.record(Command::AlertEventsWritten { events }).await {
            // More may be waiting: look again at once.
            Ok(()) => wait = Duration::ZERO,
            Err(e) => {
                tracing::warn!(error = %e, "alert_events written but not recorded: written again later")
            }
        }
    }
}
