//! The live floor (SPEC §7.4): `queue_now` and `agent_now` from every event received —
//! buffered for the watermark, out of order, or too late for the minute rows — as of the
//! wall clock, checked against hand-written expectations.

use ccx_model::rows::{AgentNow, QueueNow};
use ccx_model::settings::TenantSettings;
use ccx_model::{AgentState, EventType};
use ccx_stream::engine::{Engine, Settings};

mod support;
use support::{by, contact_event, state_change, T0};

/// (queue, waiting, longest wait) of the rows with contacts waiting.
fn waiting(rows: &[QueueNow]) -> Vec<(String, u64, u64)> {
    rows.iter()
        .filter(|r| r.waiting > 0)
        .map(|r| (r.queue_id.clone(), r.waiting, r.longest_wait_ms))
        .collect()
}

/// (agent, state, since, contact, queue, on hold) of changed agents.
fn agents(rows: &[AgentNow]) -> Vec<(String, String, i64, String, String, bool)> {
    rows.iter()
        .map(|a| {
            (
                a.agent_id.clone(),
                a.state.clone(),
                a.state_since,
                a.contact_id.clone(),
                a.queue_id.clone(),
                a.on_hold,
            )
        })
        .collect()
}

fn engine() -> Engine {
    Engine::new(Settings::new(TenantSettings::default()), T0 - 60_000)
}

#[test]
fn waiting_contacts_show_before_the_watermark_reaches_them() {
    let mut e = engine();
    e.ingest(&contact_event("o1", "c1", EventType::ContactOffered, T0));
    e.ingest(&contact_event(
        "o2",
        "c2",
        EventType::ContactOffered,
        T0 + 2_000,
    ));
    let out = e.take_output_at(T0 + 5_000);
    assert_eq!(waiting(&out.queue_now), [("q1".into(), 2, 5_000)]);
    assert!(out.queue_now.iter().all(|r| r.as_of == T0 + 5_000));
    // Nothing is final yet: the watermark is a minute behind.
    assert!(out.queue.is_empty());

    // c1 answered: one left, waiting since T0 + 2 s; a1 on c1.
    e.ingest(&by(
        "a1",
        contact_event("a1", "c1", EventType::ContactAnswered, T0 + 6_000),
    ));
    let out = e.take_output_at(T0 + 7_000);
    assert_eq!(waiting(&out.queue_now), [("q1".into(), 1, 5_000)]);
    assert_eq!(
        agents(&out.agent_now),
        [(
            "a1".into(),
            "UNKNOWN".into(),
            T0 + 6_000,
            "c1".into(),
            "q1".into(),
            false
        )]
    );

    // c2 gives up: the queue's row is zero once, then no more rows for it.
    e.ingest(&contact_event(
        "x2",
        "c2",
        EventType::ContactAbandoned,
        T0 + 8_000,
    ));
    let out = e.take_output_at(T0 + 9_000);
    assert_eq!(out.queue_now.len(), 1);
    assert_eq!(
        (out.queue_now[0].waiting, out.queue_now[0].longest_wait_ms),
        (0, 0)
    );
    assert!(out.agent_now.is_empty(), "no agent changed");
    assert!(e.take_output_at(T0 + 9_250).queue_now.is_empty());
}

#[test]
fn a_late_event_inside_the_lateness_places_the_contact_by_event_time() {
    let mut e = engine();
    // The answer arrives before the offer it follows: never waiting.
    e.ingest(&by(
        "a1",
        contact_event("a3", "c3", EventType::ContactAnswered, T0 + 9_000),
    ));
    e.ingest(&contact_event(
        "o3",
        "c3",
        EventType::ContactOffered,
        T0 + 8_000,
    ));
    let out = e.take_output_at(T0 + 10_000);
    assert!(waiting(&out.queue_now).is_empty(), "{:?}", out.queue_now);
    assert_eq!(out.agent_now[0].contact_id, "c3");

    // The end arrives before the hold that came earlier: gone, and the hold changes nothing.
    e.ingest(&by(
        "a1",
        contact_event("e3", "c3", EventType::ContactEnded, T0 + 20_000),
    ));
    e.ingest(&by(
        "a1",
        contact_event("h3", "c3", EventType::HoldStarted, T0 + 15_000),
    ));
    e.ingest(&contact_event(
        "o3b",
        "c3",
        EventType::ContactOffered,
        T0 + 8_000,
    ));
    let out = e.take_output_at(T0 + 21_000);
    assert!(waiting(&out.queue_now).is_empty());
    assert_eq!(
        agents(&out.agent_now),
        [(
            "a1".into(),
            "UNKNOWN".into(),
            T0 + 9_000,
            String::new(),
            String::new(),
            false
        )]
    );
}

