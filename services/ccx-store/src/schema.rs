//! The SPEC §5 and §7.2 schema as versioned migrations: each migration is a list of idempotent
//! steps, recorded in `<db>.schema_migrations` once applied. A step is a statement that is
//! idempotent by itself (`CREATE … IF NOT EXISTS`, `DROP TABLE IF EXISTS`) or columns to add
//! to a table ([`AddColumns`]): ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`, so
//! `ccx migrate` looks up the table's columns and adds only those it lacks.
//!
//! Every table is `ReplacingMergeTree(version)` ordered by its SPEC key, so `SELECT … FINAL`
//! returns the row with the highest `version` of each key. The partition key is always a
//! function of columns that never change for a key (the minute of the key, an alert's or an
//! event's own time), because rows only replace each other inside one partition.
//!
//! The same SQL runs on ClickHouse 18.16 and on current releases: `DateTime('UTC')` instead of
//! `DateTime64` (plus `*_ms` UInt64 columns where milliseconds matter), no TTL, no
//! `Nullable` columns, and views that read their aggregates from a subquery (current
//! releases refuse an alias that shadows the column it aggregates). 18.16 has no
//! `CREATE OR REPLACE VIEW` (nor `DROP VIEW`): a view is replaced by `DROP TABLE IF EXISTS`
//! and `CREATE VIEW IF NOT EXISTS`.
//!
//! **Migration 4** (SPEC §7.2) upgrades a database in place: it adds the new components to
//! `queue_metrics_1m` and `agent_metrics_1m` (`ALTER TABLE … ADD COLUMN`, placed before
//! `version`; rows written before it read back with zeros there), creates `reason_metrics_1m`
//! and replaces the KPI views with ones that also compute the §7.2 KPIs, adding
//! `reason_kpis_1m`. Migration 1's DDL stays as it was, so a new database and an upgraded one
//! end with the same columns in the same order.
//!
//! **Migration 8** (rollups for trends over long ranges) creates `queue_metrics_1h`,
//! `agent_metrics_1h`, `reason_metrics_1h` (`window_start` = the UTC hour) and
//! `queue_metrics_1d`, `agent_metrics_1d`, `reason_metrics_1d` (`day` = the tenant-local date,
//! `window_start` = that local midnight as a UTC instant), each with the key and component
//! columns of its minute table, and their KPI views (`queue_kpis_1h`, … `reason_kpis_1d`),
//! the minute views' definitions over another source. The stream keeps every rollup row
//! equal to the sum of its minute rows (docs/metrics.md, "Rollups").

use ccx_model::rows::{AGENT_COLUMNS, COMPONENT_COLUMNS, QUEUE_COLUMNS, REASON_COLUMNS};

use crate::views::*;

/// The component columns the queue table was created with (migration 1); migration 4 adds
/// the rest of [`QUEUE_COLUMNS`].
pub const V1_QUEUE_COLUMNS: &[&str] = COMPONENT_COLUMNS.split_at(30).0;
/// The component columns the agent table was created with (migration 1); migration 4 adds
/// the rest of [`AGENT_COLUMNS`].
pub const V1_AGENT_COLUMNS: &[&str] = AGENT_COLUMNS.split_at(23).0;

/// One schema version: the steps that create it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub steps: Vec<Step>,
}

/// One step of a [`Migration`]; every step can be applied again without harm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A statement that is idempotent by itself.
    Sql(String),
    /// Columns to add to a table unless it has them.
    AddColumns(AddColumns),
}

impl Step {
    /// The statement of a [`Step::Sql`].
    pub fn sql(&self) -> Option<&str> {
        match self {
            Step::Sql(sql) => Some(sql),
            Step::AddColumns(_) => None,
        }
    }
}

/// Columns to add to `<database>.<table>`, in order, the first after column `after`, each
/// next one after the one before it (so they sit where a new table would have them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddColumns {
    pub database: String,
    pub table: String,
    /// The cluster whose servers all get the columns (see [`crate::layout`]).
    pub on_cluster: Option<String>,
    pub after: &'static str,
    /// `(name, type)`.
    pub columns: Vec<(&'static str, &'static str)>,
}

