//! The live floor's pending rows (`queue_now`, `agent_now`): folded by key, newer rows
//! replacing older ones, so their writer is at most one write behind the newest flush and its
//! memory is bounded by the floor's size, however slow ClickHouse is.

use std::collections::HashMap;

use ccx_model::rows::{AgentNow, QueueNow};
use ccx_store::RowBatch;

use crate::fold_writer::Pending;

#[derive(Default)]
pub struct LiveRows {
    queue_now: HashMap<(String, String, String), QueueNow>,
    agent_now: HashMap<(String, String), AgentNow>,
}

impl Pending for LiveRows {
    type Rows = (Vec<QueueNow>, Vec<AgentNow>);

    fn fold(&mut self, (queue_now, agent_now): Self::Rows) {
        for row in queue_now {
            let key = (
                row.tenant_id.clone(),
                row.queue_id.clone(),
                row.channel.clone(),
            );
            self.queue_now.insert(key, row);
        }
        for row in agent_now {
            self.agent_now
                .insert((row.tenant_id.clone(), row.agent_id.clone()), row);
        }
    }

    fn is_empty(&self) -> bool {
        self.queue_now.is_empty() && self.agent_now.is_empty()
    }

    fn backlog(&self) -> usize {
        0
    }

    fn into_batch(self, version: u64) -> RowBatch {
        RowBatch {
            version,
            queue_now: self.queue_now.into_values().collect(),
            agent_now: self.agent_now.into_values().collect(),
            ..RowBatch::default()
        }
    }
}
