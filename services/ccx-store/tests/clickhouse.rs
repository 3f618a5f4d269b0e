//! The store against a real ClickHouse server (the `clickhouse-server` of this machine, 18.16
//! here), started by each test on free loopback ports.

mod common;

use std::collections::BTreeMap;

use ccx_model::rows::{ChurnAlert, FinalRows, AGENT_COLUMNS, QUEUE_COLUMNS, REASON_COLUMNS};
use ccx_store::schema::{self, Step, TABLES, VIEWS};
use ccx_store::testing::ClickHouseServer;
use ccx_store::{RowBatch, Store, StoreError};
use common::*;
use serde_json::Value;

async fn start() -> (ClickHouseServer, Store) {
    let (server, config) = ClickHouseServer::start();
    let store = Store::connect(&config).await.expect("connect");
    (server, store)
}

#[tokio::test]
async fn migrate_creates_the_schema_once() {
    let (server, store) = start().await;
    assert!(
        store.server_version().split('.').count() >= 3,
        "version {}",
        store.server_version()
    );
    eprintln!("ClickHouse {}", store.server_version());

    let applied = store.migrate().await.expect("migrate");
    assert_eq!(
        applied,
        [
            "tables",
            "kpi_views",
            "backfills",
            "v2_components",
            "live_floor",
            "staffing",
            "alert_events"
        ]
    );

    let objects = store
        .query_json("SELECT name, engine FROM system.tables WHERE database = 'ccx' ORDER BY name")
        .await
        .unwrap();
    let engines: BTreeMap<String, String> = objects
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().into(),
                o["engine"].as_str().unwrap().into(),
            )
        })
        .collect();
    for table in TABLES {
        assert_eq!(
            engines.get(table).map(String::as_str),
            Some("ReplacingMergeTree"),
            "{table}"
        );
    }
    for view in VIEWS {
        assert_eq!(
            engines.get(view).map(String::as_str),
            Some("View"),
            "{view}"
        );
    }
    assert!(engines.contains_key("schema_migrations"));
    assert_eq!(engines.len(), TABLES.len() + VIEWS.len() + 1, "{engines:?}");

    // Column types of SPEC §5 and the ms twins of DateTime columns.
    let columns = store
        .query_json(
            "SELECT table, name, type FROM system.columns WHERE database = 'ccx' \
             AND table IN ('queue_metrics_1m', 'agent_metrics_1m', 'reason_metrics_1m', \
             'churn_alerts', 'queue_now', 'events')",
        )
        .await
        .unwrap();
    let types: BTreeMap<(String, String), String> = columns
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            ((s("table"), s("name")), s("type"))
        })
        .collect();
    let ty = |table: &str, column: &str| {
        types
            .get(&(table.to_string(), column.to_string()))
            .cloned()
            .unwrap_or_else(|| panic!("{table}.{column} missing"))
    };
    assert_eq!(ty("queue_metrics_1m", "window_start"), "DateTime('UTC')");
    assert_eq!(ty("queue_metrics_1m", "offered"), "UInt64");
    assert_eq!(ty("queue_metrics_1m", "sentiment_milli_sum"), "Int64");
    assert_eq!(ty("queue_metrics_1m", "version"), "UInt64");
    assert_eq!(ty("queue_metrics_1m", "direction"), "String");
    assert!(!types.contains_key(&("agent_metrics_1m".into(), "offered".into())));
    assert_eq!(ty("agent_metrics_1m", "handled"), "UInt64");
    // SPEC §7.2: the new components, the agent-only QA ones, the reason table.
    assert_eq!(ty("queue_metrics_1m", "callbacks_requested"), "UInt64");
    assert_eq!(ty("queue_metrics_1m", "first_call_closes"), "UInt64");
    assert!(!types.contains_key(&("queue_metrics_1m".into(), "qa_score_sum".into())));
    assert_eq!(ty("agent_metrics_1m", "mos_milli_sum"), "UInt64");
    assert_eq!(ty("agent_metrics_1m", "qa_score_sum"), "UInt64");
    assert!(!types.contains_key(&("agent_metrics_1m".into(), "repeats".into())));
    assert_eq!(ty("reason_metrics_1m", "reason"), "String");
    assert_eq!(ty("reason_metrics_1m", "window_start"), "DateTime('UTC')");
    for c in REASON_COLUMNS {
        assert_eq!(ty("reason_metrics_1m", c), "UInt64", "{c}");
    }
    assert!(!types.contains_key(&("reason_metrics_1m".into(), "talk_ms".into())));
    // Components in SPEC order, `version` last, as in a table created whole.
    let queue = column_names(&store, "ccx.queue_metrics_1m").await;
    assert_eq!(&queue[5..queue.len() - 1], QUEUE_COLUMNS);
    let agent = column_names(&store, "ccx.agent_metrics_1m").await;
    assert_eq!(&agent[4..agent.len() - 1], AGENT_COLUMNS);
    let reason = column_names(&store, "ccx.reason_metrics_1m").await;
    assert_eq!(&reason[5..reason.len() - 1], REASON_COLUMNS);
    assert_eq!(reason.last().map(String::as_str), Some("version"));
    assert_eq!(ty("churn_alerts", "reasons"), "Array(String)");
    assert_eq!(ty("churn_alerts", "triggered_at_ms"), "UInt64");
    assert_eq!(ty("queue_now", "as_of_ms"), "UInt64");
    assert_eq!(ty("queue_now", "agents_needed"), "Nullable(UInt32)");
    assert_eq!(ty("events", "occurred_at"), "DateTime('UTC')");
    assert_eq!(ty("events", "payload"), "String");

    // Again, and from a second connection: nothing to do.
    assert!(store.migrate().await.unwrap().is_empty());
    let config = ccx_config::ClickHouseConfig {
        url: server.url(),
        ..Default::default()
    };
    let other = Store::connect(&config).await.unwrap();
    assert!(other.migrate().await.unwrap().is_empty());
    let recorded = store
        .query_json("SELECT version, name FROM ccx.schema_migrations FINAL ORDER BY version")
        .await
        .unwrap();
    assert_eq!(
        recorded,
        vec![
            serde_json::json!({"version": 1, "name": "tables"}),
            serde_json::json!({"version": 2, "name": "kpi_views"}),
            serde_json::json!({"version": 3, "name": "backfills"}),
            serde_json::json!({"version": 4, "name": "v2_components"}),
            serde_json::json!({"version": 5, "name": "live_floor"}),
            serde_json::json!({"version": 6, "name": "staffing"}),
            serde_json::json!({"version": 7, "name": "alert_events"}),
        ]
    );
}

