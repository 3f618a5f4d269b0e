//! Test harness for ccx end-to-end tests: starts the real Kafka-compatible broker (tansu) on a
//! free loopback port, runs the collector in-process against it, reads records back with a
//! real Kafka consumer, and builds sample events. Nothing here fakes a component.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use ccx_collector::{KafkaSink, Running, Sink};
use ccx_config::{Config, TenantToken};
use ccx_model::hash_token;
use ccx_model::{ms_timestamp, Event};
use ccx_proto::prost::Message as _;
use ccx_proto::v1::{Channel, Direction, EventType, SurveyType};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

pub const TENANTS: [&str; 4] = ["tenant-0", "tenant-1", "tenant-2", "tenant-3"];

/// A tenant the collector also admits, whose events the tests leave out of what they check
/// (see [`closing_batch`]).
pub const CLOSING_TENANT: &str = "tenant-closing";

/// The bearer token of a dev/test tenant.
pub fn token(tenant: &str) -> String {
    format!("dev-token-{tenant}")
}

/// The tansu binary: `$TANSU`, else `~/.cargo/bin/tansu`, else `tansu` on PATH.
pub fn tansu_bin() -> PathBuf {
    if let Ok(path) = std::env::var("TANSU") {
        return path.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = PathBuf::from(home).join(".cargo/bin/tansu");
    if cargo_bin.exists() {
        cargo_bin
    } else {
        PathBuf::from("tansu")
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A real tansu broker process with in-memory storage on a free loopback port.
pub struct Broker {
    pub port: u16,
    child: Option<Child>,
}

impl Broker {
    pub fn start() -> anyhow::Result<Broker> {
        let mut broker = Broker {
            port: free_port(),
            child: None,
        };
        broker.spawn()?;
        Ok(broker)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log_path = std::env::temp_dir().join(format!("ccx-tansu-{}.log", self.port));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(tansu_bin())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", tansu_bin().display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(self.addr()).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("tansu did not listen on {} within 20 s: {log}", self.addr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// kill -9: the broker is gone (and with it its in-memory data).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh broker process on the same port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn()
    }

    /// SIGSTOP / SIGCONT: the process stops answering but keeps its data.
    pub fn pause(&self, paused: bool) {
        if let Some(child) = &self.child {
            let signal = if paused { "-STOP" } else { "-CONT" };
            let _ = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status();
        }
    }

    /// Creates a topic through the Kafka admin API (tansu creates none by itself).
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .create()?;
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics([&new], &options).await? {
            if let Err((name, code)) = result {
                bail!("cannot create topic {name}: {code}");
            }
        }
        Ok(())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.pause(false);
        self.kill();
    }
}

/// A unique topic name for one test.
pub fn unique_topic(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}.{nanos}")
}

/// The config of a test collector: ephemeral ports, the four dev tenants, this broker/topic.
pub fn collector_config(brokers: &str, topic: &str, partitions: u32) -> Config {
    let mut config = Config::default();
    config.collector.grpc_listen = ([127, 0, 0, 1], 0).into();
    config.collector.http_listen = ([127, 0, 0, 1], 0).into();
    config.collector.drain_timeout = Duration::from_secs(5);
    config.kafka.brokers = brokers.to_string();
    config.kafka.topic = topic.to_string();
    config.kafka.partitions = partitions;
    config.kafka.delivery_timeout = Duration::from_secs(3);
    config.tenants = TENANTS
        .iter()
        .chain([&CLOSING_TENANT])
        .map(|t| TenantToken {
            id: t.to_string(),
            token_sha256: hash_token(&token(t)),
        })
        .collect();
    config
}

/// Runs the collector in-process with a Kafka sink.
pub async fn start_collector(config: &Config) -> anyhow::Result<(Running, CancellationToken)> {
    let sink = Sink::Kafka(Arc::new(KafkaSink::new(&config.kafka)?));
    let shutdown = CancellationToken::new();
    let running = ccx_collector::serve(config, sink, shutdown.clone()).await?;
    Ok((running, shutdown))
}

/// A record read back from Kafka.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub partition: i32,
    pub key: String,
    pub value: Vec<u8>,
    pub event: Event,
}

