//! The golden fixtures of `tests/fixtures/*.json`: small scenarios whose expected rows were
//! written by hand from SPEC, and the field-by-field comparison of any engine's rows with them.
//!
//! A fixture file is one JSON object:
//!
//! ```json
//! {
//!   "description": "what the scenario shows",
//!   "settings": { "slThresholdMs": 20000, "queues": { "vip": { "slThresholdMs": 10000 } },
//!                 "churn": { "threshold": 60, "signals": { "NPS_DETRACTOR": { "weight": 30, "cap": 1 } } } },
//!   "watermark": "2026-03-02T09:10:00Z",
//!   "events": [ { "eventId": "e1", "tenantId": "t1", "type": "CONTACT_OFFERED", … } ],
//!   "expected": {
//!     "queue":       [ { "tenant_id": "t1", "window_start": "2026-03-02T09:00:00Z",
//!                        "queue_id": "q1", "channel": "VOICE", "direction": "INBOUND",
//!                        "offered": 1 } ],
//!     "agent":       [ { "tenant_id", "window_start", "agent_id", "channel", <columns> } ],
//!     "reason":      [ { "tenant_id", "window_start", "reason", "channel", "direction",
//!                        <columns> } ],
//!     "agent_state": [ { "tenant_id", "window_start", "agent_id", "available_ms", … } ],
//!     "quality":     [ { "tenant_id", "window_start", "duplicates", "out_of_sequence" } ],
//!     "alerts":      [ { "tenant_id", "alert_id", "customer_id", "score", "reasons",
//!                        "triggered_at", "contact_id", "channel", "queue_id", "agent_id" } ],
//!     "queue_now":   [ { "tenant_id", "queue_id", "channel", "waiting", "longest_wait_ms" } ]
//!   }
//! }
//! ```
//!
//! - `settings` (optional) is [`TenantSettings`] as serde reads it (its one JSON form, with the
//!   proto3 JSON names): camelCase keys, every key optional (left out = SPEC's default),
//!   `queues` by queue id, `churn.signals` by SPEC signal name (a signal listed gives both its
//!   `weight` and `cap`); an unknown key is refused.
//! - `watermark`: every event with `occurredAt` before it is known; the expected rows are the
//!   final rows at that watermark.
//! - `events`: proto3 JSON events, exactly as the HTTP API takes them.
//! - `expected`: every table is optional and means "no rows" when absent. A row lists its key
//!   columns and only its non-zero value columns, which must be columns of its table
//!   ([`QUEUE_COLUMNS`], [`AGENT_COLUMNS`], [`REASON_COLUMNS`] for `queue`, `agent`, `reason`);
//!   every row not listed is expected to be zero (absent). `reason` is `""` for contacts offered
//!   without one. `window_start` and `triggered_at` are RFC 3339 times. `queue_now` is checked
//!   only when present (its `as_of` is the watermark).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ccx_model::json::event_from_json;
use ccx_model::rows::{
    AgentKey, AgentMinute, ChurnAlert, Components, FinalRows, Quality, QueueKey, QueueNow,
    ReasonKey, StateTimes, AGENT_COLUMNS, COMPONENT_COLUMNS, QUEUE_COLUMNS, REASON_COLUMNS,
};
use ccx_model::settings::TenantSettings;
use ccx_model::Event;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// One golden scenario.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The file name without `.json`.
    pub name: String,
    pub description: String,
    pub settings: TenantSettings,
    pub watermark_ms: i64,
    pub events: Vec<Event>,
    pub expected: FinalRows,
    /// Expected `queue_now` rows, when the fixture states them.
    pub expected_queue_now: Option<Vec<QueueNow>>,
}

