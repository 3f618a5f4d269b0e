//! The KPIs of SPEC §3, computed from summed components. A KPI whose denominator is zero (or
//! negative, which a partial range can give for `offered − abandoned_short`) is `None`, not 0.

use crate::rows::{Components, StateTimes};

fn ratio(num: f64, den: f64, scale: f64) -> Option<f64> {
    (den > 0.0).then(|| scale * num / den)
}

/// KPIs of a set of summed components (any range, any group).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Kpis {
    pub asa_ms: Option<f64>,
    pub service_level_pct: Option<f64>,
    pub abandonment_pct: Option<f64>,
    pub aht_ms: Option<f64>,
    pub avg_hold_ms: Option<f64>,
    pub transfer_rate_pct: Option<f64>,
    pub fcr_pct: Option<f64>,
    pub nps: Option<f64>,
    pub csat_pct: Option<f64>,
    pub ces: Option<f64>,
    pub answer_rate_pct: Option<f64>,
    pub conversion_rate_pct: Option<f64>,
    pub sentiment: Option<f64>,
}

impl Kpis {
    pub fn of(c: &Components) -> Kpis {
        let f = |v: u64| v as f64;
        Kpis {
            asa_ms: ratio(f(c.wait_answered_ms), f(c.answered), 1.0),
            service_level_pct: ratio(
                f(c.answered_in_sl),
                f(c.answered + c.abandoned) - f(c.abandoned_short),
                100.0,
            ),
            abandonment_pct: ratio(
                f(c.abandoned) - f(c.abandoned_short),
                f(c.offered) - f(c.abandoned_short),
                100.0,
            ),
            aht_ms: ratio(f(c.talk_ms + c.hold_ms + c.acw_ms), f(c.handled), 1.0),
            avg_hold_ms: ratio(f(c.hold_ms), f(c.holds), 1.0),
            transfer_rate_pct: ratio(f(c.transfers), f(c.handled), 100.0),
            fcr_pct: ratio(f(c.fcr_success), f(c.fcr_eligible), 100.0),
            nps: ratio(
                f(c.nps_promoters) - f(c.nps_detractors),
                f(c.nps_responses),
                100.0,
            ),
            csat_pct: ratio(f(c.csat_satisfied), f(c.csat_responses), 100.0),
            ces: ratio(f(c.ces_score_sum), f(c.ces_responses), 1.0),
            answer_rate_pct: ratio(f(c.answered), f(c.offered), 100.0),
            conversion_rate_pct: ratio(f(c.conversions), f(c.answered), 100.0),
            sentiment: ratio(
                c.sentiment_milli_sum as f64 / 1000.0,
                f(c.sentiment_count),
                1.0,
            ),
        }
    }
}

/// Occupancy % of summed agent-state time.
pub fn occupancy_pct(s: &StateTimes) -> Option<f64> {
    let working = (s.busy_ms + s.acw_state_ms) as f64;
    ratio(working, working + s.available_ms as f64, 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_formulas_and_null_on_zero_denominators() {
        let c = Components {
            offered: 10,
            answered: 7,
            answered_in_sl: 6,
            wait_answered_ms: 70_000,
            abandoned: 3,
            abandoned_short: 1,
            handled: 7,
            talk_ms: 600_000,
            hold_ms: 60_000,
            acw_ms: 40_000,
            transfers: 1,
            ..Components::default()
        };
        let k = Kpis::of(&c);
        assert_eq!(k.asa_ms, Some(10_000.0));
        assert_eq!(k.service_level_pct, Some(100.0 * 6.0 / 9.0));
        assert_eq!(k.abandonment_pct, Some(100.0 * 2.0 / 9.0));
        assert_eq!(k.aht_ms, Some(100_000.0));
        assert_eq!(k.nps, None);
        assert_eq!(Kpis::of(&Components::default()), Kpis::default());
        let s = StateTimes {
            available_ms: 20,
            busy_ms: 60,
            acw_state_ms: 20,
            break_ms: 100,
        };
        assert_eq!(occupancy_pct(&s), Some(80.0));
    }
}