/// The columns of a table or view, in order, with their types (`DESCRIBE TABLE`: 18.16's
/// `system.columns` has no position).
async fn described(store: &Store, table: &str) -> Vec<(String, String)> {
    store
        .query_json(&format!("DESCRIBE TABLE {table}"))
        .await
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            (s("name"), s("type"))
        })
        .collect()
}

async fn column_names(store: &Store, table: &str) -> Vec<String> {
    described(store, table)
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// Every table and view of `db` (but the migrations record) with its columns in order.
async fn schema_of(store: &Store, db: &str) -> Vec<(String, Vec<(String, String)>)> {
    let names = store
        .query_json(&format!(
            "SELECT name FROM system.tables WHERE database = '{db}' \
             AND name != 'schema_migrations' ORDER BY name"
        ))
        .await
        .unwrap();
    let mut out = Vec::new();
    for name in names {
        let name = name["name"].as_str().unwrap().to_string();
        let columns = described(store, &format!("{db}.{name}")).await;
        out.push((name, columns));
    }
    out
}

/// A database a release before migration 4 created and wrote (migrations 1–3, rows without
/// the new columns) is upgraded in place by `ccx migrate`: the old rows read back with zeros
/// in the new columns, rows written after it with every component, `FINAL` keeps the highest
/// version across old and new parts, and the schema ends as a new database's.
#[tokio::test]
async fn an_existing_database_is_upgraded_in_place() {
    let (server, config) = ClickHouseServer::start();
    let store = Store::connect(&config).await.unwrap();
    assert_eq!(
        store.migrate_to(3).await.unwrap(),
        ["tables", "kpi_views", "backfills"]
    );
    assert!(store.migrate_to(3).await.unwrap().is_empty());
    let (old, new) = upgrade_scenario();
    for (sql, body) in v1_inserts(&old, "ccx") {
        store.query_json(&format!("{sql}\n{body}")).await.unwrap();
    }
    // What the old release reads back.
    let before = store
        .query_json("SELECT count() AS n FROM ccx.queue_metrics_1m FINAL")
        .await
        .unwrap();
    assert_eq!(before[0]["n"], 5);
    // An earlier attempt stopped after altering the queue table.
    let m4 = &schema::migrations("ccx")[3];
    let Step::AddColumns(queue) = &m4.steps[0] else {
        panic!("migration 4 starts with the queue columns")
    };
    store
        .query_json(&queue.statement(&[]).unwrap())
        .await
        .unwrap();

    assert_eq!(
        store.migrate().await.unwrap(),
        ["v2_components", "live_floor", "staffing", "alert_events"]
    );
    assert!(store.migrate().await.unwrap().is_empty());

    // Old rows: zeros in the new columns.
    assert_eq!(
        store.read_final(None).await.unwrap(),
        expected_final(&as_v1(&old), None)
    );
    let zeros = store
        .query_json(
            "SELECT sum(mos_count) + sum(repeats) + sum(first_call_closes) AS q FROM \
             ccx.queue_metrics_1m FINAL",
        )
        .await
        .unwrap();
    assert_eq!(zeros[0]["q"], 0);

    // New rows of t1 (every component, reason rows), a stale copy after them.
    for batch in &new {
        store.write(batch).await.unwrap();
    }
    let want = expected_after_upgrade();
    assert_eq!(store.read_final(None).await.unwrap(), want);
    assert!(want.reason.keys().all(|k| k.tenant_id == "t1") && !want.reason.is_empty());
    assert!(want.queue.values().any(|c| c.mos_count > 0));
    // t2's queue and agent rows are those written before the upgrade.
    let t2 = store.read_final(Some("t2")).await.unwrap();
    assert_eq!(t2, want.of_tenant("t2"));
    assert_eq!(t2.queue, expected_final(&as_v1(&old), Some("t2")).queue);
    assert_eq!(t2.agent, expected_final(&as_v1(&old), Some("t2")).agent);
    // Merged parts (old and new columns) answer the same.
    for table in TABLES {
        store
            .query_json(&format!("OPTIMIZE TABLE ccx.{table} FINAL"))
            .await
            .unwrap();
    }
    assert_eq!(store.read_final(None).await.unwrap(), want);

    // The same schema as a database created by this release.
    let mut fresh_config = config.clone();
    fresh_config.database = "fresh".into();
    let fresh = Store::connect(&fresh_config).await.unwrap();
    fresh.migrate().await.unwrap();
    let (upgraded, created) = (
        schema_of(&store, "ccx").await,
        schema_of(&store, "fresh").await,
    );
    assert_eq!(upgraded.len(), TABLES.len() + VIEWS.len());
    assert_eq!(upgraded, created);

    // The replaced views on an upgraded database: the KPI example, its stale copy (version
    // 0) written before the upgrade.
    let mut kpi_config = config.clone();
    kpi_config.database = "kpis".into();
    let kpis = Store::connect(&kpi_config).await.unwrap();
    kpis.migrate_to(3).await.unwrap();
    let scenario = kpi_scenario();
    for (sql, body) in v1_inserts(&scenario[1], "kpis") {
        kpis.query_json(&format!("{sql}\n{body}")).await.unwrap();
    }
    kpis.migrate().await.unwrap();
    kpis.write(&scenario[0]).await.unwrap();
    let mut answers = Vec::new();
    for sql in kpi_queries("kpis") {
        answers.push(kpis.query_json(&sql).await.unwrap());
    }
    check_kpis(
        &format!("ClickHouse {} (upgraded)", store.server_version()),
        &answers,
    );
    drop(server);
}

#[tokio::test]
async fn a_written_batch_reads_back_exactly() {
    let (_server, store) = start().await;
    store.migrate().await.unwrap();
    let empty = store.read_final(None).await.unwrap();
    assert_eq!(empty, FinalRows::default());

    let batch = full_batch(100);
    store.write(&batch).await.expect("write");
    // Writing an empty batch is a no-op.
    store.write(&RowBatch::default()).await.unwrap();

    let all = store.read_final(None).await.unwrap();
    assert_eq!(all, expected_final(&batch, None));
    assert_eq!(all.queue.len(), 5);
    // Reason rows, also the one without a reason, with every reason column.
    assert_eq!(all.reason.len(), 5);
    assert!(all.reason.keys().any(|k| k.reason.is_empty()));
    assert_eq!(
        all.reason[&reason_key("t2", 0, "billing", "VOICE", "INBOUND")],
        billing_minute()
    );
    let reasons = store
        .query_json(
            "SELECT reason, channel, direction, toString(window_start) AS at, offered, \
             case_resolution_ms, version FROM ccx.reason_metrics_1m FINAL \
             WHERE tenant_id = 't1' ORDER BY window_start, reason, channel, direction",
        )
        .await
        .unwrap();
    assert_eq!(reasons.len(), 4);
    assert_eq!(
        reasons[1],
        serde_json::json!({"reason": "billing", "channel": "VOICE", "direction": "INBOUND",
            "at": "2026-01-01 00:00:00", "offered": 6, "case_resolution_ms": 5_400_000,
            "version": 100})
    );
    // New queue and agent components.
    let q1 = &all.queue[&queue_key("t1", 0, "q1", "VOICE", "INBOUND")];
    assert_eq!((q1.callbacks_requested, q1.mos_milli_sum), (2, 15_200));
    assert_eq!(
        all.agent[&agent_key("t1", 0, "a1", "VOICE")].qa_score_sum,
        170
    );
    assert_eq!(all.alerts.len(), 3);
    // Sorted by tenant, then alert id.
    assert_eq!(all.alerts[0].alert_id, "t1:cust-1:e1");
    assert_eq!(all.alerts[0].triggered_at, T0 + 61_999);
    assert_eq!(all.alerts[1].triggered_at, T0 + 1_234);
    assert_eq!(
        store.read_final(Some("t1")).await.unwrap(),
        expected_final(&batch, Some("t1"))
    );
    assert_eq!(
        store.read_final(Some("t2")).await.unwrap(),
        expected_final(&batch, Some("t2"))
    );
    assert_eq!(
        store.read_final(Some("nobody")).await.unwrap(),
        FinalRows::default()
    );

    let mut now_t1 = store.read_queue_now("t1").await.unwrap();
    assert_eq!(now_t1.len(), 2);
    now_t1.sort();
    let mut want: Vec<_> = batch
        .queue_now
        .iter()
        .filter(|q| q.tenant_id == "t1")
        .cloned()
        .collect();
    want.sort();
    assert_eq!(now_t1, want);
    assert_eq!(
        store.read_queue_now("t2").await.unwrap(),
        vec![batch.queue_now[2].clone()]
    );
    assert_eq!(
        store.read_agent_now("t1").await.unwrap(),
        batch.agent_now[..2].to_vec()
    );
    assert_eq!(
        store.read_agent_now("t2").await.unwrap(),
        batch.agent_now[2..].to_vec()
    );
    assert_eq!(
        store.read_staffing("t1").await.unwrap(),
        batch.staffing[..2].to_vec()
    );
    assert_eq!(
        store.read_staffing("t2").await.unwrap(),
        batch.staffing[2..].to_vec()
    );

    // DateTime columns hold the second, the *_ms twins the millisecond.
    let alerts = store
        .query_json(
            "SELECT alert_id, toUnixTimestamp(triggered_at) AS s, triggered_at_ms, reasons \
             FROM ccx.churn_alerts FINAL WHERE tenant_id = 't1' ORDER BY alert_id",
        )
        .await
        .unwrap();
    assert_eq!(alerts[0]["s"], (T0 + 61_999) / 1000);
    assert_eq!(alerts[0]["triggered_at_ms"], T0 + 61_999);
    assert_eq!(
        alerts[0]["reasons"],
        serde_json::json!(["NPS_DETRACTOR", "REPEAT_CONTACT"])
    );

    let events = store
        .query_json(
            "SELECT tenant_id, event_id, type, toString(occurred_at) AS at, occurred_at_ms, \
             contact_id, customer_id, channel, direction, queue_id, agent_id, payload, version \
             FROM ccx.events FINAL ORDER BY tenant_id, event_id",
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 3);
    let survey_row = &events[1];
    assert_eq!(survey_row["event_id"], "e2");
    assert_eq!(survey_row["type"], "SURVEY_RESPONDED");
    assert_eq!(survey_row["at"], "2026-01-01 00:01:30");
    assert_eq!(survey_row["occurred_at_ms"], T0 + 90_001);
    assert_eq!(survey_row["channel"], "VOICE");
    assert_eq!(survey_row["direction"], "INBOUND");
    assert_eq!(survey_row["agent_id"], "a1");
    assert_eq!(survey_row["version"], 100);
    let payload: Value = serde_json::from_str(survey_row["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload, ccx_model::json::event_to_json(&batch.events[1]));
    assert_eq!(payload["score"], 3);
    assert_eq!(events[2]["tenant_id"], "t2");
}

/// What `ccx backfill` reads and writes: a tenant's progress, its events from an instant on
/// with each agent's newest earlier state change, rows of a range of minutes, and backfill
/// records replaced by newer ones.
#[tokio::test]
async fn what_a_backfill_reads_and_writes() {
    use ccx_store::RowFilter;
    let (_server, store) = start().await;
    store.migrate().await.unwrap();
    assert_eq!(store.tenant_watermark("t1").await.unwrap(), None);
    let mut batch = full_batch(100);
    let state = |id: &str, agent: &str, at: i64| {
        let mut e = event("t1", id, ccx_model::EventType::AgentStateChanged, at);
        e.agent_id = agent.into();
        e.agent_state = ccx_model::AgentState::Available as i32;
        e
    };
    // a7's newest change before T0 + 10 ms is s2; a8's is s3; s4 is after it.
    batch.events.extend([
        state("s1", "a7", T0 - 5 * MINUTE),
        state("s2", "a7", T0 - MINUTE),
        state("s3", "a8", T0 - 2 * MINUTE),
        state("s4", "a8", T0 + 2 * MINUTE),
    ]);
    store.write(&batch).await.unwrap();
    store.write(&replaced(200)).await.unwrap();
    assert_eq!(
        store.tenant_watermark("t1").await.unwrap(),
        Some(T0 + 180_500)
    );

    let ids = |events: &[ccx_model::Event]| -> Vec<String> {
        events.iter().map(|e| e.event_id.clone()).collect()
    };
    let events = store.read_events("t1", T0 + 10).await.unwrap();
    assert_eq!(ids(&events), ["s3", "s2", "e1", "e2", "s4"]);
    // The stored payload reads back as the event (the newest version of it).
    let e1 = events.iter().find(|e| e.event_id == "e1").unwrap();
    assert_eq!(e1.reason, "billing");
    assert_eq!(e1, &replaced(0).events[0]);
    assert_eq!(ids(&store.read_events("t2", 0).await.unwrap()), ["e1"]);

    // Rows of minutes [T0, T0 + 2 min) of t1, alerts triggered then.
    let filter = RowFilter {
        tenant: Some("t1"),
        between_ms: Some((T0, T0 + 2 * MINUTE)),
    };
    let some = store.read_final_where(&filter).await.unwrap();
    let mut want = expected_final(&replaced(200), Some("t1"));
    want.queue.retain(|k, _| k.window_start < T0 + 2 * MINUTE);
    want.agent.retain(|k, _| k.window_start < T0 + 2 * MINUTE);
    want.agent_state
        .retain(|k, _| k.window_start < T0 + 2 * MINUTE);
    want.quality.retain(|(_, m), _| *m < T0 + 2 * MINUTE);
    want.reason.retain(|k, _| k.window_start < T0 + 2 * MINUTE);
    want.alerts.retain(|a| a.triggered_at < T0 + 2 * MINUTE);
    assert_eq!(some, want);
    assert!(!some.queue.is_empty() && !some.alerts.is_empty());
    // Reason rows of the range only (t1 has one at minute 4).
    assert_eq!(some.reason.len(), 3);

    store
        .record_backfill("t2", &[(T0, 1), (T0 + MINUTE, 2)], T0, 1)
        .await
        .unwrap();
    store
        .record_backfill("t2", &[(T0 + MINUTE, 5)], T0, 2)
        .await
        .unwrap();
    let covered = store
        .query_json(
            "SELECT toUInt32(window_start) AS s, late_covered FROM ccx.backfills FINAL \
             WHERE tenant_id = 't2' ORDER BY s",
        )
        .await
        .unwrap();
    let start = (T0 / 1000) as u64;
    assert_eq!(
        covered,
        vec![
            serde_json::json!({"s": start, "late_covered": 1}),
            serde_json::json!({"s": start + 60, "late_covered": 5}),
        ]
    );
}

#[tokio::test]
async fn newer_versions_replace_older_ones() {
    let (_server, store) = start().await;
    store.migrate().await.unwrap();
    store.write(&full_batch(10)).await.unwrap();

    // The same keys with other values and a higher version.
    let v2 = replaced(20);
    store.write(&v2).await.unwrap();
    assert_eq!(
        store.read_final(None).await.unwrap(),
        expected_final(&v2, None)
    );

    // A lower version written later does not win.
    store.write(&stale(15)).await.unwrap();
    assert_eq!(
        store.read_final(None).await.unwrap(),
        expected_final(&v2, None)
    );
    let mut now = store.read_queue_now("t1").await.unwrap();
    now.sort();
    let mut want: Vec<_> = v2
        .queue_now
        .iter()
        .filter(|q| q.tenant_id == "t1")
        .cloned()
        .collect();
    want.sort();
    assert_eq!(now, want);

    // A retraction: a key recomputed to zero is written as a zero row and disappears.
    let v3 = retraction(30);
    store.write(&v3).await.unwrap();
    let mut want = expected_final(&v2, None);
    want.queue.remove(&v3.queue[0].0);
    assert!(want.reason.remove(&v3.reason[0].0).is_some());
    assert_eq!(store.read_final(None).await.unwrap(), want);

    // Merging the parts keeps the same answer.
    for table in TABLES {
        store
            .query_json(&format!("OPTIMIZE TABLE ccx.{table} FINAL"))
            .await
            .unwrap();
    }
    assert_eq!(store.read_final(None).await.unwrap(), want);
    let events = store
        .query_json(
            "SELECT event_id, queue_id, payload, version FROM ccx.events FINAL \
             WHERE tenant_id = 't1' ORDER BY event_id",
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["version"], 20);
    assert_eq!(events[0]["queue_id"], "q1");
    assert!(events[0]["payload"]
        .as_str()
        .unwrap()
        .contains("\"reason\":\"billing\""));
    let rows = store
        .query_json("SELECT count() AS n FROM ccx.queue_metrics_1m")
        .await
        .unwrap();
    assert_eq!(rows[0]["n"], 5, "one row per key after OPTIMIZE … FINAL");
}

#[tokio::test]
async fn kpi_views_compute_the_spec_ratios() {
    let (_server, store) = start().await;
    store.migrate().await.unwrap();
    for batch in kpi_scenario() {
        store.write(&batch).await.unwrap();
    }

    let mut answers = Vec::new();
    for sql in kpi_queries("ccx") {
        answers.push(store.query_json(&sql).await.unwrap());
    }
    check_kpis(&format!("ClickHouse {}", store.server_version()), &answers);

    // Types: KPIs are Nullable(Float64).
    let columns = store
        .query_json(
            "SELECT name, type FROM system.columns WHERE database = 'ccx' \
             AND (table = 'queue_kpis_1m' AND name IN ('asa_ms', 'nps', 'sentiment', \
             'repeat_rate_pct', 'mos', 'calls_per_account', 'first_call_close_pct') \
             OR table = 'agent_kpis_1m' AND name IN ('qa_score', 'poor_quality_pct') \
             OR table = 'reason_kpis_1m' AND name IN ('fcr_pct', 'art_ms', 'ces'))",
        )
        .await
        .unwrap();
    assert_eq!(columns.len(), 12);
    for c in columns {
        assert_eq!(c["type"], "Nullable(Float64)", "{c}");
    }
}

#[tokio::test]
async fn errors_name_the_table_and_the_server_message() {
    let (server, mut config) = ClickHouseServer::start();
    config.database = "not_migrated".into();
    let store = Store::connect(&config).await.unwrap();
    let err = store.write(&kpi_batch(1)).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Refused { .. }), "{text}");
    assert!(text.contains("not_migrated."), "{text}");
    assert!(
        text.contains("doesn't exist") || text.contains("does not exist"),
        "{text}"
    );
    let err = store.query_json("SELECT nonsense(").await.unwrap_err();
    assert!(err.to_string().contains("Syntax error"), "{err}");

    config.database = "bad name".into();
    assert!(matches!(
        Store::connect(&config).await,
        Err(StoreError::Config(_))
    ));

    let port = server.http_port;
    drop(server);
    config.database = "ccx".into();
    config.url = format!("http://127.0.0.1:{port}");
    let err = Store::connect(&config).await.unwrap_err();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err}");
}

