//! Row sinks: memory (demo, tests), null, and the alerts raised after the rows; the ClickHouse
//! sink is in [`crate::clickhouse_sink`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use ccx_control_client::{AlertRecord, ControlError};
use ccx_model::rows::{
    AgentNow, ChurnAlert, FinalRows, QueueKey, QueueNow, StaffingRow, ThresholdAlert,
};
use ccx_model::Event;
use ccx_store::RowBatch;

pub use crate::clickhouse_sink::{ClickHouseSink, ClickHouseSinks};
use crate::dataflow::{RowSink, Stored};
use crate::engine::Output;
use crate::error::StreamError;

/// Raises the churn alerts of every output into the control plane (idempotent by alert_id),
/// and the threshold alerts fired or cleared (raised, or resolved as "condition cleared"),
/// after the inner sink stored the rows, in order; what the control plane could not take yet
/// is retried with the next output.
pub struct WithAlerts<S> {
    inner: S,
    runtime: tokio::runtime::Runtime,
    client: ccx_control_client::ControlClient,
    pending: VecDeque<Pending>,
}

enum Pending {
    Churn(ChurnAlert),
    Threshold(ThresholdAlert),
}

/// Who resolves a threshold alert whose condition cleared, and the note it leaves.
const CLEARED_BY: (&str, &str) = ("ccx", "condition cleared");

impl<S: RowSink> WithAlerts<S> {
    /// Raises into the replicas at `endpoints`, presenting `token` (a service credential).
    pub fn new(inner: S, endpoints: &[String], token: &str) -> Result<WithAlerts<S>, StreamError> {
        WithAlerts::with_tls(inner, endpoints, token, None)
    }

    /// As [`WithAlerts::new`], reaching the control plane over TLS with `tls`.
    pub fn with_tls(
        inner: S,
        endpoints: &[String],
        token: &str,
        tls: Option<ccx_control_client::ClientTls>,
    ) -> Result<WithAlerts<S>, StreamError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StreamError::io("cannot start the alert sink's runtime"))?;
        let client = {
            let _guard = runtime.enter();
            ccx_control_client::ControlClient::new(endpoints.iter().cloned())?
                .with_tls(tls)
                .with_credential(token)?
        };
        Ok(WithAlerts {
            inner,
            runtime,
            client,
            pending: VecDeque::new(),
        })
    }

    async fn send(
        client: &ccx_control_client::ControlClient,
        p: &Pending,
    ) -> Result<(), ControlError> {
        match p {
            Pending::Churn(a) => client.raise_alert(a).await.map(drop),
            Pending::Threshold(t) if !t.cleared => client
                .raise(&AlertRecord::from_threshold(t))
                .await
                .map(drop),
            Pending::Threshold(t) => {
                let (by, note) = CLEARED_BY;
                client
                    .resolve(&t.tenant_id, &t.alert_id, by, note)
                    .await
                    .map(drop)
            }
        }
    }
}

impl<S: RowSink> RowSink for WithAlerts<S> {
    fn sync(&mut self) -> Result<(), StreamError> {
        self.inner.sync()
    }

    fn sync_later(&mut self) -> Result<Stored, StreamError> {
        self.inner.sync_later()
    }

    fn write(&mut self, rows: Output, events: Vec<Event>) -> Result<(), StreamError> {
        self.pending
            .extend(rows.alerts.iter().cloned().map(Pending::Churn));
        self.pending
            .extend(rows.thresholds.iter().cloned().map(Pending::Threshold));
        self.inner.write(rows, events)?;
        if !self.pending.is_empty() {
            // Alerts follow their rows into storage (a notification never names a row that a
            // dashboard does not show yet).
            self.inner.sync()?;
        }
        while let Some(next) = self.pending.front() {
            let id = match next {
                Pending::Churn(a) => &a.alert_id,
                Pending::Threshold(t) => &t.alert_id,
            };
            match self.runtime.block_on(Self::send(&self.client, next)) {
                Ok(()) => {}
                Err(e) if e.is_retryable() => {
                    tracing::warn!(alert = %id, error = %e, "control plane did not take the alert yet");
                    break;
                }
                // Resolved by someone already, say: nothing left to do for it.
                Err(e) => tracing::warn!(alert = %id, error = %e, "alert change refused"),
            }
            self.pending.pop_front();
        }
        Ok(())
    }
}

/// The batch of one output: every row gets the same, strictly increasing version.
pub fn row_batch(rows: Output, events: Vec<Event>, version: u64) -> RowBatch {
    RowBatch {
        version,
        queue: rows.queue,
        agent: rows.agent,
        reason: rows.reason,
        hourly: rows.hourly,
        daily: rows.daily,
        agent_state: rows.agent_state,
        quality: rows.quality,
        alerts: rows.alerts,
        queue_now: rows.queue_now,
        agent_now: rows.agent_now,
        staffing: rows.staffing,
        events,
        progress: rows.progress,
    }
}

/// What a [`MemorySink`] holds: rows as `SELECT … FINAL` would show them.
#[derive(Debug, Default)]
pub struct MemoryRows {
    pub rows: FinalRows,
    pub queue_now: BTreeMap<(String, String, String), QueueNow>,
    /// By (tenant, agent).
    pub agent_now: BTreeMap<(String, String), AgentNow>,
    pub staffing: BTreeMap<QueueKey, StaffingRow>,
    pub events: usize,
    pub writes: usize,
}

/// Keeps rows in memory, newest value per key (the demo's wallboard reads it).
#[derive(Clone, Default)]
pub struct MemorySink {
    pub shared: Arc<Mutex<MemoryRows>>,
}

impl RowSink for MemorySink {
    fn write(&mut self, rows: Output, events: Vec<Event>) -> Result<(), StreamError> {
        let mut shared = ccx_model::sync::lock(&self.shared);
        for now in &rows.queue_now {
            let key = (
                now.tenant_id.clone(),
                now.queue_id.clone(),
                now.channel.clone(),
            );
            shared.queue_now.insert(key, now.clone());
        }
        for now in &rows.agent_now {
            let key = (now.tenant_id.clone(), now.agent_id.clone());
            shared.agent_now.insert(key, now.clone());
        }
        shared.staffing.extend(rows.staffing.iter().cloned());
        rows.merge_into(&mut shared.rows);
        shared.events += events.len();
        shared.writes += 1;
        Ok(())
    }
}

/// Discards rows (compute-only benchmarks).
pub struct NullSink;

impl RowSink for NullSink {
    fn write(&mut self, _: Output, _: Vec<Event>) -> Result<(), StreamError> {
        Ok(())
    }
}

impl MemorySink {
    /// The rows written so far, without all-zero rows (alerts sorted).
    pub fn final_rows(&self) -> FinalRows {
        let shared = ccx_model::sync::lock(&self.shared);
        shared.rows.clone().without_zero_rows()
    }
}
