//! End-to-end latency (SPEC §6): a simulated contact center publishing about `--rate`
//! events/s for `--seconds` through the collector (gRPC), into the real broker, through the
//! stream (provisional rows on), into the real ClickHouse server. Every 100 ms a probe is
//! published: a contact offered to a queue of its own and a state change of an agent of its
//! own; a poller sees (every 50 ms) when the contact's row is visible in
//! `queue_metrics_1m FINAL`, when it waits in `queue_now FINAL` and when the agent is in
//! `agent_now FINAL` (the live floor).
//! Prints the ack -> visible latency percentiles of each and checks that nothing was lost or
//! doubled.
//!
//! With `--dom-probes DIR` it also serves the wallboard over the same ClickHouse (printing
//! `wallboard on http://…`), waits until `DIR/ready` exists (a browser signed in as
//! `--dom-tenant` and watching: `load-tests/browser/dom-latency.mjs`), publishes at every tick
//! a contact offered to that tenant's queue `dom-probe` (it keeps waiting), and writes the
//! probes' acknowledgement times (Unix ms, in order) to `DIR/acks.json`. The watched tenant is
//! by default tenant-1, whose floor is the simulator's: tenant-0 also carries the probes above,
//! a queue and an agent of their own each, 600 more tiles by the end of a minute.
//!
//! Usage: `cargo run --release -p ccx-load-tests --bin e2e-bench -- --rate 20000 --seconds 60`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccx_e2e::{now_ms, publish_by_tenant, unique_topic, Pipeline, TENANTS};
use ccx_model::{ms_timestamp, timestamp_ms, AgentState, Channel, Direction, Event, EventType};
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
    /// Serve the wallboard and publish probes for a browser watching it (see above).
    #[arg(long)]
    dom_probes: Option<std::path::PathBuf>,
    /// The tenant whose wallboard the browser watches and whose queue `dom-probe` the DOM
    /// probes are offered to.
    #[arg(long, default_value = "tenant-1")]
    dom_tenant: String,
    /// Processing time between the stream's checkpoints, in ms (default: the stream's).
    #[arg(long)]
    checkpoint_every_ms: Option<u64>,
    /// Where the stream writes its checkpoints (default: a new directory under the system's
    /// temporary directory).
    #[arg(long)]
    checkpoint_dir: Option<std::path::PathBuf>,
    /// The stream's flush interval (the live floor's pace), in ms (default: the stream's).
    #[arg(long)]
    flush_ms: Option<u64>,
    /// How often the stream brings agents' open minutes up to the watermark, in ms (default:
    /// the stream's).
    #[arg(long)]
    state_accrual_ms: Option<u64>,
    /// How often the wallboard recomputes a watched board, in ms (default: the wallboard's).
    #[arg(long)]
    refresh_ms: Option<u64>,
    /// A librdkafka property of the stream's consumer, `KEY=VALUE` (repeatable), such as
    /// `fetch.wait.max.ms=50`: the test broker answers a fetch only when that wait is over.
    #[arg(long, value_parser = key_value)]
    stream_kafka: Vec<(String, String)>,
    /// Write to a replicated ClickHouse cluster: a ZooKeeper and one shard of two replicas
    /// (the cluster layout of docs/operations.md) instead of one server.
    #[arg(long)]
    replicated: bool,
}

const PARTITIONS: u32 = 8;

fn key_value(arg: &str) -> Result<(String, String), String> {
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("{arg:?} is not KEY=VALUE"))?;
    Ok((key.to_string(), value.to_string()))
}

/// The stream runs in this process: it allocates as `ccx` does (jemalloc, huge pages).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Where a probe becomes visible, in the order of [`Probe::seen`]: the table, and a query
/// whose `{in}` the poller fills with the probes not seen there yet (as that table names them,
/// the prefix before the probe's name).
const VIEWS: [(&str, &str, &str); 3] = [
    (
        "queue_metrics_1m",
        "SELECT queue_id AS probe FROM ccx.queue_metrics_1m FINAL \
         WHERE tenant_id = 'tenant-0' AND queue_id IN ({in}) AND offered > 0",
        "",
    ),
    (
        "queue_now",
        "SELECT queue_id AS probe FROM ccx.queue_now FINAL \
         WHERE tenant_id = 'tenant-0' AND queue_id IN ({in}) AND waiting > 0",
        "",
    ),
    (
        "agent_now",
        "SELECT replaceOne(agent_id, 'agent-', '') AS probe FROM ccx.agent_now FINAL \
         WHERE tenant_id = 'tenant-0' AND agent_id IN ({in}) AND state = 'AVAILABLE'",
        "agent-",
    ),
];