/// Two `ccx migrate` upgrading one database at the same moment (two pods of a release, say)
/// both succeed, and the schema is a new database's.
#[tokio::test]
async fn concurrent_upgrades_both_succeed() {
    let (_server, config) = ClickHouseServer::start();
    let first = Store::connect(&config).await.unwrap();
    first.migrate_to(3).await.unwrap();
    let second = Store::connect(&config).await.unwrap();
    let (a, b) = tokio::join!(first.migrate(), second.migrate());
    let (a, b) = (a.expect("first migrate"), b.expect("second migrate"));
    let mut both: Vec<_> = a.iter().chain(&b).cloned().collect();
    both.sort();
    both.dedup();
    assert_eq!(
        both,
        ["alert_events", "live_floor", "staffing", "v2_components"],
        "{a:?} {b:?}"
    );
    let mut fresh_config = config.clone();
    fresh_config.database = "fresh".into();
    Store::connect(&fresh_config)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap();
    assert_eq!(
        schema_of(&first, "ccx").await,
        schema_of(&first, "fresh").await
    );
}

/// A transition written twice (a leader that wrote it and died before recording it, then its
/// successor) is one row; `FINAL` answers every transition of the tenant and no other's.
#[tokio::test]
async fn alert_events_are_written_once_per_transition() {
    let (_server, store) = start().await;
    store.migrate().await.unwrap();
    let events = alert_events_scenario();
    store.write_alert_events(&events[..2]).await.unwrap();
    store.write_alert_events(&events).await.unwrap();
    store.write_alert_events(&[]).await.unwrap();
    let read = store.read_alert_events("acme").await.unwrap();
    let mut expected: Vec<_> = events
        .iter()
        .filter(|e| e.tenant_id == "acme")
        .cloned()
        .collect();
    expected.sort_by(|a, b| (&a.alert_id, a.at_ms).cmp(&(&b.alert_id, b.at_ms)));
    assert_eq!(read, expected);
    let rows = store
        .query_json("SELECT count() AS n FROM ccx.alert_events FINAL")
        .await
        .unwrap();
    assert_eq!(rows[0]["n"], events.len(), "{rows:?}");
}