impl AddColumns {
    /// The query whose answer (`name` per row) lists the table's columns now.
    pub fn existing_columns_query(&self) -> String {
        format!(
            "SELECT name FROM system.columns WHERE database = '{}' AND table = '{}'",
            self.database, self.table
        )
    }

    /// The `ALTER TABLE` that adds the columns missing from `existing` (the answer to
    /// [`AddColumns::existing_columns_query`]), or `None` when none is missing.
    pub fn statement(&self, existing: &[String]) -> Option<String> {
        let mut after = self.after;
        let mut adds = Vec::new();
        for (name, kind) in &self.columns {
            if !existing.iter().any(|e| e == name) {
                adds.push(format!("ADD COLUMN {name} {kind} AFTER {after}"));
            }
            after = name;
        }
        if adds.is_empty() {
            return None;
        }
        let on = self
            .on_cluster
            .as_ref()
            .map(|c| format!(" ON CLUSTER {c}"))
            .unwrap_or_default();
        Some(format!(
            "ALTER TABLE {}.{}{on}\n    {}",
            self.database,
            self.table,
            adds.join(",\n    ")
        ))
    }
}

/// The tables of SPEC §5 and §7.2, in the order the migrations create them.
pub const TABLES: [&str; 19] = [
    "queue_metrics_1m",
    "agent_metrics_1m",
    "agent_state_1m",
    "churn_alerts",
    "queue_now",
    "ingest_quality_1m",
    "events",
    "tenant_progress",
    "backfills",
    "reason_metrics_1m",
    "agent_now",
    "staffing_15m",
    "alert_events",
    "queue_metrics_1h",
    "agent_metrics_1h",
    "reason_metrics_1h",
    "queue_metrics_1d",
    "agent_metrics_1d",
    "reason_metrics_1d",
];

/// Each table's SPEC §5 key: its `ORDER BY`, and what `FINAL` keeps one row of.
pub const TABLE_KEYS: [(&str, &str); 19] = [
    (
        "queue_metrics_1m",
        "tenant_id, window_start, queue_id, channel, direction",
    ),
    (
        "agent_metrics_1m",
        "tenant_id, window_start, agent_id, channel",
    ),
    ("agent_state_1m", "tenant_id, window_start, agent_id"),
    ("churn_alerts", "tenant_id, alert_id"),
    ("queue_now", "tenant_id, queue_id, channel"),
    ("ingest_quality_1m", "tenant_id, window_start"),
    ("events", "tenant_id, event_id"),
    ("tenant_progress", "tenant_id"),
    ("backfills", "tenant_id, window_start"),
    (
        "reason_metrics_1m",
        "tenant_id, window_start, reason, channel, direction",
    ),
    ("agent_now", "tenant_id, agent_id"),
    (
        "staffing_15m",
        "tenant_id, window_start, queue_id, channel, direction",
    ),
    ("alert_events", "tenant_id, alert_id, status"),
    (
        "queue_metrics_1h",
        "tenant_id, window_start, queue_id, channel, direction",
    ),
    (
        "agent_metrics_1h",
        "tenant_id, window_start, agent_id, channel",
    ),
    (
        "reason_metrics_1h",
        "tenant_id, window_start, reason, channel, direction",
    ),
    (
        "queue_metrics_1d",
        "tenant_id, window_start, queue_id, channel, direction",
    ),
    (
        "agent_metrics_1d",
        "tenant_id, window_start, agent_id, channel",
    ),
    (
        "reason_metrics_1d",
        "tenant_id, window_start, reason, channel, direction",
    ),
];

/// The key of one of [`TABLES`].
pub fn table_key(table: &str) -> &'static str {
    TABLE_KEYS
        .iter()
        .find(|(name, _)| *name == table)
        .map_or_else(|| panic!("{table} is not a ccx table"), |(_, key)| *key)
}

