//! End-to-end latency (SPEC §6): a simulated contact center publishing about `--rate`
//! events/s for `--seconds` through the collector (gRPC), into the real broker, through the
//! stream (provisional rows on), into the real ClickHouse server. Every 100 ms a probe event
//! (a contact offered to a queue of its own) is published; a poller sees when its row is
//! visible in `queue_metrics_1m FINAL`. Prints the ack -> visible latency percentiles and
//! checks that nothing was lost or doubled.
//!
//! Usage: `cargo run --release -p ccx-load-tests --bin e2e-bench -- --rate 20000 --seconds 60`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccx_e2e::{now_ms, publish_by_tenant, unique_topic, Pipeline, TENANTS};
use ccx_model::{ms_timestamp, timestamp_ms, Channel, Direction, Event, EventType};
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_sim::{Sim, SimConfig};
use ccx_store::Store;
use ccx_stream::dataflow::StreamOptions;
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

const PARTITIONS: u32 = 8;

/// The stream runs in this process: it allocates as `ccx` does (jemalloc, huge pages).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Probe queue -> (acknowledged at, first seen in ClickHouse at).
type Probes = Arc<Mutex<HashMap<String, (Instant, Option<Instant>)>>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let p = Pipeline::start("bench.e2e", PARTITIONS).await?;

    // The stream, in this process, on its own threads.
    let options = StreamOptions {
        workers: args.workers,
        partitions: PARTITIONS,
        flush_interval: Duration::from_millis(250),
        idle_timeout: Duration::from_secs(3),
        checkpoint_dir: Some(std::env::temp_dir().join(unique_topic("ccx-bench-ckpt"))),
        ..StreamOptions::default()
    };
    let stream = p.spawn_stream(options);
    let (progress, stop) = (
        std::sync::Arc::clone(&stream.progress),
        std::sync::Arc::clone(&stream.stop),
    );
    let (store, collector) = (p.store.clone(), p.collector);

    // The load: contacts whose events are published when their time comes. They are
    // generated first and then moved to start a second from now, so that publishing starts
    // on time (a backlog published tenant by tenant would put some tenants' events more than
    // the allowed lateness behind others in the same partitions).
    // Within a short window most events of a contact are its offer and answer (ends and
    // wrap-ups fall later): about 2.9 events per contact offered in the window, the agent's
    // state change at the answer included.
    let contacts = (args.rate * args.seconds) as f64 / 2.9;
    let contacts = contacts as usize;
    let sim_config = SimConfig {
        tenants: TENANTS.iter().map(|t| t.to_string()).collect(),
        customers: 20_000,
        agents: 100,
        ..SimConfig::default()
    };
    let base = now_ms();
    let mut events =
        Sim::new(sim_config).generate(base, contacts, contacts as f64 / args.seconds as f64);
    let start = now_ms() + 1_000;
    for e in &mut events {
        let t = e.occurred_at.as_ref().map(timestamp_ms).unwrap_or(base);
        e.occurred_at = Some(ms_timestamp(t - base + start));
    }
    let end = start + args.seconds as i64 * 1000;
    events.retain(|e| e.occurred_at.as_ref().map(timestamp_ms).unwrap_or(0) < end);
    let mut client = CollectorClient::connect(format!("http://{}", collector.grpc_addr)).await?;

    let probes: Probes = Arc::default();
    let poller = tokio::spawn(poll_probes(store.clone(), Arc::clone(&probes)));

    let mut next = 0usize;
    let mut published = 0usize;
    let mut offered = 0usize;
    let mut probe_n = 0u64;
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while now_ms() < end {
        tick.tick().await;
        let now = now_ms();
        let upto = events[next..]
            .iter()
            .position(|e| e.occurred_at.as_ref().map(timestamp_ms).unwrap_or(0) > now)
            .map_or(events.len(), |p| next + p);
        let due = &events[next..upto];
        next = upto;
        offered += due
            .iter()
            .filter(|e| e.r#type == EventType::ContactOffered as i32)
            .count();
        published += due.len();
        publish_by_tenant(&mut client, due, 5_000).await?;
        // One probe per tick.
        probe_n += 1;
        let queue = format!("probe-{probe_n}");
        let probe = probe_event(&queue, now);
        publish_by_tenant(&mut client, std::slice::from_ref(&probe), 5_000).await?;
        ccx_model::sync::lock(&probes).insert(queue, (Instant::now(), None));
        published += 1;
        offered += 1;
    }
    let publish_seconds = started.elapsed().as_secs_f64();
    // Let the last probes become visible, then the watermark pass everything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let target = now_ms() - 1_000;
    let deadline = Instant::now() + Duration::from_secs(120);
    while progress.watermark() < target && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    poller.abort();
    let gave_up = Instant::now();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    stream
        .handle
        .join()
        .map_err(|_| anyhow::anyhow!("stream panicked"))?
        .map_err(|e| anyhow::anyhow!(e))?;

    // A probe never seen counts with the time until the poller gave up (a lower bound).
    let probes = ccx_model::sync::lock(&probes).clone();
    let seen = probes.values().filter(|(_, s)| s.is_some()).count();
    let mut latencies: Vec<f64> = probes
        .values()
        .map(|(ack, s)| s.unwrap_or(gave_up).duration_since(*ack).as_secs_f64() * 1000.0)
        .collect();
    let probes_sent = probe_n as usize;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let stored_offered = store
        .query_json("SELECT sum(offered) AS n FROM ccx.queue_metrics_1m FINAL")
        .await?[0]["n"]
        .as_u64()
        .unwrap_or(0);
    let stored_events = store
        .query_json("SELECT count() AS n FROM ccx.events FINAL")
        .await?[0]["n"]
        .as_u64()
        .unwrap_or(0);
    let late = store
        .query_json("SELECT sum(late_dropped) AS n FROM ccx.ingest_quality_1m FINAL")
        .await?[0]["n"]
        .as_u64()
        .unwrap_or(0);
    println!("| what | value |");
    println!("|---|---|");
    println!(
        "| events published (acknowledged) | {published} in {publish_seconds:.1} s = {:.0}/s |",
        published as f64 / publish_seconds
    );
    println!("| probes visible / sent | {seen} / {probes_sent} |");
    println!(
        "| ack -> visible p50 / p99 / max (unseen probes: until given up) | {:.0} / {:.0} / {:.0} ms |",
        pct(0.5),
        pct(0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| CONTACT_OFFERED published / sum(offered) in ClickHouse | {offered} / {stored_offered} |"
    );
    println!("| events published / rows in ccx.events | {published} / {stored_events} |");
    println!("| events behind the watermark (late_dropped: counted, not applied) | {late} |");
    collector.stop().await;
    Ok(())
}

fn probe_event(queue: &str, now: i64) -> Event {
    Event {
        event_id: format!("{queue}-offer"),
        tenant_id: "tenant-0".into(),
        r#type: EventType::ContactOffered as i32,
        occurred_at: Some(ms_timestamp(now)),
        contact_id: format!("{queue}-contact"),
        customer_id: "probe-customer".into(),
        channel: Channel::Chat as i32,
        direction: Direction::Outbound as i32,
        queue_id: queue.into(),
        ..Event::default()
    }
}

async fn poll_probes(store: Store, probes: Probes) {
    let sql = "SELECT queue_id FROM ccx.queue_metrics_1m FINAL \
               WHERE tenant_id = 'tenant-0' AND queue_id LIKE 'probe-%' AND offered > 0";
    loop {
        if let Ok(rows) = store.query_json(sql).await {
            let now = Instant::now();
            let mut probes = ccx_model::sync::lock(&probes);
            for row in rows {
                if let Some(q) = row["queue_id"].as_str() {
                    if let Some((_, seen)) = probes.get_mut(q) {
                        seen.get_or_insert(now);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
