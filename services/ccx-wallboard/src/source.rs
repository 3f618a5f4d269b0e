//! Where the board's rows come from: one trait, two sources (ClickHouse for `ccx wallboard`,
//! the stream's memory rows for `ccx demo`). A source only reads and sums components; every
//! number of the page is computed from them once, in `board.rs`.

use std::collections::BTreeMap;

use ccx_model::rows::{AgentNow, Components, QueueNow, StateTimes};
use futures::future::BoxFuture;

/// How many time ranges the board sums over: the last 15 minutes, the last 60, today.
pub const RANGES: usize = 3;

/// The first minute (`window_start`, Unix ms, inclusive) of each range; a range runs to the
/// newest row.
pub type Starts = [i64; RANGES];

/// Components of one key summed over each range.
pub type Sums<T> = [T; RANGES];

/// How many agents a snapshot lists: those longest in their state. The counts of [`Floor`]
/// cover every agent, so a refresh costs about the same for 40 agents or 400,000.
pub const AGENTS_LISTED: usize = 500;

/// What a source answers for one tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `queue_metrics_1m` per queue (over its channels and directions).
    pub queues: BTreeMap<String, Sums<Components>>,
    /// `agent_metrics_1m` per listed agent (over its channels), for the agents listed when
    /// the sums were read (a source may reuse sums for a moment, see `clickhouse.rs`).
    pub agents: BTreeMap<String, Sums<Components>>,
    /// `agent_state_1m` of every agent of the tenant.
    pub state: Sums<StateTimes>,
    /// `queue_now` rows.
    pub queue_now: Vec<QueueNow>,
    /// The `agent_now` rows of the [`AGENTS_LISTED`] agents longest in their state (earliest
    /// `state_since`, then by agent), in that order.
    pub agent_now: Vec<AgentNow>,
    /// Every agent of the tenant, counted.
    pub floor: Floor,
}

/// The tenant's `agent_now` rows counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Floor {
    /// Agents per state.
    pub states: BTreeMap<String, u32>,
    /// Agents busy with a contact of the queue or in its after-contact work, per queue.
    pub on_queue: BTreeMap<String, u32>,
    /// The newest `as_of`.
    pub as_of: Option<i64>,
}

impl Floor {
    /// Counts `agents` (what the ClickHouse source asks ClickHouse to count).
    pub fn count<'a>(agents: impl IntoIterator<Item = &'a AgentNow>) -> Floor {
        let mut floor = Floor::default();
        for a in agents {
            *floor.states.entry(a.state.clone()).or_default() += 1;
            if on_contact(&a.state, &a.contact_id) {
                *floor.on_queue.entry(a.queue_id.clone()).or_default() += 1;
            }
            floor.as_of = floor.as_of.max(Some(a.as_of));
        }
        floor
    }
}

/// Whether an agent in `state` with `contact_id` is on that contact's queue: busy with it or
/// in its after-contact work.
pub fn on_contact(state: &str, contact_id: &str) -> bool {
    use ccx_model::AgentState::{AfterContactWork, Busy};
    (state == Busy.as_str_name() || state == AfterContactWork.as_str_name())
        && !contact_id.is_empty()
}

/// The agents listed of `agents`: the [`AGENTS_LISTED`] longest in their state.
pub fn listed<'a>(agents: impl IntoIterator<Item = &'a AgentNow>) -> Vec<AgentNow> {
    let mut all: Vec<&AgentNow> = agents.into_iter().collect();
    all.sort_by(|a, b| (a.state_since, &a.agent_id).cmp(&(b.state_since, &b.agent_id)));
    all.into_iter().take(AGENTS_LISTED).cloned().collect()
}

/// A source could not answer (its message is shown on the page's banner).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Rows of one tenant, summed over ranges. Implementations filter by tenant always.
pub trait RowSource: Send + Sync + 'static {
    /// The tenant's rows: minute tables summed over each range of `starts`, live rows as they
    /// are.
    fn snapshot<'a>(
        &'a self,
        tenant: &'a str,
        starts: &'a Starts,
    ) -> BoxFuture<'a, Result<Snapshot, SourceError>>;

    /// Whether the source answers (`/readyz`).
    fn ready(&self) -> BoxFuture<'_, Result<(), SourceError>>;
}

/// Adds `value` to every range whose start is at or before `window_start`.
pub(crate) fn add_in_ranges<T: std::ops::AddAssign + Copy>(
    sums: &mut Sums<T>,
    starts: &Starts,
    window_start: i64,
    value: T,
) {
    for (sum, start) in sums.iter_mut().zip(starts) {
        if window_start >= *start {
            *sum += value;
        }
    }
}
