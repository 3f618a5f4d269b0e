//! When the next contact of a stream arrives: a Poisson process whose rate follows the
//! time-of-day profile, drawn by thinning (candidates at the peak rate, each kept with the
//! ratio of the rate at its time to the peak).

use crate::rng::Rng;

const HOUR_MS: i64 = 3_600_000;

/// The profile's factor at `at` (UTC hour of the day), 1 without a profile.
pub fn factor(profile: Option<&[f64; 24]>, at: i64) -> f64 {
    profile.map_or(1.0, |p| p[(at.rem_euclid(24 * HOUR_MS) / HOUR_MS) as usize])
}

/// The next arrival after `from` (ms, kept fractional so that fast streams keep their rate)
/// of a stream of `per_hour` (before the profile), or None when the stream sends nothing.
pub fn next(rng: &mut Rng, from: f64, per_hour: f64, profile: Option<&[f64; 24]>) -> Option<f64> {
    let peak = profile.map_or(1.0, |p| p.iter().cloned().fold(0.0, f64::max));
    if per_hour <= 0.0 || peak <= 0.0 {
        return None;
    }
    let gap = HOUR_MS as f64 / (per_hour * peak);
    let mut at = from;
    loop {
        at += rng.exponential(gap);
        if rng.unit() * peak < factor(profile, at as i64) {
            return Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_shapes_the_day() {
        let mut profile = [0.0; 24];
        profile[9] = 2.0;
        profile[10] = 1.0;
        let mut rng = Rng::new(1);
        let (mut at, mut by_hour) = (0.0, [0u32; 24]);
        while at < (30 * 24 * HOUR_MS) as f64 {
            at = next(&mut rng, at, 100.0, Some(&profile)).unwrap();
            by_hour[((at as i64).rem_euclid(24 * HOUR_MS) / HOUR_MS) as usize] += 1;
        }
        assert_eq!(by_hour.iter().sum::<u32>(), by_hour[9] + by_hour[10]);
        let ratio = f64::from(by_hour[9]) / f64::from(by_hour[10]);
        assert!((ratio - 2.0).abs() < 0.15, "{by_hour:?}");
    }
}