/// `tests/fixtures` of this repository.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Loads every `*.json` fixture of `dir`, sorted by name. Panics with the file and the reason
/// when a fixture cannot be read or parsed (a broken fixture is a broken test).
pub fn load_all(dir: impl AsRef<Path>) -> Vec<Fixture> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read fixtures directory {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| load(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// Loads one fixture file.
pub fn load(path: &Path) -> Result<Fixture, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse(&name, &text)
}

/// Parses the text of one fixture named `name`.
pub fn parse(name: &str, text: &str) -> Result<Fixture, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("bad JSON: {e}"))?;
    let top = object(&value, "fixture")?;
    only_keys(
        top,
        &["description", "settings", "watermark", "events", "expected"],
        "fixture",
    )?;
    let description = match top.get("description") {
        Some(v) => v
            .as_str()
            .ok_or("description: expected a string")?
            .to_string(),
        None => String::new(),
    };
    let settings = match top.get("settings") {
        Some(v) => serde_json::from_value::<TenantSettings>(v.clone())
            .map_err(|e| format!("settings: {e}"))?,
        None => TenantSettings::default(),
    };
    let watermark_ms = time(
        top.get("watermark").ok_or("watermark: missing")?,
        "watermark",
    )?;
    let mut events = Vec::new();
    let list = top
        .get("events")
        .and_then(Value::as_array)
        .ok_or("events: expected an array")?;
    for (i, v) in list.iter().enumerate() {
        events.push(event_from_json(v).map_err(|e| format!("events[{i}]: {e}"))?);
    }
    let empty = Map::new();
    let expected = match top.get("expected") {
        Some(v) => object(v, "expected")?,
        None => &empty,
    };
    only_keys(
        expected,
        &[
            "queue",
            "agent",
            "reason",
            "agent_state",
            "quality",
            "alerts",
            "queue_now",
        ],
        "expected",
    )?;
    let rows = |table: &str| -> Result<Vec<&Map<String, Value>>, String> {
        match expected.get(table) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| object(v, &format!("expected.{table}[{i}]")))
                .collect(),
            Some(_) => Err(format!("expected.{table}: expected an array")),
        }
    };
    let mut out = FinalRows::default();
    for (i, row) in rows("queue")?.into_iter().enumerate() {
        let at = format!("expected.queue[{i}]");
        let key = QueueKey {
            tenant_id: text_field(row, "tenant_id", &at)?,
            window_start: minute_field(row, &at)?,
            queue_id: text_field(row, "queue_id", &at)?,
            channel: text_field(row, "channel", &at)?,
            direction: text_field(row, "direction", &at)?,
        };
        let keys = [
            "tenant_id",
            "window_start",
            "queue_id",
            "channel",
            "direction",
        ];
        let values = components(row, &keys, QUEUE_COLUMNS, &at)?;
        if out.queue.insert(key, values).is_some() {
            return Err(format!("{at}: the same key is listed twice"));
        }
    }
    for (i, row) in rows("agent")?.into_iter().enumerate() {
        let at = format!("expected.agent[{i}]");
        let key = AgentKey {
            tenant_id: text_field(row, "tenant_id", &at)?,
            window_start: minute_field(row, &at)?,
            agent_id: text_field(row, "agent_id", &at)?,
            channel: text_field(row, "channel", &at)?,
        };
        let keys = ["tenant_id", "window_start", "agent_id", "channel"];
        let values = components(row, &keys, AGENT_COLUMNS, &at)?;
        if out.agent.insert(key, values).is_some() {
            return Err(format!("{at}: the same key is listed twice"));
        }
    }
    for (i, row) in rows("reason")?.into_iter().enumerate() {
        let at = format!("expected.reason[{i}]");
        let key = ReasonKey {
            tenant_id: text_field(row, "tenant_id", &at)?,
            window_start: minute_field(row, &at)?,
            reason: text_field(row, "reason", &at)?,
            channel: text_field(row, "channel", &at)?,
            direction: text_field(row, "direction", &at)?,
        };
        let keys = [
            "tenant_id",
            "window_start",
            "reason",
            "channel",
            "direction",
        ];
        let values = components(row, &keys, REASON_COLUMNS, &at)?;
        if out.reason.insert(key, values).is_some() {
            return Err(format!("{at}: the same key is listed twice"));
        }
    }
    for (i, row) in rows("agent_state")?.into_iter().enumerate() {
        let at = format!("expected.agent_state[{i}]");
        let key = AgentMinute {
            tenant_id: text_field(row, "tenant_id", &at)?,
            window_start: minute_field(row, &at)?,
            agent_id: text_field(row, "agent_id", &at)?,
        };
        let keys = ["tenant_id", "window_start", "agent_id"];
        let v = numbers(row, &keys, &STATE_COLUMNS, &at)?;
        let times = StateTimes {
            available_ms: v[0] as u64,
            busy_ms: v[1] as u64,
            acw_state_ms: v[2] as u64,
            break_ms: v[3] as u64,
        };
        if out.agent_state.insert(key, times).is_some() {
            return Err(format!("{at}: the same key is listed twice"));
        }
    }
    for (i, row) in rows("quality")?.into_iter().enumerate() {
        let at = format!("expected.quality[{i}]");
        let key = (text_field(row, "tenant_id", &at)?, minute_field(row, &at)?);
        let v = numbers(row, &["tenant_id", "window_start"], &QUALITY_COLUMNS, &at)?;
        let quality = Quality {
            duplicates: v[0] as u64,
            out_of_sequence: v[1] as u64,
            late_dropped: v[2] as u64,
        };
        if out.quality.insert(key, quality).is_some() {
            return Err(format!("{at}: the same key is listed twice"));
        }
    }
    for (i, row) in rows("alerts")?.into_iter().enumerate() {
        let at = format!("expected.alerts[{i}]");
        out.alerts.push(parse_alert(row, &at)?);
    }
    let ids: BTreeSet<(&str, &str)> = out
        .alerts
        .iter()
        .map(|a| (a.tenant_id.as_str(), a.alert_id.as_str()))
        .collect();
    if ids.len() != out.alerts.len() {
        return Err("expected.alerts: an alert_id is listed twice".into());
    }
    out.alerts.sort();
    let expected_queue_now = match expected.get("queue_now") {
        None => None,
        Some(_) => {
            let mut list = Vec::new();
            for (i, row) in rows("queue_now")?.into_iter().enumerate() {
                let at = format!("expected.queue_now[{i}]");
                let keys = ["tenant_id", "queue_id", "channel"];
                let v = numbers(row, &keys, &["waiting", "longest_wait_ms"], &at)?;
                list.push(QueueNow {
                    tenant_id: text_field(row, "tenant_id", &at)?,
                    queue_id: text_field(row, "queue_id", &at)?,
                    channel: text_field(row, "channel", &at)?,
                    waiting: v[0] as u64,
                    longest_wait_ms: v[1] as u64,
                    agents_needed: None,
                    as_of: watermark_ms,
                });
            }
            list.sort();
            Some(list)
        }
    };
    Ok(Fixture {
        name: name.to_string(),
        description,
        settings,
        watermark_ms,
        events,
        expected: out,
        expected_queue_now,
    })
}

