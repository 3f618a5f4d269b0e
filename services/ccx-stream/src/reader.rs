//! A worker's reader of its partitions: polls records into one batch per tenant, and tells
//! when a partition is caught up (its reader reached the high-water mark the broker gave).

use std::time::{Duration, Instant};

use crate::engine::{Ev, FastMap};
use crate::error::StreamError;
use crate::source::{fnv, EventLog, LogRecord};
use crate::watermark::NEVER;

/// What the reader sends into the dataflow, routed by its first field.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Message {
    /// One poll's events of one tenant (routed by the tenant's hash, so a batch never mixes
    /// tenants), read before wall time `read_before`, with the newest event time per partition.
    Events {
        route: u64,
        read_before: i64,
        newest: Vec<(i32, i64)>,
        events: Vec<Ev>,
    },
    /// (partition, wall time): nothing published before that time is unread there. Sent to
    /// every worker (route = the worker's index).
    CaughtUp {
        route: u64,
        partitions: Vec<(i32, i64)>,
    },
}

impl Message {
    pub fn route(&self) -> u64 {
        match self {
            Message::Events { route, .. } | Message::CaughtUp { route, .. } => *route,
        }
    }
}

/// The most records a reader takes per poll.
pub const POLL_RECORDS: usize = 4096;

/// How often a caught-up partition's high-water mark is asked again.
const ASK_EVERY: Duration = Duration::from_millis(100);

/// Where the reader is in one of its partitions.
struct Partition {
    id: i32,
    /// The offset of the next record to read.
    next: i64,
    /// (wall time asked, high-water mark then) while the reader has not reached it.
    asked: Option<(i64, i64)>,
    last_asked: Option<Instant>,
}

/// This poll's events of one tenant.
#[derive(Default)]
struct Batch {
    events: Vec<Ev>,
    /// Newest event time per owned partition, by slot.
    newest: Vec<i64>,
}

pub struct PartitionReader<L> {
    log: L,
    peers: usize,
    /// In owned order: partition `index + k * peers` is the k-th.
    partitions: Vec<Partition>,
    records: Vec<LogRecord>,
    batches: FastMap<Box<[u8]>, Batch>,
}

/// What one poll read.
pub struct Polled {
    pub records: usize,
    /// The poll came back full: the reader is behind.
    pub full: bool,
}

impl<L: EventLog> PartitionReader<L> {
    /// Starts reading each (partition, next offset) of `starts`, which a worker of `peers`
    /// owns.
    pub fn new(mut log: L, peers: usize, starts: &[(i32, i64)]) -> Result<Self, StreamError> {
        log.assign(starts)?;
        let partitions = starts
            .iter()
            .map(|&(id, next)| Partition {
                id,
                next,
                asked: None,
                last_asked: None,
            })
            .collect();
        Ok(PartitionReader {
            log,
            peers,
            partitions,
            records: Vec::new(),
            batches: FastMap::default(),
        })
    }

    /// Reads up to [`POLL_RECORDS`] records into this poll's batches.
    pub fn poll(&mut self) -> Result<Polled, StreamError> {
        self.records.clear();
        if self.partitions.is_empty() {
            return Ok(Polled {
                records: 0,
                full: false,
            });
        }
        self.log.poll(POLL_RECORDS, &mut self.records)?;
        let owned = self.partitions.len();
        let n = self.records.len();
        for record in self.records.drain(..) {
            // Partition p is slot p / peers.
            let slot = usize::try_from(record.partition)
                .ok()
                .map(|p| p / self.peers)
                .filter(|slot| self.partitions.get(*slot).map(|p| p.id) == Some(record.partition));
            let Some(slot) = slot else {
                return Err(StreamError::Unassigned(record.partition));
            };
            self.partitions[slot].next = record.offset + 1;
            let ev = match Ev::read(record.payload) {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::warn!(
                        partition = record.partition,
                        offset = record.offset,
                        error = %e,
                        "undecodable record skipped"
                    );
                    continue;
                }
            };
            let batch = match self.batches.get_mut(ev.tenant()) {
                Some(batch) => batch,
                None => self.batches.entry(ev.tenant().into()).or_default(),
            };
            if batch.newest.len() != owned {
                batch.newest = vec![NEVER; owned];
            }
            batch.newest[slot] = batch.newest[slot].max(ev.time());
            batch.events.push(ev);
        }
        Ok(Polled {
            records: n,
            full: n == POLL_RECORDS,
        })
    }

    /// Hands over this poll's batches, each tenant's as one message read before `read_before`.
    /// A tenant's next batch starts with a quarter more room than its last one held.
    pub fn take_batches(&mut self, read_before: i64, mut send: impl FnMut(Message)) {
        let partitions = &self.partitions;
        self.batches.retain(|tenant, batch| {
            if batch.events.is_empty() {
                return false;
            }
            let room = batch.events.len() + batch.events.len() / 4;
            let newest = batch
                .newest
                .iter_mut()
                .zip(partitions)
                .filter(|(t, _)| **t != NEVER)
                .map(|(t, p)| (p.id, std::mem::replace(t, NEVER)))
                .collect();
            send(Message::Events {
                route: fnv(tenant),
                read_before,
                newest,
                events: std::mem::replace(&mut batch.events, Vec::with_capacity(room)),
            });
            true
        });
    }

    /// The partitions found caught up since the last call, with the wall time they are
    /// caught up to. Asks the log for the high-water marks of partitions not waiting for an
    /// answer to be reached, at most every `ASK_EVERY`.
    pub fn caught_up(&mut self, now_ms: impl Fn() -> i64) -> Result<Vec<(i32, i64)>, StreamError> {
        let mut found = Vec::new();
        let mut ask = Vec::new();
        for p in &mut self.partitions {
            if let Some((at, high)) = p.asked {
                if p.next >= high {
                    found.push((p.id, at));
                    p.asked = None;
                }
            }
            let due = p.last_asked.is_none_or(|t| t.elapsed() >= ASK_EVERY);
            if p.asked.is_none() && due {
                ask.push(p.id);
            }
        }
        if ask.is_empty() {
            return Ok(found);
        }
        // Asked before the question is sent: what the answer covers was published before.
        let at = now_ms();
        let mut marks = Vec::with_capacity(ask.len());
        self.log.watermarks(&ask, &mut marks)?;
        let asked = Instant::now();
        for (id, low, high) in marks {
            let Some(p) = self.partitions.iter_mut().find(|p| p.id == id) else {
                continue;
            };
            p.last_asked = Some(asked);
            if p.next.max(low) >= high {
                found.push((id, at));
            } else {
                p.asked = Some((at, high));
            }
        }
        Ok(found)
    }

    /// (partition, next offset) of every owned partition.
    pub fn offsets(&self) -> Vec<(i32, i64)> {
        self.partitions.iter().map(|p| (p.id, p.next)).collect()
    }
}