/// A backfill withdraws churn alerts: every version of the named alerts of one tenant goes,
/// the same ids of another tenant and the tenant's other alerts stay, and the call returns
/// once a read no longer sees them.
#[tokio::test]
async fn withdrawn_alerts_are_deleted_before_the_call_returns() {
    let (_server, store) = start().await;
    store.migrate().await.unwrap();
    let alerts = |version| RowBatch {
        version,
        alerts: vec![
            alert("t1", 1, T0),
            alert("t1", 2, T0 + MINUTE),
            alert("t1", 3, T0 + 2 * MINUTE),
            // The id of one of t1's alerts, in another tenant.
            ChurnAlert {
                tenant_id: "t2".into(),
                ..alert("t1", 1, T0)
            },
        ],
        ..RowBatch::default()
    };
    store.write(&alerts(1)).await.unwrap();
    store.write(&alerts(2)).await.unwrap();
    let id = |n: u32| alert("t1", n, T0).alert_id;
    store.delete_alerts("t1", &[id(1), id(3)]).await.unwrap();
    store.delete_alerts("t1", &[]).await.unwrap();
    let left: std::collections::BTreeSet<(String, String)> = store
        .read_final(None)
        .await
        .unwrap()
        .alerts
        .into_iter()
        .map(|a| (a.tenant_id, a.alert_id))
        .collect();
    let want = [("t1".to_string(), id(2)), ("t2".to_string(), id(1))];
    assert_eq!(left, want.into_iter().collect());
}
