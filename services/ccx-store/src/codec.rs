//! Rows to `INSERT … FORMAT JSONEachRow` bodies and `SELECT … FINAL` answers back to rows.
//!
//! DateTime values are written as Unix seconds (every ClickHouse version reads a number into a
//! `DateTime`, independent of the server's time zone) and read back through `toUInt32(…)` or
//! the `*_ms` column. 64-bit integers are accepted as JSON numbers or strings, since
//! ClickHouse quotes them by default.

use crate::{quote, RowBatch, StoreError};
use ccx_model::rollup::{date_string, parse_date, HOUR_MS};
use ccx_model::rows::{
    AgentKey, AgentMinute, AgentNow, ChurnAlert, Components, FinalRows, Quality, QueueKey,
    QueueNow, ReasonKey, RollupRows, StaffingRow, StateTimes, AGENT_COLUMNS, QUEUE_COLUMNS,
    REASON_COLUMNS,
};
use ccx_model::Event;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

use crate::schema::Grain;

/// One `INSERT` of a batch: the statement (`query`) and its JSONEachRow rows (`body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    pub table: &'static str,
    pub query: String,
    pub body: String,
}

/// Unix seconds of a millisecond instant, for a `DateTime` column (clamped to its range).
fn seconds(ms: i64) -> u32 {
    ms.div_euclid(1000).clamp(0, i64::from(u32::MAX)) as u32
}

fn ms_u64(ms: i64) -> u64 {
    ms.max(0) as u64
}

/// One JSON object of a JSONEachRow body, written as its fields come (a flush writes
/// thousands of rows: no map or value per field).
#[derive(Default)]
struct JsonRow {
    names: Vec<&'static str>,
    json: String,
}

impl JsonRow {
    /// Starts field `name`: its separator and its quoted name.
    fn field(&mut self, name: &'static str) -> &mut String {
        self.json
            .push(if self.names.is_empty() { '{' } else { ',' });
        self.names.push(name);
        self.json.push('"');
        self.json.push_str(name);
        self.json.push_str("\":");
        &mut self.json
    }
}

/// `value` as a JSON string.
fn quote_json(out: &mut String, value: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, b) in value.bytes().enumerate() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            out.push_str(&value[plain..i]);
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                _ => {
                    let _ = write!(out, "\\u{b:04x}");
                }
            }
            plain = i + 1;
        }
    }
    out.push_str(&value[plain..]);
    out.push('"');
}

struct Rows {
    table: &'static str,
    columns: Vec<&'static str>,
    body: String,
}

impl Rows {
    fn new(table: &'static str) -> Rows {
        Rows {
            table,
            columns: Vec::new(),
            body: String::new(),
        }
    }

    fn push(&mut self, row: JsonRow) {
        if self.columns.is_empty() {
            // Every row of a table has the same fields: the first names the columns.
            self.columns = row.names;
        }
        self.body.push_str(&row.json);
        self.body.push_str("}\n");
    }

    fn finish(self, db: &str, out: &mut Vec<Insert>) {
        if self.body.is_empty() {
            return;
        }
        out.push(Insert {
            table: self.table,
            query: format!(
                "INSERT INTO {db}.{} ({}) FORMAT JSONEachRow",
                self.table,
                self.columns.join(", ")
            ),
            body: self.body,
        });
    }
}

