//! The rows ccx computes (SPEC §3 components, §5 tables), independent of how they are computed
//! or stored. `window_start` is the UTC minute in milliseconds since the Unix epoch; enum
//! dimensions are their SPEC names (`VOICE`, `INBOUND`, …).

use std::collections::BTreeMap;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// Defines [`Components`] from one list of fields: the struct, its column names and the
/// conversions that follow the list's order, so a component is added in one place.
macro_rules! components {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)*) => {
        /// The additive components of SPEC §3 and §7.2 (all but agent-state time), one struct
        /// for the queue, agent and reason tables: each table stores the columns of its list
        /// ([`QUEUE_COLUMNS`], [`AGENT_COLUMNS`], [`REASON_COLUMNS`]); the others stay zero.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub struct Components {
            $($(#[$doc])* pub $field: $ty,)*
        }

        /// Every component's name in SPEC order (also the ClickHouse column names).
        pub const COMPONENT_COLUMNS: &[&str] = &[$(stringify!($field)),*];

        impl Components {
            /// The values in [`COMPONENT_COLUMNS`] order.
            pub fn values(&self) -> [i64; COMPONENTS] {
                [$(self.$field as i64),*]
            }

            /// Builds components from values in [`COMPONENT_COLUMNS`] order.
            pub fn from_values(v: &[i64; COMPONENTS]) -> Components {
                let mut next = v.iter();
                Components {
                    $($field: next.next().copied().unwrap_or(0) as $ty,)*
                }
            }
        }

        impl Components {
            /// Adds field by field, skipping the fields `o` leaves at zero: an event changes a
            /// few components, so a row's other cache lines are neither read nor written.
            pub fn add_from(&mut self, o: &Components) {
                $(if o.$field != 0 {
                    self.$field = self.$field.wrapping_add(o.$field);
                })*
            }
        }

        impl Components {
            /// `self − o`, field by field, wrapping: added to a sum that holds `o`, it leaves
            /// the sum holding `self` (what a rollup does when a row changes).
            pub fn minus(&self, o: &Components) -> Components {
                Components {
                    $($field: self.$field.wrapping_sub(o.$field),)*
                }
            }
        }

        impl AddAssign for Components {
            fn add_assign(&mut self, o: Components) {
                self.add_from(&o);
            }
        }
    };
}

components! {
    offered: u64,
    answered: u64,
    answered_in_sl: u64,
    wait_answered_ms: u64,
    abandoned: u64,
    abandoned_short: u64,
    wait_abandoned_ms: u64,
    handled: u64,
    talk_ms: u64,
    hold_ms: u64,
    holds: u64,
    transfers: u64,
    acw_ms: u64,
    acw_count: u64,
    resolved: u64,
    self_served: u64,
    conversions: u64,
    fcr_eligible: u64,
    fcr_success: u64,
    nps_responses: u64,
    nps_promoters: u64,
    nps_detractors: u64,
    csat_responses: u64,
    csat_satisfied: u64,
    ces_responses: u64,
    ces_score_sum: u64,
    sentiment_count: u64,
    /// May be negative.
    sentiment_milli_sum: i64,
    sentiment_negative: u64,
    sentiment_positive: u64,
    callbacks_requested: u64,
    wait_callback_ms: u64,
    callbacks_attempted: u64,
    callback_delay_ms: u64,
    callbacks_matched: u64,
    callbacks_connected: u64,
    transfer_answered: u64,
    transfer_wait_ms: u64,
    repeats: u64,
    cases_resolved: u64,
    case_resolution_ms: u64,
    case_contacts: u64,
    mos_count: u64,
    mos_milli_sum: u64,
    mos_poor: u64,
    accounts_attempted: u64,
    first_call_closes: u64,
    qa_evaluations: u64,
    qa_score_sum: u64,
}

/// How many components there are.
pub const COMPONENTS: usize = COMPONENT_COLUMNS.len();

/// The columns of `queue_metrics_1m`: every component but the agent-only QA ones.
pub const QUEUE_COLUMNS: &[&str] = COMPONENT_COLUMNS.split_at(COMPONENTS - 2).0;

