//! Rollups (docs/metrics.md, "Rollups"): the queue, agent and reason minute rows summed per
//! UTC hour and per tenant-local day. One definition of the hour and the day a minute belongs
//! to, and of the sums, for the stream, `ccx backfill`, the wallboard's "today" and the tests.

use chrono::{LocalResult, NaiveDate, TimeZone};
pub use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::rows::{Components, FinalRows, RollupRows};

pub const HOUR_MS: i64 = 3_600_000;

/// The UTC hour (ms) that contains `ms`.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// A day of a time zone: its date and the UTC instants `[start, end)` it spans (23 or 25 h
/// long on a daylight-saving change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LocalDay {
    /// Days since 1970-01-01 (a ClickHouse `Date`).
    pub date: i32,
    pub start: i64,
    pub end: i64,
}

/// The day of `tz` that contains instant `ms`.
pub fn local_day(ms: i64, tz: Tz) -> LocalDay {
    let date = match tz.timestamp_millis_opt(ms) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.date_naive(),
        LocalResult::None => return utc_day(ms),
    };
    let next = date.succ_opt().unwrap_or(date);
    LocalDay {
        date: days_since_epoch(date),
        start: midnight(date, tz).min(ms),
        end: midnight(next, tz).max(ms + 1),
    }
}

/// The UTC day of `ms` (what a time zone without local times there falls back to).
fn utc_day(ms: i64) -> LocalDay {
    let start = ms.div_euclid(24 * HOUR_MS) * 24 * HOUR_MS;
    LocalDay {
        date: (start / (24 * HOUR_MS)) as i32,
        start,
        end: start + 24 * HOUR_MS,
    }
}

/// The first instant of `date` in `tz`: its midnight, or, where the clocks skip midnight, the
/// first local minute that exists (the earlier one where midnight happens twice).
fn midnight(date: NaiveDate, tz: Tz) -> i64 {
    let Some(zero) = date.and_hms_opt(0, 0, 0) else {
        return 0;
    };
    for minute in 0..24 * 60 {
        let local = zero + chrono::Duration::minutes(minute);
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.timestamp_millis(),
            LocalResult::None => continue,
        }
    }
    zero.and_utc().timestamp_millis()
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    (date - epoch()).num_days() as i32
}

/// A `Date` as ClickHouse reads and prints it: `YYYY-MM-DD`.
pub fn date_string(days: i32) -> String {
    (epoch() + chrono::Duration::days(days.into()))
        .format("%Y-%m-%d")
        .to_string()
}

/// The days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Option<i32> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(days_since_epoch)
}

