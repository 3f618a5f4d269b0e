//! The same DDL, inserts and views on a current ClickHouse engine (chdb-core, in process via
//! `tests/store/chdb_run.py`), compared with the hand-computed KPIs and with what the
//! `clickhouse-server` of this machine (18.16) stores for the same batches.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ccx_model::rows::{AGENT_COLUMNS, QUEUE_COLUMNS};
use ccx_store::schema::{self, Step, TABLES};
use ccx_store::testing::ClickHouseServer;
use ccx_store::{RowBatch, Store};
use common::*;
use serde_json::{json, Value};

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn runner() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/store/chdb_run.py")
}

fn chdb_importable() -> Result<(), String> {
    let output = Command::new(python())
        .arg(runner())
        .arg("--check")
        .output()
        .map_err(|e| format!("{}: {e}", python()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// chdb-core importable, installing it with pip if needed; Err says why it cannot be.
fn ensure_chdb() -> Result<(), String> {
    if chdb_importable().is_ok() {
        return Ok(());
    }
    let install = Command::new(python())
        .args(["-m", "pip", "install", "--quiet", "chdb-core"])
        .output()
        .map_err(|e| format!("{} -m pip: {e}", python()))?;
    if !install.status.success() {
        return Err(format!(
            "pip install chdb-core failed: {}",
            String::from_utf8_lossy(&install.stderr).trim()
        ));
    }
    chdb_importable()
}

/// Runs a plan (see `tests/store/chdb_run.py`) and returns the engine version and answers.
fn run_chdb(plan: &Value) -> (String, Vec<Vec<Value>>) {
    let mut child = Command::new(python())
        .arg(runner())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "chdb: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON from chdb_run.py");
    let engine = answer["engine"].as_str().unwrap().to_string();
    let results = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect();
    (engine, results)
}

/// The statements `ccx migrate` sends for the migrations from `first` to `last` when the
/// columns they add are missing (`fresh`), or when they exist already (a second run).
fn migration_statements(db: &str, first: u32, last: u32, fresh: bool) -> Vec<String> {
    schema::migrations(db)
        .into_iter()
        .filter(|m| (first..=last).contains(&m.version))
        .flat_map(|m| m.steps)
        .filter_map(|step| match step {
            Step::Sql(sql) => Some(sql),
            Step::AddColumns(add) => {
                let existing: Vec<String> = if fresh {
                    Vec::new()
                } else {
                    add.columns.iter().map(|(c, _)| c.to_string()).collect()
                };
                add.statement(&existing)
            }
        })
        .collect()
}

fn sql_steps(statements: &[String]) -> Vec<Value> {
    statements.iter().map(|sql| json!({ "sql": sql })).collect()
}

/// Creating the schema, twice (every step must be idempotent).
fn schema_steps(db: &str) -> Vec<Value> {
    let mut statements = schema::bootstrap(db);
    statements.extend(migration_statements(db, 1, u32::MAX, true));
    statements.extend(schema::bootstrap(db));
    statements.extend(migration_statements(db, 1, u32::MAX, false));
    sql_steps(&statements)
}

/// A database as a release before migration 4 left it: migrations 1–3 and `batches` written
/// the way it wrote them.
fn v1_database_steps(db: &str, batches: &[RowBatch]) -> Vec<Value> {
    let mut statements = schema::bootstrap(db);
    statements.extend(migration_statements(db, 1, 3, true));
    let mut steps = sql_steps(&statements);
    for batch in batches {
        for (sql, body) in v1_inserts(batch, db) {
            steps.push(json!({ "sql": sql, "body": body }));
        }
    }
    steps
}

/// Migrations 4 onward on a database at migration 3, and once more (nothing left to add).
fn upgrade_steps(db: &str) -> Vec<Value> {
    let mut statements = migration_statements(db, 4, u32::MAX, true);
    statements.extend(migration_statements(db, 4, u32::MAX, false));
    sql_steps(&statements)
}

/// The tables and views whose columns an upgrade changes.
const UPGRADED: [&str; 6] = [
    "queue_metrics_1m",
    "agent_metrics_1m",
    "reason_metrics_1m",
    "queue_kpis_1m",
    "agent_kpis_1m",
    "reason_kpis_1m",
];

/// Their columns, in order (`DESCRIBE TABLE`: 18.16's `system.columns` has no position).
fn describe_queries(db: &str) -> Vec<String> {
    UPGRADED
        .iter()
        .map(|t| format!("DESCRIBE TABLE {db}.{t}"))
        .collect()
}

/// `(name, type)` of a `DESCRIBE TABLE` answer (the other fields differ between versions).
fn names_and_types(answer: &[Value]) -> Vec<(String, String)> {
    answer
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            (s("name"), s("type"))
        })
        .collect()
}

