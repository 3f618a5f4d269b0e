//! The engine and the dataflow against the independent reference model on simulated contact
//! centers: same final rows as a batch, whatever the arrival order within the lateness bound,
//! with duplicates, and with 1 or 2 timely workers.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use ccx_model::rollup::roll_up;
use ccx_model::rows::{Components, FinalRows, RollupRows, COMPONENT_COLUMNS};
use ccx_model::settings::TenantSettings;
use ccx_model::{kafka_key, timestamp_ms, Event};
use ccx_proto::prost::Message;
use ccx_sim::{Rng, Sim, SimConfig};
use ccx_stream::dataflow::{run, Progress, StreamOptions};
use ccx_stream::engine::{compute_final, Engine, Settings};
use ccx_stream::sink::MemorySink;
use ccx_stream::source::{MemoryLog, MemoryTopic};
use proptest::prelude::*;

const START: i64 = 1_790_000_000_000;

fn time(e: &Event) -> i64 {
    e.occurred_at.as_ref().map(timestamp_ms).unwrap_or(0)
}

fn last_time(events: &[Event]) -> i64 {
    events.iter().map(time).max().unwrap_or(START)
}

/// The components that differ: `name want→got`.
fn columns(want: &Components, got: Option<&Components>) -> String {
    let got = got.copied().unwrap_or_default();
    COMPONENT_COLUMNS
        .iter()
        .zip(want.values().iter().zip(got.values()))
        .filter(|(_, (w, g))| **w != *g)
        .map(|(name, (w, g))| format!("{name} {w}→{g}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A readable account of the first differences.
fn diff(got: &FinalRows, want: &FinalRows) -> String {
    let mut out = Vec::new();
    for (k, v) in &want.queue {
        if got.queue.get(k) != Some(v) {
            out.push(format!("queue {k:?}: {}", columns(v, got.queue.get(k))));
        }
    }
    for (k, v) in &want.reason {
        if got.reason.get(k) != Some(v) {
            out.push(format!("reason {k:?}: {}", columns(v, got.reason.get(k))));
        }
    }
    for (k, v) in &got.reason {
        if !want.reason.contains_key(k) {
            out.push(format!("reason {k:?}: unexpected {v:?}"));
        }
    }
    for (k, v) in &got.queue {
        if !want.queue.contains_key(k) {
            out.push(format!("queue {k:?}: unexpected {v:?}"));
        }
    }
    for (k, v) in &want.agent {
        if got.agent.get(k) != Some(v) {
            out.push(format!(
                "agent {k:?}: want {v:?}, got {:?}",
                got.agent.get(k)
            ));
        }
    }
    for (k, v) in &want.agent_state {
        if got.agent_state.get(k) != Some(v) {
            out.push(format!(
                "state {k:?}: want {v:?}, got {:?}",
                got.agent_state.get(k)
            ));
        }
    }
    if got.agent_state.len() != want.agent_state.len() {
        out.push(format!(
            "state rows: want {}, got {}",
            want.agent_state.len(),
            got.agent_state.len()
        ));
    }
    if got.quality != want.quality {
        out.push(format!(
            "quality: want {:?}, got {:?}",
            want.quality, got.quality
        ));
    }
    if got.alerts != want.alerts {
        out.push(format!(
            "alerts: want {:?}\n got {:?}",
            want.alerts, got.alerts
        ));
    }
    out.truncate(8);
    out.join("\n")
}

fn assert_same(got: &FinalRows, want: &FinalRows) {
    assert!(got == want, "rows differ:\n{}", diff(got, want));
}

#[test]
fn the_engine_equals_the_reference_on_a_simulated_day() {
    let events = Sim::new(SimConfig::default()).generate(START, 3_000, 0.5);
    let settings = TenantSettings::default();
    // A day after the last event: every FCR verdict is known.
    let w = last_time(&events) + 25 * 3_600_000;
    let want = ccx_reference::compute(&events, &settings, w);
    assert!(!want.alerts.is_empty(), "the scenario raises churn alerts");
    assert!(
        want.queue.values().any(|c| c.fcr_success > 0),
        "and has FCR successes"
    );
    assert_same(&compute_final(&events, &settings, w), &want);
}

/// Streams `events` in an arrival order where each event is at most `lateness` − 1 ms behind
/// the newest event time seen, with the watermark following (newest − lateness), with
/// provisional rows or not. After every fourth flush and the last (every one would make this
/// test several times slower; the golden fixtures check every flush), each hourly and daily
/// rollup written is the sum of the minute rows written (days in the settings' time zone).
fn stream(
    events: &[(i64, Event)],
    settings: &TenantSettings,
    w: i64,
    provisional: bool,
) -> FinalRows {
    let mut engine_settings = Settings::new(settings.clone());
    engine_settings.provisional = provisional;
    let mut engine = Engine::new(engine_settings, START - 1);
    let mut rows = FinalRows::default();
    let (mut hourly, mut daily) = (RollupRows::default(), RollupRows::default());
    let mut flushes = 0;
    let mut take = |engine: &mut Engine, rows: &mut FinalRows, last: bool| {
        let mut out = engine.take_output();
        hourly.merge(std::mem::take(&mut out.hourly));
        daily.merge(std::mem::take(&mut out.daily));
        out.merge_into(rows);
        flushes += 1;
        if flushes % 4 != 0 && !last {
            return;
        }
        let (want_hourly, want_daily) = roll_up(rows, |_| settings.tz());
        assert_eq!(hourly.clone().without_zero_rows(), want_hourly, "hourly");
        assert_eq!(daily.clone().without_zero_rows(), want_daily, "daily");
    };
    let mut newest = i64::MIN;
    for (_, e) in events {
        engine.ingest(e);
        newest = newest.max(time(e));
        engine.advance(newest - settings.allowed_lateness_ms);
        take(&mut engine, &mut rows, false);
    }
    engine.advance(w);
    take(&mut engine, &mut rows, true);
    rows.without_zero_rows()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_arrival_order_within_lateness_and_any_duplicates_give_the_same_rows(
        seed in 1u64..10_000, contacts in 20usize..120, dup_rate in 0.0f64..0.3
    ) {
        let config = SimConfig { seed, customers: 15, agents: 4, ..SimConfig::default() };
        let events = Sim::new(config).generate(START, contacts, 0.2);
        // Days in New York (rollups are checked at every flush), provisional rows every other
        // case: neither changes a minute row.
        let settings = TenantSettings {
            time_zone: "America/New_York".into(),
            ..TenantSettings::default()
        };
        let lateness = settings.allowed_lateness_ms;
        let w = last_time(&events) + 120_000;
        let mut rng = Rng::new(seed);
        // Arrival = event time + a delay below the lateness; duplicates arrive the same way.
        let mut arrivals: Vec<(i64, Event)> = Vec::new();
        let mut with_copies = Vec::new();
        for e in &events {
            arrivals.push((time(e) + rng.range(0, lateness - 1), e.clone()));
            with_copies.push(e.clone());
            if rng.chance(dup_rate) {
                arrivals.push((time(e) + rng.range(0, lateness - 1), e.clone()));
                with_copies.push(e.clone());
            }
        }
        arrivals.sort_by_key(|(at, _)| *at);
        let got = stream(&arrivals, &settings, w, seed % 2 == 0);
        let want = ccx_reference::compute(&with_copies, &settings, w);
        prop_assert!(got == want, "seed {seed}: rows differ:\n{}", diff(&got, &want));
    }
}

fn run_dataflow(events: &[Event], workers: usize, w: i64) -> FinalRows {
    let topic = MemoryTopic::new(8);
    for e in events {
        topic.append(&kafka_key(e), &e.encode_to_vec());
    }
    let sink = MemorySink::default();
    let options = StreamOptions {
        workers,
        partitions: 8,
        finish_at: Some(w),
        checkpoint_every_ms: 0,
        ..StreamOptions::default()
    };
    let log_topic = Arc::clone(&topic);
    let sinks = sink.clone();
    run(
        options,
        Settings::new(TenantSettings::default()),
        move |_| Ok(MemoryLog::new(Arc::clone(&log_topic))),
        move |_| Ok(sinks.clone()),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Progress::default()),
    )
    .expect("stream");
    sink.final_rows()
}

#[test]
fn the_dataflow_with_one_and_two_workers_equals_the_reference() {
    let config = SimConfig {
        tenants: (0..6).map(|i| format!("tenant-{i}")).collect(),
        ..SimConfig::default()
    };
    let events = Sim::new(config).generate(START, 1_500, 1.0);
    let w = last_time(&events) + 60_000;
    let want = ccx_reference::compute(&events, &TenantSettings::default(), w);
    for workers in [1, 2] {
        let got = run_dataflow(&events, workers, w);
        assert!(
            got == want,
            "{workers} workers: rows differ:\n{}",
            diff(&got, &want)
        );
    }
}
