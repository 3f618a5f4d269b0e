//! SPEC §7.5: a tenant's threshold rules, evaluated on the live floor at most once a second.
//! A rule fires once its condition has held for its `for`, and clears once the condition has
//! not held for its `for`; one open alert per rule and queue at a time.

use ccx_model::kpi::{occupancy_pct, Kpis};
use ccx_model::rows::ThresholdAlert;
use ccx_model::settings::{Metric, ThresholdRule};

use super::*;

/// How often rules are evaluated (wall clock).
const EVERY_MS: i64 = 1_000;

/// One rule on one queue ('' for a tenant-wide metric or a rule's one queue).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct RuleState {
    /// Since when the condition holds (while no alert is open).
    holding_since: Option<i64>,
    /// The open alert's id.
    open: Option<String>,
    /// Since when the open alert's condition no longer holds.
    clear_since: Option<i64>,
}

/// The state of every (rule id, queue) evaluated.
pub(super) type RuleStates = BTreeMap<(String, String), RuleState>;

impl TenantState {
    /// The alerts fired and cleared by the rules in `s` as of `as_of`.
    pub(super) fn evaluate_rules(
        &mut self,
        tenant: &str,
        s: &TenantSettings,
        as_of: i64,
    ) -> Vec<ThresholdAlert> {
        if s.threshold_rules.is_empty() && self.rule_states.is_empty() {
            return Vec::new();
        }
        if as_of < self.rules_checked_at.saturating_add(EVERY_MS) {
            return Vec::new();
        }
        self.rules_checked_at = as_of;
        let mut out = Vec::new();
        let mut evaluated = BTreeSet::new();
        for rule in &s.threshold_rules {
            for (queue, value) in self.rule_values(rule, as_of) {
                let key = (rule.id.clone(), queue.clone());
                let holds = value.is_some_and(|v| rule.op.holds(v, rule.threshold));
                let state = self.rule_states.entry(key.clone()).or_default();
                let fact = |alert_id: String, cleared| ThresholdAlert {
                    tenant_id: tenant.to_string(),
                    alert_id,
                    rule_id: rule.id.clone(),
                    metric: rule.metric.name().to_string(),
                    queue_id: queue.clone(),
                    channel: rule.channel.clone(),
                    value: value.unwrap_or(0.0),
                    threshold: rule.threshold,
                    at: as_of,
                    cleared,
                };
                if let Some(alert) = step(state, holds, rule.for_ms, as_of) {
                    let id = alert.unwrap_or_else(|| {
                        let id = format!(
                            "{tenant}:{}:{queue}:{}:{}",
                            rule.id,
                            rule.channel,
                            minute_of(as_of)
                        );
                        state.open = Some(id.clone());
                        id
                    });
                    let cleared = state.open.as_deref() != Some(id.as_str());
                    out.push(fact(id, cleared));
                }
                evaluated.insert(key);
            }
        }
        // A rule removed, or a queue no longer seen: its open alert's condition is gone.
        let gone: Vec<_> = self
            .rule_states
            .keys()
            .filter(|k| !evaluated.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(state) = self.rule_states.remove(&key) {
                if let Some(alert_id) = state.open {
                    out.push(ThresholdAlert {
                        tenant_id: tenant.to_string(),
                        alert_id,
                        rule_id: key.0,
                        metric: String::new(),
                        queue_id: key.1,
                        channel: String::new(),
                        value: 0.0,
                        threshold: 0.0,
                        at: as_of,
                        cleared: true,
                    });
                }
            }
        }
        out
    }