#[test]
fn a_transfer_puts_the_contact_back_in_the_target_queue() {
    let mut e = engine();
    e.ingest(&state_change(
        "s1",
        "a1",
        AgentState::Available,
        T0 - 30_000,
    ));
    e.ingest(&contact_event("o1", "c1", EventType::ContactOffered, T0));
    e.ingest(&by(
        "a1",
        contact_event("a1", "c1", EventType::ContactAnswered, T0 + 4_000),
    ));
    e.ingest(&state_change("s2", "a1", AgentState::Busy, T0 + 4_000));
    e.take_output_at(T0 + 5_000);
    let mut transfer = by(
        "a1",
        contact_event("t1", "c1", EventType::ContactTransferred, T0 + 30_000),
    );
    transfer.to_queue_id = "q2".into();
    e.ingest(&transfer);
    e.ingest(&state_change(
        "s3",
        "a1",
        AgentState::AfterContactWork,
        T0 + 30_000,
    ));
    let out = e.take_output_at(T0 + 42_000);
    assert_eq!(waiting(&out.queue_now), [("q2".into(), 1, 12_000)]);
    assert_eq!(
        agents(&out.agent_now),
        [(
            "a1".into(),
            "AFTER_CONTACT_WORK".into(),
            T0 + 30_000,
            String::new(),
            String::new(),
            false
        )]
    );

    // Answered in q2 by a2: nobody waits.
    e.ingest(&by(
        "a2",
        contact_event("a2", "c1", EventType::ContactAnswered, T0 + 45_000),
    ));
    let out = e.take_output_at(T0 + 46_000);
    assert!(waiting(&out.queue_now).is_empty());
    assert_eq!(out.agent_now[0].agent_id, "a2");
    assert_eq!(out.agent_now[0].contact_id, "c1");
}

#[test]
fn holds_show_on_the_agent_in_event_time_order() {
    let mut e = engine();
    e.ingest(&contact_event("o2", "c2", EventType::ContactOffered, T0));
    e.ingest(&by(
        "a2",
        contact_event("a2", "c2", EventType::ContactAnswered, T0 + 11_000),
    ));
    e.ingest(&by(
        "a2",
        contact_event("h1", "c2", EventType::HoldStarted, T0 + 12_000),
    ));
    let out = e.take_output_at(T0 + 12_500);
    assert!(out.agent_now[0].on_hold);
    assert_eq!(
        (
            out.agent_now[0].queue_id.as_str(),
            out.agent_now[0].channel.as_str()
        ),
        ("q1", "VOICE")
    );

    // The hold's end, then (late) the hold's start again: off hold.
    e.ingest(&by(
        "a2",
        contact_event("h2", "c2", EventType::HoldEnded, T0 + 13_000),
    ));
    e.ingest(&by(
        "a2",
        contact_event("h1b", "c2", EventType::HoldStarted, T0 + 12_000),
    ));
    let out = e.take_output_at(T0 + 14_000);
    assert!(!out.agent_now[0].on_hold);
}

#[test]
fn a_logged_off_agent_shows_offline_since_then() {
    let mut e = engine();
    e.ingest(&state_change("s1", "a1", AgentState::Available, T0));
    e.ingest(&state_change("s2", "a1", AgentState::Offline, T0 + 20_000));
    // A state change that happened before arrives last: the newest stays.
    e.ingest(&state_change("s0", "a1", AgentState::Break, T0 + 10_000));
    let out = e.take_output_at(T0 + 21_000);
    assert_eq!(
        agents(&out.agent_now),
        [(
            "a1".into(),
            "OFFLINE".into(),
            T0 + 20_000,
            String::new(),
            String::new(),
            false
        )]
    );
}

