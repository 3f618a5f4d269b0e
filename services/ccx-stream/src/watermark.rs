//! Event-time progress per tenant: how far each tenant's events are known to have come, so a
//! tenant's events are judged late against its own progress only (SPEC §2, docs/metrics.md).
//!
//! Pure logic, fed by the dataflow in the order of its (processing-time) epochs:
//! - [`TenantClocks::observe`]: a batch of one tenant's events read before wall time `stamp`,
//!   with the newest event time it held from each partition;
//! - [`TenantClocks::caught_up`]: a partition had no unread record that was published before
//!   wall time `at` (its reader reached the high-water mark the broker gave at `at`).
//!
//! What a tenant's events still unread in partition p can be, assuming each tenant's source
//! publishes its events in time order up to the allowed lateness L:
//! - published after the tenant's events already read from p (a partition is a FIFO log): no
//!   earlier than (newest time read from p) − L;
//! - published after p was last caught up at `at`: no earlier than (newest time of the
//!   tenant's events read before `at`, from any partition) − L.
//!
//! The tenant's bound is the minimum over all partitions of the larger of the two; its
//! watermark is that bound minus its own lateness. A partition that was never caught up and
//! never held the tenant's events holds the tenant back entirely: a backlog is read before
//! anything in it can be judged late. A tenant that sent nothing for `idle` while every
//! partition was caught up follows the wall clock instead, so its quiet minutes become final.

use std::collections::{BTreeMap, VecDeque};

/// "Never": no event read, or a partition never caught up.
pub const NEVER: i64 = i64::MIN;

/// How long before a partition's caught-up moment an event must have been read to count as
/// published before it. One collector request's records commit to several partitions in no
/// fixed order; this margin covers that spread (and clock skew between stream processes).
pub const PUBLISH_SPREAD_MS: i64 = 1_000;

/// The progress of every tenant seen, over a topic of `partitions` partitions.
#[derive(Debug, Clone)]
pub struct TenantClocks {
    /// Per partition: the wall time up to which it is known caught up.
    caught_up_at: Vec<i64>,
    tenants: BTreeMap<String, TenantClock>,
    idle_ms: i64,
}

#[derive(Debug, Clone)]
struct TenantClock {
    /// Per partition: the newest event time read from it.
    newest_in: Vec<i64>,
    /// (stamp, newest event time read up to that stamp), stamps and times increasing.
    newest_by_stamp: VecDeque<(i64, i64)>,
    /// The stamp of the tenant's last batch.
    last_stamp: i64,
}

impl TenantClock {
    /// The newest event time of the tenant read before wall time `at`.
    fn newest_before(&self, at: i64) -> i64 {
        let n = self
            .newest_by_stamp
            .partition_point(|(stamp, _)| *stamp <= at);
        match n {
            0 => NEVER,
            n => self.newest_by_stamp[n - 1].1,
        }
    }
}

impl TenantClocks {
    pub fn new(partitions: usize, idle_ms: i64) -> TenantClocks {
        TenantClocks {
            caught_up_at: vec![NEVER; partitions],
            tenants: BTreeMap::new(),
            idle_ms,
        }
    }

    /// One batch of `tenant`'s events, read before wall time `stamp`; `newest` holds
    /// (partition, newest event time of the batch in it).
    pub fn observe(&mut self, tenant: &str, stamp: i64, newest: &[(i32, i64)]) {
        let partitions = self.caught_up_at.len();
        if !self.tenants.contains_key(tenant) {
            let clock = TenantClock {
                newest_in: vec![NEVER; partitions],
                newest_by_stamp: VecDeque::new(),
                last_stamp: NEVER,
            };
            self.tenants.insert(tenant.to_string(), clock);
        }
        let clock = self.tenants.get_mut(tenant).expect("inserted above");
        let mut top = clock.newest_by_stamp.back().map_or(NEVER, |(_, t)| *t);
        for &(partition, t) in newest {
            if let Some(slot) = clock.newest_in.get_mut(partition as usize) {
                *slot = (*slot).max(t);
            }
            top = top.max(t);
        }
        match clock.newest_by_stamp.back_mut() {
            Some((s, t)) if *s >= stamp => *t = (*t).max(top),
            Some((_, t)) if *t >= top => {}
            _ => clock.newest_by_stamp.push_back((stamp, top)),
        }
        clock.last_stamp = clock.last_stamp.max(stamp);
    }

    /// Partition `partition` had nothing unread that was published before wall time `at`.
    pub fn caught_up(&mut self, partition: i32, at: i64) {
        if let Some(slot) = self.caught_up_at.get_mut(partition as usize) {
            *slot = (*slot).max(at);
        }
        // Stamps before every partition's caught-up moment are answered by the last of them.
        let oldest = self.oldest_caught_up().saturating_sub(PUBLISH_SPREAD_MS);
        for clock in self.tenants.values_mut() {
            while clock.newest_by_stamp.len() > 1 && clock.newest_by_stamp[1].0 <= oldest {
                clock.newest_by_stamp.pop_front();
            }
        }
    }

