//! The SPEC §5 schema as versioned migrations: each migration is a list of idempotent
//! statements (`IF NOT EXISTS`), recorded in `<db>.schema_migrations` once applied.
//!
//! Every table is `ReplacingMergeTree(version)` ordered by its SPEC key, so `SELECT … FINAL`
//! returns the row with the highest `version` of each key. The partition key is always a
//! function of columns that never change for a key (the minute of the key, an alert's or an
//! event's own time), because rows only replace each other inside one partition.
//!
//! The same SQL runs on ClickHouse 18.16 and on current releases: `DateTime('UTC')` instead of
//! `DateTime64` (plus `*_ms` UInt64 columns where milliseconds matter), no TTL, no
//! `Nullable` columns, and views that read their aggregates from a subquery (current
//! releases refuse an alias that shadows the column it aggregates).

use ccx_model::rows::{AGENT_COLUMNS, COMPONENT_COLUMNS};

/// The component columns the queue table was created with (migration 1).
pub(crate) const V1_QUEUE_COLUMNS: &[&str] = COMPONENT_COLUMNS.split_at(30).0;
/// The component columns the agent table was created with (migration 1).
pub(crate) const V1_AGENT_COLUMNS: &[&str] = AGENT_COLUMNS.split_at(23).0;

/// One schema version: the statements that create it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub statements: Vec<String>,
}

/// The tables of SPEC §5, in the order the migrations create them.
pub const TABLES: [&str; 9] = [
    "queue_metrics_1m",
    "agent_metrics_1m",
    "agent_state_1m",
    "churn_alerts",
    "queue_now",
    "ingest_quality_1m",
    "events",
    "tenant_progress",
    "backfills",
];

/// Each table's SPEC §5 key: its `ORDER BY`, and what `FINAL` keeps one row of.
pub const TABLE_KEYS: [(&str, &str); 9] = [
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
];

/// The key of one of [`TABLES`].
pub fn table_key(table: &str) -> &'static str {
    TABLE_KEYS
        .iter()
        .find(|(name, _)| *name == table)
        .map_or_else(|| panic!("{table} is not a ccx table"), |(_, key)| *key)
}

/// The KPI views of SPEC §3.
pub const VIEWS: [&str; 3] = ["queue_kpis_1m", "agent_kpis_1m", "agent_occupancy_1m"];

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
            statements: tables(db),
        },
        Migration {
            version: 2,
            name: "kpi_views",
            statements: views(db),
        },
        Migration {
            version: 3,
            name: "backfills",
            statements: backfills(db),
        },
    ]
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

/// `scale · num / den`, NULL unless `den` > 0. A per-minute denominator such as
/// `offered − abandoned_short` can be negative when the offer and the short abandon fall in
/// different minutes; such a ratio is meaningless, so it is NULL like a zero denominator.
fn ratio(scale: &str, num: &str, den: &str) -> String {
    format!("{scale}{num} / if({den} > 0, {den}, NULL)")
}

fn kpi_view(
    db: &str,
    name: &str,
    source: &str,
    key: &str,
    summed: &[&str],
    exposed: &[&str],
    kpis: &[(&str, String)],
) -> String {
    let sums: String = summed
        .iter()
        .map(|c| format!(",\n        sum({c}) AS s_{c}"))
        .collect();
    let exposed: String = exposed
        .iter()
        .map(|c| format!(",\n    s_{c} AS {c}"))
        .collect();
    let kpis: String = kpis
        .iter()
        .map(|(alias, expr)| format!(",\n    {expr} AS {alias}"))
        .collect();
    format!(
        "CREATE VIEW IF NOT EXISTS {db}.{name} AS\nSELECT\n    {key}{exposed}{kpis}\nFROM\n(\n    \
         SELECT\n        {key}{sums}\n    FROM {db}.{source} FINAL\n    GROUP BY {key}\n)"
    )
}

