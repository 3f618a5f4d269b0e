//! A small, fast, reproducible random source (xorshift64*) and the draws the model needs.
//! The same seed gives the same numbers on every platform: no floating-point library call
//! decides a branch except through these functions.

use crate::config::Dist;

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }

    /// Exponential with this mean (inverse transform; 1 − u is never 0).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Standard normal (Box–Muller; one of the pair is dropped to keep no state).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A draw of `dist`, milliseconds, never negative.
    pub fn sample(&mut self, dist: Dist) -> i64 {
        let ms = match dist {
            Dist::Fixed(ms) => ms,
            Dist::Exponential { mean_ms } => self.exponential(mean_ms),
            Dist::Uniform { lo_ms, hi_ms } => lo_ms + (hi_ms - lo_ms) * self.unit(),
            Dist::LogNormal { mean_ms, cv } => {
                // Parameters of the underlying normal for this mean and variation.
                let s2 = (1.0 + cv * cv).ln();
                let mu = mean_ms.ln() - s2 / 2.0;
                (mu + s2.sqrt() * self.normal()).exp().min(4.0 * mean_ms)
            }
        };
        ms.max(0.0).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_their_means() {
        let mut r = Rng::new(3);
        let n = 200_000;
        for dist in [
            Dist::Exponential { mean_ms: 1_000.0 },
            Dist::LogNormal {
                mean_ms: 1_000.0,
                cv: 0.5,
            },
            Dist::Uniform {
                lo_ms: 500.0,
                hi_ms: 1_500.0,
            },
        ] {
            let mean = (0..n).map(|_| r.sample(dist) as f64).sum::<f64>() / n as f64;
            assert!((mean - 1_000.0).abs() < 15.0, "{dist:?}: {mean}");
        }
    }
}