fn components(row: &mut JsonRow, c: &Components, columns: &[&'static str]) {
    for (name, value) in columns.iter().zip(c.values_of(columns)) {
        let out = row.field(name);
        let _ = if *name == "sentiment_milli_sum" {
            write!(out, "{value}")
        } else {
            write!(out, "{}", value as u64)
        };
    }
}

fn text(row: &mut JsonRow, name: &'static str, value: &str) {
    quote_json(row.field(name), value);
}

fn number(row: &mut JsonRow, name: &'static str, value: u64) {
    let _ = write!(row.field(name), "{value}");
}

/// A field of another JSON type (lists, nullable numbers).
fn value(row: &mut JsonRow, name: &'static str, value: Value) {
    row.field(name).push_str(&value.to_string());
}

/// The queue, agent and reason rows of one grain (minutes or a rollup): the daily rollups
/// with their `day`, from `days`.
#[allow(clippy::too_many_arguments)]
fn metric_rows<'a>(
    db: &str,
    out: &mut Vec<Insert>,
    grain: Grain,
    version: u64,
    queue: impl Iterator<Item = (&'a QueueKey, &'a Components)>,
    agent: impl Iterator<Item = (&'a AgentKey, &'a Components)>,
    reason: impl Iterator<Item = (&'a ReasonKey, &'a Components)>,
    days: &BTreeMap<(String, i64), i32>,
) {
    let start = |row: &mut JsonRow, tenant: &str, window_start: i64| {
        text(row, "tenant_id", tenant);
        if grain == Grain::Day {
            // Producers list every day's date; without it, the date whose local noon falls
            // on UTC day of `window_start + 12 h` (exact for UTC offsets of −11 h to +12 h).
            let date = days
                .get(&(tenant.to_string(), window_start))
                .copied()
                .unwrap_or_else(|| (window_start + 12 * HOUR_MS).div_euclid(24 * HOUR_MS) as i32);
            text(row, "day", &date_string(date));
        }
        number(row, "window_start", seconds(window_start).into());
    };
    let mut rows = Rows::new(grain.table("queue_metrics_1m"));
    for (key, c) in queue {
        let mut row = JsonRow::default();
        start(&mut row, &key.tenant_id, key.window_start);
        text(&mut row, "queue_id", &key.queue_id);
        text(&mut row, "channel", &key.channel);
        text(&mut row, "direction", &key.direction);
        components(&mut row, c, QUEUE_COLUMNS);
        number(&mut row, "version", version);
        rows.push(row);
    }
    rows.finish(db, out);

    let mut rows = Rows::new(grain.table("agent_metrics_1m"));
    for (key, c) in agent {
        let mut row = JsonRow::default();
        start(&mut row, &key.tenant_id, key.window_start);
        text(&mut row, "agent_id", &key.agent_id);
        text(&mut row, "channel", &key.channel);
        components(&mut row, c, AGENT_COLUMNS);
        number(&mut row, "version", version);
        rows.push(row);
    }
    rows.finish(db, out);

    let mut rows = Rows::new(grain.table("reason_metrics_1m"));
    for (key, c) in reason {
        let mut row = JsonRow::default();
        start(&mut row, &key.tenant_id, key.window_start);
        text(&mut row, "reason", &key.reason);
        text(&mut row, "channel", &key.channel);
        text(&mut row, "direction", &key.direction);
        components(&mut row, c, REASON_COLUMNS);
        number(&mut row, "version", version);
        rows.push(row);
    }
    rows.finish(db, out);
}

