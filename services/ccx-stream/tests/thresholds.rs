//! Threshold rules (SPEC §7.5) on the engine: a rule fires once its condition held for its
//! `for`, once per open alert, and clears when the condition stopped holding for `for`.

use ccx_model::rows::ThresholdAlert;
use ccx_model::settings::{Metric, Op, TenantSettings, ThresholdRule};
use ccx_model::{Event, EventType};
use ccx_stream::engine::{Engine, Settings};

mod support;
use support::{by, contact_event, state_change, T0};

/// An event of contact `contact`, handled by agent `a1`.
fn event(id: &str, contact: &str, kind: EventType, t: i64) -> Event {
    by("a1", contact_event(id, contact, kind, t))
}

/// A call offered at `t` and answered `wait_ms` later.
fn call(e: &mut Engine, n: &str, t: i64, wait_ms: i64) {
    e.ingest(&event(&format!("o{n}"), n, EventType::ContactOffered, t));
    let answer = event(&format!("a{n}"), n, EventType::ContactAnswered, t + wait_ms);
    e.ingest(&answer);
}

fn rule(id: &str, metric: Metric, op: Op, threshold: f64, for_ms: i64) -> ThresholdRule {
    ThresholdRule {
        id: id.into(),
        metric,
        queue_id: String::new(),
        channel: String::new(),
        op,
        threshold,
        window_ms: 15 * 60_000,
        for_ms,
    }
}

fn engine(rules: Vec<ThresholdRule>) -> Engine {
    let settings = TenantSettings {
        threshold_rules: rules,
        ..TenantSettings::default()
    };
    Engine::new(Settings::new(settings), T0 - 60_000)
}

fn transitions(out: Vec<ThresholdAlert>) -> Vec<(String, bool)> {
    out.into_iter().map(|t| (t.alert_id, t.cleared)).collect()
}

#[test]
fn service_level_under_the_threshold_fires_once_and_clears_when_it_recovers() {
    let mut e = engine(vec![rule(
        "sl-low",
        Metric::ServiceLevel,
        Op::Below,
        80.0,
        0,
    )]);
    // Four calls answered in 5 s: 100 %.
    for i in 0..4 {
        call(&mut e, &format!("c{i}"), T0 + i * 1_000, 5_000);
    }
    e.advance(T0 + 60_000);
    let now = T0 + 61_000;
    assert!(e.take_output_at(now).thresholds.is_empty());
    // Six answered after 40 s: 4 of 10 in SL, 40 %.
    for i in 4..10 {
        call(&mut e, &format!("c{i}"), T0 + 60_000 + i * 1_000, 40_000);
    }
    e.advance(T0 + 120_000);
    let out = e.take_output_at(now + 60_000).thresholds;
    let fired = format!("t1:sl-low:q1::{}", (now + 60_000) / 60_000 * 60_000);
    assert_eq!(transitions(out.clone()), [(fired.clone(), false)]);
    assert_eq!((out[0].queue_id.as_str(), out[0].value), ("q1", 40.0));
    assert_eq!(out[0].metric, "service_level");
    // Still under: no second alert.
    assert!(e.take_output_at(now + 61_000).thresholds.is_empty());
    // Twenty fast answers: 24 of 30, 80 %: no longer below.
    for i in 10..30 {
        call(&mut e, &format!("c{i}"), T0 + 120_000 + i * 1_000, 1_000);
    }
    e.advance(T0 + 180_000);
    let out = e.take_output_at(now + 120_000).thresholds;
    assert_eq!(transitions(out), [(fired, true)]);
    assert!(e.take_output_at(now + 121_000).thresholds.is_empty());
}