/// Defines a table's component columns once: the list of names, whether a delta touches the
/// table, and adding a delta's part for the table (skipping the fields it leaves at zero).
macro_rules! table {
    ($(#[$doc:meta])* $columns:ident, $touches:ident, $add:ident, [$($field:ident),* $(,)?]) => {
        $(#[$doc])*
        pub const $columns: &[&str] = &[$(stringify!($field)),*];

        impl Components {
            /// Whether `self` changes any column of the table of
            #[doc = concat!("[`", stringify!($columns), "`].")]
            pub fn $touches(&self) -> bool {
                $(self.$field != 0)||*
            }

            /// Adds the columns of
            #[doc = concat!("[`", stringify!($columns), "`]")]
            /// of `o` (the others stay as they are).
            pub fn $add(&mut self, o: &Components) {
                $(if o.$field != 0 {
                    self.$field = self.$field.wrapping_add(o.$field);
                })*
            }
        }
    };
}

table!(
    /// The columns of `agent_metrics_1m` (SPEC §5 and the components marked A in §7.2).
    AGENT_COLUMNS,
    touches_agent,
    add_agent_part,
    [
        handled,
        talk_ms,
        hold_ms,
        holds,
        transfers,
        acw_ms,
        acw_count,
        resolved,
        self_served,
        conversions,
        fcr_eligible,
        fcr_success,
        nps_responses,
        nps_promoters,
        nps_detractors,
        csat_responses,
        csat_satisfied,
        ces_responses,
        ces_score_sum,
        sentiment_count,
        sentiment_milli_sum,
        sentiment_negative,
        sentiment_positive,
        mos_count,
        mos_milli_sum,
        mos_poor,
        qa_evaluations,
        qa_score_sum,
    ]
);

table!(
    /// The columns of `reason_metrics_1m` (SPEC §7.2, contact reasons).
    REASON_COLUMNS,
    touches_reason,
    add_reason_part,
    [
        offered,
        handled,
        resolved,
        repeats,
        fcr_eligible,
        fcr_success,
        cases_resolved,
        case_resolution_ms,
        nps_responses,
        nps_promoters,
        nps_detractors,
        csat_responses,
        csat_satisfied,
        ces_responses,
        ces_score_sum,
    ]
);

/// The position of a component in [`COMPONENT_COLUMNS`] (and in [`Components::values`]).
pub fn component_index(name: &str) -> Option<usize> {
    COMPONENT_COLUMNS.iter().position(|c| *c == name)
}

impl Components {
    pub fn is_zero(&self) -> bool {
        *self == Components::default()
    }

    /// The values of `columns` (names of [`COMPONENT_COLUMNS`]), in their order.
    pub fn values_of(&self, columns: &[&str]) -> Vec<i64> {
        let all = self.values();
        columns
            .iter()
            .map(|c| component_index(c).map_or(0, |i| all[i]))
            .collect()
    }

    /// Components with `columns` set to `values` (the rest zero).
    pub fn from_columns(columns: &[&str], values: &[i64]) -> Components {
        let mut all = [0i64; COMPONENTS];
        for (c, v) in columns.iter().zip(values) {
            if let Some(i) = component_index(c) {
                all[i] = *v;
            }
        }
        Components::from_values(&all)
    }

    /// Only the components of `columns` (what a table of those columns holds).
    pub fn only(&self, columns: &[&str]) -> Components {
        Components::from_columns(columns, &self.values_of(columns))
    }
}

/// Key of `queue_metrics_1m`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueueKey {
    pub tenant_id: String,
    pub window_start: i64,
    pub queue_id: String,
    pub channel: String,
    pub direction: String,
}

/// Key of `agent_metrics_1m`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentKey {
    pub tenant_id: String,
    pub window_start: i64,
    pub agent_id: String,
    pub channel: String,
}

/// Key of `reason_metrics_1m`: the contact's reason (`''` when none) instead of its queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReasonKey {
    pub tenant_id: String,
    pub window_start: i64,
    pub reason: String,
    pub channel: String,
    pub direction: String,
}

/// Key of `agent_state_1m` and `ingest_quality_1m` style tables: tenant, minute, and an id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentMinute {
    pub tenant_id: String,
    pub window_start: i64,
    pub agent_id: String,
}

/// `agent_state_1m` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateTimes {
    pub available_ms: u64,
    pub busy_ms: u64,
    pub acw_state_ms: u64,
    pub break_ms: u64,
}

impl AddAssign for StateTimes {
    fn add_assign(&mut self, o: StateTimes) {
        self.available_ms += o.available_ms;
        self.busy_ms += o.busy_ms;
        self.acw_state_ms += o.acw_state_ms;
        self.break_ms += o.break_ms;
    }
}

/// `ingest_quality_1m` values, keyed by (tenant, minute of the event's occurredAt).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quality {
    pub duplicates: u64,
    pub out_of_sequence: u64,
    pub late_dropped: u64,
}

impl AddAssign for Quality {
    fn add_assign(&mut self, o: Quality) {
        self.duplicates += o.duplicates;
        self.out_of_sequence += o.out_of_sequence;
        self.late_dropped += o.late_dropped;
    }
}