#[test]
fn an_event_too_late_for_the_minutes_still_moves_now() {
    let mut e = engine();
    e.ingest(&contact_event(
        "o5",
        "c5",
        EventType::ContactOffered,
        T0 + 30_000,
    ));
    e.advance(T0 + 60_000);
    let out = e.take_output_at(T0 + 61_000);
    assert_eq!(waiting(&out.queue_now), [("q1".into(), 1, 31_000)]);
    assert_eq!(out.queue.len(), 1, "the offer is in its minute");

    // Answered at T0 + 40 s, received behind the watermark: late for the minutes, not for now.
    let late = by(
        "a1",
        contact_event("a5", "c5", EventType::ContactAnswered, T0 + 40_000),
    );
    assert_eq!(e.ingest(&late), ccx_stream::engine::Ingested::Late);
    let out = e.take_output_at(T0 + 62_000);
    assert!(waiting(&out.queue_now).is_empty());
    assert_eq!(out.agent_now[0].contact_id, "c5");
    assert_eq!(out.quality[0].1.late_dropped, 1);

    // A late offer of a contact nobody holds places nothing.
    e.ingest(&contact_event(
        "o6",
        "c6",
        EventType::ContactOffered,
        T0 + 50_000,
    ));
    assert!(waiting(&e.take_output_at(T0 + 63_000).queue_now).is_empty());
}

/// 180 contacts from `start`, one every 10 s, each answered at once by a1 and ended 240 s
/// later.
fn half_hour_of_calls(e: &mut Engine, start: i64) {
    for i in 0..180 {
        let (c, t) = (format!("c{i}"), start + i * 10_000);
        e.ingest(&contact_event(
            &format!("o{i}"),
            &c,
            EventType::ContactOffered,
            t,
        ));
        let answer = contact_event(&format!("a{i}"), &c, EventType::ContactAnswered, t);
        e.ingest(&by("a1", answer));
        let end = contact_event(&format!("e{i}"), &c, EventType::ContactEnded, t + 240_000);
        e.ingest(&by("a1", end));
    }
}

#[test]
fn agents_needed_follows_the_last_half_hour_of_inbound_traffic() {
    // 180 contacts in the 30 minutes before minute M, one every 10 s, each answered at once
    // and handled 240 s: 24 Erlangs, which need 29 agents for 80 % in 20 s.
    let m = (T0 / 60_000 + 40) * 60_000;
    let start = m - 30 * 60_000;
    let mut e = Engine::new(Settings::new(TenantSettings::default()), start - 60_000);
    half_hour_of_calls(&mut e, start);
    e.advance(m + 1_000);
    let out = e.take_output_at(m + 2_000);
    let q1 = out.queue_now.iter().find(|r| r.queue_id == "q1").unwrap();
    assert_eq!(q1.agents_needed, Some(29));
    // Seen an hour later with nothing received since, that traffic is history.
    let later = e.take_output_at(m + 3_600_000).queue_now;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].agents_needed, Some(0));
    assert!(e.take_output_at(m + 3_600_250).queue_now.is_empty());

    // Ends after M are not in the window: 156 handled, still 240 s each.
    // A queue target of 95 % needs more; the tenant's settings are read for the queue.
    let mut settings = TenantSettings::default();
    settings
        .queues
        .entry("q1".into())
        .or_default()
        .sl_target_pct = Some(95);
    let mut strict = Engine::new(Settings::new(settings), start - 60_000);
    half_hour_of_calls(&mut strict, start);
    strict.advance(m + 1_000);
    let out = strict.take_output_at(m + 2_000);
    let needed = out.queue_now[0].agents_needed.unwrap();
    assert!(needed > 29, "{needed}");
    let expected =
        ccx_model::staffing::interval(180, 156, 156 * 240_000, 1_800_000, 20_000, 95).agents_needed;
    assert_eq!(Some(needed), expected);
}