/// The inserts that write `batch` into database `db`, one per non-empty table.
pub(crate) fn inserts(batch: &RowBatch, db: &str) -> Vec<Insert> {
    let version = batch.version;
    let mut out = Vec::new();

    metric_rows(
        db,
        &mut out,
        Grain::Minute,
        version,
        batch.queue.iter().map(|(k, c)| (k, c)),
        batch.agent.iter().map(|(k, c)| (k, c)),
        batch.reason.iter().map(|(k, c)| (k, c)),
        &BTreeMap::new(),
    );
    for (grain, rows) in [(Grain::Hour, &batch.hourly), (Grain::Day, &batch.daily)] {
        metric_rows(
            db,
            &mut out,
            grain,
            version,
            rows.queue.iter(),
            rows.agent.iter(),
            rows.reason.iter(),
            &rows.days,
        );
    }

    let mut rows = Rows::new("agent_state_1m");
    for (key, s) in &batch.agent_state {
        let mut row = JsonRow::default();
        text(&mut row, "tenant_id", &key.tenant_id);
        number(&mut row, "window_start", seconds(key.window_start).into());
        text(&mut row, "agent_id", &key.agent_id);
        number(&mut row, "available_ms", s.available_ms);
        number(&mut row, "busy_ms", s.busy_ms);
        number(&mut row, "acw_state_ms", s.acw_state_ms);
        number(&mut row, "break_ms", s.break_ms);
        number(&mut row, "version", version);
        rows.push(row);
    }
    rows.finish(db, &mut out);

    let mut rows = Rows::new("churn_alerts");
    for a in &batch.alerts {
        let mut row = JsonRow::default();
        text(&mut row, "tenant_id", &a.tenant_id);
        text(&mut row, "alert_id", &a.alert_id);
        text(&mut row, "customer_id", &a.customer_id);
        number(&mut row, "score", a.score.into());
        value(&mut row, "reasons", Value::from(a.reasons.clone()));
        number(&mut row, "triggered_at", seconds(a.triggered_at).into());
        number(&mut row, "triggered_at_ms", ms_u64(a.triggered_at));
        text(&mut row, "contact_id", &a.contact_id);
        text(&mut row, "channel", &a.channel);
        text(&mut row, "queue_id", &a.queue_id);
        text(&mut row, "agent_id", &a.agent_id);
        number(&mut row, "version", version);
        rows.push(row);
    }
    rows.finish(db, &mut out);

    let mut rows = Rows::new("queue_now");
    for q in &batch.queue_now {
        let mut row = JsonRow::default();
        text(&mut row, "tenant_id", &q.tenant_id);
        text(&mut row, "queue_id", &q.queue_id);
        text(&mut row, "channel", &q.channel);
        number(&mut row, "waiting", q.waiting);
        number(&mut row, "longest_wait_ms", q.longest_wait_ms);
        value(&mut row, "agents_needed", q.agents_needed.into());
        number(&mut row, "as_of", seconds(q.as_of).into());
        number(&mut row, "as_of_ms", ms_u64(q.as_of));
        number(&mut row, "version", version);
        rows.push(row);
    }
    rows.finish(db, &mut out);

    let mut rows = Rows::new("staffing_15m");
    for (k, s) in &batch.staffing {
        let mut row = JsonRow::default();
        text(&mut row, "tenant_id", &k.tenant_id);
        number(&mut row, "window_start", seconds(k.window_start).into());
        text(&mut row, "queue_id", &k.queue_id);
        text(&mut row, "channel", &k.channel);
        text(&mut row, "direction", &k.direction);
        number(&mut row, "offered", s.offered);
        number(&mut row, "handled", s.handled);
        number(&mut row, "handle_ms", s.handle_ms);
        value(&mut row, "agents_needed", s.agents_needed.into());
        value(&mut row, "predicted_asa_ms", s.predicted_asa_ms.into());
        number(&mut row, "version", version);
        rows.push(row);
    }
    rows.finish(db, &mut out);

    let mut rows = Rows::new("agent_now");
    for a in &batch.agent_now {
        let mut row = JsonRow::default();
        text(&mut row, "tenant_id", &a.tenant_id);
        text(&mut row, "agent_id", &a.agent_id);
        text(&mut row, "state", &a.state);
        number(&mut row, "state_since", seconds(a.state_since).into());
        number(&mut row, "state_since_ms", ms_u64(a.state_since));
        text(&mut row, "contact_id", &a.contact_id);
        text(&mut row, "queue_id", &a.queue_id);
        text(&mut row, "channel", &a.channel);
        number(&mut row, "on_hold", u64::from(a.on_hold));
        number(&mut row, "as_of", seconds(a.as_of).into());
        number(&mut row, "as_of_ms", ms_u64(a.as_of));
        number(&mut row, "version", version);
        rows.push(row);
    }
    rows.finish(db, &mut out);

    let mut rows = Rows::new("ingest_quality_1m");
    for ((tenant, window_start), q) in &batch.quality {
        let mut row = JsonRow::default();
        text(&mut row, "tenant_id", tenant);
        number(&mut row, "window_start", seconds(*window_start).into());
        number(&mut row, "duplicates", q.duplicates);
        number(&mut row, "out_of_sequence", q.out_of_sequence);
        number(&mut row, "late_dropped", q.late_dropped);
        number(&mut row, "version", version);
        rows.push(row);
    }
    rows.finish(db, &mut out);

    let mut rows = Rows::new("events");
    for e in &batch.events {
        rows.push(event_row(e, version));
    }
    rows.finish(db, &mut out);

    let mut rows = Rows::new("tenant_progress");
    for p in &batch.progress {
        let mut row = JsonRow::default();
        text(&mut row, "tenant_id", &p.tenant_id);
        number(&mut row, "watermark", seconds(p.watermark).into());
        number(&mut row, "watermark_ms", ms_u64(p.watermark));
        number(&mut row, "version", version);
        rows.push(row);
    }
    rows.finish(db, &mut out);

    out
}

fn event_row(e: &Event, version: u64) -> JsonRow {
    let payload = ccx_model::json::event_to_json(e);
    // Enum names exactly as the JSON form prints them (absent = unspecified = "").
    let name = |field: &str| payload.get(field).and_then(Value::as_str).unwrap_or("");
    let occurred_ms = e.occurred_at.as_ref().map_or(0, ccx_model::timestamp_ms);
    let mut row = JsonRow::default();
    text(&mut row, "tenant_id", &e.tenant_id);
    text(&mut row, "event_id", &e.event_id);
    text(&mut row, "type", name("type"));
    number(&mut row, "occurred_at", seconds(occurred_ms).into());
    number(&mut row, "occurred_at_ms", ms_u64(occurred_ms));
    text(&mut row, "contact_id", &e.contact_id);
    text(&mut row, "customer_id", &e.customer_id);
    text(&mut row, "channel", name("channel"));
    text(&mut row, "direction", name("direction"));
    text(&mut row, "queue_id", &e.queue_id);
    text(&mut row, "agent_id", &e.agent_id);
    text(&mut row, "payload", &payload.to_string());
    number(&mut row, "version", version);
    row
}

// ---------------------------------------------------------------------------------------------
// Reading back.

/// Which rows a `SELECT … FINAL` reads: one tenant's or all, and optionally only minutes (and
/// alerts triggered) in `[from, to)` Unix milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowFilter<'a> {
    pub tenant: Option<&'a str>,
    pub between_ms: Option<(i64, i64)>,
}