/// One row of `churn_alerts`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChurnAlert {
    pub tenant_id: String,
    /// `tenantId:customerId:eventId` of the triggering event.
    pub alert_id: String,
    pub customer_id: String,
    pub score: u32,
    /// Active signal names, sorted.
    pub reasons: Vec<String>,
    pub triggered_at: i64,
    pub contact_id: String,
    pub channel: String,
    pub queue_id: String,
    pub agent_id: String,
}

/// One row of `queue_now` (SPEC §7.4): contacts waiting in a queue now, from every event
/// received, as of `as_of` (wall clock).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueueNow {
    pub tenant_id: String,
    pub queue_id: String,
    pub channel: String,
    pub waiting: u64,
    /// The longest of the current waits, counted to `as_of`.
    pub longest_wait_ms: u64,
    /// Erlang C agents needed for the last 30 minutes' traffic (SPEC §7.6); `None` while
    /// nothing was handled in them (no handle time).
    pub agents_needed: Option<u32>,
    pub as_of: i64,
}

/// One row of `agent_now` (SPEC §7.4): what an agent is doing now, from every event
/// received, as of `as_of` (wall clock).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentNow {
    pub tenant_id: String,
    pub agent_id: String,
    /// The state of the agent's newest `AGENT_STATE_CHANGED` (`AVAILABLE` …), or
    /// [`UNKNOWN_STATE`] when only contact events named the agent.
    pub state: String,
    /// When the agent entered `state` (event time; for an unknown state, its first event).
    pub state_since: i64,
    /// The contact the agent is on now ('' for none): the newest one answered and not yet
    /// ended or transferred away.
    pub contact_id: String,
    pub queue_id: String,
    pub channel: String,
    pub on_hold: bool,
    pub as_of: i64,
}

/// A THRESHOLD alert's transition decided by the stream (SPEC §7.5): fired, or its condition
/// cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdAlert {
    pub tenant_id: String,
    /// `tenant:rule:queue:channel:fired minute` (the fired minute as Unix ms).
    pub alert_id: String,
    pub rule_id: String,
    pub metric: String,
    /// The queue the value is of ('' for a tenant-wide metric).
    pub queue_id: String,
    pub channel: String,
    /// The value when it fired (when it cleared, for a clear).
    pub value: f64,
    pub threshold: f64,
    /// When it fired or cleared (wall clock).
    pub at: i64,
    pub cleared: bool,
}

/// One row of `staffing_15m` (SPEC §7.6), keyed like a queue row by its interval's start: the
/// interval's traffic and the agents it needed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffingRow {
    pub offered: u64,
    pub handled: u64,
    /// Talk + hold + after-contact work.
    pub handle_ms: u64,
    pub agents_needed: Option<u32>,
    pub predicted_asa_ms: Option<u64>,
}

/// The length of a `staffing_15m` interval.
pub const STAFFING_INTERVAL_MS: i64 = 15 * 60_000;

/// `agent_now.state` of an agent no `AGENT_STATE_CHANGED` has reported yet.
pub const UNKNOWN_STATE: &str = "UNKNOWN";

/// How far a tenant's rows are computed: its watermark (events before it are applied).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TenantProgress {
    pub tenant_id: String,
    pub watermark: i64,
}

/// Everything computed from a set of events, once final. Tables keyed as in SPEC §5.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalRows {
    pub queue: BTreeMap<QueueKey, Components>,
    pub agent: BTreeMap<AgentKey, Components>,
    pub reason: BTreeMap<ReasonKey, Components>,
    pub agent_state: BTreeMap<AgentMinute, StateTimes>,
    pub quality: BTreeMap<(String, i64), Quality>,
    pub alerts: Vec<ChurnAlert>,
}

impl FinalRows {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
            && self.agent.is_empty()
            && self.reason.is_empty()
            && self.agent_state.is_empty()
            && self.quality.is_empty()
            && self.alerts.is_empty()
    }

    /// The rows of one tenant.
    pub fn of_tenant(&self, tenant: &str) -> FinalRows {
        let mut out = self.clone();
        out.queue.retain(|k, _| k.tenant_id == tenant);
        out.agent.retain(|k, _| k.tenant_id == tenant);
        out.reason.retain(|k, _| k.tenant_id == tenant);
        out.agent_state.retain(|k, _| k.tenant_id == tenant);
        out.quality.retain(|(t, _), _| t == tenant);
        out.alerts.retain(|a| a.tenant_id == tenant);
        out
    }

    /// Drops all-zero rows (a key that received nothing is not a row).
    pub fn without_zero_rows(mut self) -> FinalRows {
        self.queue.retain(|_, c| !c.is_zero());
        self.agent.retain(|_, c| !c.is_zero());
        self.reason.retain(|_, c| !c.is_zero());
        self.agent_state.retain(|_, s| *s != StateTimes::default());
        self.quality.retain(|_, q| *q != Quality::default());
        self.alerts.sort();
        self
    }
}

