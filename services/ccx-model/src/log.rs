//! An in-process, append-only, partitioned event log: the Kafka topic of `ccx demo` and of
//! benchmarks (the collector appends, the stream reads with its own offsets).

use std::sync::{Arc, Mutex, MutexGuard};

/// One record of a [`MemoryTopic`]: its key and value, as a Kafka record has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRecord {
    pub key: Arc<str>,
    pub payload: Arc<[u8]>,
}

/// An in-process, append-only log with partitions (the demo's event log).
#[derive(Debug, Default)]
pub struct MemoryTopic {
    partitions: Vec<Mutex<Vec<LoggedRecord>>>,
}

impl MemoryTopic {
    pub fn new(partitions: usize) -> Arc<MemoryTopic> {
        Arc::new(MemoryTopic {
            partitions: (0..partitions.max(1)).map(|_| Mutex::default()).collect(),
        })
    }

    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    /// Appends a record to the partition of `key`; returns (partition, offset).
    pub fn append(&self, key: &str, payload: &[u8]) -> (i32, i64) {
        let partition = (fnv(key.as_bytes()) % self.partitions.len() as u64) as usize;
        let mut log = crate::sync::lock(&self.partitions[partition]);
        log.push(LoggedRecord {
            key: Arc::from(key),
            payload: Arc::from(payload),
        });
        (partition as i32, log.len() as i64 - 1)
    }

    /// The records of one partition (locked while the guard lives).
    pub fn partition(&self, index: usize) -> MutexGuard<'_, Vec<LoggedRecord>> {
        crate::sync::lock(&self.partitions[index])
    }

    /// Total records.
    pub fn len(&self) -> usize {
        self.partitions
            .iter()
            .map(|p| crate::sync::lock(p).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// FNV-1a: a stable hash for routing (the same key goes to the same place in every process).
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