/// Reads the topic from the beginning with explicitly assigned partitions (no consumer group)
/// until `expected` records arrived or `within` passed, then `settle` more to catch extras.
pub async fn consume_all(
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    within: Duration,
) -> anyhow::Result<Vec<Consumed>> {
    let brokers = brokers.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "ccx-e2e-reader")
            .set("enable.auto.commit", "false")
            .create()?;
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment.add_partition_offset(&topic, p, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let mut out = Vec::new();
        let deadline = Instant::now() + within;
        let mut settle_until = None;
        loop {
            let now = Instant::now();
            if now > deadline || settle_until.is_some_and(|s| now > s) {
                break;
            }
            if out.len() >= expected && settle_until.is_none() {
                settle_until = Some(now + Duration::from_millis(1500));
            }
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message?;
            let value = message.payload().unwrap_or_default().to_vec();
            out.push(Consumed {
                partition: message.partition(),
                key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                event: Event::decode(value.as_slice())?,
                value,
            });
        }
        Ok(out)
    })
    .await?
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A valid `CONTACT_OFFERED` event of `tenant`, customer `customer`, at `at_ms`.
pub fn offered(tenant: &str, event_id: &str, customer: &str, at_ms: i64) -> Event {
    Event {
        event_id: event_id.into(),
        tenant_id: tenant.into(),
        r#type: EventType::ContactOffered as i32,
        occurred_at: Some(ms_timestamp(at_ms)),
        contact_id: format!("contact-{event_id}"),
        customer_id: customer.into(),
        channel: Channel::Voice as i32,
        direction: Direction::Inbound as i32,
        queue_id: "support".into(),
        reason: "billing".into(),
        ..Default::default()
    }
}

/// A sample of valid events of many types for `tenant` (ids `{prefix}-{i}`).
pub fn sample_events(tenant: &str, prefix: &str, n: usize) -> Vec<Event> {
    let now = now_ms();
    (0..n)
        .map(|i| {
            let mut e = offered(
                tenant,
                &format!("{prefix}-{i}"),
                &format!("cust-{}", i % 7),
                now - i as i64,
            );
            match i % 4 {
                0 => {}
                1 => {
                    e.r#type = EventType::ContactAnswered as i32;
                    e.agent_id = format!("agent-{}", i % 3);
                }
                2 => {
                    e.r#type = EventType::SurveyResponded as i32;
                    e.survey_type = SurveyType::Csat as i32;
                    e.score = Some((i % 5) as i32 + 1);
                }
                _ => {
                    e.r#type = EventType::AgentStateChanged as i32;
                    e.agent_id = format!("agent-{}", i % 3);
                    e.agent_state = ccx_proto::v1::AgentState::Busy as i32;
                }
            }
            e
        })
        .collect()
}

pub type CollectorClient =
    ccx_proto::v1::collector_client::CollectorClient<tonic::transport::Channel>;

async fn connect(grpc: std::net::SocketAddr) -> CollectorClient {
    CollectorClient::connect(format!("http://{grpc}"))
        .await
        .expect("connect")
}

/// Sends `events` of several tenants in requests of at most `batch` events of one tenant
/// each, in their order within each tenant; an error unless every event is accepted.
pub async fn publish_by_tenant(
    client: &mut CollectorClient,
    events: &[Event],
    batch: usize,
) -> anyhow::Result<()> {
    use ccx_proto::v1::PublishRequest;
    let mut by_tenant: std::collections::BTreeMap<&str, Vec<Event>> = Default::default();
    for e in events {
        by_tenant
            .entry(e.tenant_id.as_str())
            .or_default()
            .push(e.clone());
    }
    for (tenant, events) in by_tenant {
        for chunk in events.chunks(batch) {
            let mut request = tonic::Request::new(PublishRequest {
                events: chunk.to_vec(),
            });
            let auth = format!("Bearer {}", token(tenant));
            request
                .metadata_mut()
                .insert("authorization", auth.parse()?);
            let response = client.publish(request).await?.into_inner();
            anyhow::ensure!(
                response.rejected.is_empty(),
                "rejected: {:?}",
                response.rejected.first()
            );
            anyhow::ensure!(
                response.accepted as usize == chunk.len(),
                "{} of {} accepted",
                response.accepted,
                chunk.len()
            );
        }
    }
    Ok(())
}

