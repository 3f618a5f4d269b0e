//! Collector throughput (SPEC §6).
//!
//! 1. Null sink: a `ccx collector` process pinned to one core (taskset) with `sink = "null"`
//!    receives gRPC batches of 1,000 events from this process (pinned to the other core);
//!    prints events/s and events per CPU-second of the collector process.
//! 2. Kafka: against one real broker (tansu) in the same run, a bare rdkafka producer's rate
//!    with the collector's producer settings, then the collector's rate (gRPC → validated →
//!    acknowledged by Kafka), and the ratio.
//!
//! Usage: `cargo run --release -p ccx-load-tests --bin collector-bench -- --ccx target/release/ccx`

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ccx_collector::sink::producer_config;
use ccx_config::{Config, SinkKind};
use ccx_e2e::{collector_config, sample_events, token, unique_topic, Broker};
use ccx_proto::prost::Message;
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_proto::v1::PublishRequest;
use clap::Parser;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    /// The ccx binary to measure (build it with --release).
    #[arg(long, default_value = "target/release/ccx")]
    ccx: PathBuf,
    /// Seconds of load for the null-sink run.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Events sent in each Kafka run.
    #[arg(long, default_value_t = 300_000)]
    kafka_events: usize,
    /// gRPC batches in flight.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
}

const BATCH: usize = 1000;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    pin_self_to_core(1);
    let requests = batches(32);
    println!("| run | events | seconds | events/s | collector CPU-s | events per CPU-s |");
    println!("|---|---|---|---|---|---|");
    null_sink(&args, &requests).await?;
    kafka(&args, &requests).await?;
    Ok(())
}

fn pin_self_to_core(core: usize) {
    let pid = std::process::id().to_string();
    let _ = Command::new("taskset")
        .args(["-a", "-p", "-c", &core.to_string(), &pid])
        .stdout(Stdio::null())
        .status();
}

/// Distinct pre-built batches of 1,000 events of tenant-0 (valid for 7 days).
fn batches(n: usize) -> Vec<PublishRequest> {
    (0..n)
        .map(|b| PublishRequest {
            events: sample_events("tenant-0", &format!("bench{b}"), BATCH),
        })
        .collect()
}

struct Collector {
    child: Child,
    grpc: String,
    _config: tempfile_path::TempConfig,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod tempfile_path {
    /// A config file removed when dropped.
    pub struct TempConfig(pub std::path::PathBuf);
    impl Drop for TempConfig {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Starts `ccx collector` on core 0 with `config`.
async fn spawn_collector(ccx: &PathBuf, mut config: Config) -> anyhow::Result<Collector> {
    let grpc_port = free_port();
    config.collector.grpc_listen = ([127, 0, 0, 1], grpc_port).into();
    config.collector.http_listen = ([127, 0, 0, 1], free_port()).into();
    let path = std::env::temp_dir().join(format!("ccx-bench-{grpc_port}.toml"));
    std::fs::write(&path, toml::to_string(&config)?)?;
    let child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(ccx)
        .args(["collector", "--config"])
        .arg(&path)
        .env("CCX_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {}", ccx.display()))?;
    let grpc = format!("http://127.0.0.1:{grpc_port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", grpc_port)).is_err() {
        if Instant::now() > deadline {
            bail!("collector did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Collector {
        child,
        grpc,
        _config: tempfile_path::TempConfig(path),
    })
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum())
        .unwrap_or(0.0);
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks / hz
}

async fn clients(grpc: &str, n: usize) -> anyhow::Result<Vec<CollectorClient<Channel>>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let channel = Channel::from_shared(grpc.to_string())?.connect().await?;
        out.push(CollectorClient::new(channel).max_encoding_message_size(64 << 20));
    }
    Ok(out)
}

fn request(batch: &PublishRequest) -> tonic::Request<PublishRequest> {
    let mut r = tonic::Request::new(batch.clone());
    let auth = format!("Bearer {}", token("tenant-0"));
    r.metadata_mut()
        .insert("authorization", auth.parse().expect("ascii"));
    r
}

