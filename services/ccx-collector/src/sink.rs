//! Where validated events go: Kafka (acks=all, answer after delivery) or, for measuring the
//! collector alone, nowhere.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccx_config::KafkaConfig;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::Notify;

/// One Kafka record: key `tenantId/customerId` (see `ccx_model::kafka_key`), protobuf value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub value: Vec<u8>,
}

#[derive(Clone)]
pub enum Sink {
    Kafka(Arc<KafkaSink>),
    /// Drops records after they were built: the collector's own cost, for benchmarks.
    Null,
    /// The in-process log of `ccx demo` (stored once appended).
    Memory(Arc<ccx_model::log::MemoryTopic>),
}

impl Sink {
    /// Returns only when every record is durably stored, or fails (then some records may or may
    /// not be stored: the caller reports none accepted and the client retries the batch).
    pub async fn write(&self, records: &[Record]) -> Result<(), String> {
        match self {
            Sink::Kafka(kafka) => kafka.write(records).await,
            Sink::Null => Ok(()),
            Sink::Memory(topic) => {
                for r in records {
                    topic.append(&r.key, &r.value);
                }
                Ok(())
            }
        }
    }

    pub fn ready(&self) -> bool {
        match self {
            Sink::Kafka(kafka) => kafka.ready.load(Ordering::Relaxed),
            Sink::Null | Sink::Memory(_) => true,
        }
    }

    /// Keeps `ready()` current until `stop` is cancelled.
    pub async fn watch_readiness(&self, stop: tokio_util::sync::CancellationToken) {
        let Sink::Kafka(kafka) = self else { return };
        loop {
            let probe = Arc::clone(kafka);
            let ok = tokio::task::spawn_blocking(move || probe.broker_answers())
                .await
                .unwrap_or(false);
            kafka.ready.store(ok, Ordering::Relaxed);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(if ok { 2 } else { 1 })) => {}
            }
        }
    }

    /// Waits for anything still queued in the producer (graceful stop).
    pub async fn flush(&self, timeout: Duration) {
        if let Sink::Kafka(kafka) = self {
            let kafka = Arc::clone(kafka);
            let _ = tokio::task::spawn_blocking(move || kafka.producer.flush(timeout)).await;
        }
    }
}

pub struct KafkaSink {
    producer: ThreadedProducer<DeliveryCounter>,
    topic: String,
    ready: AtomicBool,
}

/// The outcome of one batch's records, filled in by librdkafka's delivery callbacks.
#[derive(Default)]
struct BatchDelivery {
    remaining: AtomicUsize,
    first_error: Mutex<Option<String>>,
    done: Notify,
}

impl BatchDelivery {
    fn settle(&self, error: Option<String>) {
        if let Some(e) = error {
            let mut first = ccx_model::sync::lock(&self.first_error);
            first.get_or_insert(e);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }
}

/// Counts deliveries per batch (one callback per record, no future per record).
struct DeliveryCounter;

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = Arc<BatchDelivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, batch: Arc<BatchDelivery>) {
        batch.settle(result.as_ref().err().map(|(e, _)| e.to_string()));
    }
}

/// The producer settings of ccx: acks=all and a bounded delivery time; `properties` override.
pub fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            config.delivery_timeout.as_millis().to_string(),
        )
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("partitioner", "murmur2_random");
    for (k, v) in &config.properties {
        client.set(k, v);
    }
    client
}

impl KafkaSink {
    pub fn new(config: &KafkaConfig) -> Result<KafkaSink, KafkaError> {
        Ok(KafkaSink {
            producer: producer_config(config).create_with_context(DeliveryCounter)?,
            topic: config.topic.clone(),
            ready: AtomicBool::new(false),
        })
    }

    /// Enqueues every record, then waits until librdkafka settled each one (delivered with
    /// acks=all, or failed after `message.timeout.ms`), so that none of a failed batch is
    /// still queued, and delivered later, when the client is told to retry.
    async fn write(&self, records: &[Record]) -> Result<(), String> {
        let batch = Arc::new(BatchDelivery::default());
        batch.remaining.store(records.len(), Ordering::Release);
        for record in records {
            let mut attempt = BaseRecord::with_opaque_to(&self.topic, Arc::clone(&batch))
                .key(&record.key)
                .payload(&record.value);
            loop {
                match self.producer.send(attempt) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        attempt = back;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((e, _)) => {
                        batch.settle(Some(e.to_string()));
                        break;
                    }
                }
            }
        }
        if batch.remaining.load(Ordering::Acquire) > 0 {
            batch.done.notified().await;
        }
        let first = ccx_model::sync::lock(&batch.first_error).take();
        first.map_or(Ok(()), Err)
    }

    /// True when the broker answers a metadata request for the topic (blocking, ≤ 2 s).
    fn broker_answers(&self) -> bool {
        self.producer
            .client()
            .fetch_metadata(Some(&self.topic), Duration::from_secs(2))
            .map(|m| m.topics().iter().any(|t| !t.partitions().is_empty()))
            .unwrap_or(false)
    }
}
