//! Erlang C (SPEC §7.6): how many agents a queue's traffic needs to reach its service level,
//! and what a given number of agents gives (chance to wait, ASA, service level, occupancy).
//! f64 arithmetic with the standard recurrence, so no factorial overflows.

use serde::Serialize;

/// The agent states that count as staffed against the agents needed (SPEC §7.5
/// `agents_short`): available, busy, or in after-contact work.
pub const WORKING_STATES: [crate::AgentState; 3] = [
    crate::AgentState::Available,
    crate::AgentState::Busy,
    crate::AgentState::AfterContactWork,
];

/// The most agents a calculation considers (SPEC §7.6).
pub const MAX_AGENTS: u32 = 10_000;

/// What `agents` agents give for a queue's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Staffing {
    pub agents: u32,
    /// Chance that a contact waits at all (Erlang C).
    pub p_wait: f64,
    /// Average speed of answer, seconds.
    pub asa_s: f64,
    /// Contacts answered within the threshold, %.
    pub sl_pct: f64,
    pub occupancy_pct: f64,
}

/// Offered traffic in Erlangs: contacts per second × handle time in seconds.
pub fn erlangs(per_second: f64, aht_s: f64) -> f64 {
    per_second * aht_s
}

/// The chance to wait with `n` agents and `a` Erlangs (1 when `n` ≤ `a`: the queue grows
/// without bound). Erlang B by its recurrence B(k) = a·B(k−1) / (k + a·B(k−1)), then
/// C = n·B / (n − a·(1 − B)).
pub fn erlang_c(n: u32, a: f64) -> f64 {
    if f64::from(n) <= a {
        return 1.0;
    }
    let mut b = 1.0;
    for k in 1..=n {
        b = a * b / (f64::from(k) + a * b);
    }
    let n = f64::from(n);
    n * b / (n - a * (1.0 - b))
}

/// What `n` agents (more than `a`) give: SL(n) = 1 − C·e^(−(n − a)·threshold / aht),
/// ASA = C·aht / (n − a).
pub fn with_agents(n: u32, a: f64, aht_s: f64, threshold_s: f64) -> Staffing {
    let p_wait = erlang_c(n, a);
    let spare = f64::from(n) - a;
    let sl = 1.0 - p_wait * (-spare * threshold_s / aht_s).exp();
    Staffing {
        agents: n,
        p_wait,
        asa_s: p_wait * aht_s / spare,
        sl_pct: 100.0 * sl,
        occupancy_pct: 100.0 * a / f64::from(n),
    }
}

/// The smallest number of agents above `a` whose service level reaches `target_pct` (0 for
/// no traffic); None when even [`MAX_AGENTS`] do not.
pub fn agents_needed(a: f64, aht_s: f64, threshold_s: f64, target_pct: f64) -> Option<u32> {
    if a <= 0.0 {
        return Some(0);
    }
    let first = (a.floor() as u32).saturating_add(1);
    (first..=MAX_AGENTS).find(|&n| with_agents(n, a, aht_s, threshold_s).sl_pct >= target_pct)
}

/// What one interval of a queue needed (SPEC §7.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IntervalStaffing {
    /// 0 without offers; None without a handled contact (no handle time); [`MAX_AGENTS`]
    /// when even that many fall short.
    pub agents_needed: Option<u32>,
    /// The ASA those agents give; None when no agent is needed or none suffice.
    pub predicted_asa_ms: Option<u64>,
}