fn insert_steps(batches: &[RowBatch], db: &str) -> Vec<Value> {
    batches
        .iter()
        .flat_map(|b| b.inserts(db))
        .map(|i| json!({ "sql": i.query, "body": i.body }))
        .collect()
}

/// Every table a [`RowBatch`] writes (`backfills` is written by `ccx backfill` alone and
/// `alert_events` by the control plane; their own tests cover them).
fn final_queries(db: &str) -> Vec<String> {
    TABLES
        .iter()
        .filter(|t| !["backfills", "alert_events"].contains(t))
        .map(|t| {
            format!(
                "SELECT * FROM {db}.{t} FINAL ORDER BY {}",
                schema::table_key(t)
            )
        })
        .collect()
}

#[tokio::test]
async fn the_schema_runs_on_a_current_engine_too() {
    if let Err(why) = ensure_chdb() {
        eprintln!("SKIPPED: chdb-core (a current ClickHouse engine) cannot be installed: {why}");
        return;
    }
    let mut steps = schema_steps("ccx");
    steps.extend(insert_steps(&kpi_scenario(), "ccx"));
    steps.extend(schema_steps("ccx_versions"));
    steps.extend(insert_steps(&version_scenario(), "ccx_versions"));
    let mut queries: Vec<String> = kpi_queries("ccx").into();
    queries.extend(final_queries("ccx_versions"));
    let (engine, results) = run_chdb(&json!({ "steps": steps, "queries": queries }));
    eprintln!("chdb engine {engine}");
    assert_eq!(results.len(), 4 + final_queries("ccx_versions").len());
    let major: u32 = engine.split('.').next().unwrap().parse().unwrap();
    assert!(major >= 24, "chdb engine {engine} is not a current release");

    check_kpis(&format!("chdb {engine}"), &results[..4]);

    // The same batches through the store into the 18.16 server: identical rows under FINAL.
    let (_server, mut config) = ClickHouseServer::start();
    config.database = "ccx_versions".into();
    let store = Store::connect(&config).await.unwrap();
    store.migrate().await.unwrap();
    for batch in version_scenario() {
        store.write(&batch).await.unwrap();
    }
    for (query, current) in final_queries("ccx_versions").iter().zip(&results[4..]) {
        let old = store.query_json(query).await.unwrap();
        assert!(!old.is_empty(), "{query}");
        assert_eq!(
            &old,
            current,
            "{query}: ClickHouse {} and chdb {engine} differ",
            store.server_version()
        );
    }
}

