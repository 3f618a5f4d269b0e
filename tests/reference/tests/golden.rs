//! The golden fixtures (`tests/fixtures/*.json`) run through every engine in [`ENGINES`].
//!
//! Each fixture is checked with its events as written, reversed and shuffled (the result must
//! not depend on arrival order), and once more with every event sent twice (the same rows, plus
//! one duplicate per copy in `ingest_quality_1m`). To check another engine, add one line to
//! [`ENGINES`].

use ccx_model::rows::{minute_of, FinalRows};
use ccx_model::settings::TenantSettings;
use ccx_model::{timestamp_ms, Event};
use ccx_reference::fixtures::{check, check_queue_now, expected_json, fixtures_dir, load_all};

type Engine = fn(&[Event], &TenantSettings, i64) -> FinalRows;

const ENGINES: &[(&str, Engine)] = &[("reference", ccx_reference::compute)];

/// The event orders each fixture is run in.
fn orders(events: &[Event]) -> Vec<(&'static str, Vec<Event>)> {
    let mut reversed = events.to_vec();
    reversed.reverse();
    let mut shuffled = events.to_vec();
    // A fixed xorshift Fisher–Yates shuffle: deterministic, so a failure reproduces.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..shuffled.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        shuffled.swap(i, (x % (i as u64 + 1)) as usize);
    }
    vec![
        ("as written", events.to_vec()),
        ("reversed", reversed),
        ("shuffled", shuffled),
    ]
}

fn report(checks: usize, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} of {checks} golden checks failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("{checks} golden checks passed");
}

#[test]
fn every_engine_matches_every_fixture() {
    let fixtures = load_all(fixtures_dir());
    assert!(!fixtures.is_empty(), "no fixtures found");
    let mut checks = 0;
    let mut failures = Vec::new();
    for (engine, compute) in ENGINES {
        for fixture in &fixtures {
            for (order, events) in orders(&fixture.events) {
                checks += 1;
                let got = compute(&events, &fixture.settings, fixture.watermark_ms);
                if let Err(diff) = check(fixture, &got) {
                    let shown =
                        serde_json::to_string_pretty(&expected_json(&got)).unwrap_or_default();
                    failures.push(format!(
                        "engine `{engine}`, events {order}:\n{diff}\ncomputed rows:\n{shown}"
                    ));
                }
            }
        }
    }
    report(checks, failures);
}

#[test]
fn every_event_sent_twice_only_adds_duplicates() {
    let fixtures = load_all(fixtures_dir());
    let mut checks = 0;
    let mut failures = Vec::new();
    for (engine, compute) in ENGINES {
        for fixture in &fixtures {
            checks += 1;
            let mut expected = fixture.clone();
            for event in &fixture.events {
                let at = event.occurred_at.as_ref().map(timestamp_ms);
                if let Some(at) = at.filter(|at| *at < fixture.watermark_ms) {
                    let key = (event.tenant_id.clone(), minute_of(at));
                    expected.expected.quality.entry(key).or_default().duplicates += 1;
                }
            }
            let twice: Vec<Event> = fixture
                .events
                .iter()
                .chain(fixture.events.iter())
                .cloned()
                .collect();
            let got = compute(&twice, &fixture.settings, fixture.watermark_ms);
            if let Err(diff) = check(&expected, &got) {
                failures.push(format!("engine `{engine}`, every event twice:\n{diff}"));
            }
        }
    }
    report(checks, failures);
}

#[test]
fn reference_queue_now_matches_the_fixtures_that_state_it() {
    let fixtures = load_all(fixtures_dir());
    let mut checks = 0;
    let mut failures = Vec::new();
    for fixture in fixtures.iter().filter(|f| f.expected_queue_now.is_some()) {
        for (order, events) in orders(&fixture.events) {
            checks += 1;
            let got = ccx_reference::queue_now(&events, &fixture.settings, fixture.watermark_ms);
            if let Err(diff) = check_queue_now(fixture, &got) {
                failures.push(format!("queue_now, events {order}:\n{diff}"));
            }
        }
    }
    assert!(checks > 0, "no fixture states queue_now");
    report(checks, failures);
}
