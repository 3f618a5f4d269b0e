//! The golden fixtures (`tests/fixtures/*.json`, expected rows written by hand from SPEC)
//! through the stream's engine: once as a batch, and once streamed in arrival order with the
//! watermark advancing behind the events.

use ccx_model::rollup::roll_up;
use ccx_model::rows::{FinalRows, RollupRows};
use ccx_model::settings::TenantSettings;
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

/// What the writes of a stream leave under `SELECT … FINAL`: its minute rows and rollups.
#[derive(Default)]
struct Written {
    minutes: FinalRows,
    hourly: RollupRows,
    daily: RollupRows,
}

impl Written {
    /// Takes the engine's output and checks that every hourly and daily row written is the
    /// sum of the minute rows written (in the tenants' time zone).
    fn follow(&mut self, engine: &mut Engine, settings: &TenantSettings, context: &str) {
        let mut out = engine.take_output();
        self.hourly.merge(std::mem::take(&mut out.hourly));
        self.daily.merge(std::mem::take(&mut out.daily));
        out.merge_into(&mut self.minutes);
        let (hourly, daily) = roll_up(&self.minutes, |_| settings.tz());
        assert_eq!(
            self.hourly.clone().without_zero_rows(),
            hourly,
            "{context}: hourly rollups are not the sums of the minutes"
        );
        assert_eq!(
            self.daily.clone().without_zero_rows(),
            daily,
            "{context}: daily rollups are not the sums of the minutes"
        );
    }
}

/// Streams a fixture's events in time order with the watermark behind them, checking the
/// rollups at every flush; returns the engine and what it wrote.
fn stream(
    f: &ccx_reference::fixtures::Fixture,
    settings: Settings,
    context: &str,
) -> (Engine, Written) {
    let lateness = f.settings.allowed_lateness_ms;
    let tenant_settings = settings.default.clone();
    let mut events = f.events.clone();
    events.sort_by_key(|e| e.occurred_at.as_ref().map(timestamp_ms));
    let start = events
        .first()
        .and_then(|e| e.occurred_at.as_ref().map(timestamp_ms))
        .unwrap_or(0);
    let mut engine = Engine::new(settings, start);
    let mut written = Written::default();
    for e in &events {
        engine.ingest(e);
        let t = e.occurred_at.as_ref().map(timestamp_ms).unwrap_or(0);
        engine.advance((t - lateness).min(f.watermark_ms));
        written.follow(&mut engine, &tenant_settings, context);
    }
    engine.advance(f.watermark_ms);
    written.follow(&mut engine, &tenant_settings, context);
    (engine, written)
}

#[test]
fn streaming_with_a_moving_watermark_gives_the_same_rows() {
    for f in load_all(fixtures_dir()) {
        let context = format!("[streamed] {}", f.name);
        let (_, written) = stream(&f, Settings::new(f.settings.clone()), &context);
        let rows = written.minutes.without_zero_rows();
        if let Err(e) = check(&f, &rows) {
            panic!("{context}: {e}");
        }
    }
}

/// With provisional rows (events waiting for the watermark shown at once, withdrawn or
/// replaced later) and days in Rome, every rollup written is the sum of the minute rows
/// written, at every flush, for every fixture (events after a fixture's watermark stay
/// provisional, so its expected rows are not what is written here).
#[test]
fn rollups_sum_the_minutes_written_at_every_flush() {
    let fixtures = load_all(fixtures_dir());
    let mut rolled_up = 0;
    for f in &fixtures {
        let mut tenant_settings = f.settings.clone();
        tenant_settings.time_zone = "Europe/Rome".into();
        let mut settings = Settings::new(tenant_settings);
        settings.provisional = true;
        let context = format!("[provisional, Rome] {}", f.name);
        let (_, written) = stream(f, settings, &context);
        if !written.daily.clone().without_zero_rows().is_empty() {
            rolled_up += 1;
        }
    }
    assert!(rolled_up > fixtures.len() / 2, "{rolled_up}");
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