/// SPEC §7.6 for one interval of a queue: what `offered` contacts in `interval_ms`, each
/// handled in `handle_ms / handled` on average, need for the queue's service level.
pub fn interval(
    offered: u64,
    handled: u64,
    handle_ms: u64,
    interval_ms: i64,
    threshold_ms: i64,
    target_pct: u32,
) -> IntervalStaffing {
    let none = |agents_needed| IntervalStaffing {
        agents_needed,
        predicted_asa_ms: None,
    };
    if offered == 0 {
        return none(Some(0));
    }
    if handled == 0 {
        return none(None);
    }
    let aht_s = handle_ms as f64 / handled as f64 / 1000.0;
    let a = erlangs(offered as f64 / (interval_ms as f64 / 1000.0), aht_s);
    let threshold_s = threshold_ms as f64 / 1000.0;
    match agents_needed(a, aht_s, threshold_s, f64::from(target_pct)) {
        Some(0) => none(Some(0)),
        Some(n) => IntervalStaffing {
            agents_needed: Some(n),
            predicted_asa_ms: Some(
                (with_agents(n, a, aht_s, threshold_s).asa_s * 1000.0).round() as u64,
            ),
        },
        None => none(Some(MAX_AGENTS)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Erlang C straight from its definition, with factorials (fine for small n).
    fn by_definition(n: u32, a: f64) -> f64 {
        let term = |k: u32| a.powi(k as i32) / (1..=k).map(f64::from).product::<f64>();
        let waiting = term(n) * f64::from(n) / (f64::from(n) - a);
        waiting / ((0..n).map(term).sum::<f64>() + waiting)
    }

    #[test]
    fn the_recurrence_is_erlang_c() {
        for (n, a) in [(1, 0.5), (5, 3.2), (12, 10.0), (30, 24.0), (60, 52.5)] {
            let (ours, theirs) = (erlang_c(n, a), by_definition(n, a));
            assert!((ours - theirs).abs() < 1e-12, "{n} {a}: {ours} vs {theirs}");
        }
        assert_eq!(
            erlang_c(24, 24.0),
            1.0,
            "no more agents than Erlangs: everyone waits"
        );
    }

    #[test]
    fn a_classic_queue_needs_29_agents_for_80_in_20() {
        // 360 contacts an hour of 240 s: 24 Erlangs.
        let a = erlangs(360.0 / 3600.0, 240.0);
        assert_eq!(agents_needed(a, 240.0, 20.0, 80.0), Some(29));
        let at_28 = with_agents(28, a, 240.0, 20.0);
        assert!(at_28.sl_pct < 80.0, "{at_28:?}");
        let s = with_agents(29, a, 240.0, 20.0);
        assert!((s.p_wait - 0.242274).abs() < 1e-6, "{s:?}");
        assert!((s.sl_pct - 84.0283).abs() < 1e-3, "{s:?}");
        assert!((s.asa_s - 11.629).abs() < 1e-3, "{s:?}");
        assert!((s.occupancy_pct - 82.7586).abs() < 1e-3, "{s:?}");
    }

    /// Worked examples published with their answers (rounded as published).
    #[test]
    fn published_worked_examples() {
        let close = |got: f64, want: f64, tol: f64| (got - want).abs() <= tol;
        // 360 calls per half hour of 4 minutes, 55 agents, 15 s target: P(wait) ≈ 24 %,
        // ASA ≈ 8.2 s, SL ≈ 84.6 %, occupancy 87.3 % (the "Erlang-C calculations" walk-through).
        let a = erlangs(360.0 / 1800.0, 240.0);
        let s = with_agents(55, a, 240.0, 15.0);
        assert!(close(100.0 * s.p_wait, 24.0, 0.5), "{s:?}");
        assert!(close(s.asa_s, 8.2, 0.05), "{s:?}");
        assert!(close(s.sl_pct, 84.6, 0.05), "{s:?}");
        assert!(close(s.occupancy_pct, 87.3, 0.05), "{s:?}");
        // 100 calls per half hour, AHT 180 s, 80 % in 20 s (Call Centre Helper's worked
        // example): P(wait) 0.6821, 0.4494, 0.2853, 0.1741 with 11 to 14 agents; 13 give
        // SL 79.6 %, so 14 are needed.
        let a = erlangs(100.0 / 1800.0, 180.0);
        for (n, p) in [(11, 0.6821), (12, 0.4494), (13, 0.2853), (14, 0.1741)] {
            assert!(close(erlang_c(n, a), p, 0.00005), "{n}: {}", erlang_c(n, a));
        }
        assert!(close(with_agents(13, a, 180.0, 20.0).sl_pct, 79.6, 0.05));
        assert_eq!(agents_needed(a, 180.0, 20.0, 80.0), Some(14));
        // Wolfram Language's ErlangC: ErlangC[3, 2] = 4/9; 30 calls an hour of 5 minutes need
        // 6 staff for a 90 % chance that a call is not delayed.
        assert!(close(erlang_c(3, 2.0), 4.0 / 9.0, 1e-12));
        let a = erlangs(30.0 / 3600.0, 300.0);
        let staff = (1..20).find(|&n| f64::from(n) > a && erlang_c(n, a) <= 0.10);
        assert_eq!(staff, Some(6));
    }

    #[test]
    fn an_interval_needs_what_its_traffic_needs() {
        // 90 contacts in 15 min of 240 s each: the classic 24 Erlangs above.
        let handle_ms = 45 * 240_000;
        let s = interval(90, 45, handle_ms, 900_000, 20_000, 80);
        assert_eq!(s.agents_needed, Some(29));
        assert_eq!(s.predicted_asa_ms, Some(11_629));
        let none = |agents_needed| IntervalStaffing {
            agents_needed,
            predicted_asa_ms: None,
        };
        assert_eq!(interval(0, 5, 1_000, 900_000, 20_000, 80), none(Some(0)));
        assert_eq!(interval(7, 0, 0, 900_000, 20_000, 80), none(None));
        let flood = interval(10_000_000, 1, 600_000, 900_000, 20_000, 80);
        assert_eq!(flood, none(Some(MAX_AGENTS)));
    }

    #[test]
    fn no_traffic_needs_no_agents_and_too_much_finds_none() {
        assert_eq!(agents_needed(0.0, 300.0, 20.0, 80.0), Some(0));
        assert_eq!(agents_needed(20_000.0, 300.0, 20.0, 80.0), None);
    }
}
