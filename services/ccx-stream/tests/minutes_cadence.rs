//! The minute tables at `minutes_every_ms`: their rows (final and provisional) are handed over
//! at most that often in `as_of` time, carrying every change since; the live floor and alerts
//! at every output; everything on demand (before a checkpoint, at the end).

use ccx_model::rows::QueueNow;
use ccx_model::settings::TenantSettings;
use ccx_model::{Event, EventType};
use ccx_stream::engine::{Engine, Output, Settings};

mod support;
use support::{contact_event, T0};

fn offered(contact: &str, t: i64) -> Event {
    contact_event(
        &format!("offer-{contact}"),
        contact,
        EventType::ContactOffered,
        t,
    )
}

/// Offers in the minute rows handed over (`None`: no minute row at all).
fn offers(out: &Output) -> Option<u64> {
    (!out.queue.is_empty()).then(|| out.queue.iter().map(|(_, c)| c.offered).sum())
}

fn waiting(rows: &[QueueNow]) -> u64 {
    rows.iter().map(|r| r.waiting).sum()
}

#[test]
fn minute_rows_go_at_their_cadence_and_the_live_floor_at_every_output() {
    let mut settings = Settings::new(TenantSettings::default());
    settings.minutes_every_ms = 1_000;
    settings.provisional = true;
    let mut e = Engine::new(settings, T0 - 60_000);

    e.ingest(&offered("c1", T0 + 100));
    e.advance(T0 + 1_000);
    let first = e.take_output_at(T0 + 1_000);
    assert_eq!(
        offers(&first),
        Some(1),
        "the first output has the minute rows"
    );
    assert_eq!(waiting(&first.queue_now), 1);

    // c2 applied, c3 still waiting for the watermark (provisional).
    e.ingest(&offered("c2", T0 + 1_100));
    e.ingest(&offered("c3", T0 + 5_000));
    e.advance(T0 + 2_000);
    let between = e.take_output_at(T0 + 1_250);
    assert_eq!(offers(&between), None, "250 ms later: no minute rows");
    assert!(between.hourly.is_empty() && between.agent_state.is_empty());
    assert_eq!(waiting(&between.queue_now), 3, "the floor at every output");
    let still = e.take_output_at(T0 + 1_999);
    assert_eq!(offers(&still), None, "999 ms later: not yet");

    let due = e.take_output_at(T0 + 2_000);
    assert_eq!(
        offers(&due),
        Some(3),
        "1 s later: every change since, the provisional offer too"
    );
    assert_eq!(waiting(&due.queue_now), 3);

    e.ingest(&offered("c4", T0 + 2_100));
    e.advance(T0 + 3_000);
    assert_eq!(offers(&e.take_output_at(T0 + 2_100)), None);
    assert_eq!(
        offers(&e.take_all_output()),
        Some(4),
        "on demand, whatever the cadence"
    );
}