/// The tables partitioned by month, with the column whose month is the partition
/// (`PARTITION BY toYYYYMM(column)`), as the migrations create them: what retention drops.
pub fn monthly_tables() -> Vec<(String, String)> {
    migrations("db")
        .iter()
        .flat_map(|m| m.steps.iter().filter_map(Step::sql))
        .filter_map(|sql| {
            let name = sql.strip_prefix("CREATE TABLE IF NOT EXISTS db.")?;
            let name = name.split_once(' ')?.0;
            let column = sql
                .split_once("PARTITION BY toYYYYMM(")?
                .1
                .split_once(')')?
                .0;
            Some((name.to_string(), column.to_string()))
        })
        .collect()
}

/// The KPI views of SPEC §3 and §7.2, then those of the rollups (migration 8).
pub const VIEWS: [&str; 10] = [
    "queue_kpis_1m",
    "agent_kpis_1m",
    "agent_occupancy_1m",
    "reason_kpis_1m",
    "queue_kpis_1h",
    "agent_kpis_1h",
    "reason_kpis_1h",
    "queue_kpis_1d",
    "agent_kpis_1d",
    "reason_kpis_1d",
];

/// The time grain of the queue, agent and reason tables: the minute tables and their rollups
/// (migration 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    /// `window_start` = the UTC minute.
    Minute,
    /// `window_start` = the UTC hour.
    Hour,
    /// `window_start` = the tenant-local midnight (as a UTC instant), `day` its local date.
    Day,
}

impl Grain {
    /// The rollups of the minute tables.
    pub const ROLLUPS: [Grain; 2] = [Grain::Hour, Grain::Day];

    /// The suffix of table and view names.
    pub fn suffix(self) -> &'static str {
        match self {
            Grain::Minute => "_1m",
            Grain::Hour => "_1h",
            Grain::Day => "_1d",
        }
    }

    /// [`Grain::name`] of one of [`TABLES`].
    pub fn table(self, minute: &str) -> &'static str {
        let name = self.name(minute);
        TABLES
            .iter()
            .find(|t| **t == name)
            .unwrap_or_else(|| panic!("{name} is not a ccx table"))
    }

    /// The name, at this grain, of minute table or view `minute` (`queue_metrics_1m` →
    /// `queue_metrics_1h`).
    pub fn name(self, minute: &str) -> String {
        let base = minute
            .strip_suffix("_1m")
            .unwrap_or_else(|| panic!("{minute} is not a minute table"));
        format!("{base}{}", self.suffix())
    }
}

/// The minute tables that have rollups, with their dimension columns (after `window_start`).
pub const ROLLED_UP: [(&str, &str); 3] = [
    (
        "queue_metrics_1m",
        "    queue_id String,\n    channel String,\n    direction String,\n",
    ),
    (
        "agent_metrics_1m",
        "    agent_id String,\n    channel String,\n",
    ),
    (
        "reason_metrics_1m",
        "    reason String,\n    channel String,\n    direction String,\n",
    ),
];

/// The table that records applied migrations.
pub const MIGRATIONS_TABLE: &str = "schema_migrations";

/// The statements that must exist before migrations can be looked up: the database and the
/// migrations table.
pub fn bootstrap(db: &str) -> Vec<String> {
    vec![
        format!("CREATE DATABASE IF NOT EXISTS {db}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.{MIGRATIONS_TABLE} (\n    \
             version UInt32,\n    name String,\n    applied_at DateTime('UTC')\n) \
             ENGINE = ReplacingMergeTree()\nORDER BY version"
        ),
    ]
}