const STATE_COLUMNS: [&str; 4] = ["available_ms", "busy_ms", "acw_state_ms", "break_ms"];
const QUALITY_COLUMNS: [&str; 3] = ["duplicates", "out_of_sequence", "late_dropped"];

fn object<'v>(value: &'v Value, what: &str) -> Result<&'v Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{what}: expected an object"))
}

fn only_keys(map: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{what}: unknown key {k:?} (allowed: {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

fn text_field(row: &Map<String, Value>, name: &str, at: &str) -> Result<String, String> {
    row.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("{at}.{name}: expected a string"))
}

fn integer(value: &Value, what: &str) -> Result<i64, String> {
    value
        .as_i64()
        .ok_or_else(|| format!("{what}: expected an integer, got {value}"))
}

fn time(value: &Value, what: &str) -> Result<i64, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{what}: expected an RFC 3339 time"))?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{what}: {text:?} is not an RFC 3339 time: {e}"))
}

fn minute_field(row: &Map<String, Value>, at: &str) -> Result<i64, String> {
    let what = format!("{at}.window_start");
    let ms = time(row.get("window_start").unwrap_or(&Value::Null), &what)?;
    if ms.rem_euclid(60_000) != 0 {
        return Err(format!("{what}: not the start of a minute"));
    }
    Ok(ms)
}

