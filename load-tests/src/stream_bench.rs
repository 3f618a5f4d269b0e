//! Stream figures (SPEC §6).
//!
//! 1. Compute only: simulated events (8 tenants) pre-encoded in an in-process log of 8
//!    partitions, read, decoded, exchanged and applied by the timely dataflow with 1 and 2
//!    workers (`--workers`), rows discarded, in rounds of one run per worker count; events/s
//!    of each run, the medians and the speed-up of the last worker count over the first (of
//!    the medians, and the median of each round's own).
//! 2. State memory: live heap bytes (jemalloc's count of allocated bytes) added per open
//!    contact, per tracked customer and per outbound customer on a queue (what a campaign
//!    remembers), on an engine holding 1,000,000 of each.
//!
//! Usage: `cargo run --release -p ccx-load-tests --bin stream-bench -- [--contacts N] [--runs N]
//! [--workers 1,2]`

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use ccx_model::settings::TenantSettings;
use ccx_model::{kafka_key, ms_timestamp, timestamp_ms, Channel, Direction, Event, EventType};
use ccx_proto::prost::Message;
use ccx_sim::{Sim, SimConfig};
use ccx_stream::dataflow::{run, Progress, StreamOptions};
use ccx_stream::engine::{Engine, Settings};
use ccx_stream::sink::NullSink;
use ccx_stream::source::{MemoryLog, MemoryTopic};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Simulated contacts (about 6 events each).
    #[arg(long, default_value_t = 300_000)]
    contacts: usize,
    /// Contacts (and customers) held for the memory figures.
    #[arg(long, default_value_t = 1_000_000)]
    state_items: usize,
    /// Runs per worker count (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Worker counts to run (the speed-up is that of the last over the first).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    workers: Vec<usize>,
}

const START: i64 = 1_790_000_000_000;

/// As `ccx` allocates (jemalloc, huge pages); its statistics give the state memory figures.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    compute(&args)?;
    memory(&args);
    Ok(())
}

fn compute(args: &Args) -> anyhow::Result<()> {
    let config = SimConfig {
        tenants: (0..8).map(|i| format!("tenant-{i}")).collect(),
        customers: 50_000,
        agents: 200,
        ..SimConfig::default()
    };
    let events = Sim::new(config).generate(START, args.contacts, 200.0);
    let last = events
        .iter()
        .filter_map(|e| e.occurred_at.as_ref())
        .map(timestamp_ms)
        .max()
        .unwrap_or(START);
    let topic = MemoryTopic::new(8);
    for e in &events {
        topic.append(&kafka_key(e), &e.encode_to_vec());
    }
    println!("| workers | run | events | seconds | events/s |");
    println!("|---|---|---|---|---|");
    // Rounds of one run per worker count, so a slow minute of the machine hits every worker
    // count alike; each round also gives a ratio of its own.
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); args.workers.len()];
    for run_no in 1..=args.runs.max(1) {
        for (i, &workers) in args.workers.iter().enumerate() {
            let options = StreamOptions {
                workers,
                partitions: 8,
                finish_at: Some(last + 60_000),
                checkpoint_every_ms: 0,
                keep_events: false,
                provisional: false,
                ..StreamOptions::default()
            };
            let log = Arc::clone(&topic);
            let started = Instant::now();
            run(
                options,
                Settings::new(TenantSettings::default()),
                move |_| Ok(MemoryLog::new(Arc::clone(&log))),
                |_| Ok(NullSink),
                Arc::new(AtomicBool::new(false)),
                Arc::new(Progress::default()),
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            let seconds = started.elapsed().as_secs_f64();
            let rate = events.len() as f64 / seconds;
            rates[i].push(rate);
            println!(
                "| {workers} | {run_no} | {} | {seconds:.2} | {rate:.0} |",
                events.len()
            );
        }
    }
    let summary: Vec<String> = args
        .workers
        .iter()
        .zip(&rates)
        .map(|(workers, rates)| format!("{workers} worker(s) {:.0}", median(rates)))
        .collect();
    println!("\nmedian events/s: {}", summary.join(", "));
    if let (Some(first), Some(last)) = (rates.first(), rates.last()) {
        let (w0, w1) = (args.workers[0], args.workers[args.workers.len() - 1]);
        let rounds: Vec<f64> = first.iter().zip(last).map(|(a, b)| b / a).collect();
        println!(
            "{w1} workers / {w0} worker(s): {:.2}x (medians), {:.2}x (median of the rounds' ratios)\n",
            median(last) / median(first),
            median(&rounds)
        );
    }
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// Live heap bytes.
fn allocated() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64
}

