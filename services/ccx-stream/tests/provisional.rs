//! Provisional rows: events still waiting for the watermark show up at once (applied to
//! copies of their contacts), are revised when an earlier event arrives, and are replaced by
//! the final values once the watermark passes.

use ccx_model::rows::FinalRows;
use ccx_model::settings::TenantSettings;
use ccx_model::{ms_timestamp, Channel, Direction, Event, EventType};
use ccx_stream::engine::{Engine, Settings};

const T0: i64 = 1_790_000_040_000;

fn event(id: &str, kind: EventType, t: i64) -> Event {
    Event {
        event_id: id.into(),
        tenant_id: "t1".into(),
        r#type: kind as i32,
        occurred_at: Some(ms_timestamp(t)),
        contact_id: "c1".into(),
        customer_id: "x1".into(),
        channel: Channel::Voice as i32,
        direction: Direction::Inbound as i32,
        queue_id: "q1".into(),
        agent_id: "a1".into(),
        ..Event::default()
    }
}

fn rows(engine: &mut Engine, seen: &mut FinalRows) -> (u64, u64, u64) {
    engine.take_output().merge_into(seen);
    let row = seen.queue.values().next().copied().unwrap_or_default();
    (row.offered, row.answered, row.abandoned)
}

#[test]
fn provisional_rows_are_shown_revised_and_finalised() {
    let mut settings = Settings::new(TenantSettings::default());
    settings.provisional = true;
    let mut engine = Engine::new(settings, T0 - 10_000);
    let mut seen = FinalRows::default();

    engine.ingest(&event("o", EventType::ContactOffered, T0));
    engine.ingest(&event("a", EventType::ContactAnswered, T0 + 3_000));
    // The watermark is still before both: the rows are provisional.
    assert_eq!(rows(&mut engine, &mut seen), (1, 1, 0));

    // An earlier abandon arrives within the lateness: the answer no longer fits.
    engine.ingest(&event("x", EventType::ContactAbandoned, T0 + 2_000));
    assert_eq!(rows(&mut engine, &mut seen), (1, 0, 1));

    // The watermark passes everything: final values, and nothing provisional left.
    engine.advance(T0 + 10_000);
    assert_eq!(rows(&mut engine, &mut seen), (1, 0, 1));
    let quality = seen.quality.values().next().copied().unwrap_or_default();
    assert_eq!(quality.out_of_sequence, 1);
}

/// A backlog waiting for the watermark (more than 100,000 events of a tenant) is not
/// speculated over at every flush: provisional rows already shown are taken back (their final
/// values handed over) until the backlog is applied.
#[test]
fn a_large_backlog_makes_no_provisional_rows() {
    let mut settings = Settings::new(TenantSettings::default());
    settings.provisional = true;
    let mut engine = Engine::new(settings, T0 - 10_000);
    let mut seen = FinalRows::default();
    engine.ingest(&event("o", EventType::ContactOffered, T0));
    assert_eq!(rows(&mut engine, &mut seen), (1, 0, 0));

    // Other contacts' offers, one per 10 ms after it, all waiting.
    for i in 0..100_000 {
        let mut e = event(
            &format!("b{i}"),
            EventType::ContactOffered,
            T0 + 10 + i * 10,
        );
        e.contact_id = format!("b{i}");
        e.queue_id = "q2".into();
        engine.ingest(&e);
    }
    assert_eq!(engine.buffered(), 100_001);
    // The provisional offer of q1 is taken back; q2 gets no provisional row.
    assert_eq!(rows(&mut engine, &mut seen), (0, 0, 0));
    assert_eq!(seen.queue.len(), 1, "{:?}", seen.queue.keys());

    engine.advance(T0 + 2_000_000);
    assert_eq!(rows(&mut engine, &mut seen), (1, 0, 0));
    let q2: u64 = seen
        .queue
        .iter()
        .filter(|(k, _)| k.queue_id == "q2")
        .map(|(_, c)| c.offered)
        .sum();
    assert_eq!(q2, 100_000);
}