#[test]
fn for_suppresses_a_short_dip_and_fires_a_long_one() {
    let mut e = engine(vec![rule("queue", Metric::Waiting, Op::Above, 2.0, 60_000)]);
    let waiting = |e: &mut Engine, n: &str, t: i64| {
        e.ingest(&event(&format!("o{n}"), n, EventType::ContactOffered, t));
    };
    for i in 0..3 {
        waiting(&mut e, &format!("c{i}"), T0 + i);
    }
    // Three waiting for 30 s (wall clock), then one answered: a dip shorter than `for`.
    assert!(e.take_output_at(T0 + 1_000).thresholds.is_empty());
    assert!(e.take_output_at(T0 + 31_000).thresholds.is_empty());
    call(&mut e, "c0", T0, 31_000);
    assert!(e.take_output_at(T0 + 32_000).thresholds.is_empty());
    // Three again, for a minute: fires, evaluated at most once a second.
    waiting(&mut e, "c3", T0 + 33_000);
    assert!(e.take_output_at(T0 + 33_000).thresholds.is_empty());
    assert!(e.take_output_at(T0 + 92_500).thresholds.is_empty());
    assert!(
        e.take_output_at(T0 + 93_000).thresholds.is_empty(),
        "once a second"
    );
    let out = e.take_output_at(T0 + 94_000).thresholds;
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].value, out[0].cleared), (3.0, false));
    // Back to two: cleared only after the condition stayed away for a minute.
    call(&mut e, "c1", T0 + 1, 95_000);
    assert!(e.take_output_at(T0 + 96_000).thresholds.is_empty());
    assert!(e.take_output_at(T0 + 155_000).thresholds.is_empty());
    let out = e.take_output_at(T0 + 156_000).thresholds;
    assert_eq!((out.len(), out[0].cleared), (1, true));
}

#[test]
fn a_rule_on_every_queue_alerts_per_queue_and_a_removed_rule_clears() {
    let mut e = engine(vec![rule("long", Metric::LongestWait, Op::Above, 30.0, 0)]);
    let mut offer = |n: &str, queue: &str, t: i64| {
        let mut o = event(&format!("o{n}"), n, EventType::ContactOffered, t);
        o.queue_id = queue.into();
        e.ingest(&o);
    };
    offer("c1", "q1", T0);
    offer("c2", "q2", T0 + 20_000);
    let out = e.take_output_at(T0 + 45_000).thresholds;
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].queue_id.as_str(), out[0].value), ("q1", 45.0));
    let out = e.take_output_at(T0 + 55_000).thresholds;
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].queue_id, "q2");

    // The rule is taken away (the same state under settings without it): both clear.
    let mut plain = engine(vec![]);
    plain.restore_tenant("t1".into(), e.tenant_state("t1").unwrap().clone());
    let out = plain.take_output_at(T0 + 60_000).thresholds;
    let mut cleared: Vec<_> = out
        .iter()
        .map(|t| (t.queue_id.clone(), t.cleared))
        .collect();
    cleared.sort();
    assert_eq!(cleared, [("q1".into(), true), ("q2".into(), true)]);
}

#[test]
fn agents_short_compares_agents_needed_with_agents_working() {
    let mut e = engine(vec![rule("short", Metric::AgentsShort, Op::Above, 0.0, 0)]);
    // 90 calls of 240 s in the half hour before minute M: 12 Erlangs need 16 agents at 80/20.
    let m = (T0 / 60_000 + 40) * 60_000;
    let start = m - 30 * 60_000;
    e.ingest(&state_change(
        "s0",
        "a1",
        ccx_model::AgentState::Available,
        start - 1_000,
    ));
    for i in 0..90 {
        let (c, t) = (format!("c{i}"), start + i * 20_000);
        call(&mut e, &c, t, 0);
        let end = event(&format!("e{i}"), &c, EventType::ContactEnded, t + 240_000);
        e.ingest(&end);
    }
    e.advance(m + 1_000);
    let out = e.take_output_at(m + 2_000);
    let needed = out.queue_now[0].agents_needed.unwrap();
    let t = &out.thresholds;
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(
        (t[0].queue_id.as_str(), t[0].value),
        ("", f64::from(needed) - 1.0)
    );
}
