//! Event-time progress per tenant, through the whole dataflow on a live in-process log:
//! tenants as independent sources (one a minute behind another, each with its own delays), a
//! tenant's lateness changed while the stream runs, a tenant's buffered history arriving
//! after an outage, and a two-day gap crossed at once. The real-broker versions are in
//! tests/it/backlog.rs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccx_model::rows::FinalRows;
use ccx_model::settings::TenantSettings;
use ccx_model::{kafka_key, timestamp_ms, Event};
use ccx_proto::prost::Message;
use ccx_sim::Sim;
use ccx_stream::dataflow::{run, Progress, StreamOptions};
use ccx_stream::engine::{Settings, SharedSettings};
use ccx_stream::sink::MemorySink;
use ccx_stream::source::{MemoryLog, MemoryTopic};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn time(e: &Event) -> i64 {
    e.occurred_at.as_ref().map(timestamp_ms).unwrap_or(0)
}

fn history(tenant: &str, seed: u64, start: i64, minutes: i64, disorder_ms: i64) -> Vec<Event> {
    Sim::source_history(tenant, seed, start, minutes, disorder_ms)
}

fn append(topic: &MemoryTopic, events: &[Event]) {
    for e in events {
        topic.append(&kafka_key(e), &e.encode_to_vec());
    }
}

/// A running stream: its sink, progress, stop flag and thread.
type Running = (
    MemorySink,
    Arc<Progress>,
    Arc<AtomicBool>,
    JoinHandle<Result<(), ccx_stream::StreamError>>,
);

/// A stream on `topic` until `stop`.
fn start(topic: &Arc<MemoryTopic>, settings: Settings, workers: usize) -> Running {
    let sink = MemorySink::default();
    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let options = StreamOptions {
        workers,
        partitions: topic.partitions() as u32,
        idle_timeout: Duration::from_millis(500),
        flush_interval: Duration::from_millis(100),
        checkpoint_every_ms: 0,
        ..StreamOptions::default()
    };
    let handle = {
        let (topic, sinks) = (Arc::clone(topic), sink.clone());
        let (stop, progress) = (Arc::clone(&stop), Arc::clone(&progress));
        std::thread::spawn(move || {
            run(
                options,
                settings,
                move |_| Ok(MemoryLog::new(Arc::clone(&topic))),
                move |_| Ok(sinks.clone()),
                stop,
                progress,
            )
        })
    };
    (sink, progress, stop, handle)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    wait_or(what, &mut done, String::new)
}

