//! Exactness under backlog, with the real broker and the real ClickHouse server: the same
//! history of four tenants (a day and more in the past) published (a) in one burst to a
//! running stream, (b) slowly, each tenant as its own source with its own delays and one a
//! minute behind the others, (c) in one burst while the stream is down, then started, (d) one
//! tenant live while two others replay their last 30 minutes in one burst: every `… FINAL` row
//! equals the reference model and nothing is counted late — except the replaying tenant whose
//! lateness is the default 5 s: its missing events are counted late, and `ccx backfill` then
//! makes its rows equal the reference.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ccx_e2e::*;
use ccx_model::rows::FinalRows;
use ccx_model::settings::TenantSettings;
use ccx_model::Event;
use ccx_sim::Sim;
use ccx_stream::backfill::{backfill, Range};
use ccx_stream::dataflow::StreamOptions;

const PARTITIONS: u32 = 8;

fn time(e: &Event) -> i64 {
    e.occurred_at
        .as_ref()
        .map(ccx_model::timestamp_ms)
        .unwrap_or(0)
}

/// Four tenants' 40 minutes, starting `days_ago` days ago; each tenant's events in the order
/// its source sends them (up to 3 s after their time).
fn history(days_ago: i64) -> Vec<Event> {
    let start = now_ms() - days_ago * 86_400_000;
    let mut events = simulated(23, start, 1_200, 0.5);
    let mut rng = ccx_sim::Rng::new(5);
    let mut sent: Vec<(i64, Event)> = events
        .drain(..)
        .map(|e| (time(&e) + rng.range(0, 3_000), e))
        .collect();
    sent.sort_by_key(|(at, _)| *at);
    sent.into_iter().map(|(_, e)| e).collect()
}

fn start_stream(p: &Pipeline) -> StreamThread {
    p.spawn_stream(StreamOptions {
        workers: 2,
        partitions: PARTITIONS,
        idle_timeout: Duration::from_secs(3),
        checkpoint_every_ms: 0,
        ..StreamOptions::default()
    })
}