/// Every migration of the schema in database `db`, oldest first. Versions only grow; an
/// applied migration is never edited, a change is a new migration.
pub fn migrations(db: &str) -> Vec<Migration> {
    vec![
        Migration {
            version: 1,
            name: "tables",
            steps: sql(tables(db)),
        },
        Migration {
            version: 2,
            name: "kpi_views",
            steps: sql(views(db)),
        },
        Migration {
            version: 3,
            name: "backfills",
            steps: sql(backfills(db)),
        },
        Migration {
            version: 4,
            name: "v2_components",
            steps: v2_components(db),
        },
        Migration {
            version: 5,
            name: "live_floor",
            steps: live_floor(db),
        },
        Migration {
            version: 6,
            name: "staffing",
            steps: sql(vec![staffing(db)]),
        },
        Migration {
            version: 7,
            name: "alert_events",
            steps: sql(vec![alert_events(db)]),
        },
        Migration {
            version: 8,
            name: "rollups",
            steps: sql(rollups(db)),
        },
    ]
}

fn sql(statements: Vec<String>) -> Vec<Step> {
    statements.into_iter().map(Step::Sql).collect()
}

fn columns(names: &[&str], kind: impl Fn(&str) -> &'static str) -> String {
    names
        .iter()
        .map(|c| format!("    {c} {},\n", kind(c)))
        .collect()
}

fn component_type(column: &str) -> &'static str {
    if column == "sentiment_milli_sum" {
        "Int64"
    } else {
        "UInt64"
    }
}

fn table(db: &str, name: &str, body: &str, partition: Option<&str>) -> String {
    let key = table_key(name);
    let partition = partition
        .map(|p| format!("PARTITION BY {p}\n"))
        .unwrap_or_default();
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{name} (\n{body}    version UInt64\n) \
         ENGINE = ReplacingMergeTree(version)\n{partition}ORDER BY ({key})"
    )
}

const BY_MONTH: Option<&str> = Some("toYYYYMM(window_start)");

fn tables(db: &str) -> Vec<String> {
    let queue = format!(
        "    tenant_id String,\n    window_start DateTime('UTC'),\n    queue_id String,\n    \
         channel String,\n    direction String,\n{}",
        columns(V1_QUEUE_COLUMNS, component_type)
    );
    let agent = format!(
        "    tenant_id String,\n    window_start DateTime('UTC'),\n    agent_id String,\n    \
         channel String,\n{}",
        columns(V1_AGENT_COLUMNS, component_type)
    );
    let agent_state = "    tenant_id String,\n    window_start DateTime('UTC'),\n    \
         agent_id String,\n    available_ms UInt64,\n    busy_ms UInt64,\n    \
         acw_state_ms UInt64,\n    break_ms UInt64,\n";
    let alerts = "    tenant_id String,\n    alert_id String,\n    customer_id String,\n    \
         score UInt32,\n    reasons Array(String),\n    triggered_at DateTime('UTC'),\n    \
         triggered_at_ms UInt64,\n    contact_id String,\n    channel String,\n    \
         queue_id String,\n    agent_id String,\n";
    let queue_now = "    tenant_id String,\n    queue_id String,\n    channel String,\n    \
         waiting UInt64,\n    longest_wait_ms UInt64,\n    as_of DateTime('UTC'),\n    \
         as_of_ms UInt64,\n";
    let quality = "    tenant_id String,\n    window_start DateTime('UTC'),\n    \
         duplicates UInt64,\n    out_of_sequence UInt64,\n    late_dropped UInt64,\n";
    let events = "    tenant_id String,\n    event_id String,\n    type String,\n    \
         occurred_at DateTime('UTC'),\n    occurred_at_ms UInt64,\n    contact_id String,\n    \
         customer_id String,\n    channel String,\n    direction String,\n    \
         queue_id String,\n    agent_id String,\n    payload String,\n";
    vec![
        table(db, "queue_metrics_1m", &queue, BY_MONTH),
        table(db, "agent_metrics_1m", &agent, BY_MONTH),
        table(db, "agent_state_1m", agent_state, BY_MONTH),
        // An alert's triggered_at is its triggering event's time: fixed for its alert_id.
        table(db, "churn_alerts", alerts, Some("toYYYYMM(triggered_at)")),
        // One small row per queue and channel, rewritten as the watermark moves: no partitions.
        table(db, "queue_now", queue_now, None),
        table(db, "ingest_quality_1m", quality, BY_MONTH),
        // Only the first accepted copy of an event is stored, so occurred_at is fixed per key.
        table(db, "events", events, Some("toYYYYMM(occurred_at)")),
    ]
}

