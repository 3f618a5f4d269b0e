//! Exactness under backlog, with the real broker and the real ClickHouse server: the same
//! history of four tenants (a day and more in the past) published (a) in one burst to a
//! running stream, (b) slowly, each tenant as its own source with its own delays and one a
//! minute behind the others, (c) in one burst while the stream is down, then started. Every
//! `… FINAL` row equals the reference model and nothing is counted late.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ccx_e2e::*;
use ccx_model::settings::TenantSettings;
use ccx_model::Event;
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
                let mut until = first + if i == 1 { 0 } else { 60_000 };
                let mut sent = 0;
                let mut step = 0;
                while sent < mine.len() {
                    until += 120_000;
                    let n = mine[sent..].iter().take_while(|e| time(e) < until).count();
                    if n > 0 {
                        publish_all_at_once(grpc, &mine[sent..sent + n], 500).await;
                    }
                    sent += n;
                    step += 1;
                    let pause = if i == 2 && step % 5 == 0 { 2_000 } else { 200 };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            })
        })
        .collect();
    for source in sources {
        source.await.expect("source");
    }
    finish_and_compare(&p, stream, &events).await;
    p.collector.stop().await;
}