/// Publishes events through the collector's gRPC API, each tenant with its own token,
/// keeping event-time order within four seconds (inside the allowed lateness, as live
/// sources do): events are cut into four-second slices, each sent as one batch per tenant of at
/// most `batch` events. Panics unless every event is accepted.
pub async fn publish_all(grpc: std::net::SocketAddr, events: &[Event], batch: usize) {
    let mut client = connect(grpc).await;
    let time = |e: &Event| {
        e.occurred_at
            .as_ref()
            .map(ccx_model::timestamp_ms)
            .unwrap_or(0)
    };
    let mut start = 0;
    while start < events.len() {
        let slice_end = time(&events[start]) + 4_000;
        let len = events[start..]
            .iter()
            .take_while(|e| time(e) < slice_end)
            .count()
            .max(1);
        publish_by_tenant(&mut client, &events[start..start + len], batch)
            .await
            .expect("publish");
        start += len;
    }
}

/// Publishes `events` as they are, each tenant's in requests of at most `batch` (a source
/// sending a backlog: one request's events span as much event time as they hold).
pub async fn publish_all_at_once(grpc: std::net::SocketAddr, events: &[Event], batch: usize) {
    let mut client = connect(grpc).await;
    publish_by_tenant(&mut client, events, batch)
        .await
        .expect("publish");
}

/// The simulated contact center of the dev tenants, `contacts` contacts offered from
/// `start_ms`, ending with every agent going offline.
pub fn simulated(seed: u64, start_ms: i64, contacts: usize, per_second: f64) -> Vec<Event> {
    let config = ccx_sim::SimConfig {
        tenants: TENANTS.iter().map(|t| t.to_string()).collect(),
        seed,
        customers: 60,
        ..ccx_sim::SimConfig::default()
    };
    let mut sim = ccx_sim::Sim::new(config);
    let mut events = sim.generate(start_ms, contacts, per_second);
    let last = events
        .iter()
        .filter_map(|e| e.occurred_at.as_ref())
        .map(ccx_model::timestamp_ms)
        .max()
        .unwrap_or(start_ms);
    events.extend(sim.end_of_shift(last + 1_000));
    events
}

/// A batch of [`CLOSING_TENANT`]'s offers at `at`, one per customer of 200, so every partition
/// gets records after what was published before it. tansu 0.6 reports a high-water mark below
/// the last records of a partition (docs/benchmarks.md), which would let a reader judge a
/// partition read to its end a batch early; with this batch published last, that shortfall
/// falls on records the tests do not check, as Kafka's mark never falls short at all.
pub fn closing_batch(at: i64) -> Vec<Event> {
    (0..200)
        .map(|i| Event {
            event_id: format!("closing-{i}"),
            tenant_id: CLOSING_TENANT.into(),
            r#type: ccx_model::EventType::ContactOffered as i32,
            occurred_at: Some(ccx_model::ms_timestamp(at)),
            contact_id: format!("closing-{i}"),
            customer_id: format!("closing-customer-{i}"),
            channel: ccx_model::Channel::Voice as i32,
            direction: ccx_model::Direction::Inbound as i32,
            queue_id: "closing".into(),
            ..Event::default()
        })
        .collect()
}

/// `rows` without [`CLOSING_TENANT`]'s.
pub fn without_closing_tenant(mut rows: ccx_model::rows::FinalRows) -> ccx_model::rows::FinalRows {
    rows.queue.retain(|k, _| k.tenant_id != CLOSING_TENANT);
    rows.agent.retain(|k, _| k.tenant_id != CLOSING_TENANT);
    rows.reason.retain(|k, _| k.tenant_id != CLOSING_TENANT);
    rows.agent_state
        .retain(|k, _| k.tenant_id != CLOSING_TENANT);
    rows.quality.retain(|(t, _), _| t != CLOSING_TENANT);
    rows.alerts.retain(|a| a.tenant_id != CLOSING_TENANT);
    rows
}

/// The time of the newest event.
pub fn newest(events: &[Event]) -> i64 {
    events
        .iter()
        .filter_map(|e| e.occurred_at.as_ref())
        .map(ccx_model::timestamp_ms)
        .max()
        .unwrap_or(0)
}