/// What `ccx backfill` needs besides the events: how far the stream computed each tenant
/// (`tenant_progress`: rows of minutes far enough behind it are final), and per tenant and
/// minute how many of the minute's late events (`ingest_quality_1m.late_dropped`) the newest
/// backfill took into its rows (`backfills`): a minute with more late events than that is due
/// a backfill.
fn backfills(db: &str) -> Vec<String> {
    let progress = "    tenant_id String,\n    watermark DateTime('UTC'),\n    \
         watermark_ms UInt64,\n";
    let backfills = "    tenant_id String,\n    window_start DateTime('UTC'),\n    \
         late_covered UInt64,\n    backfilled_at DateTime('UTC'),\n";
    vec![
        // One small row per tenant, rewritten as its watermark moves: no partitions.
        table(db, "tenant_progress", progress, None),
        table(db, "backfills", backfills, BY_MONTH),
    ]
}

/// Migration 4: the SPEC §7.2 components, the reason table and the §7.2 KPIs.
fn v2_components(db: &str) -> Vec<Step> {
    let added = |table: &'static str, all: &[&'static str], v1: &[&'static str]| {
        let new: Vec<(&'static str, &'static str)> = all
            .iter()
            .filter(|c| !v1.contains(c))
            .map(|c| (*c, component_type(c)))
            .collect();
        Step::AddColumns(AddColumns {
            database: db.to_string(),
            table: table.to_string(),
            on_cluster: None,
            after: v1.last().copied().unwrap_or("tenant_id"),
            columns: new,
        })
    };
    let reason = format!(
        "    tenant_id String,\n    window_start DateTime('UTC'),\n    reason String,\n    \
         channel String,\n    direction String,\n{}",
        columns(REASON_COLUMNS, component_type)
    );
    let mut steps = vec![
        added("queue_metrics_1m", QUEUE_COLUMNS, V1_QUEUE_COLUMNS),
        added("agent_metrics_1m", AGENT_COLUMNS, V1_AGENT_COLUMNS),
        Step::Sql(table(db, "reason_metrics_1m", &reason, BY_MONTH)),
    ];
    let views = grain_kpi_views(db, Grain::Minute);
    for (name, create) in views {
        steps.extend(sql(replace_view(db, &name, create).into()));
    }
    steps
}

/// Migration 5: the live floor of SPEC §7.4 — what each agent is doing now, and the agents
/// a queue's last half hour needs (SPEC §7.6).
fn live_floor(db: &str) -> Vec<Step> {
    let agent_now = "    tenant_id String,\n    agent_id String,\n    state String,\n    \
         state_since DateTime('UTC'),\n    state_since_ms UInt64,\n    contact_id String,\n    \
         queue_id String,\n    channel String,\n    on_hold UInt8,\n    \
         as_of DateTime('UTC'),\n    as_of_ms UInt64,\n";
    vec![
        // One small row per agent, rewritten when what the agent does changes: no partitions.
        Step::Sql(table(db, "agent_now", agent_now, None)),
        Step::AddColumns(AddColumns {
            database: db.to_string(),
            table: "queue_now".into(),
            on_cluster: None,
            after: "longest_wait_ms",
            columns: vec![("agents_needed", "Nullable(UInt32)")],
        }),
    ]
}

/// Migration 6: SPEC §7.6 per queue and 15-minute interval.
fn staffing(db: &str) -> String {
    let body =
        "    tenant_id String,\n    window_start DateTime('UTC'),\n    queue_id String,\n    \
         channel String,\n    direction String,\n    offered UInt64,\n    handled UInt64,\n    \
         handle_ms UInt64,\n    agents_needed Nullable(UInt32),\n    \
         predicted_asa_ms Nullable(UInt64),\n";
    table(db, "staffing_15m", body, BY_MONTH)
}