impl RowFilter<'_> {
    fn sql(&self, time: &str) -> String {
        let mut terms = Vec::new();
        if let Some(t) = self.tenant {
            terms.push(format!("tenant_id = {}", quote(t)));
        }
        if let Some((from, to)) = self.between_ms {
            terms.push(format!("{time} >= {from} AND {time} < {to}"));
        }
        if terms.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", terms.join(" AND "))
        }
    }
}

/// How many tables [`final_selects`] reads.
pub(crate) const FINAL_TABLES: usize = 6;

/// The `SELECT … FINAL` of each table [`assemble_final`] reads: queue, agent, agent state,
/// quality, alerts, reason.
pub(crate) fn final_selects(
    db: &str,
    filter: &RowFilter,
) -> [(&'static str, String); FINAL_TABLES] {
    let minutes = filter.sql("toUInt64(window_start) * 1000");
    let alerts = filter.sql("triggered_at_ms");
    let select = |table: &'static str, columns: String| {
        let filter = if table == "churn_alerts" {
            &alerts
        } else {
            &minutes
        };
        (
            table,
            format!("SELECT {columns} FROM {db}.{table} FINAL{filter}"),
        )
    };
    [
        select(
            "queue_metrics_1m",
            format!(
                "tenant_id, toUInt32(window_start) AS window_start_s, queue_id, channel, \
                 direction, {}",
                QUEUE_COLUMNS.join(", ")
            ),
        ),
        select(
            "agent_metrics_1m",
            format!(
                "tenant_id, toUInt32(window_start) AS window_start_s, agent_id, channel, {}",
                AGENT_COLUMNS.join(", ")
            ),
        ),
        select(
            "agent_state_1m",
            "tenant_id, toUInt32(window_start) AS window_start_s, agent_id, available_ms, \
             busy_ms, acw_state_ms, break_ms"
                .into(),
        ),
        select(
            "ingest_quality_1m",
            "tenant_id, toUInt32(window_start) AS window_start_s, duplicates, out_of_sequence, \
             late_dropped"
                .into(),
        ),
        select(
            "churn_alerts",
            "tenant_id, alert_id, customer_id, score, reasons, triggered_at_ms, contact_id, \
             channel, queue_id, agent_id"
                .into(),
        ),
        select(
            "reason_metrics_1m",
            format!(
                "tenant_id, toUInt32(window_start) AS window_start_s, reason, channel, \
                 direction, {}",
                REASON_COLUMNS.join(", ")
            ),
        ),
    ]
}

/// The stored events of `tenant` from `since_ms` on, and the newest state change before it
/// of each agent (an agent's state clock reaches back to it), oldest first.
pub(crate) fn events_select(db: &str, tenant: &str, since_ms: i64) -> String {
    let tenant = quote(tenant);
    let since = ms_u64(since_ms);
    format!(
        "SELECT occurred_at_ms, payload FROM\n(\n    \
         SELECT occurred_at_ms, payload FROM {db}.events FINAL\n    \
         WHERE tenant_id = {tenant} AND occurred_at_ms >= {since}\n    \
         UNION ALL\n    \
         SELECT occurred_at_ms, payload FROM\n    (\n        \
         SELECT agent_id, occurred_at_ms, event_id, payload FROM {db}.events FINAL\n        \
         WHERE tenant_id = {tenant} AND type = 'AGENT_STATE_CHANGED' \
         AND occurred_at_ms < {since}\n        \
         ORDER BY agent_id, occurred_at_ms DESC, event_id DESC\n        \
         LIMIT 1 BY agent_id\n    )\n)\nORDER BY occurred_at_ms"
    )
}

/// The events of an [`events_select`] answer.
pub(crate) fn assemble_events(answer: &[Value]) -> Result<Vec<Event>, StoreError> {
    rows_of("events", answer)?
        .into_iter()
        .map(|row| {
            let payload = row.string("payload")?;
            let value: Value =
                serde_json::from_str(&payload).map_err(|e| row.bad("payload", &e.to_string()))?;
            ccx_model::json::event_from_json(&value).map_err(|e| row.bad("payload", &e.to_string()))
        })
        .collect()
}

/// The watermark of a `tenant_progress` answer (at most one row).
pub(crate) fn assemble_watermark(answer: &[Value]) -> Result<Option<i64>, StoreError> {
    match rows_of("tenant_progress", answer)?.first() {
        Some(row) => Ok(Some(row.i64("watermark_ms")?)),
        None => Ok(None),
    }
}