    /// The earliest caught-up moment of all partitions ([`NEVER`] while one never was).
    pub fn oldest_caught_up(&self) -> i64 {
        self.caught_up_at.iter().copied().min().unwrap_or(NEVER)
    }

    /// Whether every partition was caught up at least once (a finite log was read to its end).
    pub fn all_caught_up(&self) -> bool {
        self.oldest_caught_up() != NEVER
    }

    /// The event time no unread event of `tenant` can be earlier than by more than its
    /// lateness ([`NEVER`] while a partition may still hold anything of it).
    pub fn bound(&self, tenant: &str) -> i64 {
        let Some(clock) = self.tenants.get(tenant) else {
            return NEVER;
        };
        self.caught_up_at
            .iter()
            .zip(&clock.newest_in)
            .map(|(&at, &newest)| {
                let before = if at == NEVER {
                    NEVER
                } else {
                    clock.newest_before(at.saturating_sub(PUBLISH_SPREAD_MS))
                };
                newest.max(before)
            })
            .min()
            .unwrap_or(NEVER)
    }

    /// The wall time `tenant`'s watermark follows while it sends nothing: set once every
    /// partition was caught up `idle` after the tenant's last batch.
    /// A tenant not seen since this process started (restored from a checkpoint) is idle
    /// once every partition was caught up.
    pub fn idle_clock(&self, tenant: &str) -> Option<i64> {
        let last = self.tenants.get(tenant).map_or(NEVER, |c| c.last_stamp);
        let oldest = self.oldest_caught_up();
        (oldest != NEVER && oldest >= last.saturating_add(self.idle_ms)).then_some(oldest)
    }

    pub fn tenants(&self) -> impl Iterator<Item = &str> {
        self.tenants.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000; // a wall time
    const T: i64 = 50_000_000; // an event time

    #[test]
    fn a_partition_never_caught_up_holds_a_tenant_it_never_held() {
        let mut c = TenantClocks::new(2, 10_000);
        c.observe("a", S, &[(0, T)]);
        assert_eq!(c.bound("a"), NEVER);
        c.caught_up(1, S + 5_000);
        // Partition 1 was caught up after the batch was read: nothing older can follow there.
        assert_eq!(c.bound("a"), T);
    }

    #[test]
    fn a_backlogged_partition_holds_at_what_it_showed_of_the_tenant() {
        let mut c = TenantClocks::new(2, 10_000);
        c.observe("a", S, &[(0, T), (1, T - 60_000)]);
        assert_eq!(c.bound("a"), T - 60_000);
        c.observe("a", S + 10, &[(1, T - 30_000)]);
        assert_eq!(c.bound("a"), T - 30_000);
    }

    #[test]
    fn one_tenant_does_not_hold_another() {
        let mut c = TenantClocks::new(2, 10_000);
        c.observe("live", S, &[(0, T), (1, T)]);
        c.observe("behind", S, &[(0, T - 60_000), (1, T - 60_000)]);
        c.caught_up(0, S + 2_000);
        c.caught_up(1, S + 2_000);
        assert_eq!(c.bound("live"), T);
        assert_eq!(c.bound("behind"), T - 60_000);
    }

    #[test]
    fn events_read_just_before_a_catch_up_do_not_count_as_published_before_it() {
        let mut c = TenantClocks::new(2, 10_000);
        c.observe("a", S, &[(0, T)]);
        c.caught_up(0, S);
        c.caught_up(1, S + PUBLISH_SPREAD_MS - 1);
        assert_eq!(
            c.bound("a"),
            NEVER,
            "partition 1 may still commit older records"
        );
        c.caught_up(1, S + PUBLISH_SPREAD_MS);
        assert_eq!(c.bound("a"), T);
    }

    #[test]
    fn a_quiet_tenant_follows_the_clock_once_idle() {
        let mut c = TenantClocks::new(2, 10_000);
        c.observe("a", S, &[(0, T)]);
        c.caught_up(0, S + 9_000);
        c.caught_up(1, S + 20_000);
        assert_eq!(c.idle_clock("a"), None);
        c.caught_up(0, S + 10_000);
        assert_eq!(c.idle_clock("a"), Some(S + 10_000));
        assert_eq!(c.idle_clock("restored"), Some(S + 10_000));
    }

    #[test]
    fn old_stamps_are_forgotten_without_changing_bounds() {
        let mut c = TenantClocks::new(1, 10_000);
        for i in 0..100 {
            c.observe("a", S + i * 10, &[(0, T + i)]);
            c.caught_up(0, S + i * 10 + PUBLISH_SPREAD_MS);
            assert_eq!(c.bound("a"), T + i);
        }
        assert!(c.tenants["a"].newest_by_stamp.len() <= 2);
    }
}
