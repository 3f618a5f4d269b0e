//! The rows ccx computes (SPEC §3 components, §5 tables), independent of how they are computed
//! or stored. `window_start` is the UTC minute in milliseconds since the Unix epoch; enum
//! dimensions are their SPEC names (`VOICE`, `INBOUND`, …).

use std::collections::BTreeMap;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// The additive components of SPEC §3 (all but agent-state time). Queue rows carry all of
/// them; agent rows the ones from `handled` down (the others stay zero there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Components {
    pub offered: u64,
    pub answered: u64,
    pub answered_in_sl: u64,
    pub wait_answered_ms: u64,
    pub abandoned: u64,
    pub abandoned_short: u64,
    pub wait_abandoned_ms: u64,
    pub handled: u64,
    pub talk_ms: u64,
    pub hold_ms: u64,
    pub holds: u64,
    pub transfers: u64,
    pub acw_ms: u64,
    pub acw_count: u64,
    pub resolved: u64,
    pub self_served: u64,
    pub conversions: u64,
    pub fcr_eligible: u64,
    pub fcr_success: u64,
    pub nps_responses: u64,
    pub nps_promoters: u64,
    pub nps_detractors: u64,
    pub csat_responses: u64,
    pub csat_satisfied: u64,
    pub ces_responses: u64,
    pub ces_score_sum: u64,
    pub sentiment_count: u64,
    pub sentiment_milli_sum: i64,
    pub sentiment_negative: u64,
    pub sentiment_positive: u64,
}

/// Column names of [`Components`] in SPEC order (also the ClickHouse column names).
pub const COMPONENT_COLUMNS: [&str; 30] = [
    "offered",
    "answered",
    "answered_in_sl",
    "wait_answered_ms",
    "abandoned",
    "abandoned_short",
    "wait_abandoned_ms",
    "handled",
    "talk_ms",
    "hold_ms",
    "holds",
    "transfers",
    "acw_ms",
    "acw_count",
    "resolved",
    "self_served",
    "conversions",
    "fcr_eligible",
    "fcr_success",
    "nps_responses",
    "nps_promoters",
    "nps_detractors",
    "csat_responses",
    "csat_satisfied",
    "ces_responses",
    "ces_score_sum",
    "sentiment_count",
    "sentiment_milli_sum",
    "sentiment_negative",
    "sentiment_positive",
];

/// The agent table's columns: the components from `handled` down (SPEC §5).
pub fn agent_component_columns() -> &'static [&'static str] {
    &COMPONENT_COLUMNS[7..]
}

impl Components {
    /// The values in [`COMPONENT_COLUMNS`] order (`sentiment_milli_sum` as i64, the rest u64).
    pub fn values(&self) -> [i64; 30] {
        let c = self;
        [
            c.offered as i64,
            c.answered as i64,
            c.answered_in_sl as i64,
            c.wait_answered_ms as i64,
            c.abandoned as i64,
            c.abandoned_short as i64,
            c.wait_abandoned_ms as i64,
            c.handled as i64,
            c.talk_ms as i64,
            c.hold_ms as i64,
            c.holds as i64,
            c.transfers as i64,
            c.acw_ms as i64,
            c.acw_count as i64,
            c.resolved as i64,
            c.self_served as i64,
            c.conversions as i64,
            c.fcr_eligible as i64,
            c.fcr_success as i64,
            c.nps_responses as i64,
            c.nps_promoters as i64,
            c.nps_detractors as i64,
            c.csat_responses as i64,
            c.csat_satisfied as i64,
            c.ces_responses as i64,
            c.ces_score_sum as i64,
            c.sentiment_count as i64,
            c.sentiment_milli_sum,
            c.sentiment_negative as i64,
            c.sentiment_positive as i64,
        ]
    }

    /// Builds components from values in [`COMPONENT_COLUMNS`] order.
    pub fn from_values(v: &[i64; 30]) -> Components {
        let u = |i: usize| v[i] as u64;
        Components {
            offered: u(0),
            answered: u(1),
            answered_in_sl: u(2),
            wait_answered_ms: u(3),
            abandoned: u(4),
            abandoned_short: u(5),
            wait_abandoned_ms: u(6),
            handled: u(7),
            talk_ms: u(8),
            hold_ms: u(9),
            holds: u(10),
            transfers: u(11),
            acw_ms: u(12),
            acw_count: u(13),
            resolved: u(14),
            self_served: u(15),
            conversions: u(16),
            fcr_eligible: u(17),
            fcr_success: u(18),
            nps_responses: u(19),
            nps_promoters: u(20),
            nps_detractors: u(21),
            csat_responses: u(22),
            csat_satisfied: u(23),
            ces_responses: u(24),
            ces_score_sum: u(25),
            sentiment_count: u(26),
            sentiment_milli_sum: v[27],
            sentiment_negative: u(28),
            sentiment_positive: u(29),
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == Components::default()
    }
}

impl AddAssign for Components {
    /// Adds field by field, skipping the fields `o` leaves at zero: an event changes a few
    /// components, so a row's other cache lines are neither read nor written.
    fn add_assign(&mut self, o: Components) {
        macro_rules! add {
            ($($field:ident),*) => {$(
                if o.$field != 0 {
                    self.$field = self.$field.wrapping_add(o.$field);
                }
            )*};
        }
        add!(
            offered,
            answered,
            answered_in_sl,
            wait_answered_ms,
            abandoned,
            abandoned_short,
            wait_abandoned_ms,
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
            sentiment_positive
        );
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

/// One row of `queue_now`: contacts waiting in a queue as of the watermark.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueueNow {
    pub tenant_id: String,
    pub queue_id: String,
    pub channel: String,
    pub waiting: u64,
    pub longest_wait_ms: u64,
    pub as_of: i64,
}

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
    pub agent_state: BTreeMap<AgentMinute, StateTimes>,
    pub quality: BTreeMap<(String, i64), Quality>,
    pub alerts: Vec<ChurnAlert>,
}

impl FinalRows {
    /// The rows of one tenant.
    pub fn of_tenant(&self, tenant: &str) -> FinalRows {
        let mut out = self.clone();
        out.queue.retain(|k, _| k.tenant_id == tenant);
        out.agent.retain(|k, _| k.tenant_id == tenant);
        out.agent_state.retain(|k, _| k.tenant_id == tenant);
        out.quality.retain(|(t, _), _| t == tenant);
        out.alerts.retain(|a| a.tenant_id == tenant);
        out
    }

    /// Drops all-zero rows (a key that received nothing is not a row).
    pub fn without_zero_rows(mut self) -> FinalRows {
        self.queue.retain(|_, c| !c.is_zero());
        self.agent.retain(|_, c| !c.is_zero());
        self.agent_state.retain(|_, s| *s != StateTimes::default());
        self.quality.retain(|_, q| *q != Quality::default());
        self.alerts.sort();
        self
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
        let mut values = [0i64; 30];
        for (i, v) in values.iter_mut().enumerate() {
            *v = i as i64 + 1;
        }
        values[27] = -40; // sentiment_milli_sum may be negative
        let mut sum = Components::from_values(&values);
        sum += Components::from_values(&values);
        sum += Components::default();
        assert_eq!(sum.values(), values.map(|v| 2 * v));
    }
}