/// The rows of `backfills` recording that `tenant`'s minutes were recomputed with their late
/// events: `(minute ms, late events covered)`.
pub(crate) fn backfill_insert(
    db: &str,
    tenant: &str,
    covered: &[(i64, u64)],
    at_ms: i64,
    version: u64,
) -> Vec<Insert> {
    let mut rows = Rows::new("backfills");
    for (minute, late) in covered {
        let mut row = JsonRow::default();
        text(&mut row, "tenant_id", tenant);
        number(&mut row, "window_start", seconds(*minute).into());
        number(&mut row, "late_covered", *late);
        number(&mut row, "backfilled_at", seconds(at_ms).into());
        number(&mut row, "version", version);
        rows.push(row);
    }
    let mut out = Vec::new();
    rows.finish(db, &mut out);
    out
}

pub(crate) fn queue_now_select(db: &str, tenant: &str) -> String {
    format!(
        "SELECT tenant_id, queue_id, channel, waiting, longest_wait_ms, agents_needed, \
         as_of_ms FROM {db}.queue_now FINAL WHERE tenant_id = {} ORDER BY queue_id, channel",
        quote(tenant)
    )
}

pub(crate) fn staffing_select(db: &str, tenant: &str) -> String {
    format!(
        "SELECT tenant_id, toUInt32(window_start) AS window_start_s, queue_id, channel, \
         direction, offered, handled, handle_ms, agents_needed, predicted_asa_ms \
         FROM {db}.staffing_15m FINAL WHERE tenant_id = {} \
         ORDER BY window_start, queue_id, channel, direction",
        quote(tenant)
    )
}

/// Every agent by id, or (`longest`) that many agents longest in their state (earliest
/// `state_since`, then by id).
pub(crate) fn agent_now_select(db: &str, tenant: &str, longest: Option<usize>) -> String {
    let order = match longest {
        None => "agent_id".to_string(),
        Some(n) => format!("state_since_ms, agent_id LIMIT {n}"),
    };
    format!(
        "SELECT tenant_id, agent_id, state, state_since_ms, contact_id, queue_id, channel, \
         on_hold, as_of_ms FROM {db}.agent_now FINAL WHERE tenant_id = {} ORDER BY {order}",
        quote(tenant)
    )
}

/// One row of a JSONEachRow answer, with typed access that names the table and the column.
struct Row<'a> {
    table: &'static str,
    map: &'a Map<String, Value>,
}

impl Row<'_> {
    fn bad(&self, column: &str, what: &str) -> StoreError {
        StoreError::Decode {
            context: format!("SELECT … FROM {} FINAL", self.table),
            message: format!("column {column}: {what}"),
        }
    }

    fn get(&self, column: &str) -> Result<&Value, StoreError> {
        self.map
            .get(column)
            .ok_or_else(|| self.bad(column, "missing"))
    }

    fn string(&self, column: &str) -> Result<String, StoreError> {
        match self.get(column)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.bad(column, &format!("expected a string, got {other}"))),
        }
    }

    fn i64(&self, column: &str) -> Result<i64, StoreError> {
        let value = self.get(column)?;
        let parsed = match value {
            Value::Number(n) => n.as_i64().or_else(|| n.as_u64().map(|u| u as i64)),
            Value::String(s) => s
                .parse::<i64>()
                .ok()
                .or_else(|| s.parse::<u64>().ok().map(|u| u as i64)),
            _ => None,
        };
        parsed.ok_or_else(|| self.bad(column, &format!("expected an integer, got {value}")))
    }

    fn u64(&self, column: &str) -> Result<u64, StoreError> {
        self.i64(column).map(|v| v as u64)
    }

    /// A `Nullable(UInt32)` column.
    fn optional_u32(&self, column: &str) -> Result<Option<u32>, StoreError> {
        match self.get(column)? {
            Value::Null => Ok(None),
            _ => {
                let v = self.i64(column)?;
                u32::try_from(v)
                    .map(Some)
                    .map_err(|_| self.bad(column, &format!("{v} is not a UInt32")))
            }
        }
    }

    /// A `Nullable(UInt64)` column.
    fn optional_u64(&self, column: &str) -> Result<Option<u64>, StoreError> {
        match self.get(column)? {
            Value::Null => Ok(None),
            _ => self.u64(column).map(Some),
        }
    }

    fn strings(&self, column: &str) -> Result<Vec<String>, StoreError> {
        match self.get(column)? {
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.bad(column, "expected an array of strings"))
                })
                .collect(),
            other => Err(self.bad(column, &format!("expected an array, got {other}"))),
        }
    }

    fn components(&self, columns: &[&str]) -> Result<Components, StoreError> {
        let values = columns
            .iter()
            .map(|name| self.i64(name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Components::from_columns(columns, &values))
    }

    fn minute(&self) -> Result<i64, StoreError> {
        Ok(self.i64("window_start_s")? * 1000)
    }
}