/// Migration 4 upgrades a database in place on a current engine as on 18.16: rows written
/// before it (without the new columns) read back with zeros there, rows written after it
/// with every component, `FINAL` keeps the highest version across both; the tables end with
/// the columns of a new database, and the replaced views compute every KPI.
#[tokio::test]
async fn an_existing_database_is_upgraded_in_place_on_a_current_engine_too() {
    if let Err(why) = ensure_chdb() {
        eprintln!("SKIPPED: chdb-core (a current ClickHouse engine) cannot be installed: {why}");
        return;
    }
    let (old, new) = upgrade_scenario();
    let kpis = kpi_scenario();
    let mut steps = v1_database_steps("upgraded", std::slice::from_ref(&old));
    steps.extend(upgrade_steps("upgraded"));
    steps.extend(insert_steps(&new, "upgraded"));
    // The KPI example: its stale copy (version 0) written before the upgrade.
    steps.extend(v1_database_steps("kpis", &kpis[1..]));
    steps.extend(upgrade_steps("kpis"));
    steps.extend(insert_steps(&kpis[..1], "kpis"));
    steps.extend(schema_steps("fresh"));

    let mut queries = final_queries("upgraded");
    queries.extend(kpi_queries("kpis"));
    queries.extend(describe_queries("upgraded"));
    queries.extend(describe_queries("fresh"));
    let (engine, results) = run_chdb(&json!({ "steps": steps, "queries": queries }));
    let tables = final_queries("upgraded").len();
    let n = UPGRADED.len();
    assert_eq!(results.len(), tables + 4 + 2 * n);
    check_kpis(
        &format!("chdb {engine} (upgraded)"),
        &results[tables..tables + 4],
    );

    // Same columns, same order, as a new database; the new ones before `version`.
    let described: Vec<Vec<(String, String)>> = results[tables + 4..]
        .iter()
        .map(|r| names_and_types(r))
        .collect();
    let (upgraded, fresh) = described.split_at(n);
    assert_eq!(
        upgraded, fresh,
        "chdb {engine}: upgraded and new schemas differ"
    );
    let names = |i: usize| -> Vec<String> { upgraded[i].iter().map(|(c, _)| c.clone()).collect() };
    let queue = names(0);
    assert_eq!(&queue[5..queue.len() - 1], QUEUE_COLUMNS);
    let agent = names(1);
    assert_eq!(&agent[4..agent.len() - 1], AGENT_COLUMNS);
    assert_eq!(agent.last().map(String::as_str), Some("version"));

    // The same upgrade on the 18.16 server through the store: identical rows under FINAL,
    // and they are the rows written (old ones with zeros in the new columns).
    let (_server, mut config) = ClickHouseServer::start();
    config.database = "upgraded".into();
    let store = Store::connect(&config).await.unwrap();
    store.migrate_to(3).await.unwrap();
    for (sql, body) in v1_inserts(&old, "upgraded") {
        store.query_json(&format!("{sql}\n{body}")).await.unwrap();
    }
    assert_eq!(
        store.migrate().await.unwrap(),
        [
            "v2_components",
            "live_floor",
            "staffing",
            "alert_events",
            "rollups"
        ]
    );
    for batch in &new {
        store.write(batch).await.unwrap();
    }
    assert_eq!(
        store.read_final(None).await.unwrap(),
        expected_after_upgrade()
    );
    for (query, current) in final_queries("upgraded").iter().zip(&results) {
        let rows = store.query_json(query).await.unwrap();
        assert!(!rows.is_empty(), "{query}");
        assert_eq!(
            &rows,
            current,
            "{query}: ClickHouse {} and chdb {engine} differ",
            store.server_version()
        );
    }
    for (query, current) in describe_queries("upgraded").iter().zip(upgraded) {
        let old_columns = names_and_types(&store.query_json(query).await.unwrap());
        assert_eq!(
            &old_columns, current,
            "{query}: 18.16 and chdb {engine} differ"
        );
    }
}