/// Sends batches with `in_flight` outstanding calls until `stop` says so; returns events acked.
async fn drive(
    clients: &[CollectorClient<Channel>],
    requests: &[PublishRequest],
    in_flight: usize,
    mut keep_going: impl FnMut(usize) -> bool,
) -> anyhow::Result<usize> {
    let mut pending = FuturesUnordered::new();
    let mut sent = 0usize;
    let mut acked = 0usize;
    loop {
        while pending.len() < in_flight && keep_going(sent) {
            let mut client = clients[sent / BATCH % clients.len()].clone();
            let req = request(&requests[sent / BATCH % requests.len()]);
            pending.push(async move { client.publish(req).await });
            sent += BATCH;
        }
        match pending.next().await {
            Some(result) => {
                let response = result?.into_inner();
                if !response.rejected.is_empty() {
                    bail!("rejected: {:?}", response.rejected[0]);
                }
                acked += response.accepted as usize;
            }
            None => return Ok(acked),
        }
    }
}

fn row(run: &str, events: usize, seconds: f64, cpu: Option<f64>) {
    let rate = events as f64 / seconds;
    match cpu {
        Some(cpu) => println!(
            "| {run} | {events} | {seconds:.2} | {rate:.0} | {cpu:.2} | {:.0} |",
            events as f64 / cpu
        ),
        None => println!("| {run} | {events} | {seconds:.2} | {rate:.0} | – | – |"),
    }
}

async fn null_sink(args: &Args, requests: &[PublishRequest]) -> anyhow::Result<()> {
    let mut config = collector_config("127.0.0.1:1", "unused", 1);
    config.collector.sink = SinkKind::Null;
    let collector = spawn_collector(&args.ccx, config).await?;
    let clients = clients(&collector.grpc, 2).await?;
    // Warm up, then measure.
    drive(&clients, requests, args.in_flight, |sent| sent < 50 * BATCH).await?;
    let cpu_before = cpu_seconds(collector.child.id());
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let acked = drive(&clients, requests, args.in_flight, |_| {
        Instant::now() < until
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(collector.child.id()) - cpu_before;
    row(
        "collector, null sink, gRPC batches of 1,000, 1 core",
        acked,
        seconds,
        Some(cpu),
    );
    Ok(())
}

async fn kafka(args: &Args, requests: &[PublishRequest]) -> anyhow::Result<()> {
    let broker = Broker::start()?;
    let n = args.kafka_events - args.kafka_events % BATCH;

    // Bare producer: the same records (key, protobuf value), the collector's producer settings.
    let bare_topic = unique_topic("bench.bare");
    broker.create_topic(&bare_topic, 8).await?;
    let config = collector_config(&broker.addr(), &bare_topic, 8);
    let mut kafka_config = config.kafka.clone();
    kafka_config.delivery_timeout = Duration::from_secs(60);
    let producer: FutureProducer = producer_config(&kafka_config).create()?;
    let records: Vec<(String, Vec<u8>)> = requests
        .iter()
        .flat_map(|r| r.events.iter())
        .map(|e| (ccx_model::kafka_key(e), e.encode_to_vec()))
        .collect();
    let producer = Arc::new(producer);
    let started = Instant::now();
    let mut deliveries = FuturesUnordered::new();
    for i in 0..n {
        let (key, value) = &records[i % records.len()];
        let record = FutureRecord::to(&bare_topic).key(key).payload(value);
        deliveries.push(producer.send(record, Timeout::After(Duration::from_secs(60))));
        // Keep the in-flight window comparable with the collector's (in_flight batches).
        while deliveries.len() >= args.in_flight * BATCH {
            if let Some(Err((e, _))) = deliveries.next().await {
                bail!("bare producer: {e}");
            }
        }
    }
    while let Some(d) = deliveries.next().await {
        if let Err((e, _)) = d {
            bail!("bare producer: {e}");
        }
    }
    let bare_seconds = started.elapsed().as_secs_f64();
    row(
        "bare rdkafka producer → broker (acks=all)",
        n,
        bare_seconds,
        None,
    );

    let topic = unique_topic("bench.collector");
    broker.create_topic(&topic, 8).await?;
    let mut config = collector_config(&broker.addr(), &topic, 8);
    config.kafka.delivery_timeout = Duration::from_secs(60);
    let collector = spawn_collector(&args.ccx, config).await?;
    let clients = clients(&collector.grpc, 2).await?;
    let cpu_before = cpu_seconds(collector.child.id());
    let started = Instant::now();
    let acked = drive(&clients, requests, args.in_flight, |sent| sent < n).await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(collector.child.id()) - cpu_before;
    row(
        "collector → broker, gRPC batches of 1,000",
        acked,
        seconds,
        Some(cpu),
    );
    let ratio = (acked as f64 / seconds) / (n as f64 / bare_seconds);
    println!(
        "\ncollector → broker rate / bare producer rate: {:.1} %",
        ratio * 100.0
    );
    Ok(())
}
