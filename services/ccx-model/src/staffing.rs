//! Erlang C (SPEC §7.6): how many agents a queue's traffic needs to reach its service level,
//! and what a given number of agents gives (chance to wait, ASA, service level, occupancy).
//! f64 arithmetic with the standard recurrence, so no factorial overflows.

use serde::Serialize;

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

/// SPEC §7.6 for one interval of a queue: the agents `offered` contacts in `interval_ms`
/// need, each handled in `handle_ms / handled` on average. 0 without offers; None without a
/// handled contact (no handle time); [`MAX_AGENTS`] when even that many fall short.
pub fn interval_agents_needed(
    offered: u64,
    handled: u64,
    handle_ms: u64,
    interval_ms: i64,
    threshold_ms: i64,
    target_pct: u32,
) -> Option<u32> {
    if offered == 0 {
        return Some(0);
    }
    if handled == 0 {
        return None;
    }
    let aht_s = handle_ms as f64 / handled as f64 / 1000.0;
    let a = erlangs(offered as f64 / (interval_ms as f64 / 1000.0), aht_s);
    let threshold_s = threshold_ms as f64 / 1000.0;
    Some(agents_needed(a, aht_s, threshold_s, f64::from(target_pct)).unwrap_or(MAX_AGENTS))
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

    #[test]
    fn an_interval_needs_what_its_traffic_needs() {
        // 180 contacts in 30 min of 240 s each: the classic 24 Erlangs above.
        let handle_ms = 90 * 240_000;
        assert_eq!(
            interval_agents_needed(180, 90, handle_ms, 1_800_000, 20_000, 80),
            Some(29)
        );
        assert_eq!(
            interval_agents_needed(0, 5, 1_000, 1_800_000, 20_000, 80),
            Some(0)
        );
        assert_eq!(interval_agents_needed(7, 0, 0, 1_800_000, 20_000, 80), None);
        let flood = interval_agents_needed(10_000_000, 1, 600_000, 1_800_000, 20_000, 80);
        assert_eq!(flood, Some(MAX_AGENTS));
    }

    #[test]
    fn no_traffic_needs_no_agents_and_too_much_finds_none() {
        assert_eq!(agents_needed(0.0, 300.0, 20.0, 80.0), Some(0));
        assert_eq!(agents_needed(20_000.0, 300.0, 20.0, 80.0), None);
    }
}