/// `alert_events` on a current engine: the same inserts, written twice, read back under
/// `FINAL` as on 18.16.
#[tokio::test]
async fn alert_events_on_a_current_engine_too() {
    if let Err(why) = ensure_chdb() {
        eprintln!("SKIPPED: chdb-core (a current ClickHouse engine) cannot be installed: {why}");
        return;
    }
    let events = alert_events_scenario();
    let mut steps = schema_steps("ccx");
    let insert = |events: &[ccx_store::AlertEvent]| {
        let sql = ccx_store::alert_events_insert("ccx", events).unwrap();
        json!({ "sql": sql.query, "body": sql.body })
    };
    steps.push(insert(&events));
    steps.push(insert(&events[..2]));
    let query = "SELECT tenant_id, alert_id, kind, status, at_ms, `by`, note \
                 FROM ccx.alert_events FINAL ORDER BY tenant_id, alert_id, at_ms, status";
    let (engine, results) = run_chdb(&json!({ "steps": steps, "queries": [query] }));
    assert_eq!(results[0].len(), events.len(), "chdb {engine}");

    let (_server, config) = ClickHouseServer::start();
    let store = Store::connect(&config).await.unwrap();
    store.migrate().await.unwrap();
    store.write_alert_events(&events).await.unwrap();
    store.write_alert_events(&events[..2]).await.unwrap();
    assert_eq!(
        store.query_json(query).await.unwrap(),
        results[0],
        "ClickHouse {} and chdb {engine} differ",
        store.server_version()
    );
}

/// A tenant's read database on a current engine: built from the shapes that engine reports,
/// it holds exactly the analytics database's rows of its tenant in every table and KPI view,
/// rows written after it was built included (the users that read it are the 18.16 test's,
/// `tenant_isolation.rs`; on current releases they are granted `SELECT` on it alone).
#[tokio::test]
async fn a_tenants_read_database_holds_its_rows_only_on_a_current_engine_too() {
    use ccx_store::schema::VIEWS;
    use ccx_store::tenants::{self, ident, tenant_database, TableShape};
    if let Err(why) = ensure_chdb() {
        eprintln!("SKIPPED: chdb-core (a current ClickHouse engine) cannot be installed: {why}");
        return;
    }
    let mut setup = schema_steps("ccx");
    setup.extend(insert_steps(&[full_batch(1)], "ccx"));
    let shape_queries: Vec<String> = TABLES
        .iter()
        .flat_map(|t| {
            [
                format!(
                    "SELECT engine_full FROM system.tables WHERE database = 'ccx' AND name = '{t}'"
                ),
                format!("DESCRIBE TABLE ccx.{t}"),
            ]
        })
        .collect();
    let (engine, answers) = run_chdb(&json!({ "steps": setup, "queries": shape_queries }));
    let shapes: Vec<TableShape> = TABLES
        .iter()
        .zip(answers.chunks(2))
        .map(|(t, a)| TableShape {
            name: t.to_string(),
            engine_full: a[0][0]["engine_full"].as_str().unwrap().to_string(),
            columns: a[1]
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect(),
        })
        .collect();

    let tenants = ["t1", "t2"];
    let mut steps = setup;
    for t in tenants {
        steps.extend(sql_steps(&tenants::statements("ccx", t, &shapes, false)));
    }
    steps.extend(insert_steps(&[full_batch(2)], "ccx"));
    let mut queries = Vec::new();
    for t in tenants {
        let own = ident(&tenant_database("ccx", t));
        for (table, shape) in TABLES.iter().zip(&shapes) {
            queries.push(format!("SELECT * FROM {own}.{table} FINAL"));
            queries.push(format!(
                "SELECT {} FROM ccx.{table} FINAL WHERE tenant_id = '{t}'",
                shape.columns.join(", ")
            ));
        }
        for view in VIEWS {
            queries.push(format!("SELECT * FROM {own}.{view}"));
            queries.push(format!("SELECT * FROM ccx.{view} WHERE tenant_id = '{t}'"));
        }
    }
    let (_, results) = run_chdb(&json!({ "steps": steps, "queries": queries }));
    let sorted = |rows: &[Value]| {
        let mut t: Vec<String> = rows.iter().map(Value::to_string).collect();
        t.sort();
        t
    };
    let per_tenant = TABLES.len() + VIEWS.len();
    for (i, pair) in results.chunks(2).enumerate() {
        let tenant = tenants[i / per_tenant];
        let what = &queries[2 * i];
        assert!(
            pair[0].iter().all(|r| r["tenant_id"] == tenant),
            "chdb {engine}: {what} holds another tenant's rows"
        );
        assert_eq!(sorted(&pair[0]), sorted(&pair[1]), "chdb {engine}: {what}");
    }
    let rows: usize = results.iter().step_by(2).map(Vec::len).sum();
    assert!(rows > 0, "the tenants have rows");
}