/// Migration 7: SPEC §7.5's alert transitions, written by the control-plane leader. A
/// transition happens once per alert and status, so its time (`at`, the partition) is fixed
/// per key, and its `version` is that time: writing a transition again is harmless.
fn alert_events(db: &str) -> String {
    let body = "    tenant_id String,\n    alert_id String,\n    kind String,\n    \
         status String,\n    at DateTime('UTC'),\n    at_ms UInt64,\n    `by` String,\n    \
         note String,\n";
    table(db, "alert_events", body, Some("toYYYYMM(at)"))
}

/// The component columns of a minute table that has rollups.
fn rolled_up_columns(minute: &str) -> &'static [&'static str] {
    match minute {
        "queue_metrics_1m" => QUEUE_COLUMNS,
        "agent_metrics_1m" => AGENT_COLUMNS,
        "reason_metrics_1m" => REASON_COLUMNS,
        _ => panic!("{minute} has no rollups"),
    }
}

/// Migration 8: the hourly and daily rollups of the queue, agent and reason tables, and their
/// KPI views. A rollup row never moves between partitions: its `window_start` is in its key.
fn rollups(db: &str) -> Vec<String> {
    let mut out = Vec::new();
    for rollup in Grain::ROLLUPS {
        for (minute, dimensions) in ROLLED_UP {
            let day = if rollup == Grain::Day {
                "    day Date,\n"
            } else {
                ""
            };
            let body = format!(
                "    tenant_id String,\n{day}    window_start DateTime('UTC'),\n{dimensions}{}",
                columns(rolled_up_columns(minute), component_type)
            );
            out.push(table(db, &rollup.name(minute), &body, BY_MONTH));
        }
        for (_, view) in grain_kpi_views(db, rollup) {
            out.push(view);
        }
    }
    out
}