/// The real pipeline around a stream: a broker with a fresh topic, a ClickHouse server with
/// the ccx schema, and a collector writing to that topic.
pub struct Pipeline {
    pub broker: Broker,
    pub topic: String,
    /// The ClickHouse server process (stopped when dropped); `None` when the test runs its
    /// own servers ([`Pipeline::start_on`]).
    pub clickhouse: Option<ccx_store::testing::ClickHouseServer>,
    pub clickhouse_config: ccx_config::ClickHouseConfig,
    pub store: ccx_store::Store,
    /// The collector's configuration (its `kafka` section names the topic).
    pub config: Config,
    pub collector: Running,
}

impl Pipeline {
    pub async fn start(topic_prefix: &str, partitions: u32) -> anyhow::Result<Pipeline> {
        let (clickhouse, clickhouse_config) =
            ccx_store::testing::ClickHouseServer::try_start().map_err(anyhow::Error::msg)?;
        Pipeline::start_on(
            topic_prefix,
            partitions,
            clickhouse_config,
            Some(clickhouse),
        )
        .await
    }

    /// [`Pipeline::start`] on the ClickHouse of `clickhouse_config` (one server or a
    /// cluster), migrated here.
    pub async fn start_on(
        topic_prefix: &str,
        partitions: u32,
        clickhouse_config: ccx_config::ClickHouseConfig,
        clickhouse: Option<ccx_store::testing::ClickHouseServer>,
    ) -> anyhow::Result<Pipeline> {
        let broker = Broker::start()?;
        let topic = unique_topic(topic_prefix);
        broker.create_topic(&topic, partitions as i32).await?;
        let store = ccx_store::Store::connect(&clickhouse_config).await?;
        store.migrate().await?;
        let config = collector_config(&broker.addr(), &topic, partitions);
        let (collector, _) = start_collector(&config).await?;
        Ok(Pipeline {
            broker,
            topic,
            clickhouse,
            clickhouse_config,
            store,
            config,
            collector,
        })
    }
}

/// Asserts that the rows read back from ClickHouse equal the reference rows, table by table.
/// A stream running on its own thread (as `ccx stream` runs its workers).
pub struct StreamThread {
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    pub progress: Arc<ccx_stream::dataflow::Progress>,
    pub handle: std::thread::JoinHandle<Result<(), ccx_stream::StreamError>>,
}

impl Pipeline {
    /// Starts a stream with `options` on this pipeline's topic, writing to its ClickHouse,
    /// every tenant with SPEC's default settings.
    pub fn spawn_stream(&self, options: ccx_stream::dataflow::StreamOptions) -> StreamThread {
        let settings = ccx_stream::Settings::new(ccx_model::settings::TenantSettings::default());
        self.spawn_stream_with(options, settings)
    }

    /// [`Pipeline::spawn_stream`] with these tenant settings.
    pub fn spawn_stream_with(
        &self,
        options: ccx_stream::dataflow::StreamOptions,
        settings: ccx_stream::Settings,
    ) -> StreamThread {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let progress = Arc::new(ccx_stream::dataflow::Progress::default());
        let kafka = self.config.kafka.clone();
        let sinks = ccx_stream::sink::ClickHouseSinks::new(&self.clickhouse_config);
        let handle = {
            let (stop, progress) = (Arc::clone(&stop), Arc::clone(&progress));
            std::thread::spawn(move || {
                ccx_stream::dataflow::run(
                    options,
                    settings,
                    move |_| ccx_stream::source::KafkaLog::new(&kafka),
                    move |_| sinks.sink(),
                    stop,
                    progress,
                )
            })
        };
        StreamThread {
            stop,
            progress,
            handle,
        }
    }
}

pub fn assert_same_rows(got: &ccx_model::rows::FinalRows, want: &ccx_model::rows::FinalRows) {
    assert_eq!(got.queue.len(), want.queue.len(), "queue rows");
    for (key, value) in &want.queue {
        assert_eq!(got.queue.get(key), Some(value), "queue row {key:?}");
    }
    assert_eq!(got.agent, want.agent, "agent rows");
    assert_eq!(got.reason, want.reason, "reason rows");
    assert_eq!(got.agent_state, want.agent_state, "agent state rows");
    assert_eq!(got.quality, want.quality, "quality rows");
    assert_eq!(got.alerts, want.alerts, "churn alerts");
}