/// Reads the value columns of a row: keys must be in `keys`, the rest in `columns`.
fn numbers(
    row: &Map<String, Value>,
    keys: &[&str],
    columns: &[&str],
    at: &str,
) -> Result<Vec<i64>, String> {
    let mut values = vec![0; columns.len()];
    for (name, value) in row {
        if keys.contains(&name.as_str()) {
            continue;
        }
        let Some(i) = columns.iter().position(|c| c == name) else {
            return Err(format!(
                "{at}: unknown column {name:?} (columns: {})",
                columns.join(", ")
            ));
        };
        values[i] = integer(value, &format!("{at}.{name}"))?;
    }
    Ok(values)
}

fn components(
    row: &Map<String, Value>,
    keys: &[&str],
    columns: &[&str],
    at: &str,
) -> Result<Components, String> {
    let given = numbers(row, keys, columns, at)?;
    Ok(Components::from_columns(columns, &given))
}

fn parse_alert(row: &Map<String, Value>, at: &str) -> Result<ChurnAlert, String> {
    only_keys(
        row,
        &[
            "tenant_id",
            "alert_id",
            "customer_id",
            "score",
            "reasons",
            "triggered_at",
            "contact_id",
            "channel",
            "queue_id",
            "agent_id",
        ],
        at,
    )?;
    let score = integer(
        row.get("score").unwrap_or(&Value::Null),
        &format!("{at}.score"),
    )?;
    let reasons = row
        .get("reasons")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{at}.reasons: expected an array of strings"))?
        .iter()
        .map(|r| r.as_str().map(str::to_string))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| format!("{at}.reasons: expected an array of strings"))?;
    let what = format!("{at}.triggered_at");
    Ok(ChurnAlert {
        tenant_id: text_field(row, "tenant_id", at)?,
        alert_id: text_field(row, "alert_id", at)?,
        customer_id: text_field(row, "customer_id", at)?,
        score: u32::try_from(score).map_err(|_| format!("{at}.score: out of range"))?,
        reasons,
        triggered_at: time(row.get("triggered_at").unwrap_or(&Value::Null), &what)?,
        contact_id: text_field(row, "contact_id", at)?,
        channel: text_field(row, "channel", at)?,
        queue_id: text_field(row, "queue_id", at)?,
        agent_id: text_field(row, "agent_id", at)?,
    })
}

/// An RFC 3339 UTC time with milliseconds when they are not zero.
pub fn format_ms(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => format!("{ms}ms"),
    }
}