/// The KPI views of the queue, agent and reason tables at `grain`, with their names: one
/// definition for the minute views (migration 4) and the rollups' (migration 8). The daily
/// views also expose `day`.
fn grain_kpi_views(db: &str, grain: Grain) -> Vec<(String, String)> {
    // (minute table, summed components exposed as columns, KPIs)
    type ViewDefinition = (
        &'static str,
        &'static [&'static str],
        Vec<(&'static str, String)>,
    );
    let views: [ViewDefinition; 3] = [
        (
            "queue_metrics_1m",
            &[
                "offered",
                "answered",
                "abandoned",
                "handled",
                "callbacks_requested",
            ],
            queue_kpis_v2(),
        ),
        (
            "agent_metrics_1m",
            &["handled", "qa_evaluations"],
            agent_kpis_v2(),
        ),
        (
            "reason_metrics_1m",
            &["offered", "handled", "resolved", "repeats"],
            reason_kpis(),
        ),
    ];
    views
        .into_iter()
        .map(|(minute, exposed, kpis)| {
            let source = grain.name(minute);
            let view = grain.name(&minute.replace("_metrics_", "_kpis_"));
            let key = match grain {
                Grain::Minute | Grain::Hour => table_key(minute).to_string(),
                // `day` is a function of the key (window_start), so grouping by it too changes
                // no group.
                Grain::Day => table_key(minute).replacen("tenant_id", "tenant_id, day", 1),
            };
            let create = kpi_view(
                db,
                &view,
                &source,
                &key,
                rolled_up_columns(minute),
                exposed,
                &kpis,
            );
            (view, create)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(db: &str) -> Vec<String> {
        migrations(db)
            .into_iter()
            .flat_map(|m| m.steps)
            .filter_map(|s| s.sql().map(str::to_string))
            .collect()
    }

    #[test]
    fn every_table_is_versioned_and_ordered_by_its_key() {
        let statements: Vec<String> = statements("ccx")
            .into_iter()
            .filter(|s| s.starts_with("CREATE TABLE"))
            .collect();
        assert_eq!(statements.len(), TABLES.len());
        for (sql, name) in statements.iter().zip(TABLES) {
            assert!(sql.starts_with(&format!("CREATE TABLE IF NOT EXISTS ccx.{name} (")));
            assert!(sql.contains("version UInt64"), "{sql}");
            assert!(sql.contains("ReplacingMergeTree(version)"), "{sql}");
            assert!(
                sql.contains(&format!("ORDER BY ({})", table_key(name))),
                "{sql}"
            );
        }
        assert!(statements[0].contains("sentiment_milli_sum Int64"));
        assert!(!statements[1].contains("offered"));
        // Migration 1 keeps the columns it always had; migration 4 adds the others.
        assert!(!statements[0].contains("callbacks_requested"));
        for c in REASON_COLUMNS {
            assert!(statements[9].contains(&format!("    {c} UInt64,")), "{c}");
        }
    }

    #[test]
    fn minute_tables_are_partitioned_by_month() {
        let monthly = monthly_tables();
        assert!(monthly.contains(&("queue_metrics_1m".into(), "window_start".into())));
        assert!(monthly.contains(&("events".into(), "occurred_at".into())));
        assert!(monthly.contains(&("alert_events".into(), "at".into())));
        assert!(!monthly.iter().any(|(t, _)| t == "queue_now"));
        assert_eq!(monthly.len(), TABLES.len() - 3);
    }

    #[test]
    fn migration_versions_grow() {
        let all = migrations("ccx");
        assert!(all.windows(2).all(|w| w[0].version < w[1].version));
        let statements = statements("ccx");
        for view in VIEWS {
            assert!(statements
                .iter()
                .any(|s| s.starts_with(&format!("CREATE VIEW IF NOT EXISTS ccx.{view} AS"))));
        }
    }

    #[test]
    fn migration_4_adds_the_new_components_before_version() {
        let m4 = &migrations("db")[3];
        let adds: Vec<&AddColumns> = m4
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::AddColumns(a) => Some(a),
                Step::Sql(_) => None,
            })
            .collect();
        assert_eq!(adds.len(), 2);
        let (queue, agent) = (adds[0], adds[1]);
        assert_eq!(queue.table, "queue_metrics_1m");
        assert_eq!(
            queue.columns.len() + V1_QUEUE_COLUMNS.len(),
            QUEUE_COLUMNS.len()
        );
        assert_eq!(
            agent.columns.len() + V1_AGENT_COLUMNS.len(),
            AGENT_COLUMNS.len()
        );
        assert_eq!(agent.columns[0], ("mos_count", "UInt64"));

        let sql = queue.statement(&[]).unwrap();
        assert!(
            sql.starts_with("ALTER TABLE db.queue_metrics_1m\n"),
            "{sql}"
        );
        assert!(sql.contains("ADD COLUMN callbacks_requested UInt64 AFTER sentiment_positive,"));
        assert!(sql.contains("ADD COLUMN wait_callback_ms UInt64 AFTER callbacks_requested,"));
        assert!(sql.ends_with("ADD COLUMN first_call_closes UInt64 AFTER accounts_attempted"));
        // Only what is missing, still in place; nothing when nothing is.
        let existing: Vec<String> = QUEUE_COLUMNS
            .iter()
            .filter(|c| **c != "repeats")
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            queue.statement(&existing).unwrap(),
            "ALTER TABLE db.queue_metrics_1m\n    ADD COLUMN repeats UInt64 AFTER transfer_wait_ms"
        );
        let all: Vec<String> = QUEUE_COLUMNS.iter().map(|c| c.to_string()).collect();
        assert_eq!(queue.statement(&all), None);
        assert!(queue
            .existing_columns_query()
            .contains("database = 'db' AND table = 'queue_metrics_1m'"));

        // Views are replaced (DROP TABLE IF EXISTS, then CREATE VIEW IF NOT EXISTS).
        let sql: Vec<&str> = m4.steps.iter().filter_map(Step::sql).collect();
        assert!(sql[0].starts_with("CREATE TABLE IF NOT EXISTS db.reason_metrics_1m ("));
        for (i, view) in ["queue_kpis_1m", "agent_kpis_1m", "reason_kpis_1m"]
            .iter()
            .enumerate()
        {
            assert_eq!(sql[1 + 2 * i], format!("DROP TABLE IF EXISTS db.{view}"));
            assert!(sql[2 + 2 * i].starts_with(&format!("CREATE VIEW IF NOT EXISTS db.{view} AS")));
        }
        assert!(sql[2].contains("sum(first_call_closes) AS s_first_call_closes"));
        assert!(sql[4].contains("sum(qa_score_sum) AS s_qa_score_sum"));
        assert!(sql[6].contains("FROM db.reason_metrics_1m FINAL"));
    }

    #[test]
    fn migration_8_rolls_up_the_minute_tables_with_their_columns_and_views() {
        let m8 = &migrations("db")[7];
        assert_eq!((m8.version, m8.name), (8, "rollups"));
        let sql: Vec<&str> = m8.steps.iter().filter_map(Step::sql).collect();
        let create = |name: &str| {
            sql.iter()
                .find(|s| s.starts_with(&format!("CREATE TABLE IF NOT EXISTS db.{name} (")))
                .unwrap_or_else(|| panic!("{name} missing"))
                .to_string()
        };
        for (minute, _) in ROLLED_UP {
            let minute_sql = statements("db")
                .into_iter()
                .find(|s| s.starts_with(&format!("CREATE TABLE IF NOT EXISTS db.{minute} (")))
                .unwrap();
            let hour = create(&Grain::Hour.name(minute));
            let day = create(&Grain::Day.name(minute));
            for (rollup, rollup_sql) in [(Grain::Hour, &hour), (Grain::Day, &day)] {
                assert!(rollup_sql.contains("ReplacingMergeTree(version)"));
                assert!(rollup_sql.contains(&format!("ORDER BY ({})", table_key(minute))));
                assert_eq!(table_key(&rollup.name(minute)), table_key(minute));
                for c in rolled_up_columns(minute) {
                    assert!(rollup_sql.contains(&format!("    {c} {},", component_type(c))));
                }
            }
            // The same columns as the minute table created whole (reason_metrics_1m), and
            // only the daily tables have `day`.
            if minute == "reason_metrics_1m" {
                assert_eq!(hour.replace("_1h", "_1m"), minute_sql);
            }
            assert!(!hour.contains(" day Date"));
            assert!(day.contains("    tenant_id String,\n    day Date,\n    window_start"));
        }
        assert!(!create("queue_metrics_1h").contains("qa_score_sum"));
        assert!(create("agent_metrics_1d").contains("qa_score_sum UInt64"));
        // Views: the minute views' definitions over the rollups.
        let views: Vec<&&str> = sql
            .iter()
            .filter(|s| s.starts_with("CREATE VIEW"))
            .collect();
        assert_eq!(views.len(), 6);
        let minute_views = grain_kpi_views("db", Grain::Minute);
        for (i, grain) in Grain::ROLLUPS.iter().enumerate() {
            for (j, (minute_name, minute_view)) in minute_views.iter().enumerate() {
                let view = views[3 * i + j];
                let name = grain.name(minute_name);
                assert!(view.starts_with(&format!("CREATE VIEW IF NOT EXISTS db.{name} AS")));
                let as_minute = view
                    .replace(grain.suffix(), "_1m")
                    .replace("tenant_id, day,", "tenant_id,");
                assert_eq!(&as_minute, minute_view, "{name}");
            }
        }
        assert!(views[3].contains("    tenant_id, day, window_start, queue_id"));
        assert!(views[3].contains("FROM db.queue_metrics_1d FINAL"));
    }
}
