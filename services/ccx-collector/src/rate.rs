//! Per-tenant ingest rate: one token bucket per tenant, one token per event. A batch takes all
//! its tokens or none, so a refused batch is refused whole and costs nothing. The clock is
//! passed in (`now`), which keeps the buckets pure and their tests exact.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bucket that refills at `rate` tokens per second up to `burst`, starting full.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes `n` tokens at `now`, or takes none and says how long until `n` are there.
    /// `n` is at most `burst` (the config guarantees a full batch fits), else it never passes.
    pub fn take(&mut self, n: u32, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        // A clock read before the last one must not move `last` back and refill twice.
        self.last = self.last.max(now);
        let n = f64::from(n);
        if n <= self.tokens {
            self.tokens -= n;
            return Ok(());
        }
        Err(Duration::from_secs_f64((n - self.tokens) / self.rate))
    }
}

/// Whole seconds for a `Retry-After`: rounded up, so a client that waits them finds its
/// tokens, and at least 1 (0 would invite an immediate retry).
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The buckets of every tenant seen, with one rate and burst (rate 0: unlimited).
#[derive(Debug)]
pub struct TenantRates {
    rate: u32,
    burst: u32,
    /// Keyed by authenticated tenant only, so bounded by the configured tenants.
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl TenantRates {
    pub fn new(rate: u32, burst: u32) -> TenantRates {
        TenantRates {
            rate,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Takes `events` tokens of `tenant` at `now`, or returns the wait until they are there.
    pub fn take(&self, tenant: &str, events: usize, now: Instant) -> Result<(), Duration> {
        if self.rate == 0 {
            return Ok(());
        }
        let events = u32::try_from(events).unwrap_or(u32::MAX);
        let mut buckets = ccx_model::sync::lock(&self.buckets);
        if !buckets.contains_key(tenant) {
            buckets.insert(
                tenant.to_string(),
                TokenBucket::new(self.rate, self.burst, now),
            );
        }
        let bucket = buckets.get_mut(tenant).expect("inserted above");
        bucket.take(events, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn starts_full_and_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(100, 500, t0);
        assert_eq!(bucket.take(500, t0), Ok(()));
        // Empty: 50 events need half a second.
        assert_eq!(bucket.take(50, t0), Err(secs(0.5)));
        assert_eq!(bucket.take(50, t0 + secs(0.25)), Err(secs(0.25)));
        assert_eq!(bucket.take(50, t0 + secs(0.5)), Ok(()));
        assert_eq!(bucket.take(1, t0 + secs(0.5)), Err(secs(0.01)));
    }

    #[test]
    fn burst_caps_what_idle_time_saves() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, 30, t0);
        assert_eq!(bucket.take(30, t0), Ok(()));
        // An hour idle refills to the burst, not to 36,000.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(bucket.take(30, later), Ok(()));
        assert_eq!(bucket.take(1, later), Err(secs(0.1)));
    }

    #[test]
    fn a_refused_take_takes_nothing() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, 20, t0);
        assert_eq!(bucket.take(15, t0), Ok(()));
        assert_eq!(bucket.take(10, t0), Err(secs(0.5)));
        // The 5 left are still there for a smaller batch.
        assert_eq!(bucket.take(5, t0), Ok(()));
    }

    #[test]
    fn an_earlier_clock_reading_refills_nothing() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut bucket = TokenBucket::new(10, 10, t0);
        assert_eq!(bucket.take(10, t1), Ok(()));
        assert!(bucket.take(1, t0).is_err());
        assert_eq!(bucket.take(1, t1), Err(secs(0.1)));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
    }

    #[test]
    fn tenants_have_their_own_buckets_and_zero_is_unlimited() {
        let t0 = Instant::now();
        let rates = TenantRates::new(10, 10);
        assert_eq!(rates.take("a", 10, t0), Ok(()));
        assert_eq!(rates.take("a", 5, t0), Err(secs(0.5)));
        assert_eq!(rates.take("b", 10, t0), Ok(()));
        let unlimited = TenantRates::new(0, 0);
        for _ in 0..1000 {
            assert_eq!(unlimited.take("a", 1_000_000, t0), Ok(()));
        }
    }
}
