//! The golden fixtures (`tests/fixtures/*.json`, expected rows written by hand from SPEC)
//! through the stream's engine: once as a batch, and once streamed in arrival order with the
//! watermark advancing behind the events.

use ccx_model::rows::FinalRows;
use ccx_model::timestamp_ms;
use ccx_reference::fixtures::{check, fixtures_dir, load_all};
use ccx_stream::engine::{compute_final, Engine, Settings};

#[test]
fn the_engine_matches_every_golden_fixture() {
    let fixtures = load_all(fixtures_dir());
    assert!(!fixtures.is_empty());
    let mut failures = Vec::new();
    for f in &fixtures {
        let rows = compute_final(&f.events, &f.settings, f.watermark_ms);
        if let Err(e) = check(f, &rows) {
            failures.push(format!("[batch] {}: {e}", f.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!("{} fixtures match", fixtures.len());
}

#[test]
fn streaming_with_a_moving_watermark_gives_the_same_rows() {
    for f in load_all(fixtures_dir()) {
        let lateness = f.settings.allowed_lateness_ms;
        let mut events = f.events.clone();
        events.sort_by_key(|e| e.occurred_at.as_ref().map(timestamp_ms));
        let start = events
            .first()
            .and_then(|e| e.occurred_at.as_ref().map(timestamp_ms))
            .unwrap_or(0);
        let mut engine = Engine::new(Settings::new(f.settings.clone()), start);
        let mut rows = FinalRows::default();
        for e in &events {
            engine.ingest(e);
            let t = e.occurred_at.as_ref().map(timestamp_ms).unwrap_or(0);
            engine.advance((t - lateness).min(f.watermark_ms));
            engine.take_output().merge_into(&mut rows);
        }
        engine.advance(f.watermark_ms);
        engine.take_output().merge_into(&mut rows);
        let rows = rows.without_zero_rows();
        if let Err(e) = check(&f, &rows) {
            panic!("[streamed] {}: {e}", f.name);
        }
    }
}

/// Every fixture's `queue_now` (written by hand as of its watermark) is what the live floor
/// shows at that instant from the fixture's events up to it, received in reverse time order
/// and never applied (the watermark stays before them all).
#[test]
fn the_live_floor_matches_every_fixtures_queue_now() {
    let mut checked = 0;
    for f in load_all(fixtures_dir()) {
        if f.expected_queue_now.is_none() {
            continue;
        }
        let time = |e: &ccx_model::Event| e.occurred_at.as_ref().map_or(0, timestamp_ms);
        let mut events: Vec<_> = f
            .events
            .iter()
            .filter(|e| time(e) < f.watermark_ms)
            .cloned()
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(time(e)));
        let mut engine = Engine::new(
            Settings::new(f.settings.clone()),
            ccx_stream::engine::NO_WATERMARK,
        );
        for e in &events {
            engine.ingest(e);
        }
        let now = engine.take_output_at(f.watermark_ms).queue_now;
        if let Err(e) = ccx_reference::fixtures::check_queue_now(&f, &now) {
            panic!("[live] {}: {e}", f.name);
        }
        checked += 1;
    }
    assert!(checked >= 10, "{checked}");
}