    /// The rule's metric now, per queue it applies to (None: no data, e.g. nothing answered
    /// in the window).
    fn rule_values(&self, rule: &ThresholdRule, as_of: i64) -> Vec<(String, Option<f64>)> {
        match rule.metric {
            Metric::AgentsShort => {
                let needed: u64 = self
                    .staffing
                    .needed
                    .values()
                    .map(|n| u64::from(n.unwrap_or(0)))
                    .sum();
                let short = needed as f64 - self.live.staffed() as f64;
                vec![(String::new(), Some(short))]
            }
            Metric::Occupancy => {
                let mut times = StateTimes::default();
                if self.watermark != NO_WATERMARK {
                    let from = self.watermark - rule.window_ms;
                    for ((minute, _, _), _, t) in self.state_rows.all() {
                        if minute >= minute_of(from) && minute <= self.watermark {
                            times += t;
                        }
                    }
                }
                vec![(String::new(), occupancy_pct(&times))]
            }
            Metric::Waiting | Metric::LongestWait => {
                let mut per_queue: BTreeMap<Sym, (u64, i64)> = BTreeMap::new();
                for ((queue, channel), (n, since)) in self.live.waiting() {
                    if rule.channel.is_empty() || channel_name(channel) == rule.channel {
                        let q = per_queue.entry(queue).or_insert((0, since));
                        q.0 += n;
                        q.1 = q.1.min(since);
                    }
                }
                let value = |w: Option<&(u64, i64)>| match rule.metric {
                    Metric::Waiting => w.map_or(0.0, |w| w.0 as f64),
                    _ => w.map_or(0.0, |w| (as_of - w.1).max(0) as f64 / 1000.0),
                };
                self.per_queue(rule, per_queue.keys().copied(), |q| {
                    Some(value(per_queue.get(&q)))
                })
            }
            Metric::ServiceLevel | Metric::Asa | Metric::Abandonment | Metric::Aht => {
                let inbound_only = rule.metric != Metric::Aht;
                let mut per_queue: BTreeMap<Sym, Components> = BTreeMap::new();
                if self.watermark != NO_WATERMARK {
                    let from = minute_of(self.watermark - rule.window_ms);
                    let inbound = Direction::Inbound as u8;
                    for ((minute, channel, direction), queue, c) in self.queue_rows.all() {
                        let in_window = minute >= from && minute <= self.watermark;
                        let channel_ok =
                            rule.channel.is_empty() || channel_name(channel) == rule.channel;
                        if in_window && channel_ok && (!inbound_only || direction == inbound) {
                            *per_queue.entry(queue).or_default() += c;
                        }
                    }
                }
                let value = |c: Option<&Components>| {
                    let k = Kpis::of(c?);
                    match rule.metric {
                        Metric::ServiceLevel => k.service_level_pct,
                        Metric::Asa => k.asa_ms.map(|ms| ms / 1000.0),
                        Metric::Abandonment => k.abandonment_pct,
                        _ => k.aht_ms.map(|ms| ms / 1000.0),
                    }
                };
                self.per_queue(rule, per_queue.keys().copied(), |q| {
                    value(per_queue.get(&q))
                })
            }
        }
    }

    /// `value` of the rule's queue, or of every queue in `seen` for a rule on every queue.
    fn per_queue(
        &self,
        rule: &ThresholdRule,
        seen: impl Iterator<Item = Sym>,
        value: impl Fn(Sym) -> Option<f64>,
    ) -> Vec<(String, Option<f64>)> {
        if rule.queue_id.is_empty() {
            return seen
                .map(|q| (self.names.name(q).to_string(), value(q)))
                .collect();
        }
        let sym = self.names.lookup(rule.queue_id.as_bytes());
        vec![(rule.queue_id.clone(), sym.and_then(value))]
    }
}

/// One evaluation of a rule's condition: `Some(None)` fires a new alert, `Some(Some(id))`
/// clears the open alert `id`, `None` changes nothing.
fn step(state: &mut RuleState, holds: bool, for_ms: i64, now: i64) -> Option<Option<String>> {
    if holds {
        state.clear_since = None;
        if state.open.is_some() {
            return None;
        }
        let since = *state.holding_since.get_or_insert(now);
        (now - since >= for_ms).then(|| {
            state.holding_since = None;
            None
        })
    } else {
        state.holding_since = None;
        state.open.as_ref()?;
        let since = *state.clear_since.get_or_insert(now);
        (now - since >= for_ms).then(|| {
            state.clear_since = None;
            state.open.take()
        })
    }
}