/// The statements of the cluster layout that a server alone can run (chdb has no cluster
/// and no ZooKeeper): the `<table>_local` tables without replication, created and upgraded
/// by every migration, with their `ON CLUSTER` clause left out.
fn local_table_statements(db: &str) -> Vec<String> {
    let layout = ccx_store::Layout::Cluster {
        cluster: "ccx_cluster".into(),
        replicated: false,
    };
    let mut statements: Vec<String> = schema::bootstrap(db)
        .iter()
        .flat_map(|s| layout.statements(s))
        .collect();
    for step in schema::migrations(db).iter().flat_map(|m| &m.steps) {
        for step in layout.steps(step) {
            statements.extend(match step {
                Step::Sql(sql) => Some(sql),
                Step::AddColumns(add) => add.statement(&[]),
            });
        }
    }
    statements
        .into_iter()
        .filter(|s| {
            let table = ["CREATE TABLE IF NOT EXISTS ", "ALTER TABLE "]
                .iter()
                .find_map(|p| s.strip_prefix(p)?.split_whitespace().next());
            s.starts_with("CREATE DATABASE")
                || table.is_some_and(|t| t.ends_with(ccx_store::layout::LOCAL))
        })
        .map(|s| s.replace(" ON CLUSTER ccx_cluster", ""))
        .collect()
}

#[tokio::test]
async fn the_cluster_layouts_local_tables_and_retention_run_on_a_current_engine_too() {
    if let Err(why) = ensure_chdb() {
        eprintln!("SKIPPED: chdb-core (a current ClickHouse engine) cannot be installed: {why}");
        return;
    }
    let local = local_table_statements("clustered");
    // The migrations table and every table of the schema, each with its added columns.
    assert_eq!(
        local
            .iter()
            .filter(|s| s.starts_with("CREATE TABLE"))
            .count(),
        TABLES.len() + 1
    );
    assert!(local
        .iter()
        .any(|s| s.starts_with("ALTER TABLE clustered.queue_metrics_1m_local\n")));
    let mut steps = sql_steps(&local);

    // Retention on the single-server layout: an old month of a table goes, the rest stays.
    steps.extend(schema_steps("kept"));
    let batch = full_batch(1);
    let mut old = RowBatch {
        version: 1,
        queue: batch.queue.clone(),
        ..RowBatch::default()
    };
    for (key, _) in &mut old.queue {
        key.window_start -= 400 * 86_400_000;
    }
    steps.extend(insert_steps(&[batch.clone(), old.clone()], "kept"));
    let now_ms = batch.queue[0].0.window_start + 10 * 86_400_000;
    let cutoff = ccx_store::retention::cutoff(now_ms, 92);
    let months_query =
        ccx_store::retention::partitions_query("kept", "queue_metrics_1m", "window_start", cutoff);
    let old_month = ccx_store::retention::partitions_query(
        "kept",
        "queue_metrics_1m",
        "window_start",
        i64::MAX / 2_000,
    );
    let (_, before) = run_chdb(&json!({ "steps": steps, "queries": [months_query, old_month] }));
    let months: Vec<u64> = before[0]
        .iter()
        .map(|r| r["month"].as_u64().unwrap())
        .collect();
    assert_eq!(months.len(), 1, "{months:?}");
    assert_eq!(before[1].len(), 2, "two months stored");
    let drop = ccx_store::retention::drop_statement(
        &ccx_store::Layout::Single,
        "kept",
        "queue_metrics_1m",
        months[0] as u32,
    );
    steps.push(json!({ "sql": drop }));
    let count = "SELECT count() AS n FROM kept.queue_metrics_1m".to_string();
    let (_, after) = run_chdb(&json!({ "steps": steps, "queries": [count] }));
    assert_eq!(after[0][0]["n"].as_u64(), Some(batch.queue.len() as u64));
}
