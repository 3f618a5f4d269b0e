//! Hourly and daily rollups written by the stream: tenant-local days across daylight-saving
//! changes, a restart from a checkpoint, a change of time zone. Everything written is followed
//! as `SELECT … FINAL` sees it, and each rollup row is checked against the sum of the minute
//! rows written.

use std::collections::HashMap;
use std::sync::Arc;

use ccx_model::rollup::{date_string, roll_up, HOUR_MS};
use ccx_model::rows::{Components, FinalRows, RollupRows};
use ccx_model::settings::TenantSettings;
use ccx_model::{Event, EventType};
use ccx_stream::checkpoint::{CheckpointDir, WorkerCheckpoint};
use ccx_stream::engine::{Engine, Settings, SharedSettings};

mod support;
use support::{by, contact_event};

/// Milliseconds of an RFC 3339 instant.
fn at(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

/// An event of `kind` of contact `id` on tenant `rome`, handled by agent `a1`.
fn event(id: &str, kind: EventType, t: i64) -> Event {
    let event_id = format!("{id}-{}", kind as i32);
    Event {
        tenant_id: "rome".into(),
        ..by("a1", contact_event(&event_id, id, kind, t))
    }
}

/// A contact offered at `t`, answered 10 s later, ended resolved after 2 minutes (its FCR
/// success is decided a day later).
fn call(id: &str, t: i64) -> Vec<Event> {
    let mut ended = event(id, EventType::ContactEnded, t + 130_000);
    ended.resolved = true;
    vec![
        event(id, EventType::ContactOffered, t),
        event(id, EventType::ContactAnswered, t + 10_000),
        ended,
    ]
}

fn rome() -> TenantSettings {
    TenantSettings {
        time_zone: "Europe/Rome".into(),
        ..TenantSettings::default()
    }
}

/// What the writes leave under `FINAL`.
#[derive(Default, Clone, Debug, PartialEq)]
struct Written {
    minutes: FinalRows,
    hourly: RollupRows,
    daily: RollupRows,
}

impl Written {
    fn take(&mut self, engine: &mut Engine) {
        let mut out = engine.take_output();
        self.hourly.merge(std::mem::take(&mut out.hourly));
        self.daily.merge(std::mem::take(&mut out.daily));
        out.merge_into(&mut self.minutes);
    }

    fn settled(&self) -> Written {
        Written {
            minutes: self.minutes.clone().without_zero_rows(),
            hourly: self.hourly.clone().without_zero_rows(),
            daily: self.daily.clone().without_zero_rows(),
        }
    }

    /// Every rollup row is the sum of its minute rows, days in `tz`.
    fn check_sums(&self, tz: chrono_tz::Tz, context: &str) {
        let settled = self.settled();
        let (hourly, daily) = roll_up(&settled.minutes, |_| tz);
        assert_eq!(settled.hourly, hourly, "{context}: hourly");
        assert_eq!(settled.daily, daily, "{context}: daily");
    }
}

/// Streams `events` in time order, the watermark 5 s behind, flushing after each; then moves
/// the watermark to `until` in steps of an hour.
fn run(engine: &mut Engine, events: &[Event], until: i64, written: &mut Written) {
    let time = |e: &Event| ccx_model::timestamp_ms(e.occurred_at.as_ref().unwrap());
    let mut sorted = events.to_vec();
    sorted.sort_by_key(time);
    for e in &sorted {
        engine.ingest(e);
        engine.advance(time(e) - 5_000);
        written.take(engine);
    }
    let mut watermark = sorted.last().map_or(until, time);
    while watermark < until {
        watermark = (watermark + HOUR_MS).min(until);
        engine.advance(watermark);
        written.take(engine);
    }
}

/// Calls around both of Rome's 2026 clock changes: the days of 29 March (23 h) and 25
/// October (25 h) hold the calls of their local dates, from local midnight to local midnight.
#[test]
fn daily_rows_follow_romes_days_across_the_clock_changes() {
    let calls = [
        "2026-03-28T22:30:00Z", // 23:30 on the 28th in Rome (CET)
        "2026-03-28T23:30:00Z", // 00:30 on the 29th
        "2026-03-29T21:30:00Z", // 23:30 on the 29th (CEST)
        "2026-03-29T22:30:00Z", // 00:30 on the 30th
        "2026-10-24T21:30:00Z", // 23:30 on the 24th (CEST)
        "2026-10-24T22:30:00Z", // 00:30 on the 25th
        "2026-10-25T00:30:00Z", // 02:30 on the 25th, the first time
        "2026-10-25T01:30:00Z", // 02:30 on the 25th, the second time (CET)
        "2026-10-25T22:30:00Z", // 23:30 on the 25th
        "2026-10-25T23:30:00Z", // 00:30 on the 26th
    ];
    let events: Vec<Event> = calls
        .iter()
        .enumerate()
        .flat_map(|(i, t)| call(&format!("c{i}"), at(t)))
        .collect();
    let mut settings = Settings::new(rome());
    settings.provisional = true;
    let mut engine = Engine::new(settings, at("2026-03-28T00:00:00Z"));
    let mut written = Written::default();
    // Past the FCR verdicts and the finality of every minute.
    run(
        &mut engine,
        &events,
        at("2026-10-28T12:00:00Z"),
        &mut written,
    );
    written.check_sums(chrono_tz::Europe::Rome, "Rome");

    let days: Vec<(String, i64, u64, u64)> = written
        .settled()
        .daily
        .queue
        .iter()
        .map(|(k, c)| {
            let date = written.daily.days[&(k.tenant_id.clone(), k.window_start)];
            (date_string(date), k.window_start, c.offered, c.fcr_success)
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-03-28".into(), at("2026-03-27T23:00:00Z"), 1, 1),
            ("2026-03-29".into(), at("2026-03-28T23:00:00Z"), 2, 2),
            ("2026-03-30".into(), at("2026-03-29T22:00:00Z"), 1, 1),
            ("2026-10-24".into(), at("2026-10-23T22:00:00Z"), 1, 1),
            ("2026-10-25".into(), at("2026-10-24T22:00:00Z"), 4, 4),
            ("2026-10-26".into(), at("2026-10-25T23:00:00Z"), 1, 1),
        ]
    );
    // 29 March lasts 23 h, 25 October 25 h.
    assert_eq!(days[2].1 - days[1].1, 23 * HOUR_MS);
    assert_eq!(days[5].1 - days[4].1, 25 * HOUR_MS);
    // Hours stay UTC hours: the two 02:30 calls of 25 October are in two hours.
    let hourly = written.settled().hourly;
    for t in ["2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z"] {
        let hour = hourly
            .queue
            .iter()
            .find(|(k, _)| k.window_start == at(t))
            .map(|(_, c)| c.offered);
        assert_eq!(hour, Some(1), "{t}");
    }
    // Nothing is held once every minute is final.
    let (held_hours, held_days) = engine.rollup_rows();
    assert!(
        held_hours.is_empty() && held_days.is_empty(),
        "{held_hours:?}"
    );
}

/// A stream stopped after a checkpoint and restarted from it (state restored, events after
/// the checkpoint read again) writes the same rollups as one that never stopped, each the
/// sum of its minutes, with rows changed but not yet handed over at the checkpoint.
#[test]
fn rollups_continue_exactly_after_a_restart_from_a_checkpoint() {
    let start = at("2026-03-29T20:00:00Z");
    let events: Vec<Event> = (0..40)
        .flat_map(|i| call(&format!("c{i}"), start + i * 7 * 60_000))
        .collect();
    let until = start + 2 * 86_400_000;
    let time = |e: &Event| ccx_model::timestamp_ms(e.occurred_at.as_ref().unwrap());

    let mut whole = Written::default();
    let mut engine = Engine::new(Settings::new(rome()), start);
    run(&mut engine, &events, until, &mut whole);
    whole.check_sums(chrono_tz::Europe::Rome, "uninterrupted");

    // The first part, then events read and applied but not yet handed over when the
    // checkpoint is taken; the rest is read after the restart.
    let cut = start + 140 * 60_000;
    let resume = cut + 30 * 60_000;
    let part = |from: i64, to: i64| -> Vec<Event> {
        events
            .iter()
            .filter(|e| (from..to).contains(&time(e)))
            .cloned()
            .collect()
    };
    let mut written = Written::default();
    let mut first = Engine::new(Settings::new(rome()), start);
    run(&mut first, &part(start, cut), cut, &mut written);
    for e in &part(cut, resume) {
        first.ingest(e);
    }
    first.advance(resume - 60_000);
    let dir = std::env::temp_dir().join(format!("ccx-rollups-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let checkpoints = CheckpointDir::new(&dir).unwrap();
    let state = WorkerCheckpoint {
        boundary: 1,
        workers: 1,
        worker: 0,
        offsets: Vec::new(),
        tenants: first
            .tenant_ids()
            .map(|t| (t.clone(), first.tenant_state(t).unwrap().clone()))
            .collect(),
    };
    checkpoints.write(&state.encode().unwrap()).unwrap();
    // Rows written after the checkpoint, then lost with the process.
    written.take(&mut first);
    drop(first);

    let restored = checkpoints.load(1, 0, 1).unwrap();
    let mut second = Engine::new(Settings::new(rome()), start);
    for (tenant, state) in restored.tenants {
        second.restore_tenant(tenant, state);
    }
    run(&mut second, &part(resume, until), until, &mut written);
    written.check_sums(chrono_tz::Europe::Rome, "restarted");
    assert_eq!(written.settled(), whole.settled());
    assert!(!whole.settled().daily.queue.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tenant moving from UTC to Rome: minutes that had rows keep their UTC day (so their late
/// FCR verdicts land there too), minutes after the change count in Rome's days; every day
/// row is the sum of its minutes and no minute counts twice.
#[test]
fn a_time_zone_change_applies_to_minutes_from_the_change_on() {
    let start = at("2026-06-01T20:00:00Z");
    let change = at("2026-06-01T22:30:00Z");
    let events: Vec<Event> = (0..12)
        .flat_map(|i| call(&format!("c{i}"), start + i * 30 * 60_000))
        .collect();
    let shared = Arc::new(SharedSettings::default());
    let utc = TenantSettings::default();
    shared.replace(HashMap::from([("rome".to_string(), utc.clone())]));
    let mut settings = Settings::new(utc);
    settings.shared = Some(shared.clone());
    let mut engine = Engine::new(settings, start);
    let time = |e: &Event| ccx_model::timestamp_ms(e.occurred_at.as_ref().unwrap());
    let (before, after): (Vec<Event>, Vec<Event>) =
        events.iter().cloned().partition(|e| time(e) < change);
    let mut written = Written::default();
    run(&mut engine, &before, change, &mut written);
    shared.replace(HashMap::from([("rome".to_string(), rome())]));
    run(&mut engine, &after, start + 3 * 86_400_000, &mut written);

    let settled = written.settled();
    let (old, new): (FinalRows, FinalRows) = {
        let mut old = settled.minutes.clone();
        let mut new = settled.minutes.clone();
        old.queue.retain(|k, _| k.window_start < change);
        old.agent.retain(|k, _| k.window_start < change);
        old.reason.retain(|k, _| k.window_start < change);
        new.queue.retain(|k, _| k.window_start >= change);
        new.agent.retain(|k, _| k.window_start >= change);
        new.reason.retain(|k, _| k.window_start >= change);
        (old, new)
    };
    let (_, mut expected) = roll_up(&old, |_| chrono_tz::UTC);
    let (_, in_rome) = roll_up(&new, |_| chrono_tz::Europe::Rome);
    for (key, c) in in_rome.queue {
        *expected.queue.entry(key).or_default() += c;
    }
    expected.days.extend(in_rome.days);
    assert_eq!(settled.daily.queue, expected.queue);
    assert_eq!(settled.daily.days, expected.days);
    // The UTC day of 1 June (from 00:00 UTC) and Rome's 2 June (from 22:00 UTC on the 1st).
    let starts: Vec<i64> = settled.daily.queue.keys().map(|k| k.window_start).collect();
    assert_eq!(
        starts,
        [at("2026-06-01T00:00:00Z"), at("2026-06-01T22:00:00Z")]
    );
    let total = |rows: &mut dyn Iterator<Item = &Components>| {
        rows.fold(Components::default(), |mut sum, c| {
            sum += *c;
            sum
        })
    };
    assert_eq!(
        total(&mut settled.daily.queue.values()),
        total(&mut settled.minutes.queue.values())
    );
    assert_eq!(total(&mut settled.daily.queue.values()).fcr_success, 12);
}