/// Compares an engine's rows with the fixture's expectation, field by field. The error lists
/// every difference, one per line, naming the fixture, the table, the row key and the column.
pub fn check(fixture: &Fixture, got: &FinalRows) -> Result<(), String> {
    let want = &fixture.expected;
    let mut diffs = Vec::new();
    let name = &fixture.name;
    compare_table(
        &mut diffs,
        name,
        "queue_metrics_1m",
        &want.queue,
        &got.queue,
        |k| {
            format!(
                "{{tenant_id={}, window_start={}, queue_id={}, channel={}, direction={}}}",
                k.tenant_id,
                format_ms(k.window_start),
                k.queue_id,
                k.channel,
                k.direction
            )
        },
        COMPONENT_COLUMNS,
        |c| c.values().to_vec(),
    );
    compare_table(
        &mut diffs,
        name,
        "agent_metrics_1m",
        &want.agent,
        &got.agent,
        |k| {
            format!(
                "{{tenant_id={}, window_start={}, agent_id={}, channel={}}}",
                k.tenant_id,
                format_ms(k.window_start),
                k.agent_id,
                k.channel
            )
        },
        COMPONENT_COLUMNS,
        |c| c.values().to_vec(),
    );
    compare_table(
        &mut diffs,
        name,
        "reason_metrics_1m",
        &want.reason,
        &got.reason,
        |k| {
            format!(
                "{{tenant_id={}, window_start={}, reason={:?}, channel={}, direction={}}}",
                k.tenant_id,
                format_ms(k.window_start),
                k.reason,
                k.channel,
                k.direction
            )
        },
        COMPONENT_COLUMNS,
        |c| c.values().to_vec(),
    );
    compare_table(
        &mut diffs,
        name,
        "agent_state_1m",
        &want.agent_state,
        &got.agent_state,
        |k| {
            format!(
                "{{tenant_id={}, window_start={}, agent_id={}}}",
                k.tenant_id,
                format_ms(k.window_start),
                k.agent_id
            )
        },
        &STATE_COLUMNS,
        |s| {
            [s.available_ms, s.busy_ms, s.acw_state_ms, s.break_ms]
                .map(|v| v as i64)
                .to_vec()
        },
    );
    compare_table(
        &mut diffs,
        name,
        "ingest_quality_1m",
        &want.quality,
        &got.quality,
        |k| format!("{{tenant_id={}, window_start={}}}", k.0, format_ms(k.1)),
        &QUALITY_COLUMNS,
        |q| {
            [q.duplicates, q.out_of_sequence, q.late_dropped]
                .map(|v| v as i64)
                .to_vec()
        },
    );
    compare_alerts(&mut diffs, name, &want.alerts, &got.alerts);
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    }
}