/// Waits until every tenant is past the history, stops the stream and compares every row.
async fn finish_and_compare(p: &Pipeline, stream: StreamThread, events: &[Event]) {
    let target = newest(events) + 1;
    let deadline = Instant::now() + Duration::from_secs(180);
    while stream.progress.watermark() < target {
        assert!(
            Instant::now() < deadline,
            "watermark stuck at {}",
            stream.progress.watermark()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stream.stop.store(true, Ordering::Relaxed);
    stream.handle.join().expect("join").expect("stream");
    let want = ccx_reference::compute(
        events,
        &TenantSettings::default(),
        stream.progress.watermark(),
    );
    let got = p.store.read_final(None).await.expect("read");
    let late: u64 = got.quality.values().map(|q| q.late_dropped).sum();
    assert_eq!(late, 0, "events counted late");
    assert_same_rows(&got, &want);
    assert!(want.queue.len() > 100, "{} queue rows", want.queue.len());
}

/// Sends each tenant's events in requests of `chunk`, tenants taking turns, as fast as the
/// collector acknowledges them.
async fn publish_burst(grpc: std::net::SocketAddr, events: &[Event], chunk: usize) {
    let mut per_tenant: Vec<Vec<Event>> = TENANTS
        .iter()
        .map(|t| {
            events
                .iter()
                .filter(|e| e.tenant_id == *t)
                .cloned()
                .collect()
        })
        .collect();
    let mut round: Vec<Event> = Vec::new();
    while per_tenant.iter().any(|e| !e.is_empty()) {
        for events in per_tenant.iter_mut() {
            let n = events.len().min(chunk);
            round.extend(events.drain(..n));
        }
        publish_all_at_once(grpc, &round, chunk).await;
        round.clear();
    }
}

/// Sends `events` as a source does: every step, the events before `start` plus that many
/// steps of `step_ms` event time, then a pause of `pause_ms(step)` (steps counted from 1).
async fn send_as_source(
    grpc: std::net::SocketAddr,
    events: &[Event],
    start: i64,
    step_ms: i64,
    pause_ms: impl Fn(u64) -> u64,
) {
    let mut until = start;
    let mut sent = 0;
    let mut step = 0;
    while sent < events.len() {
        until += step_ms;
        let n = events[sent..]
            .iter()
            .take_while(|e| time(e) < until)
            .count();
        if n > 0 {
            publish_all_at_once(grpc, &events[sent..sent + n], 500).await;
        }
        sent += n;
        step += 1;
        tokio::time::sleep(Duration::from_millis(pause_ms(step))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_history_to_a_running_stream_loses_nothing() {
    let p = Pipeline::start("ccx.events.burst", PARTITIONS)
        .await
        .expect("pipeline");
    let stream = start_stream(&p);
    let events = history(2);
    publish_burst(p.collector.grpc_addr, &events, 500).await;
    finish_and_compare(&p, stream, &events).await;
    p.collector.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_published_while_the_stream_is_down_is_read_as_a_backlog() {
    let p = Pipeline::start("ccx.events.down", PARTITIONS)
        .await
        .expect("pipeline");
    let events = history(3);
    publish_burst(p.collector.grpc_addr, &events, 500).await;
    let stream = start_stream(&p);
    finish_and_compare(&p, stream, &events).await;
    p.collector.stop().await;
}

/// Each tenant a source of its own: every 200 ms it sends its next two minutes of events;
/// tenant-1's source runs a minute behind the others, tenant-2's pauses 2 s now and then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_as_independent_sources_lose_nothing() {
    let p = Pipeline::start("ccx.events.sources", PARTITIONS)
        .await
        .expect("pipeline");
    let stream = start_stream(&p);
    let events = history(1);
    let first = events.iter().map(time).min().unwrap();
    let grpc = p.collector.grpc_addr;
    let sources: Vec<_> = TENANTS
        .iter()
        .enumerate()
        .map(|(i, tenant)| {
            let mine: Vec<Event> = events
                .iter()
                .filter(|e| e.tenant_id == *tenant)
                .cloned()
                .collect();
            tokio::spawn(async move {
                let start = first + if i == 1 { 0 } else { 60_000 };
                send_as_source(grpc, &mine, start, 120_000, |step| {
                    if i == 2 && step % 5 == 0 {
                        2_000
                    } else {
                        200
                    }
                })
                .await;
            })
        })
        .collect();
    for source in sources {
        source.await.expect("source");
    }
    finish_and_compare(&p, stream, &events).await;
    p.collector.stop().await;
}

fn late(rows: &FinalRows) -> u64 {
    rows.quality.values().map(|q| q.late_dropped).sum()
}

/// Minutes of `tenant` whose late events no backfill took in yet (the wallboard's question).
async fn minutes_due(p: &Pipeline, tenant: &str) -> u64 {
    let sql = format!(
        "SELECT count() AS due FROM (SELECT window_start, sum(late) AS late, sum(covered) AS \
         covered FROM (SELECT window_start, late_dropped AS late, toUInt64(0) AS covered \
         FROM ccx.ingest_quality_1m FINAL WHERE tenant_id = '{tenant}' UNION ALL SELECT \
         window_start, toUInt64(0) AS late, late_covered AS covered FROM ccx.backfills FINAL \
         WHERE tenant_id = '{tenant}') GROUP BY window_start) WHERE late > covered"
    );
    let rows = p.store.query_json(&sql).await.expect("minutes due");
    rows[0]["due"].as_u64().expect("a count")
}

/// (d) and the backfill. tenant-0 is live (its source sends as its contacts happen, 60 times
/// faster than real time). tenant-1 (allowed lateness 1 h) and tenant-2 (the default 5 s) each
/// send their history as an independent source, all but a third of its last 30 minutes, then
/// replay those 30 minutes in one burst: copies of what got through and the third that did
/// not. tenant-1 loses nothing. tenant-2's missing third is behind its watermark: counted late,
/// and the minutes are due a backfill; `ccx backfill` makes its rows equal the reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_half_hour_is_taken_in_or_backfilled() {
    let p = Pipeline::start("ccx.events.replay", PARTITIONS)
        .await
        .expect("pipeline");
    let patient = TenantSettings {
        allowed_lateness_ms: 3_600_000,
        ..TenantSettings::default()
    };
    let mut settings = ccx_stream::Settings::new(TenantSettings::default());
    settings.tenants = HashMap::from([("tenant-1".to_string(), patient)]);
    let stream = p.spawn_stream_with(
        StreamOptions {
            workers: 2,
            partitions: PARTITIONS,
            idle_timeout: Duration::from_secs(3),
            checkpoint_every_ms: 0,
            ..StreamOptions::default()
        },
        settings,
    );
    let now = now_ms();
    let live = Sim::source_history("tenant-0", 31, now - 45 * 60_000, 25, 2_000);
    // tenant-1 between 3 h and 1.5 h ago: once idle, its watermark (the clock − 1 h) passes
    // it. tenant-2 two days ago: far enough behind its watermark to be final, so backfillable.
    let replayers = [
        Sim::source_history("tenant-1", 32, now - 3 * 3_600_000, 90, 2_000),
        Sim::source_history("tenant-2", 33, now - 2 * 86_400_000, 90, 2_000),
    ];
    let grpc = p.collector.grpc_addr;
    let live_source = {
        let live = live.clone();
        tokio::spawn(async move {
            let start = live.iter().map(time).min().unwrap();
            send_as_source(grpc, &live, start, 6_000, |_| 100).await;
        })
    };
    let sources: Vec<_> = replayers
        .iter()
        .cloned()
        .map(|events| {
            tokio::spawn(async move {
                let newest = events.iter().map(time).max().unwrap();
                let replay_from = newest - 30 * 60_000;
                let mut n = 0;
                let first: Vec<Event> = events
                    .iter()
                    .filter(|e| {
                        n += 1;
                        time(e) < replay_from || n % 3 != 0
                    })
                    .cloned()
                    .collect();
                let start = events.iter().map(time).min().unwrap();
                send_as_source(grpc, &first, start, 120_000, |_| 100).await;
                let replay: Vec<Event> = events
                    .iter()
                    .filter(|e| time(e) >= replay_from)
                    .cloned()
                    .collect();
                publish_all_at_once(grpc, &replay, 500).await;
                first.into_iter().chain(replay).collect::<Vec<Event>>()
            })
        })
        .collect();
    let mut published = Vec::new();
    for source in sources {
        published.push(source.await.expect("source"));
    }
    live_source.await.expect("live source");

    // Every tenant past its history (the replayers idle, following the clock).
    let ends: Vec<(&str, i64)> = [("tenant-0", newest(&live))]
        .into_iter()
        .chain([
            ("tenant-1", newest(&replayers[0])),
            ("tenant-2", newest(&replayers[1])),
        ])
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let w = stream.progress.tenant_watermarks();
        if ends.iter().all(|(t, n)| w.get(*t).is_some_and(|w| w > n)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "watermarks {w:?}, newest {ends:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stream.stop.store(true, Ordering::Relaxed);
    stream.handle.join().expect("join").expect("stream");
    let w = stream.progress.tenant_watermarks();
    let settings = TenantSettings::default();
    let got = p.store.read_final(None).await.expect("read");
    for (tenant, events) in [("tenant-0", &live), ("tenant-1", &published[0])] {
        let want = ccx_reference::compute(events, &settings, w[tenant]);
        let got = got.of_tenant(tenant);
        assert_eq!(late(&got), 0, "{tenant}: events counted late");
        assert_same_rows(&got, &want);
        assert!(
            want.queue.len() > 20,
            "{tenant}: {} queue rows",
            want.queue.len()
        );
    }

    // tenant-2: its missing third was late; the rows lack it.
    let tenant = "tenant-2";
    let want = ccx_reference::compute(&published[1], &settings, w[tenant]);
    let before = got.of_tenant(tenant);
    let never_sent = replayers[1].len() / 3 / 3;
    assert!(
        late(&before) >= never_sent as u64 / 2,
        "{} late",
        late(&before)
    );
    assert_ne!(
        before.queue, want.queue,
        "the late events are missing from the rows"
    );
    let due = minutes_due(&p, tenant).await;
    assert!(due > 0, "no minute due a backfill");

    let first = replayers[1].iter().map(time).min().unwrap();
    let range = Range {
        tenant: tenant.into(),
        from_ms: first,
        to_ms: newest(&replayers[1]) + 60_000,
    };
    let report = backfill(&p.store, None, &settings, &range)
        .await
        .expect("backfill");
    assert_eq!(report.late_covered, late(&before));
    assert!(report.events_read >= replayers[1].len() - late(&before) as usize);
    let after = p
        .store
        .read_final(None)
        .await
        .expect("read")
        .of_tenant(tenant);
    assert_eq!(after.queue, want.queue, "queue rows after the backfill");
    assert_eq!(after.agent, want.agent, "agent rows after the backfill");
    assert_eq!(
        after.agent_state, want.agent_state,
        "agent state rows after the backfill"
    );
    assert_eq!(after.reason, want.reason, "reason rows after the backfill");
    assert_eq!(after.alerts, want.alerts, "churn alerts after the backfill");
    // Alerts raised on the incomplete events that the complete ones do not raise are gone.
    let withdrawn = before
        .alerts
        .iter()
        .filter(|a| !want.alerts.iter().any(|w| w.alert_id == a.alert_id))
        .count();
    assert_eq!(report.withdrawn, withdrawn);
    // Ingest quality still says what arrived late; no minute is due any more.
    assert_eq!(late(&after), late(&before));
    assert_eq!(minutes_due(&p, tenant).await, 0);

    // Minutes the stream may still change are refused, naming the option.
    let recent = Range {
        tenant: tenant.into(),
        from_ms: now - 3_600_000,
        to_ms: now,
    };
    let refused = backfill(&p.store, None, &settings, &recent)
        .await
        .unwrap_err();
    assert!(refused.to_string().starts_with("--to: "), "{refused}");
    p.collector.stop().await;
}
