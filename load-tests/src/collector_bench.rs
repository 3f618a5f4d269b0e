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
use bytes::BufMut;
use ccx_collector::sink::producer_config;
use ccx_config::{Config, SinkKind};
use ccx_e2e::{collector_config, sample_events, token, unique_topic, Broker};
use ccx_proto::prost::Message;
use ccx_proto::v1::{PublishRequest, PublishResponse};
use clap::Parser;
use futures::stream::{FuturesUnordered, StreamExt};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::Bytes;

/// The bare producer's context: counts failed deliveries, nothing else.
struct CountFailures(Arc<AtomicUsize>);

impl ClientContext for CountFailures {}

impl ProducerContext for CountFailures {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    #[arg(long, default_value_t = 1_000_000)]
    kafka_events: usize,
    /// gRPC batches in flight (many sources publish at once; the bare producer's queue is
    /// unbounded, so the collector gets a comparable number of events in flight).
    #[arg(long, default_value_t = 64)]
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
    let bodies = encoded(&requests);
    null_sink(&args, &bodies).await?;
    kafka(&args, &requests, &bodies).await?;
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

/// Starts `ccx collector` with `config`, pinned to core 0 when `pinned`.
async fn spawn_collector(
    ccx: &PathBuf,
    mut config: Config,
    pinned: bool,
) -> anyhow::Result<Collector> {
    let grpc_port = free_port();
    config.collector.grpc_listen = ([127, 0, 0, 1], grpc_port).into();
    config.collector.http_listen = ([127, 0, 0, 1], free_port()).into();
    let path = std::env::temp_dir().join(format!("ccx-bench-{grpc_port}.toml"));
    std::fs::write(&path, toml::to_string(&config)?)?;
    let cores = if pinned { "0" } else { "0,1" };
    let child = Command::new("taskset")
        .args(["-c", cores])
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

/// A gRPC client that sends pre-encoded `PublishRequest` bytes, so the load generator spends
/// no time encoding (its cost would otherwise compete with the collector for the cores).
type RawClient = tonic::client::Grpc<Channel>;

async fn clients(grpc: &str, n: usize) -> anyhow::Result<Vec<RawClient>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let channel = Channel::from_shared(grpc.to_string())?.connect().await?;
        out.push(tonic::client::Grpc::new(channel));
    }
    Ok(out)
}

fn encoded(requests: &[PublishRequest]) -> Vec<Bytes> {
    requests
        .iter()
        .map(|r| Bytes::from(r.encode_to_vec()))
        .collect()
}

async fn publish_raw(mut client: RawClient, body: Bytes) -> Result<PublishResponse, tonic::Status> {
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(body);
    let auth = format!("Bearer {}", token("tenant-0"));
    request
        .metadata_mut()
        .insert("authorization", auth.parse().expect("ascii"));
    let path = PathAndQuery::from_static("/ccx.v1.Collector/Publish");
    client
        .unary(request, path, RawCodec)
        .await
        .map(|r| r.into_inner())
}

struct RawCodec;
struct RawEncoder;
struct ResponseDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = PublishResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for ResponseDecoder {
    type Item = PublishResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<PublishResponse>, tonic::Status> {
        PublishResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// Sends batches with `in_flight` outstanding calls until `keep_going` says no; returns the
/// number of events acknowledged.
async fn drive(
    clients: &[RawClient],
    requests: &[Bytes],
    in_flight: usize,
    mut keep_going: impl FnMut(usize) -> bool,
) -> anyhow::Result<usize> {
    let mut pending = FuturesUnordered::new();
    let mut sent = 0usize;
    let mut acked = 0usize;
    loop {
        while pending.len() < in_flight && keep_going(sent) {
            let client = clients[sent / BATCH % clients.len()].clone();
            let body = requests[sent / BATCH % requests.len()].clone();
            pending.push(publish_raw(client, body));
            sent += BATCH;
        }
        match pending.next().await {
            Some(result) => {
                let response = result?;
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

async fn null_sink(args: &Args, requests: &[Bytes]) -> anyhow::Result<()> {
    let mut config = collector_config("127.0.0.1:1", "unused", 1);
    config.collector.sink = SinkKind::Null;
    let collector = spawn_collector(&args.ccx, config, true).await?;
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

async fn kafka(args: &Args, requests: &[PublishRequest], bodies: &[Bytes]) -> anyhow::Result<()> {
    let broker = Broker::start()?;
    let n = args.kafka_events - args.kafka_events % BATCH;

    // Bare producer: the same records (key, protobuf value), the collector's producer settings.
    let bare_topic = unique_topic("bench.bare");
    broker.create_topic(&bare_topic, 8).await?;
    let config = collector_config(&broker.addr(), &bare_topic, 8);
    let mut kafka_config = config.kafka.clone();
    kafka_config.delivery_timeout = Duration::from_secs(60);
    let failed = Arc::new(AtomicUsize::new(0));
    let producer: ThreadedProducer<CountFailures> =
        producer_config(&kafka_config).create_with_context(CountFailures(Arc::clone(&failed)))?;
    let records: Vec<(String, Vec<u8>)> = requests
        .iter()
        .flat_map(|r| r.events.iter())
        .map(|e| (ccx_model::kafka_key(e), e.encode_to_vec()))
        .collect();
    let started = Instant::now();
    for i in 0..n {
        let (key, value) = &records[i % records.len()];
        let mut record = BaseRecord::to(&bare_topic).key(key).payload(value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => bail!("bare producer: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    if failed.load(Ordering::Relaxed) > 0 {
        bail!(
            "bare producer: {} deliveries failed",
            failed.load(Ordering::Relaxed)
        );
    }
    let bare_seconds = started.elapsed().as_secs_f64();
    row(
        "bare rdkafka producer → broker (acks=all, ThreadedProducer)",
        n,
        bare_seconds,
        None,
    );

    let topic = unique_topic("bench.collector");
    broker.create_topic(&topic, 8).await?;
    let mut config = collector_config(&broker.addr(), &topic, 8);
    config.kafka.delivery_timeout = Duration::from_secs(60);
    let collector = spawn_collector(&args.ccx, config, false).await?;
    let clients = clients(&collector.grpc, 2).await?;
    let cpu_before = cpu_seconds(collector.child.id());
    let started = Instant::now();
    let acked = drive(&clients, bodies, args.in_flight, |sent| sent < n).await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(collector.child.id()) - cpu_before;
    row(
        "collector → broker, gRPC batches of 1,000 (unpinned)",
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
