//! The pending rows of every table but the live floor's: minutes, rollups, agent-state
//! minutes, quality, churn alerts, staffing intervals, tenant progress and events. Keyed rows
//! fold (newer values replace older ones, as `FINAL` sees successive writes), so flushes that
//! come while a write is under way cost one row per key, not one per flush; alerts and events
//! are rows of their own and append.

use std::collections::BTreeMap;

use ccx_model::rows::{FinalRows, QueueKey, RollupRows, StaffingRow, TenantProgress};
use ccx_model::Event;
use ccx_store::RowBatch;

use crate::engine::Output;
use crate::fold_writer::Pending;

#[derive(Default)]
pub struct BatchRows {
    rows: FinalRows,
    hourly: RollupRows,
    daily: RollupRows,
    staffing: BTreeMap<QueueKey, StaffingRow>,
    /// Each tenant's newest watermark.
    progress: BTreeMap<String, i64>,
    events: Vec<Event>,
}

impl Pending for BatchRows {
    /// One flush's output without its live rows, and its events.
    type Rows = (Output, Vec<Event>);

    fn fold(&mut self, (mut out, events): Self::Rows) {
        self.hourly.merge(std::mem::take(&mut out.hourly));
        self.daily.merge(std::mem::take(&mut out.daily));
        self.staffing.extend(std::mem::take(&mut out.staffing));
        for p in std::mem::take(&mut out.progress) {
            let watermark = self.progress.entry(p.tenant_id).or_insert(p.watermark);
            *watermark = p.watermark.max(*watermark);
        }
        out.merge_into(&mut self.rows);
        self.events.extend(events);
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
            && self.hourly.is_empty()
            && self.daily.is_empty()
            && self.staffing.is_empty()
            && self.progress.is_empty()
            && self.events.is_empty()
    }

    fn backlog(&self) -> usize {
        self.events.len()
    }

    fn into_batch(self, version: u64) -> RowBatch {
        let r = self.rows;
        RowBatch {
            version,
            queue: r.queue.into_iter().collect(),
            agent: r.agent.into_iter().collect(),
            reason: r.reason.into_iter().collect(),
            hourly: self.hourly,
            daily: self.daily,
            agent_state: r.agent_state.into_iter().collect(),
            quality: r.quality.into_iter().collect(),
            alerts: r.alerts,
            staffing: self.staffing.into_iter().collect(),
            events: self.events,
            progress: self
                .progress
                .into_iter()
                .map(|(tenant_id, watermark)| TenantProgress {
                    tenant_id,
                    watermark,
                })
                .collect(),
            ..RowBatch::default()
        }
    }
}