fn rows_of<'a>(table: &'static str, values: &'a [Value]) -> Result<Vec<Row<'a>>, StoreError> {
    values
        .iter()
        .map(|v| match v {
            Value::Object(map) => Ok(Row { table, map }),
            other => Err(StoreError::Decode {
                context: format!("SELECT … FROM {table} FINAL"),
                message: format!("expected a JSON object per row, got {other}"),
            }),
        })
        .collect()
}

/// Builds [`FinalRows`] from the answers to [`final_selects`] (same order). All-zero rows (a
/// key that was written and later retracted) are dropped; alerts are sorted.
pub(crate) fn assemble_final(
    answers: &[Vec<Value>; FINAL_TABLES],
) -> Result<FinalRows, StoreError> {
    let mut out = FinalRows::default();
    for row in rows_of("queue_metrics_1m", &answers[0])? {
        let key = QueueKey {
            tenant_id: row.string("tenant_id")?,
            window_start: row.minute()?,
            queue_id: row.string("queue_id")?,
            channel: row.string("channel")?,
            direction: row.string("direction")?,
        };
        out.queue.insert(key, row.components(QUEUE_COLUMNS)?);
    }
    for row in rows_of("agent_metrics_1m", &answers[1])? {
        let key = AgentKey {
            tenant_id: row.string("tenant_id")?,
            window_start: row.minute()?,
            agent_id: row.string("agent_id")?,
            channel: row.string("channel")?,
        };
        out.agent.insert(key, row.components(AGENT_COLUMNS)?);
    }
    for row in rows_of("agent_state_1m", &answers[2])? {
        let key = AgentMinute {
            tenant_id: row.string("tenant_id")?,
            window_start: row.minute()?,
            agent_id: row.string("agent_id")?,
        };
        let times = StateTimes {
            available_ms: row.u64("available_ms")?,
            busy_ms: row.u64("busy_ms")?,
            acw_state_ms: row.u64("acw_state_ms")?,
            break_ms: row.u64("break_ms")?,
        };
        out.agent_state.insert(key, times);
    }
    for row in rows_of("ingest_quality_1m", &answers[3])? {
        let quality = Quality {
            duplicates: row.u64("duplicates")?,
            out_of_sequence: row.u64("out_of_sequence")?,
            late_dropped: row.u64("late_dropped")?,
        };
        out.quality
            .insert((row.string("tenant_id")?, row.minute()?), quality);
    }
    for row in rows_of("churn_alerts", &answers[4])? {
        out.alerts.push(ChurnAlert {
            tenant_id: row.string("tenant_id")?,
            alert_id: row.string("alert_id")?,
            customer_id: row.string("customer_id")?,
            score: row.u64("score")? as u32,
            reasons: row.strings("reasons")?,
            triggered_at: row.i64("triggered_at_ms")?,
            contact_id: row.string("contact_id")?,
            channel: row.string("channel")?,
            queue_id: row.string("queue_id")?,
            agent_id: row.string("agent_id")?,
        });
    }
    for row in rows_of("reason_metrics_1m", &answers[5])? {
        let key = ReasonKey {
            tenant_id: row.string("tenant_id")?,
            window_start: row.minute()?,
            reason: row.string("reason")?,
            channel: row.string("channel")?,
            direction: row.string("direction")?,
        };
        out.reason.insert(key, row.components(REASON_COLUMNS)?);
    }
    Ok(out.without_zero_rows())
}