fn views(db: &str) -> Vec<String> {
    let pct = "100 * ";
    let queue_kpis = vec![
        ("asa_ms", ratio("", "s_wait_answered_ms", "s_answered")),
        (
            "service_level_pct",
            ratio(
                pct,
                "s_answered_in_sl",
                "(toInt64(s_answered) + toInt64(s_abandoned) - toInt64(s_abandoned_short))",
            ),
        ),
        (
            "abandonment_pct",
            ratio(
                pct,
                "(toInt64(s_abandoned) - toInt64(s_abandoned_short))",
                "(toInt64(s_offered) - toInt64(s_abandoned_short))",
            ),
        ),
        (
            "aht_ms",
            ratio("", "(s_talk_ms + s_hold_ms + s_acw_ms)", "s_handled"),
        ),
        ("avg_hold_ms", ratio("", "s_hold_ms", "s_holds")),
        ("transfer_rate_pct", ratio(pct, "s_transfers", "s_handled")),
        ("fcr_pct", ratio(pct, "s_fcr_success", "s_fcr_eligible")),
        (
            "nps",
            ratio(
                pct,
                "(toInt64(s_nps_promoters) - toInt64(s_nps_detractors))",
                "s_nps_responses",
            ),
        ),
        (
            "csat_pct",
            ratio(pct, "s_csat_satisfied", "s_csat_responses"),
        ),
        ("ces", ratio("", "s_ces_score_sum", "s_ces_responses")),
        ("answer_rate_pct", ratio(pct, "s_answered", "s_offered")),
        (
            "conversion_rate_pct",
            ratio(pct, "s_conversions", "s_answered"),
        ),
        (
            "sentiment",
            ratio("", "s_sentiment_milli_sum / 1000", "s_sentiment_count"),
        ),
    ];
    // Agent rows carry no `answered` (SPEC §5): an agent's conversion rate is over the
    // contacts it ended (segments ended by CONTACT_ENDED = handled − transfers).
    let agent_kpis: Vec<(&str, String)> = queue_kpis
        .iter()
        .filter(|(name, _)| {
            ![
                "asa_ms",
                "service_level_pct",
                "abandonment_pct",
                "answer_rate_pct",
                "conversion_rate_pct",
            ]
            .contains(name)
        })
        .cloned()
        .chain([(
            "conversion_rate_pct",
            ratio(
                pct,
                "s_conversions",
                "(toInt64(s_handled) - toInt64(s_transfers))",
            ),
        )])
        .collect();
    let occupancy = vec![(
        "occupancy_pct",
        ratio(
            pct,
            "(s_busy_ms + s_acw_state_ms)",
            "(s_busy_ms + s_acw_state_ms + s_available_ms)",
        ),
    )];
    let state = ["available_ms", "busy_ms", "acw_state_ms", "break_ms"];
    vec![
        kpi_view(
            db,
            "queue_kpis_1m",
            "queue_metrics_1m",
            table_key("queue_metrics_1m"),
            V1_QUEUE_COLUMNS,
            &["offered", "answered", "abandoned", "handled"],
            &queue_kpis,
        ),
        kpi_view(
            db,
            "agent_kpis_1m",
            "agent_metrics_1m",
            table_key("agent_metrics_1m"),
            V1_AGENT_COLUMNS,
            &["handled"],
            &agent_kpis,
        ),
        kpi_view(
            db,
            "agent_occupancy_1m",
            "agent_state_1m",
            table_key("agent_state_1m"),
            &state,
            &state,
            &occupancy,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_versioned_and_ordered_by_its_key() {
        let statements: Vec<String> = migrations("ccx")
            .into_iter()
            .flat_map(|m| m.statements)
            .filter(|s| s.starts_with("CREATE TABLE"))
            .collect();
        assert_eq!(statements.len(), TABLES.len());
        for (sql, name) in statements.iter().zip(TABLES) {
            assert!(sql.starts_with(&format!("CREATE TABLE IF NOT EXISTS ccx.{name} (")));
            assert!(sql.contains("version UInt64"), "{sql}");
            assert!(sql.contains("ReplacingMergeTree(version)"), "{sql}");
            assert!(sql.contains("ORDER BY (tenant_id"), "{sql}");
        }
        assert!(statements[0].contains("sentiment_milli_sum Int64"));
        assert!(!statements[1].contains("offered"));
    }

    #[test]
    fn migration_versions_grow() {
        let all = migrations("ccx");
        assert!(all.windows(2).all(|w| w[0].version < w[1].version));
        let views: Vec<&String> = all.iter().flat_map(|m| &m.statements).collect();
        for view in VIEWS {
            assert!(views
                .iter()
                .any(|s| s.starts_with(&format!("CREATE VIEW IF NOT EXISTS ccx.{view} AS"))));
        }
    }
}