fn wait_or(what: &str, mut done: impl FnMut() -> bool, state: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn late(rows: &FinalRows, tenant: &str) -> u64 {
    rows.quality
        .iter()
        .filter(|((t, _), _)| t == tenant)
        .map(|(_, q)| q.late_dropped)
        .sum()
}

fn assert_tenant_equals_reference(got: &FinalRows, tenant: &str, events: &[Event], w: i64) {
    let want = ccx_reference::compute(events, &TenantSettings::default(), w);
    let got = got.of_tenant(tenant);
    let differ = |what: &str, n: usize, m: usize| format!("{tenant}: {what} differ ({n} vs {m})");
    assert!(
        got.queue == want.queue,
        "{}",
        differ("queue rows", got.queue.len(), want.queue.len())
    );
    assert!(
        got.agent == want.agent,
        "{}",
        differ("agent rows", got.agent.len(), want.agent.len())
    );
    assert!(
        got.agent_state == want.agent_state,
        "{}",
        differ(
            "agent state rows",
            got.agent_state.len(),
            want.agent_state.len()
        )
    );
    assert_eq!(got.quality, want.quality, "{tenant}: quality rows");
    assert_eq!(got.alerts, want.alerts, "{tenant}: churn alerts");
    assert!(
        want.queue.len() > 20,
        "{tenant}: {} queue rows",
        want.queue.len()
    );
}

/// Two tenants as independent sources: every 20 ms each sends its next 10 s of events; the
/// second one's source runs a minute behind the first's and has its own disorder. With one
/// clock for both, the second's events were late by a minute.
#[test]
fn a_tenant_a_minute_behind_another_loses_nothing() {
    let base = now_ms() - 3 * 3_600_000;
    let ahead = history("ahead", 3, base + 60_000, 20, 3_000);
    let behind = history("behind", 4, base, 20, 4_900);
    for workers in [1, 2] {
        let topic = MemoryTopic::new(4);
        let (sink, progress, stop, handle) =
            start(&topic, Settings::new(TenantSettings::default()), workers);
        let mut sent = [0usize, 0usize];
        let mut until = base;
        while sent[0] < ahead.len() || sent[1] < behind.len() {
            until += 10_000;
            for (i, events) in [&ahead, &behind].into_iter().enumerate() {
                // The second source is a minute behind: it sends what the first sent a
                // minute ago.
                let edge = if i == 0 { until + 60_000 } else { until };
                let n = events[sent[i]..]
                    .iter()
                    .take_while(|e| time(e) < edge)
                    .count();
                append(&topic, &events[sent[i]..sent[i] + n]);
                sent[i] += n;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let newest = ahead.iter().chain(&behind).map(time).max().unwrap();
        wait_for("both tenants past their last event", || {
            progress.watermark() > newest
        });
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap().unwrap();
        let rows = sink.final_rows();
        let w = progress.watermark();
        assert_eq!(late(&rows, "behind"), 0, "{workers} workers");
        assert_eq!(late(&rows, "ahead"), 0, "{workers} workers");
        assert_tenant_equals_reference(&rows, "ahead", &ahead, w);
        assert_tenant_equals_reference(&rows, "behind", &behind, w);
    }
}

/// Two tenants' sources go through their history at their own pace while another tenant is
/// live; after an outage each replays its last 30 minutes in one burst: copies of what it sent,
/// and a third of those minutes' events that never got through. One tenant's lateness is
/// raised to 1 h while the stream runs (before its outage): the replay is taken in whole. The
/// other, at the default 5 s, has the missing events counted late.
#[test]
fn a_lateness_raised_live_takes_a_replayed_half_hour_in() {
    let now = now_ms();
    let shared = Arc::new(SharedSettings::default());
    let mut settings = Settings::new(TenantSettings::default());
    settings.shared = Some(Arc::clone(&shared));
    let topic = MemoryTopic::new(4);
    let (sink, progress, stop, handle) = start(&topic, settings, 2);

    let start_at = now - 4 * 3_600_000;
    let live = history("live", 5, now - 60 * 60_000, 18, 2_000);
    let patient = history("patient", 6, start_at, 150, 2_000);
    let strict = history("strict", 7, start_at, 150, 2_000);
    let newest = patient.iter().chain(&strict).map(time).max().unwrap();
    let change = start_at + 40 * 60_000;
    let replay_from = newest - 30 * 60_000;
    // Sent by a tenant before its outage: all but a third of its last 30 minutes.
    let first = |events: &[Event]| -> Vec<Event> {
        let mut n = 0;
        events
            .iter()
            .filter(|e| {
                n += 1;
                time(e) < replay_from || n % 3 != 0
            })
            .cloned()
            .collect()
    };
    let replay = |events: &[Event]| -> Vec<Event> {
        events
            .iter()
            .filter(|e| time(e) >= replay_from)
            .cloned()
            .collect()
    };
    let sources = [first(&patient), first(&strict)];
    let mut sent = [0usize, 0usize];
    let mut live_sent = 0;
    let mut until = start_at;
    let mut changed = false;
    while sent[0] < sources[0].len() || sent[1] < sources[1].len() {
        until += 60_000;
        if !changed && until > change {
            let mut one_hour = HashMap::new();
            one_hour.insert(
                "patient".to_string(),
                TenantSettings {
                    allowed_lateness_ms: 3_600_000,
                    ..TenantSettings::default()
                },
            );
            shared.replace(one_hour);
            changed = true;
        }
        for (i, events) in sources.iter().enumerate() {
            let n = events[sent[i]..]
                .iter()
                .take_while(|e| time(e) < until)
                .count();
            append(&topic, &events[sent[i]..sent[i] + n]);
            sent[i] += n;
        }
        let n = (live.len() - live_sent).min(8);
        append(&topic, &live[live_sent..live_sent + n]);
        live_sent += n;
        std::thread::sleep(Duration::from_millis(10));
    }
    // Back online: each replays its last 30 minutes at once.
    append(&topic, &replay(&patient));
    append(&topic, &replay(&strict));
    append(&topic, &live[live_sent..]);
    let live_newest = live.iter().map(time).max().unwrap();
    // Quiet, the replaying tenants follow the clock, each minus its own lateness.
    wait_or(
        "every tenant past its last event",
        || {
            let w = progress.tenant_watermarks();
            [
                ("live", live_newest),
                ("patient", newest),
                ("strict", newest),
            ]
            .iter()
            .all(|(t, newest)| w.get(*t).is_some_and(|w| w > newest))
        },
        || {
            format!(
                "now {}, newest {newest}, live {live_newest}, watermarks {:?}",
                now_ms(),
                progress.tenant_watermarks()
            )
        },
    );
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap().unwrap();
    let rows = sink.final_rows();
    let w = progress.tenant_watermarks();
    assert_eq!(late(&rows, "live"), 0);
    assert_eq!(late(&rows, "patient"), 0);
    let with_copies: Vec<Event> = sources[0].iter().cloned().chain(replay(&patient)).collect();
    assert_tenant_equals_reference(&rows, "live", &live, w["live"]);
    assert_tenant_equals_reference(&rows, "patient", &with_copies, w["patient"]);
    // The strict tenant's replay was behind its watermark: counted, not applied.
    let missing =
        replay(&strict).len() - (sources[1].len() - (strict.len() - replay(&strict).len()));
    let dropped = late(&rows, "strict");
    assert!(
        dropped >= missing as u64,
        "{dropped} late, {missing} never sent before"
    );
}

/// A tenant's history two days ago, then nothing: once idle its watermark crosses the two
/// days in one step — one write of rows, not one per minute or per checkpoint interval.
#[test]
fn crossing_two_days_without_events_costs_one_write() {
    let topic = MemoryTopic::new(2);
    let two_days_ago = now_ms() - 2 * 86_400_000;
    let events = history("away", 8, two_days_ago, 5, 1_000);
    append(&topic, &events);
    let (sink, progress, stop, handle) = start(&topic, Settings::new(TenantSettings::default()), 1);
    let newest = events.iter().map(time).max().unwrap();
    wait_for("the history to be read", || {
        ccx_model::sync::lock(&sink.shared).events == events.len()
    });
    // Rows of the history's minutes are written as its watermark passes them.
    wait_for("the history's own watermark", || {
        progress.watermark() >= newest - 5_000
    });
    let writes = ccx_model::sync::lock(&sink.shared).writes;
    let started = Instant::now();
    wait_for("the watermark to cross two days", || {
        progress.watermark() > now_ms() - 60_000
    });
    let crossed = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap().unwrap();
    let after = ccx_model::sync::lock(&sink.shared).writes;
    // The idle timeout (500 ms) is most of the time taken.
    assert!(crossed < Duration::from_secs(1), "{crossed:?}");
    assert!(
        after - writes <= 2,
        "{} writes to cross two days",
        after - writes
    );
    assert_tenant_equals_reference(&sink.final_rows(), "away", &events, progress.watermark());
}
