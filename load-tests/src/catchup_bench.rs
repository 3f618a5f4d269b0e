//! Catch-up and backfill rates (docs/benchmarks.md): a simulated history of about `--events`
//! events, two days old, is published through the collector into the real broker while no
//! stream runs; then a stream (in this process, as `ccx stream` runs: provisional rows,
//! checkpoints) reads the backlog into the real ClickHouse server. Prints the catch-up rate
//! (events read and written until every tenant's watermark is past the history), checks that
//! nothing was late and every offer counted, then times `ccx backfill` over one tenant's whole
//! history.
//!
//! Usage: `cargo run --release -p ccx-load-tests --bin catchup-bench -- --events 1000000`

use std::time::{Duration, Instant};

use ccx_e2e::{newest, now_ms, publish_all_at_once, unique_topic, Pipeline, TENANTS};
use ccx_model::settings::TenantSettings;
use ccx_model::{timestamp_ms, EventType};
use ccx_sim::{Sim, SimConfig};
use ccx_stream::backfill::{backfill, Range};
use ccx_stream::dataflow::StreamOptions;
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// About this many events (contacts are generated until it is reached).
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

const PARTITIONS: u32 = 8;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let p = Pipeline::start("bench.catchup", PARTITIONS).await?;

    // About 7.5 events per contact (agent state changes included); a contact every 25 ms
    // over the tenants.
    let contacts = args.events * 2 / 15;
    let mut sim = Sim::new(SimConfig {
        tenants: TENANTS.iter().map(|t| t.to_string()).collect(),
        customers: 20_000,
        agents: 100,
        ..SimConfig::default()
    });
    let start = now_ms() - 2 * 86_400_000;
    let mut events = sim.generate(start, contacts, 40.0);
    let last = newest(&events);
    events.extend(sim.end_of_shift(last + 1_000));
    let time = |e: &ccx_model::Event| e.occurred_at.as_ref().map_or(0, timestamp_ms);
    let span_min = (newest(&events) - start) / 60_000;
    let offered = events
        .iter()
        .filter(|e| e.r#type == EventType::ContactOffered as i32)
        .count() as u64;
    println!(
        "history: {} events, {} contacts, {span_min} minutes of 4 tenants, two days ago",
        events.len(),
        offered
    );

    let published = Instant::now();
    publish_all_at_once(p.collector.grpc_addr, &events, 5_000).await;
    println!(
        "published while no stream runs: {:.1} s",
        published.elapsed().as_secs_f64()
    );

    let options = StreamOptions {
        workers: args.workers,
        partitions: PARTITIONS,
        flush_interval: Duration::from_millis(250),
        idle_timeout: Duration::from_secs(3),
        checkpoint_dir: Some(std::env::temp_dir().join(unique_topic("ccx-catchup-ckpt"))),
        ..StreamOptions::default()
    };
    let target = newest(&events) + 1;
    let started = Instant::now();
    let stream = p.spawn_stream(options);
    let mut last_print = Instant::now();
    loop {
        let w = stream.progress.tenant_watermarks();
        let read = stream
            .progress
            .events_read
            .load(std::sync::atomic::Ordering::Relaxed);
        if w.len() == TENANTS.len() && w.values().all(|w| *w >= target) {
            break;
        }
        if last_print.elapsed() >= Duration::from_secs(2) {
            last_print = Instant::now();
            let behind: Vec<String> = w
                .iter()
                .map(|(t, w)| {
                    let m = if *w == i64::MIN {
                        -1
                    } else {
                        (target - w) / 60_000
                    };
                    format!("{t} {m} min")
                })
                .collect();
            println!(
                "  {:>5.1} s: {read} events read; behind: {}",
                started.elapsed().as_secs_f64(),
                behind.join(", ")
            );
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "stuck: {w:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The rows of the last watermark step are written at the next flush.
    stream
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    stream
        .handle
        .join()
        .map_err(|_| anyhow::anyhow!("stream panicked"))?
        .map_err(anyhow::Error::msg)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "catch-up: {} events read into ClickHouse rows in {secs:.1} s = {:.0} events/s ({} workers)",
        events.len(),
        events.len() as f64 / secs,
        args.workers
    );

    let rows = p.store.read_final(None).await?;
    let late: u64 = rows.quality.values().map(|q| q.late_dropped).sum();
    let counted: u64 = rows.queue.values().map(|c| c.offered).sum();
    println!("check: {late} late, {counted} of {offered} offers counted");
    anyhow::ensure!(
        late == 0 && counted == offered,
        "the catch-up was not exact"
    );

    let tenant = TENANTS[0];
    let mine = events.iter().filter(|e| e.tenant_id == tenant).count();
    let range = Range {
        tenant: tenant.into(),
        from_ms: events.iter().map(time).min().unwrap_or(start),
        to_ms: target + 60_000,
    };
    let started = Instant::now();
    let report = backfill(&p.store, None, &TenantSettings::default(), &range).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "backfill of {tenant} ({mine} events, {span_min} minutes): {} events read, {} rows \
         written, {} zeroed in {secs:.1} s = {:.0} events/s",
        report.events_read,
        report.rows,
        report.zeroed,
        report.events_read as f64 / secs
    );
    anyhow::ensure!(report.zeroed == 0, "the backfill changed exact rows");
    let again = p.store.read_final(None).await?;
    anyhow::ensure!(again == rows, "the backfill changed exact rows");
    p.collector.stop().await;
    Ok(())
}