/// Whose contacts the memory figures hold: one customer's (the contacts alone), or a customer
/// each (with what the engine keeps per customer).
#[derive(Clone, Copy)]
enum Customers {
    One,
    Each,
}

fn event(id: usize, kind: EventType, t: i64, direction: Direction, customers: Customers) -> Event {
    let customer = match customers {
        Customers::One => 0,
        Customers::Each => id,
    };
    Event {
        event_id: format!("e{id}-{}", kind as i32),
        tenant_id: "tenant-0".into(),
        r#type: kind as i32,
        occurred_at: Some(ms_timestamp(t)),
        contact_id: format!("contact-{id}"),
        customer_id: format!("customer-{customer}"),
        channel: Channel::Voice as i32,
        direction: direction as i32,
        queue_id: "support".into(),
        reason: "billing".into(),
        agent_id: "agent-1".into(),
        resolved: true,
        ..Event::default()
    }
}

/// Feeds `n` contacts of two events each (`second` one ms after the offer) to a fresh engine,
/// then moves the watermark to `settle_after` ms past the last one; returns the engine and the
/// live heap bytes it added per contact.
fn hold(
    n: usize,
    second: EventType,
    direction: Direction,
    customers: Customers,
    settle_after: i64,
) -> (Engine, f64) {
    let mut engine = Engine::new(Settings::new(TenantSettings::default()), START);
    let before = allocated();
    for i in 0..n {
        let t = START + i as i64;
        engine.ingest(&event(
            i,
            EventType::ContactOffered,
            t,
            direction,
            customers,
        ));
        engine.ingest(&event(i, second, t + 1, direction, customers));
        if i % 10_000 == 9_999 {
            engine.advance(t - 1_000);
            let _ = engine.take_output();
        }
    }
    engine.advance(START + n as i64 + settle_after);
    let _ = engine.take_output();
    let per_item = (allocated() - before) as f64 / n as f64;
    (engine, per_item)
}

fn memory(args: &Args) {
    let n = args.state_items;
    // Open contacts: offered (outbound, of one customer, so no per-customer state),
    // answered, still talking; past the dedup horizon, so event ids are forgotten and the open
    // contacts stay.
    let (engine, per_contact) = hold(
        n,
        EventType::ContactAnswered,
        Direction::Outbound,
        Customers::One,
        11 * 60_000,
    );
    assert_eq!(engine.state_counts().open_contacts, n);
    drop(engine);

    // Tracked customers: one inbound contact each, resolved and ended (FCR verdict pending,
    // repeat detection armed for the FCR window); the finished contacts themselves expire.
    let (engine, per_customer) = hold(
        n,
        EventType::ContactEnded,
        Direction::Inbound,
        Customers::Each,
        2 * 3_600_000,
    );
    let counts = engine.state_counts();
    assert_eq!(counts.customers, n);
    assert_eq!(counts.contacts, 0);
    drop(engine);

    // Outbound customers: one attempt each, ended; the contacts expire, what the campaign
    // remembers of each customer on the queue stays for the campaign window.
    let (engine, per_outbound) = hold(
        n,
        EventType::ContactEnded,
        Direction::Outbound,
        Customers::Each,
        2 * 3_600_000,
    );
    assert_eq!(engine.state_counts().contacts, 0);
    println!("| state | items | bytes each (live heap added) |");
    println!("|---|---|---|");
    println!("| open contact (answered, talking) | {n} | {per_contact:.0} |");
    println!("| tracked customer (FCR window, verdict pending) | {n} | {per_customer:.0} |");
    println!("| outbound customer on a queue (campaign window) | {n} | {per_outbound:.0} |");
}