/// Compares `queue_now` rows with the fixture's expectation (when it states one).
pub fn check_queue_now(fixture: &Fixture, got: &[QueueNow]) -> Result<(), String> {
    let Some(want) = &fixture.expected_queue_now else {
        return Ok(());
    };
    let index = |rows: &[QueueNow]| -> BTreeMap<(String, String, String), QueueNow> {
        rows.iter()
            .map(|r| {
                let key = (r.tenant_id.clone(), r.queue_id.clone(), r.channel.clone());
                (key, r.clone())
            })
            .collect()
    };
    let (want, got_map) = (index(want), index(got));
    let mut diffs = Vec::new();
    if got_map.len() != got.len() {
        diffs.push(format!(
            "fixture `{}`: queue_now: a (tenant_id, queue_id, channel) key appears twice",
            fixture.name
        ));
    }
    let zero = |k: &(String, String, String)| QueueNow {
        tenant_id: k.0.clone(),
        queue_id: k.1.clone(),
        channel: k.2.clone(),
        waiting: 0,
        longest_wait_ms: 0,
        agents_needed: None,
        as_of: fixture.watermark_ms,
    };
    let keys: BTreeSet<&(String, String, String)> = want.keys().chain(got_map.keys()).collect();
    for k in keys {
        let w = want.get(k).cloned().unwrap_or_else(|| zero(k));
        let g = got_map.get(k).cloned().unwrap_or_else(|| zero(k));
        let cols = [
            ("waiting", w.waiting as i64, g.waiting as i64),
            (
                "longest_wait_ms",
                w.longest_wait_ms as i64,
                g.longest_wait_ms as i64,
            ),
            ("as_of", w.as_of, g.as_of),
        ];
        for (col, a, b) in cols {
            if a != b {
                diffs.push(format!(
                    "fixture `{}`: queue_now {{tenant_id={}, queue_id={}, channel={}}} column {col}: expected {a}, got {b}",
                    fixture.name, k.0, k.1, k.2
                ));
            }
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    }
}

#[allow(clippy::too_many_arguments)]
fn compare_table<K: Ord, V: Default>(
    diffs: &mut Vec<String>,
    fixture: &str,
    table: &str,
    want: &BTreeMap<K, V>,
    got: &BTreeMap<K, V>,
    key_text: impl Fn(&K) -> String,
    columns: &[&str],
    values: impl Fn(&V) -> Vec<i64>,
) {
    let zero = V::default();
    let keys: BTreeSet<&K> = want.keys().chain(got.keys()).collect();
    for key in keys {
        let (w, g) = (want.get(key), got.get(key));
        let note = match (w, g) {
            (Some(_), None) => " (row missing)",
            (None, Some(_)) => " (row not expected)",
            _ => "",
        };
        let wv = values(w.unwrap_or(&zero));
        let gv = values(g.unwrap_or(&zero));
        for ((col, a), b) in columns.iter().zip(&wv).zip(&gv) {
            if a != b {
                diffs.push(format!(
                    "fixture `{fixture}`: {table} {} column {col}: expected {a}, got {b}{note}",
                    key_text(key)
                ));
            }
        }
    }
}

fn compare_alerts(diffs: &mut Vec<String>, fixture: &str, want: &[ChurnAlert], got: &[ChurnAlert]) {
    let index = |alerts: &[ChurnAlert]| -> BTreeMap<(String, String), ChurnAlert> {
        alerts
            .iter()
            .map(|a| ((a.tenant_id.clone(), a.alert_id.clone()), a.clone()))
            .collect()
    };
    let (want_map, got_map) = (index(want), index(got));
    if got_map.len() != got.len() {
        diffs.push(format!(
            "fixture `{fixture}`: churn_alerts: an alert_id appears more than once"
        ));
    }
    let keys: BTreeSet<&(String, String)> = want_map.keys().chain(got_map.keys()).collect();
    for key in keys {
        let head = format!(
            "fixture `{fixture}`: churn_alerts {{tenant_id={}, alert_id={}}}",
            key.0, key.1
        );
        match (want_map.get(key), got_map.get(key)) {
            (Some(w), None) => diffs.push(format!(
                "{head}: expected but not raised ({})",
                alert_text(w)
            )),
            (None, Some(g)) => diffs.push(format!(
                "{head}: raised but not expected ({})",
                alert_text(g)
            )),
            (Some(w), Some(g)) => {
                let fields = [
                    ("customer_id", w.customer_id.clone(), g.customer_id.clone()),
                    ("score", w.score.to_string(), g.score.to_string()),
                    ("reasons", w.reasons.join(","), g.reasons.join(",")),
                    (
                        "triggered_at",
                        format_ms(w.triggered_at),
                        format_ms(g.triggered_at),
                    ),
                    ("contact_id", w.contact_id.clone(), g.contact_id.clone()),
                    ("channel", w.channel.clone(), g.channel.clone()),
                    ("queue_id", w.queue_id.clone(), g.queue_id.clone()),
                    ("agent_id", w.agent_id.clone(), g.agent_id.clone()),
                ];
                for (col, a, b) in fields {
                    if a != b {
                        diffs.push(format!("{head} column {col}: expected {a:?}, got {b:?}"));
                    }
                }
            }
            (None, None) => {}
        }
    }
}

fn alert_text(a: &ChurnAlert) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "score {}, reasons [{}], triggered_at {}",
        a.score,
        a.reasons.join(", "),
        format_ms(a.triggered_at)
    );
    s
}

