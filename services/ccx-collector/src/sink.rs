//! Where validated events go: Kafka (acks=all, answer after delivery) or, for measuring the
//! collector alone, nowhere.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccx_config::KafkaConfig;
use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

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
}

impl Sink {
    /// Returns only when every record is durably stored, or fails (then some records may or may
    /// not be stored: the caller reports none accepted and the client retries the batch).
    pub async fn write(&self, records: &[Record]) -> Result<(), String> {
        match self {
            Sink::Kafka(kafka) => kafka.write(records).await,
            Sink::Null => Ok(()),
        }
    }

    pub fn ready(&self) -> bool {
        match self {
            Sink::Kafka(kafka) => kafka.ready.load(Ordering::Relaxed),
            Sink::Null => true,
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
    producer: FutureProducer,
    topic: String,
    queue_timeout: Duration,
    ready: AtomicBool,
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
            producer: producer_config(config).create()?,
            topic: config.topic.clone(),
            queue_timeout: config.delivery_timeout,
            ready: AtomicBool::new(false),
        })
    }

    async fn write(&self, records: &[Record]) -> Result<(), String> {
        let mut deliveries: FuturesUnordered<_> = records
            .iter()
            .map(|r| {
                let record = FutureRecord::to(&self.topic).key(&r.key).payload(&r.value);
                self.producer
                    .send(record, Timeout::After(self.queue_timeout))
            })
            .collect();
        // Wait for the fate of every record, so that none of a failed batch is still queued
        // (and delivered later) when the client is told to retry.
        let mut first_error = None;
        while let Some(delivery) = deliveries.next().await {
            if let Err((e, _)) = delivery {
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
        first_error.map_or(Ok(()), Err)
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