/// Rows of the hourly or the daily rollups (`*_1h`, `*_1d`) of the queue, agent and reason
/// tables: keyed as those tables, `window_start` = the UTC hour, or the tenant-local day's
/// midnight as a UTC instant; each row the sum of its minute rows ([`crate::rollup`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupRows {
    pub queue: BTreeMap<QueueKey, Components>,
    pub agent: BTreeMap<AgentKey, Components>,
    pub reason: BTreeMap<ReasonKey, Components>,
    /// Daily rollups: the local date (days since 1970-01-01) of each (tenant, `window_start`);
    /// empty for the hourly ones.
    pub days: BTreeMap<(String, i64), i32>,
}

impl RollupRows {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.agent.is_empty() && self.reason.is_empty()
    }

    /// Folds newer rows in: a key written again replaces the older value, as `FINAL` does.
    pub fn merge(&mut self, newer: RollupRows) {
        self.queue.extend(newer.queue);
        self.agent.extend(newer.agent);
        self.reason.extend(newer.reason);
        self.days.extend(newer.days);
    }

    /// Drops all-zero rows (a key that sums to nothing is not a row), and the dates of days
    /// left without rows.
    pub fn without_zero_rows(mut self) -> RollupRows {
        self.queue.retain(|_, c| !c.is_zero());
        self.agent.retain(|_, c| !c.is_zero());
        self.reason.retain(|_, c| !c.is_zero());
        let used: std::collections::BTreeSet<(&str, i64)> = self
            .queue
            .keys()
            .map(|k| (k.tenant_id.as_str(), k.window_start))
            .chain(
                self.agent
                    .keys()
                    .map(|k| (k.tenant_id.as_str(), k.window_start)),
            )
            .chain(
                self.reason
                    .keys()
                    .map(|k| (k.tenant_id.as_str(), k.window_start)),
            )
            .collect();
        let days = std::mem::take(&mut self.days)
            .into_iter()
            .filter(|((t, w), _)| used.contains(&(t.as_str(), *w)))
            .collect();
        self.days = days;
        self
    }

    /// The rows of one tenant.
    pub fn of_tenant(&self, tenant: &str) -> RollupRows {
        let mut out = self.clone();
        out.queue.retain(|k, _| k.tenant_id == tenant);
        out.agent.retain(|k, _| k.tenant_id == tenant);
        out.reason.retain(|k, _| k.tenant_id == tenant);
        out.days.retain(|(t, _), _| t == tenant);
        out
    }
}

/// The UTC minute (ms) that contains `ms`.
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(60_000) * 60_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_components_adds_every_field() {
        let mut values = [0i64; COMPONENTS];
        for (i, v) in values.iter_mut().enumerate() {
            *v = i as i64 + 1;
        }
        values[component_index("sentiment_milli_sum").unwrap()] = -40; // may be negative
        let mut sum = Components::from_values(&values);
        sum += Components::from_values(&values);
        sum += Components::default();
        assert_eq!(sum.values(), values.map(|v| 2 * v));
    }

    #[test]
    fn a_tables_part_is_its_columns() {
        let all = Components::from_values(&[1; COMPONENTS]);
        let (mut agent, mut reason) = (Components::default(), Components::default());
        agent.add_agent_part(&all);
        reason.add_reason_part(&all);
        assert_eq!(agent, all.only(AGENT_COLUMNS));
        assert_eq!(reason, all.only(REASON_COLUMNS));
        let handled = Components {
            handled: 1,
            ..Components::default()
        };
        let offered = Components {
            offered: 1,
            ..Components::default()
        };
        assert!(handled.touches_agent() && handled.touches_reason());
        assert!(!offered.touches_agent() && offered.touches_reason());
    }

    #[test]
    fn every_table_column_is_a_component() {
        for columns in [QUEUE_COLUMNS, AGENT_COLUMNS, REASON_COLUMNS] {
            assert!(columns.iter().all(|c| component_index(c).is_some()));
        }
        assert_eq!(QUEUE_COLUMNS.last(), Some(&"first_call_closes"));
        let c = Components {
            qa_score_sum: 90,
            offered: 2,
            ..Components::default()
        };
        assert_eq!(c.only(QUEUE_COLUMNS).qa_score_sum, 0);
        assert_eq!(c.only(AGENT_COLUMNS).offered, 0);
        assert_eq!(
            Components::from_columns(AGENT_COLUMNS, &c.values_of(AGENT_COLUMNS)).qa_score_sum,
            90
        );
    }
}