/// One probe: acknowledged at, first seen in each of [`VIEWS`] at.
#[derive(Clone, Copy)]
struct Probe {
    ack: Instant,
    seen: [Option<Instant>; 3],
}

/// By probe name (`probe-N`).
type Probes = Arc<Mutex<HashMap<String, Probe>>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (_cluster, mut p) = if args.replicated {
        let (cluster, config) = ccx_store::testing::cluster::ClickHouseCluster::start(&[2])
            .map_err(anyhow::Error::msg)?;
        let p = Pipeline::start_on("bench.e2e", PARTITIONS, config, None).await?;
        (Some(cluster), p)
    } else {
        (None, Pipeline::start("bench.e2e", PARTITIONS).await?)
    };

    // The stream, in this process, on its own threads.
    let defaults = StreamOptions::default();
    let options = StreamOptions {
        workers: args.workers,
        partitions: PARTITIONS,
        flush_interval: args
            .flush_ms
            .map_or(defaults.flush_interval, Duration::from_millis),
        idle_timeout: Duration::from_secs(3),
        state_accrual: args
            .state_accrual_ms
            .map_or(defaults.state_accrual, Duration::from_millis),
        checkpoint_dir: Some(
            args.checkpoint_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir)
                .join(unique_topic("ccx-bench-ckpt")),
        ),
        checkpoint_every_ms: args
            .checkpoint_every_ms
            .unwrap_or(defaults.checkpoint_every_ms),
        ..defaults
    };
    p.config
        .kafka
        .properties
        .extend(args.stream_kafka.iter().cloned());
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

    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut dom_acks: Vec<i64> = Vec::new();
    if let Some(dir) = &args.dom_probes {
        let mut options = ccx_wallboard::Options::new(([127, 0, 0, 1], 0).into());
        options.tenants = p.config.tenants.clone();
        if let Some(ms) = args.refresh_ms {
            options.refresh = Duration::from_millis(ms);
        }
        let source = Arc::new(ccx_wallboard::ClickHouseSource::new(store.clone()));
        let board = ccx_wallboard::serve(options, source, shutdown.clone()).await?;
        println!("wallboard on http://{}", board.addr);
        let ready = dir.join("ready");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ready.exists() {
            anyhow::ensure!(Instant::now() < deadline, "no browser signed in");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

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
        let name = format!("probe-{probe_n}");
        publish_by_tenant(&mut client, &probe_events(&name, now), 5_000).await?;
        let probe = Probe {
            ack: Instant::now(),
            seen: [None; 3],
        };
        ccx_model::sync::lock(&probes).insert(name, probe);
        published += 2;
        offered += 1;
        if args.dom_probes.is_some() {
            let mut probe = probe_events(&format!("dom-{probe_n}"), now_ms()).swap_remove(0);
            probe.queue_id = "dom-probe".into();
            probe.tenant_id = args.dom_tenant.clone();
            publish_by_tenant(&mut client, std::slice::from_ref(&probe), 5_000).await?;
            dom_acks.push(now_ms());
            published += 1;
            offered += 1;
        }
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

    let probes = ccx_model::sync::lock(&probes).clone();
    let probes_sent = probe_n as usize;
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
    for (view, (table, _, _)) in VIEWS.iter().enumerate() {
        // A probe never seen counts with the time until the poller gave up (a lower bound).
        let seen = probes.values().filter(|p| p.seen[view].is_some()).count();
        let mut latencies: Vec<f64> = probes
            .values()
            .map(|p| {
                p.seen[view]
                    .unwrap_or(gave_up)
                    .duration_since(p.ack)
                    .as_secs_f64()
                    * 1e3
            })
            .collect();
        latencies.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 - 1.0) * p) as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!("| probes visible in {table} FINAL / sent | {seen} / {probes_sent} |");
        println!(
            "| ack -> visible in {table} p50 / p99 / max (unseen: until given up) | {:.0} / {:.0} / {:.0} ms |",
            pct(0.5),
            pct(0.99),
            latencies.last().copied().unwrap_or(f64::NAN)
        );
        // When in the run the slow probes were acknowledged: the slowest of each 5 s.
        let mut by_5s = vec![0f64; (publish_seconds / 5.0).ceil() as usize + 1];
        for p in probes.values() {
            let slot = (p.ack.duration_since(started).as_secs_f64() / 5.0) as usize;
            let ms = p.seen[view]
                .unwrap_or(gave_up)
                .duration_since(p.ack)
                .as_secs_f64()
                * 1e3;
            if let Some(max) = by_5s.get_mut(slot) {
                *max = max.max(ms);
            }
        }
        let by_5s: Vec<String> = by_5s.iter().map(|ms| format!("{ms:.0}")).collect();
        println!(
            "| {table}: slowest probe of each 5 s of the run | {} ms |",
            by_5s.join(" ")
        );
    }
    println!(
        "| CONTACT_OFFERED published / sum(offered) in ClickHouse | {offered} / {stored_offered} |"
    );
    println!("| events published / rows in ccx.events | {published} / {stored_events} |");
    println!("| events behind the watermark (late_dropped: counted, not applied) | {late} |");
    if let Some(dir) = &args.dom_probes {
        std::fs::write(dir.join("acks.json"), serde_json::to_vec(&dom_acks)?)?;
        shutdown.cancel();
    }
    collector.stop().await;
    Ok(())
}