/// The `SELECT … FINAL` of the queue, agent and reason rollups of `grain` (with the local
/// date of the daily ones); `filter` selects by `window_start`.
pub(crate) fn rollup_selects(
    db: &str,
    grain: Grain,
    filter: &RowFilter,
) -> [(&'static str, String); 3] {
    let filter = filter.sql("toUInt64(window_start) * 1000");
    let day = if grain == Grain::Day {
        "toString(day) AS day, "
    } else {
        ""
    };
    let select = |minute: &str, dimensions: &str, columns: &[&str]| {
        let table = grain.table(minute);
        (
            table,
            format!(
                "SELECT tenant_id, {day}toUInt32(window_start) AS window_start_s, {dimensions}, \
                 {} FROM {db}.{table} FINAL{filter}",
                columns.join(", ")
            ),
        )
    };
    [
        select(
            "queue_metrics_1m",
            "queue_id, channel, direction",
            QUEUE_COLUMNS,
        ),
        select("agent_metrics_1m", "agent_id, channel", AGENT_COLUMNS),
        select(
            "reason_metrics_1m",
            "reason, channel, direction",
            REASON_COLUMNS,
        ),
    ]
}

/// Builds [`RollupRows`] from the answers to [`rollup_selects`] (same order); all-zero rows
/// are dropped.
pub(crate) fn assemble_rollups(
    grain: Grain,
    answers: &[Vec<Value>; 3],
) -> Result<RollupRows, StoreError> {
    let mut out = RollupRows::default();
    let day = |row: &Row, out: &mut RollupRows| -> Result<(), StoreError> {
        if grain == Grain::Day {
            let text = row.string("day")?;
            let date = parse_date(&text).ok_or_else(|| row.bad("day", "not a YYYY-MM-DD date"))?;
            out.days
                .insert((row.string("tenant_id")?, row.minute()?), date);
        }
        Ok(())
    };
    for row in rows_of(grain.table("queue_metrics_1m"), &answers[0])? {
        day(&row, &mut out)?;
        let key = QueueKey {
            tenant_id: row.string("tenant_id")?,
            window_start: row.minute()?,
            queue_id: row.string("queue_id")?,
            channel: row.string("channel")?,
            direction: row.string("direction")?,
        };
        out.queue.insert(key, row.components(QUEUE_COLUMNS)?);
    }
    for row in rows_of(grain.table("agent_metrics_1m"), &answers[1])? {
        day(&row, &mut out)?;
        let key = AgentKey {
            tenant_id: row.string("tenant_id")?,
            window_start: row.minute()?,
            agent_id: row.string("agent_id")?,
            channel: row.string("channel")?,
        };
        out.agent.insert(key, row.components(AGENT_COLUMNS)?);
    }
    for row in rows_of(grain.table("reason_metrics_1m"), &answers[2])? {
        day(&row, &mut out)?;
        let key = ReasonKey {
            tenant_id: row.string("tenant_id")?,
            window_start: row.minute()?,
            reason: row.string("reason")?,
            channel: row.string("channel")?,
            direction: row.string("direction")?,
        };
        out.reason.insert(key, row.components(REASON_COLUMNS)?);
    }
    Ok(out.without_zero_rows())
}

pub(crate) fn assemble_queue_now(answer: &[Value]) -> Result<Vec<QueueNow>, StoreError> {
    rows_of("queue_now", answer)?
        .into_iter()
        .map(|row| {
            Ok(QueueNow {
                tenant_id: row.string("tenant_id")?,
                queue_id: row.string("queue_id")?,
                channel: row.string("channel")?,
                waiting: row.u64("waiting")?,
                longest_wait_ms: row.u64("longest_wait_ms")?,
                agents_needed: row.optional_u32("agents_needed")?,
                as_of: row.i64("as_of_ms")?,
            })
        })
        .collect()
}

pub(crate) fn assemble_staffing(
    answer: &[Value],
) -> Result<Vec<(QueueKey, StaffingRow)>, StoreError> {
    rows_of("staffing_15m", answer)?
        .into_iter()
        .map(|row| {
            let key = QueueKey {
                tenant_id: row.string("tenant_id")?,
                window_start: row.minute()?,
                queue_id: row.string("queue_id")?,
                channel: row.string("channel")?,
                direction: row.string("direction")?,
            };
            let value = StaffingRow {
                offered: row.u64("offered")?,
                handled: row.u64("handled")?,
                handle_ms: row.u64("handle_ms")?,
                agents_needed: row.optional_u32("agents_needed")?,
                predicted_asa_ms: row.optional_u64("predicted_asa_ms")?,
            };
            Ok((key, value))
        })
        .collect()
}

pub(crate) fn assemble_agent_now(answer: &[Value]) -> Result<Vec<AgentNow>, StoreError> {
    rows_of("agent_now", answer)?
        .into_iter()
        .map(|row| {
            Ok(AgentNow {
                tenant_id: row.string("tenant_id")?,
                agent_id: row.string("agent_id")?,
                state: row.string("state")?,
                state_since: row.i64("state_since_ms")?,
                contact_id: row.string("contact_id")?,
                queue_id: row.string("queue_id")?,
                channel: row.string("channel")?,
                on_hold: row.u64("on_hold")? != 0,
                as_of: row.i64("as_of_ms")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_are_json_strings_whatever_they_hold() {
        for text in [
            "plain",
            "",
            "a\"b\\c",
            "line\nbreak\r\ttab",
            "\u{1}\u{1f}",
            "é 漢字 🙂",
        ] {
            let mut row = JsonRow::default();
            super::text(&mut row, "s", text);
            number(&mut row, "n", 7);
            let parsed: Value = serde_json::from_str(&format!("{}}}", row.json)).unwrap();
            assert_eq!(parsed["s"], text, "{}", row.json);
            assert_eq!(parsed["n"], 7);
            assert_eq!(row.names, ["s", "n"]);
        }
    }

    #[test]
    fn inserts_name_their_columns_and_write_seconds() {
        let mut batch = RowBatch {
            version: 7,
            ..Default::default()
        };
        batch.queue.push((
            QueueKey {
                tenant_id: "t1".into(),
                window_start: 1_700_000_040_000,
                queue_id: "q1".into(),
                channel: "VOICE".into(),
                direction: "INBOUND".into(),
            },
            Components {
                offered: 2,
                sentiment_milli_sum: -250,
                ..Default::default()
            },
        ));
        let inserts = inserts(&batch, "ccx");
        assert_eq!(inserts.len(), 1);
        let insert = &inserts[0];
        assert!(insert
            .query
            .starts_with("INSERT INTO ccx.queue_metrics_1m ("));
        assert!(insert.query.ends_with(") FORMAT JSONEachRow"));
        for column in [
            "tenant_id",
            "window_start",
            "direction",
            "offered",
            "version",
        ] {
            assert!(insert.query.contains(column), "{}", insert.query);
        }
        let row: Value = serde_json::from_str(insert.body.trim()).unwrap();
        assert_eq!(row["window_start"], 1_700_000_040u64);
        assert_eq!(row["sentiment_milli_sum"], -250);
        assert_eq!(row["version"], 7);
        assert_eq!(row.as_object().unwrap().len(), 5 + QUEUE_COLUMNS.len() + 1);
    }

    #[test]
    fn reason_rows_are_written_with_their_columns_and_read_back() {
        let key = ReasonKey {
            tenant_id: "t1".into(),
            window_start: 1_700_000_040_000,
            reason: "billing".into(),
            channel: "CHAT".into(),
            direction: "INBOUND".into(),
        };
        let c = Components {
            offered: 3,
            repeats: 1,
            case_resolution_ms: 90_000,
            // Not a reason column: neither written nor read.
            talk_ms: 5,
            ..Default::default()
        };
        let batch = RowBatch {
            version: 9,
            reason: vec![(key.clone(), c)],
            ..Default::default()
        };
        let inserts = inserts(&batch, "ccx");
        assert_eq!(inserts.len(), 1);
        let query = &inserts[0].query;
        assert!(query.starts_with("INSERT INTO ccx.reason_metrics_1m ("));
        let listed: Vec<&str> = query
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(list, _)| list.split(", ").collect())
            .unwrap_or_default();
        assert_eq!(listed.len(), 5 + REASON_COLUMNS.len() + 1, "{query}");
        for column in [
            "tenant_id",
            "window_start",
            "reason",
            "direction",
            "repeats",
        ] {
            assert!(listed.contains(&column), "{query}");
        }
        let mut row: Value = serde_json::from_str(inserts[0].body.trim()).unwrap();
        assert_eq!(row.as_object().unwrap().len(), 5 + REASON_COLUMNS.len() + 1);
        assert_eq!(row["reason"], "billing");
        assert_eq!(row["repeats"], 1);
        assert!(row.get("talk_ms").is_none());

        // Read back as a SELECT … FINAL answers (window_start as seconds).
        let map = row.as_object_mut().unwrap();
        map.insert("window_start_s".into(), map["window_start"].clone());
        let mut answers: [Vec<Value>; FINAL_TABLES] = Default::default();
        answers[5].push(row);
        let rows = assemble_final(&answers).unwrap();
        assert_eq!(rows.reason.len(), 1);
        assert_eq!(rows.reason[&key], c.only(REASON_COLUMNS));
        assert!(rows.queue.is_empty());
        let selects = final_selects(
            "ccx",
            &RowFilter {
                tenant: Some("t1"),
                between_ms: Some((0, 60_000)),
            },
        );
        let (table, sql) = &selects[5];
        assert_eq!(*table, "reason_metrics_1m");
        assert!(sql.contains("FROM ccx.reason_metrics_1m FINAL WHERE tenant_id = 't1' AND "));
        assert!(sql.contains("case_resolution_ms"), "{sql}");
    }

    #[test]
    fn integers_may_come_quoted() {
        let answer = vec![serde_json::json!({
            "tenant_id": "t1", "queue_id": "q", "channel": "CHAT",
            "waiting": "3", "longest_wait_ms": 12, "agents_needed": null,
            "as_of_ms": "1700000000123"
        })];
        let rows = assemble_queue_now(&answer).unwrap();
        assert_eq!(rows[0].waiting, 3);
        assert_eq!(rows[0].agents_needed, None);
        assert_eq!(rows[0].as_of, 1_700_000_000_123);
        let mut needed = answer[0].clone();
        needed["agents_needed"] = serde_json::json!(7);
        assert_eq!(
            assemble_queue_now(&[needed]).unwrap()[0].agents_needed,
            Some(7)
        );
        needed = answer[0].clone();
        needed["agents_needed"] = serde_json::json!(-1);
        let err = assemble_queue_now(&[needed]).unwrap_err().to_string();
        assert!(err.contains("agents_needed"), "{err}");
        let bad = vec![serde_json::json!({"tenant_id": "t1"})];
        let err = assemble_queue_now(&bad).unwrap_err().to_string();
        assert!(
            err.contains("queue_now") && err.contains("queue_id"),
            "{err}"
        );
    }
}