/// The rows in the fixture `expected` format (non-zero columns only), e.g. to show what an
/// engine computed next to a failing fixture.
pub fn expected_json(rows: &FinalRows) -> Value {
    fn row(keys: Vec<(&str, Value)>, columns: &[&str], values: &[i64]) -> Value {
        let mut map = Map::new();
        for (k, v) in keys {
            map.insert(k.to_string(), v);
        }
        for (c, v) in columns.iter().zip(values) {
            if *v != 0 {
                map.insert(c.to_string(), Value::from(*v));
            }
        }
        Value::Object(map)
    }
    let s = |text: &str| Value::String(text.to_string());
    let t = |ms: i64| Value::String(format_ms(ms));
    let queue: Vec<Value> = rows
        .queue
        .iter()
        .map(|(k, c)| {
            let keys = vec![
                ("tenant_id", s(&k.tenant_id)),
                ("window_start", t(k.window_start)),
                ("queue_id", s(&k.queue_id)),
                ("channel", s(&k.channel)),
                ("direction", s(&k.direction)),
            ];
            row(keys, COMPONENT_COLUMNS, &c.values())
        })
        .collect();
    let agent: Vec<Value> = rows
        .agent
        .iter()
        .map(|(k, c)| {
            let keys = vec![
                ("tenant_id", s(&k.tenant_id)),
                ("window_start", t(k.window_start)),
                ("agent_id", s(&k.agent_id)),
                ("channel", s(&k.channel)),
            ];
            row(keys, COMPONENT_COLUMNS, &c.values())
        })
        .collect();
    let reason: Vec<Value> = rows
        .reason
        .iter()
        .map(|(k, c)| {
            let keys = vec![
                ("tenant_id", s(&k.tenant_id)),
                ("window_start", t(k.window_start)),
                ("reason", s(&k.reason)),
                ("channel", s(&k.channel)),
                ("direction", s(&k.direction)),
            ];
            row(keys, COMPONENT_COLUMNS, &c.values())
        })
        .collect();
    let agent_state: Vec<Value> = rows
        .agent_state
        .iter()
        .map(|(k, v)| {
            let keys = vec![
                ("tenant_id", s(&k.tenant_id)),
                ("window_start", t(k.window_start)),
                ("agent_id", s(&k.agent_id)),
            ];
            let values = [v.available_ms, v.busy_ms, v.acw_state_ms, v.break_ms].map(|v| v as i64);
            row(keys, &STATE_COLUMNS, &values)
        })
        .collect();
    let quality: Vec<Value> = rows
        .quality
        .iter()
        .map(|((tenant, minute), q)| {
            let keys = vec![("tenant_id", s(tenant)), ("window_start", t(*minute))];
            let values = [q.duplicates, q.out_of_sequence, q.late_dropped].map(|v| v as i64);
            row(keys, &QUALITY_COLUMNS, &values)
        })
        .collect();
    let alerts: Vec<Value> = rows
        .alerts
        .iter()
        .map(|a| {
            serde_json::json!({
                "tenant_id": a.tenant_id, "alert_id": a.alert_id, "customer_id": a.customer_id,
                "score": a.score, "reasons": a.reasons, "triggered_at": format_ms(a.triggered_at),
                "contact_id": a.contact_id, "channel": a.channel, "queue_id": a.queue_id,
                "agent_id": a.agent_id,
            })
        })
        .collect();
    serde_json::json!({
        "queue": queue, "agent": agent, "reason": reason, "agent_state": agent_state,
        "quality": quality, "alerts": alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccx_model::settings::Signal;

    fn fixture(expected: &str, settings: &str) -> Result<Fixture, String> {
        let text = format!(
            r#"{{"watermark": "2026-03-02T09:05:00Z", "settings": {settings}, "events": [], "expected": {expected}}}"#
        );
        parse("unit", &text)
    }

    #[test]
    fn settings_are_tenant_settings_as_serde_reads_them() {
        let f = fixture(
            "{}",
            r#"{"slThresholdMs": 10000, "caseWindowMs": 3600000, "queues": {"vip": {"slThresholdMs": 5000}},
                "churn": {"threshold": 1, "signals": {"NPS_DETRACTOR": {"weight": 90, "cap": 2}}}}"#,
        )
        .unwrap();
        assert_eq!(f.settings.sl_threshold_ms, 10_000);
        assert_eq!(f.settings.short_abandon_ms, 5_000);
        assert_eq!(f.settings.case_window_ms, 3_600_000);
        assert_eq!(f.settings.callback_window_ms, 86_400_000);
        assert_eq!(f.settings.sl_threshold_of("vip"), 5_000);
        assert_eq!(f.settings.sl_threshold_of("q1"), 10_000);
        assert_eq!(f.settings.churn.threshold, 1);
        let nps = f.settings.churn.rules[Signal::NpsDetractor.index()];
        assert_eq!((nps.weight, nps.cap), (90, 2));
        let bounce = f.settings.churn.rules[Signal::TransferBounce.index()];
        assert_eq!((bounce.weight, bounce.cap), (5, 1));
    }

    #[test]
    fn malformed_fixtures_are_refused_with_the_place() {
        let cases = [
            (
                r#"{"agent": [{"tenant_id": "t1", "window_start": "2026-03-02T09:00:00Z", "agent_id": "a1", "channel": "VOICE", "offered": 1}]}"#,
                "expected.agent[0]: unknown column \"offered\"",
            ),
            (
                r#"{"quality": [{"tenant_id": "t1", "window_start": "2026-03-02T09:00:30Z", "duplicates": 1}]}"#,
                "expected.quality[0].window_start: not the start of a minute",
            ),
            (
                r#"{"reason": [{"tenant_id": "t1", "window_start": "2026-03-02T09:00:00Z", "reason": "", "channel": "VOICE", "direction": "INBOUND", "talk_ms": 1}]}"#,
                "expected.reason[0]: unknown column \"talk_ms\"",
            ),
            (
                r#"{"queue": [{"tenant_id": "t1", "window_start": "2026-03-02T09:00:00Z", "queue_id": "q1", "channel": "VOICE", "direction": "INBOUND", "qa_evaluations": 1}]}"#,
                "expected.queue[0]: unknown column \"qa_evaluations\"",
            ),
            (r#"{"rows": []}"#, "expected: unknown key \"rows\""),
        ];
        for (expected, message) in cases {
            let err = fixture(expected, "{}").unwrap_err();
            assert!(err.starts_with(message), "{err}");
        }
        let err = fixture(
            "{}",
            r#"{"churn": {"signals": {"NOPE": {"weight": 1, "cap": 1}}}}"#,
        )
        .unwrap_err();
        assert!(err.contains("unknown signal \"NOPE\""), "{err}");
        let err = fixture("{}", r#"{"sl_threshold_ms": 1}"#).unwrap_err();
        assert!(
            err.starts_with("settings: ") && err.contains("sl_threshold_ms"),
            "{err}"
        );
    }

    #[test]
    fn differences_name_fixture_table_key_and_column() {
        let f = fixture(
            r#"{"queue": [{"tenant_id": "t1", "window_start": "2026-03-02T09:00:00Z", "queue_id": "q1", "channel": "VOICE", "direction": "INBOUND", "offered": 2}]}"#,
            "{}",
        )
        .unwrap();
        let mut got = f.expected.clone();
        assert_eq!(check(&f, &got), Ok(()));
        got.queue.values_mut().for_each(|c| c.offered = 1);
        got.quality.insert(("t1".into(), 0), Quality::default());
        let err = check(&f, &got).unwrap_err();
        assert_eq!(
            err,
            "fixture `unit`: queue_metrics_1m {tenant_id=t1, window_start=2026-03-02T09:00:00Z, \
             queue_id=q1, channel=VOICE, direction=INBOUND} column offered: expected 2, got 1"
        );
        got.queue.clear();
        let err = check(&f, &got).unwrap_err();
        assert!(err.ends_with("expected 2, got 0 (row missing)"), "{err}");
    }

    #[test]
    fn reason_rows_are_read_and_compared() {
        let f = fixture(
            r#"{"reason": [{"tenant_id": "t1", "window_start": "2026-03-02T09:00:00Z", "reason": "", "channel": "CHAT", "direction": "INBOUND", "offered": 1, "cases_resolved": 1, "case_resolution_ms": 2500}]}"#,
            "{}",
        )
        .unwrap();
        let (key, row) = f.expected.reason.iter().next().unwrap();
        assert_eq!((key.reason.as_str(), key.channel.as_str()), ("", "CHAT"));
        assert_eq!((row.offered, row.case_resolution_ms), (1, 2500));
        let mut got = f.expected.clone();
        got.reason.values_mut().for_each(|c| c.cases_resolved = 0);
        let err = check(&f, &got).unwrap_err();
        assert_eq!(
            err,
            "fixture `unit`: reason_metrics_1m {tenant_id=t1, window_start=2026-03-02T09:00:00Z, \
             reason=\"\", channel=CHAT, direction=INBOUND} column cases_resolved: expected 1, got 0"
        );
    }
}
