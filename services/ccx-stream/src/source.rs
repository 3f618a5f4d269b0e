//! Where the stream reads events: Kafka partitions by explicit assignment (no consumer
//! group; the stream keeps offsets in its checkpoints), or an in-process log with the same
//! shape for `ccx demo` and benchmarks.

use std::sync::Arc;

pub use ccx_model::log::{fnv, MemoryTopic};
use std::time::Duration;

use ccx_config::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::error::StreamError;

/// One record read from a partition (key and value shared, not copied, where the log keeps
/// them in memory). The key is read only by a reader asked for keys (`with_keys`): the
/// stream itself never needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Arc<[u8]>>,
    pub payload: Arc<[u8]>,
}

/// A reader of some partitions of the events log, owned by one worker.
pub trait EventLog {
    /// Starts reading each partition at its next offset.
    fn assign(&mut self, starts: &[(i32, i64)]) -> Result<(), StreamError>;
    /// Appends up to `max` records to `out` without blocking for long.
    fn poll(&mut self, max: usize, out: &mut Vec<LogRecord>) -> Result<(), StreamError>;
    /// Appends (partition, first offset, high-water mark) of each of `partitions` to `out`,
    /// as the log holds them now.
    fn watermarks(
        &mut self,
        partitions: &[i32],
        out: &mut Vec<(i32, i64, i64)>,
    ) -> Result<(), StreamError>;
}

/// How long a broker may take to say a partition's offsets.
const WATERMARKS_TIMEOUT: Duration = Duration::from_secs(10);

/// Kafka partitions read with explicit `assign()` and seek offsets.
pub struct KafkaLog {
    consumer: BaseConsumer,
    topic: String,
    keys: bool,
}

impl KafkaLog {
    pub fn new(config: &KafkaConfig) -> Result<KafkaLog, StreamError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", "ccx-stream")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "10");
        for (k, v) in &config.properties {
            client.set(k, v);
        }
        let consumer = client
            .create()
            .map_err(StreamError::kafka("cannot create a consumer"))?;
        Ok(KafkaLog {
            consumer,
            topic: config.topic.clone(),
            keys: false,
        })
    }

    /// Also reads each record's key.
    pub fn with_keys(self) -> KafkaLog {
        KafkaLog { keys: true, ..self }
    }
}

impl EventLog for KafkaLog {
    fn assign(&mut self, starts: &[(i32, i64)]) -> Result<(), StreamError> {
        let mut list = TopicPartitionList::new();
        for (partition, next) in starts {
            let offset = if *next <= 0 {
                Offset::Beginning
            } else {
                Offset::Offset(*next)
            };
            list.add_partition_offset(&self.topic, *partition, offset)
                .map_err(StreamError::kafka(format!("partition {partition}")))?;
        }
        self.consumer
            .assign(&list)
            .map_err(StreamError::kafka("cannot assign partitions"))
    }

    fn poll(&mut self, max: usize, out: &mut Vec<LogRecord>) -> Result<(), StreamError> {
        let mut wait = Duration::from_millis(5);
        for _ in 0..max {
            match self.consumer.poll(wait) {
                None => return Ok(()),
                Some(Err(e)) => return Err(StreamError::kafka("poll")(e)),
                Some(Ok(message)) => out.push(LogRecord {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: self
                        .keys
                        .then(|| Arc::from(message.key().unwrap_or_default())),
                    payload: Arc::from(message.payload().unwrap_or_default()),
                }),
            }
            wait = Duration::ZERO;
        }
        Ok(())
    }

    fn watermarks(
        &mut self,
        partitions: &[i32],
        out: &mut Vec<(i32, i64, i64)>,
    ) -> Result<(), StreamError> {
        for &p in partitions {
            let (low, high) = self
                .consumer
                .fetch_watermarks(&self.topic, p, WATERMARKS_TIMEOUT)
                .map_err(StreamError::kafka(format!("offsets of partition {p}")))?;
            out.push((p, low, high));
        }
        Ok(())
    }
}

/// A reader of a [`MemoryTopic`].
pub struct MemoryLog {
    topic: Arc<MemoryTopic>,
    next: Vec<(i32, i64)>,
    keys: bool,
}

impl MemoryLog {
    pub fn new(topic: Arc<MemoryTopic>) -> MemoryLog {
        MemoryLog {
            topic,
            next: Vec::new(),
            keys: false,
        }
    }

    /// Also reads each record's key.
    pub fn with_keys(self) -> MemoryLog {
        MemoryLog { keys: true, ..self }
    }
}

impl EventLog for MemoryLog {
    fn assign(&mut self, starts: &[(i32, i64)]) -> Result<(), StreamError> {
        self.next = starts.iter().map(|(p, o)| (*p, (*o).max(0))).collect();
        Ok(())
    }

    fn poll(&mut self, max: usize, out: &mut Vec<LogRecord>) -> Result<(), StreamError> {
        // An equal share per partition, as a broker's fetches interleave partitions.
        let share = (max / self.next.len().max(1)).max(1);
        for (partition, next) in self.next.iter_mut() {
            let log = self.topic.partition(*partition as usize);
            let mut budget = share;
            while budget > 0 && (*next as usize) < log.len() {
                let record = &log[*next as usize];
                out.push(LogRecord {
                    partition: *partition,
                    offset: *next,
                    key: self.keys.then(|| Arc::from(Arc::clone(&record.key))),
                    payload: Arc::clone(&record.payload),
                });
                *next += 1;
                budget -= 1;
            }
        }
        Ok(())
    }

    fn watermarks(
        &mut self,
        partitions: &[i32],
        out: &mut Vec<(i32, i64, i64)>,
    ) -> Result<(), StreamError> {
        for &p in partitions {
            let high = self.topic.partition(p as usize).len() as i64;
            out.push((p, 0, high));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_log_reads_keys_only_when_asked() {
        let topic = MemoryTopic::new(2);
        topic.append("acme/c-1", b"one");
        topic.append("acme/c-2", b"two");
        let starts = [(0, 0), (1, 0)];
        let read = |mut log: MemoryLog| {
            log.assign(&starts).unwrap();
            let mut records = Vec::new();
            log.poll(10, &mut records).unwrap();
            records
        };
        let plain = read(MemoryLog::new(Arc::clone(&topic)));
        assert_eq!(plain.len(), 2);
        assert!(plain.iter().all(|r| r.key.is_none()));
        let keyed = read(MemoryLog::new(Arc::clone(&topic)).with_keys());
        let mut keys: Vec<&[u8]> = keyed.iter().filter_map(|r| r.key.as_deref()).collect();
        keys.sort();
        assert_eq!(keys, [&b"acme/c-1"[..], &b"acme/c-2"[..]]);
    }
}
