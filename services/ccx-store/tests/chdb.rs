//! The same DDL, inserts and views on a current ClickHouse engine (chdb-core, in process via
//! `tests/store/chdb_run.py`), compared with the hand-computed KPIs and with what the
//! `clickhouse-server` of this machine (18.16) stores for the same batches.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ccx_store::schema::{self, TABLES};
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

/// Creating the schema, twice (every statement must be idempotent).
fn schema_steps(db: &str) -> Vec<Value> {
    let mut statements = schema::bootstrap(db);
    statements.extend(
        schema::migrations(db)
            .into_iter()
            .flat_map(|m| m.statements),
    );
    statements
        .iter()
        .chain(statements.iter())
        .map(|sql| json!({ "sql": sql }))
        .collect()
}

fn insert_steps(batches: &[RowBatch], db: &str) -> Vec<Value> {
    batches
        .iter()
        .flat_map(|b| b.inserts(db))
        .map(|i| json!({ "sql": i.query, "body": i.body }))
        .collect()
}

/// Every table a [`RowBatch`] writes (`backfills` is written by `ccx backfill` alone; the
/// 18.16 tests cover it).
fn final_queries(db: &str) -> Vec<String> {
    TABLES
        .iter()
        .filter(|t| **t != "backfills")
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
    assert_eq!(results.len(), 3 + TABLES.len() - 1);
    let major: u32 = engine.split('.').next().unwrap().parse().unwrap();
    assert!(major >= 24, "chdb engine {engine} is not a current release");

    check_kpis(&format!("chdb {engine}"), &results[..3]);

    // The same batches through the store into the 18.16 server: identical rows under FINAL.
    let (_server, mut config) = ClickHouseServer::start();
    config.database = "ccx_versions".into();
    let store = Store::connect(&config).await.unwrap();
    store.migrate().await.unwrap();
    for batch in version_scenario() {
        store.write(&batch).await.unwrap();
    }
    for (query, current) in final_queries("ccx_versions").iter().zip(&results[3..]) {
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
