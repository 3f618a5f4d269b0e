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

/// What a source answers for one tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `queue_metrics_1m` per queue (over its channels and directions).
    pub queues: BTreeMap<String, Sums<Components>>,
    /// `agent_metrics_1m` per agent (over its channels).
    pub agents: BTreeMap<String, Sums<Components>>,
    /// `agent_state_1m` of every agent of the tenant.
    pub state: Sums<StateTimes>,
    /// `queue_now` rows.
    pub queue_now: Vec<QueueNow>,
    /// `agent_now` rows.
    pub agent_now: Vec<AgentNow>,
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
