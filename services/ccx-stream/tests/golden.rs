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