/// The hourly and the daily rollups of the queue, agent and reason rows of `minutes`, each
/// tenant's days in `tz_of(tenant)`: what the stream writes, computed from scratch.
pub fn roll_up(minutes: &FinalRows, tz_of: impl Fn(&str) -> Tz) -> (RollupRows, RollupRows) {
    let mut hourly = RollupRows::default();
    let mut daily = RollupRows::default();
    // The last day found per tenant: rows come in time order per table, so most minutes fall
    // in it.
    let mut last: std::collections::HashMap<String, LocalDay> = Default::default();
    let mut day_of = |tenant: &str, minute: i64, daily: &mut RollupRows| {
        let day = match last.get(tenant) {
            Some(day) if day.start <= minute && minute < day.end => *day,
            _ => {
                let day = local_day(minute, tz_of(tenant));
                last.insert(tenant.to_string(), day);
                daily.days.insert((tenant.to_string(), day.start), day.date);
                day
            }
        };
        day.start
    };
    let add = |sum: &mut Components, c: &Components| *sum += *c;
    for (key, c) in &minutes.queue {
        let mut hour = key.clone();
        hour.window_start = hour_of(key.window_start);
        add(hourly.queue.entry(hour).or_default(), c);
        let mut day = key.clone();
        day.window_start = day_of(&key.tenant_id, key.window_start, &mut daily);
        add(daily.queue.entry(day).or_default(), c);
    }
    for (key, c) in &minutes.agent {
        let mut hour = key.clone();
        hour.window_start = hour_of(key.window_start);
        add(hourly.agent.entry(hour).or_default(), c);
        let mut day = key.clone();
        day.window_start = day_of(&key.tenant_id, key.window_start, &mut daily);
        add(daily.agent.entry(day).or_default(), c);
    }
    for (key, c) in &minutes.reason {
        let mut hour = key.clone();
        hour.window_start = hour_of(key.window_start);
        add(hourly.reason.entry(hour).or_default(), c);
        let mut day = key.clone();
        day.window_start = day_of(&key.tenant_id, key.window_start, &mut daily);
        add(daily.reason.entry(day).or_default(), c);
    }
    (hourly.without_zero_rows(), daily.without_zero_rows())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::QueueKey;

    fn utc(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn days_of_rome_are_23_and_25_hours_long_on_the_clock_changes() {
        let rome = chrono_tz::Europe::Rome;
        let march = local_day(utc("2026-03-29T12:00:00Z"), rome);
        assert_eq!(date_string(march.date), "2026-03-29");
        assert_eq!(march.start, utc("2026-03-28T23:00:00Z"));
        assert_eq!(march.end, utc("2026-03-29T22:00:00Z"));
        assert_eq!(march.end - march.start, 23 * HOUR_MS);
        let october = local_day(utc("2026-10-25T23:30:00Z"), rome);
        assert_eq!(date_string(october.date), "2026-10-26");
        let october = local_day(utc("2026-10-25T12:00:00Z"), rome);
        assert_eq!(october.start, utc("2026-10-24T22:00:00Z"));
        assert_eq!(october.end - october.start, 25 * HOUR_MS);
        // The last minute before a local midnight, the first one after it.
        assert_eq!(
            local_day(utc("2026-03-28T22:59:00Z"), rome).date + 1,
            march.date
        );
        assert_eq!(local_day(utc("2026-03-28T23:00:00Z"), rome), march);
        let utc_day = local_day(utc("2026-03-29T23:59:00Z"), chrono_tz::UTC);
        assert_eq!(
            (utc_day.start, utc_day.end - utc_day.start),
            (utc("2026-03-29T00:00:00Z"), 24 * HOUR_MS)
        );
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_its_first_local_minute() {
        // São Paulo moved its clocks from 00:00 to 01:00 on 2018-11-04.
        let day = local_day(utc("2018-11-04T12:00:00Z"), chrono_tz::America::Sao_Paulo);
        assert_eq!(date_string(day.date), "2018-11-04");
        assert_eq!(day.start, utc("2018-11-04T03:00:00Z"));
        assert_eq!(day.end - day.start, 23 * HOUR_MS);
    }

    #[test]
    fn dates_print_and_parse_as_clickhouse_dates() {
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(parse_date("2026-03-29"), Some(20_541));
        assert_eq!(date_string(20_541), "2026-03-29");
        assert_eq!(parse_date("29/03/2026"), None);
    }

    #[test]
    fn rollups_sum_minutes_per_hour_and_per_local_day() {
        let key = |tenant: &str, at: &str| QueueKey {
            tenant_id: tenant.into(),
            window_start: utc(at),
            queue_id: "q".into(),
            channel: "VOICE".into(),
            direction: "INBOUND".into(),
        };
        let c = |offered| Components {
            offered,
            ..Components::default()
        };
        let mut minutes = FinalRows::default();
        for (at, n) in [
            ("2026-03-28T22:59:00Z", 1),
            ("2026-03-28T23:00:00Z", 2),
            ("2026-03-28T23:59:00Z", 4),
            ("2026-03-29T21:59:00Z", 8),
        ] {
            minutes.queue.insert(key("rome", at), c(n));
            minutes.queue.insert(key("utc", at), c(n));
        }
        minutes
            .queue
            .insert(key("utc", "2026-03-29T01:00:00Z"), c(0));
        let (hourly, daily) = roll_up(&minutes, |t| {
            if t == "rome" {
                chrono_tz::Europe::Rome
            } else {
                chrono_tz::UTC
            }
        });
        fn sum<'a>(rows: &'a RollupRows, key: &QueueKey) -> Option<&'a Components> {
            rows.queue.get(key)
        }
        assert_eq!(
            sum(&hourly, &key("rome", "2026-03-28T22:00:00Z")),
            Some(&c(1))
        );
        assert_eq!(
            sum(&hourly, &key("rome", "2026-03-28T23:00:00Z")),
            Some(&c(6))
        );
        assert_eq!(
            sum(&daily, &key("rome", "2026-03-27T23:00:00Z")),
            Some(&c(1))
        );
        assert_eq!(
            sum(&daily, &key("rome", "2026-03-28T23:00:00Z")),
            Some(&c(14))
        );
        assert_eq!(
            sum(&daily, &key("utc", "2026-03-28T00:00:00Z")),
            Some(&c(7))
        );
        assert_eq!(
            sum(&daily, &key("utc", "2026-03-29T00:00:00Z")),
            Some(&c(8))
        );
        assert_eq!((hourly.queue.len(), daily.queue.len()), (6, 4));
        assert!(hourly.days.is_empty());
        assert_eq!(
            daily.days[&("rome".to_string(), utc("2026-03-28T23:00:00Z"))],
            parse_date("2026-03-29").unwrap()
        );
    }
}