/// A contact offered to queue `name` (it stays waiting) and agent `agent-<name>` becoming
/// available.
fn probe_events(name: &str, now: i64) -> Vec<Event> {
    let offer = Event {
        event_id: format!("{name}-offer"),
        tenant_id: "tenant-0".into(),
        r#type: EventType::ContactOffered as i32,
        occurred_at: Some(ms_timestamp(now)),
        contact_id: format!("{name}-contact"),
        customer_id: "probe-customer".into(),
        channel: Channel::Chat as i32,
        direction: Direction::Outbound as i32,
        queue_id: name.into(),
        ..Event::default()
    };
    let agent = Event {
        event_id: format!("{name}-agent"),
        tenant_id: "tenant-0".into(),
        r#type: EventType::AgentStateChanged as i32,
        occurred_at: Some(ms_timestamp(now)),
        agent_id: format!("agent-{name}"),
        agent_state: AgentState::Available as i32,
        ..Event::default()
    };
    vec![offer, agent]
}

/// Marks the probes as they become visible in each of [`VIEWS`], every 50 ms: one query for
/// the three views, about the probes not seen yet (a handful). A query per view for every
/// probe so far (hundreds by the end) made the measurement a sizeable share of ClickHouse's
/// work (docs/benchmarks.md).
async fn poll_probes(store: Store, probes: Probes) {
    loop {
        let parts: Vec<String> = {
            let probes = ccx_model::sync::lock(&probes);
            VIEWS
                .iter()
                .enumerate()
                .filter_map(|(view, (_, sql, prefix))| {
                    let unseen: Vec<String> = probes
                        .iter()
                        .filter(|(_, p)| p.seen[view].is_none())
                        .map(|(name, _)| format!("'{prefix}{name}'"))
                        .collect();
                    (!unseen.is_empty()).then(|| {
                        sql.replacen("SELECT ", &format!("SELECT {view} AS view, "), 1)
                            .replace("{in}", &unseen.join(","))
                    })
                })
                .collect()
        };
        if !parts.is_empty() {
            if let Ok(rows) = store.query_json(&parts.join(" UNION ALL ")).await {
                let now = Instant::now();
                let mut probes = ccx_model::sync::lock(&probes);
                for row in rows {
                    let view = row["view"].as_u64().unwrap_or(u64::MAX) as usize;
                    let probe = row["probe"].as_str().and_then(|p| probes.get_mut(p));
                    if let Some(seen) = probe.and_then(|p| p.seen.get_mut(view)) {
                        seen.get_or_insert(now);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
