//! The memory source: the rows a [`MemorySink`] holds (what `ccx demo`'s stream writes), read
//! as ClickHouse's `… FINAL` would show them.

use ccx_stream::sink::MemorySink;
use futures::future::BoxFuture;

use crate::source::{add_in_ranges, listed, Floor, RowSource, Snapshot, SourceError, Starts};

/// Reads a [`MemorySink`].
#[derive(Clone)]
pub struct MemorySource {
    rows: MemorySink,
}

impl MemorySource {
    pub fn new(rows: MemorySink) -> MemorySource {
        MemorySource { rows }
    }

    fn read(&self, tenant: &str, starts: &Starts) -> Snapshot {
        let first = starts.iter().copied().min().unwrap_or(0);
        let shared = ccx_model::sync::lock(&self.rows.shared);
        let mut out = Snapshot::default();
        let agents = || shared.agent_now.values().filter(|n| n.tenant_id == tenant);
        out.agent_now = listed(agents());
        out.floor = Floor::count(agents());
        let listed: std::collections::BTreeSet<&str> =
            out.agent_now.iter().map(|a| a.agent_id.as_str()).collect();
        for (k, c) in &shared.rows.queue {
            if k.tenant_id == tenant && k.window_start >= first {
                let sums = out.queues.entry(k.queue_id.clone()).or_default();
                add_in_ranges(sums, starts, k.window_start, *c);
            }
        }
        for (k, c) in &shared.rows.agent {
            if k.tenant_id == tenant
                && k.window_start >= first
                && listed.contains(k.agent_id.as_str())
            {
                let sums = out.agents.entry(k.agent_id.clone()).or_default();
                add_in_ranges(sums, starts, k.window_start, *c);
            }
        }
        // Every listed agent is read: one without rows has handled nothing in the ranges.
        for id in listed {
            out.agents.entry(id.to_string()).or_default();
        }
        for (k, s) in &shared.rows.agent_state {
            if k.tenant_id == tenant && k.window_start >= first {
                add_in_ranges(&mut out.state, starts, k.window_start, *s);
            }
        }
        out.queue_now = shared
            .queue_now
            .values()
            .filter(|n| n.tenant_id == tenant)
            .cloned()
            .collect();
        out
    }
}

impl RowSource for MemorySource {
    fn snapshot<'a>(
        &'a self,
        tenant: &'a str,
        starts: &'a Starts,
    ) -> BoxFuture<'a, Result<Snapshot, SourceError>> {
        Box::pin(async move { Ok(self.read(tenant, starts)) })
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async { Ok(()) })
    }
}
