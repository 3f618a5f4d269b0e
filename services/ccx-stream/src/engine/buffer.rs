//! The buffer of events waiting for the watermark: event-time buckets, taken in SPEC order.

use super::*;

/// Events waiting for the watermark, in buckets of [`BUCKET_MS`] of event time: an event
/// goes into its bucket unsorted; a bucket is sorted once, when the watermark passes it.
/// Buckets are found by hashing their key (events of several partitions interleave, so the
/// bucket of an event is seldom the newest); the ordered set of keys changes only when a
/// bucket is made or taken. Emptied buckets are kept for new ones (a bucket often holds only
/// a few events, so allocating each anew costs as much as filling it).
#[derive(Debug, Clone, Default)]
pub(super) struct Buffer {
    pub(super) buckets: FastMap<i64, Vec<Ev>>,
    pub(super) keys: BTreeSet<i64>,
    pub(super) len: usize,
    pub(super) spare: Vec<Vec<Ev>>,
}

pub(super) const BUCKET_MS: i64 = 128;

/// At most this many emptied buckets are kept, each with room for at most
/// [`SPARE_BUCKET_EVENTS`] (a tenant keeps at most 6 MiB this way).
pub(super) const SPARE_BUCKETS: usize = 64;
pub(super) const SPARE_BUCKET_EVENTS: usize = 1024;

impl Buffer {
    pub(super) fn push(&mut self, ev: Ev) {
        let key = ev.t.div_euclid(BUCKET_MS);
        self.len += 1;
        match self.buckets.get_mut(&key) {
            Some(bucket) => bucket.push(ev),
            None => {
                let mut bucket = self.spare.pop().unwrap_or_default();
                bucket.push(ev);
                self.buckets.insert(key, bucket);
                self.keys.insert(key);
            }
        }
    }

    /// The events before `watermark` (removed from the buffer), with their SPEC §2 order;
    /// give the buckets back with [`Buffer::recycle`].
    pub(super) fn take_before(&mut self, watermark: i64) -> Ready {
        let edge = watermark.div_euclid(BUCKET_MS);
        let later = self.keys.split_off(&edge);
        let mut buckets: Vec<Vec<Ev>> = std::mem::replace(&mut self.keys, later)
            .into_iter()
            .filter_map(|key| self.buckets.remove(&key))
            .collect();
        if let Some(partial) = self.buckets.get_mut(&edge) {
            if partial.iter().any(|ev| ev.t < watermark) {
                let (before, after) = std::mem::take(partial)
                    .into_iter()
                    .partition(|ev| ev.t < watermark);
                *partial = after;
                buckets.push(before);
            }
        }
        let mut order = Vec::with_capacity(buckets.iter().map(Vec::len).sum());
        for bucket in &buckets {
            self.len -= bucket.len();
            sort_bucket(bucket, &mut order);
        }
        if !buckets.is_empty() {
            shrink(&mut self.buckets);
        }
        Ready { buckets, order }
    }

    /// Keeps emptied buckets for new ones.
    pub(super) fn recycle(&mut self, ready: Ready) {
        for mut bucket in ready.buckets {
            if self.spare.len() < SPARE_BUCKETS && bucket.capacity() <= SPARE_BUCKET_EVENTS {
                bucket.clear();
                self.spare.push(bucket);
            }
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Ev> {
        self.buckets.values().flatten()
    }
}

/// Events handed over by [`Buffer::take_before`]: their buckets as filled and, bucket after
/// bucket, each event's position in its bucket in SPEC §2 order.
pub(super) struct Ready {
    pub(super) buckets: Vec<Vec<Ev>>,
    pub(super) order: Vec<u32>,
}

impl Ready {
    /// The events in SPEC §2 order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Ev> {
        let starts = self.buckets.iter().scan(0, |start, bucket| {
            *start += bucket.len();
            Some(*start - bucket.len())
        });
        self.buckets.iter().zip(starts).flat_map(|(bucket, start)| {
            self.order[start..start + bucket.len()]
                .iter()
                .map(|&i| &bucket[i as usize])
        })
    }
}

/// Appends to `order` the positions in `bucket` (events of one bucket of [`BUCKET_MS`]) in
/// SPEC §2 order ([`Ev::cmp_order`]). Positions are sorted rather than the 96-byte events:
/// each as one number, (time in the bucket, type, position), so only events equal in time
/// and type (rare) are compared in full.
pub(super) fn sort_bucket(bucket: &[Ev], order: &mut Vec<u32>) {
    debug_assert!(u32::try_from(bucket.len()).is_ok());
    let key = |(i, ev): (usize, &Ev)| {
        let at = ev.t.rem_euclid(BUCKET_MS) as u64;
        at << 40 | u64::from(ev.kind) << 32 | i as u64
    };
    let mut keys: Vec<u64> = bucket.iter().enumerate().map(key).collect();
    keys.sort_unstable();
    for run in keys.chunk_by_mut(|a, b| a >> 32 == b >> 32) {
        if run.len() > 1 {
            let ev = |k: &u64| &bucket[*k as u32 as usize];
            run.sort_unstable_by(|a, b| ev(a).cmp_order(ev(b)));
        }
    }
    order.extend(keys.iter().map(|k| *k as u32));
}
