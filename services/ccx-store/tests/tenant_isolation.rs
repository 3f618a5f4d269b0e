//! Read-side isolation on a real ClickHouse 18.16 server: each tenant's read user (users.xml,
//! as docs/operations.md sets it up) reads its own tenant's rows, all of them, from every table
//! and KPI view of its database — rows stored before the database was built and rows written
//! after — and nothing else: not the analytics database, not another tenant's, and it writes
//! nothing.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ccx_model::rows::Components;
use ccx_store::schema::{TABLES, VIEWS};
use ccx_store::tenants::{self, tenant_database};
use ccx_store::testing::ClickHouseServer;
use ccx_store::{AlertEvent, Store};
use common::*;
use serde_json::Value;

const TENANTS: [&str; 2] = ["t1", "t2"];

fn user(tenant: &str) -> String {
    format!("read_{tenant}")
}

fn password(tenant: &str) -> String {
    format!("pw-{tenant}")
}

/// One statement as `user`; the rows (JSONEachRow) or ClickHouse's refusal.
async fn query(url: &str, user: &str, password: &str, sql: &str) -> Result<Vec<Value>, String> {
    let answer = reqwest::Client::new()
        .post(url)
        .basic_auth(user, Some(password))
        .body(format!("{sql} FORMAT JSONEachRow"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let ok = answer.status().is_success();
    let text = answer.text().await.map_err(|e| e.to_string())?;
    if !ok {
        return Err(text);
    }
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON row"))
        .collect())
}

/// Rows as sorted JSON texts (order-free comparison).
fn texts(rows: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = rows.iter().map(Value::to_string).collect();
    t.sort();
    t
}

/// Adds the tenants' read users to the server's users.xml and waits until it reloaded them.
async fn add_read_users(server: &ClickHouseServer) {
    let path = server.dir().join("users.xml");
    let mut xml = std::fs::read_to_string(&path).unwrap();
    let users: String = TENANTS
        .iter()
        .map(|t| tenants::users_xml("ccx", t, &user(t), &ccx_model::hash_token(&password(t))))
        .collect();
    xml = xml
        .replacen(
            "</profiles>",
            &format!("{}</profiles>", tenants::READ_PROFILE_XML),
            1,
        )
        .replacen("</users>", &format!("{users}</users>"), 1);
    std::fs::write(&path, xml).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for t in TENANTS {
        while query(&server.url(), &user(t), &password(t), "SELECT 1")
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "users.xml was not reloaded");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test]
async fn a_tenants_read_user_reads_its_own_rows_only() {
    let (server, config) = ClickHouseServer::start();
    let store = Store::connect(&config).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.write(&full_batch(1)).await.expect("write");
    let event = |tenant: &str, at: i64| AlertEvent {
        tenant_id: tenant.into(),
        alert_id: format!("{tenant}:c1:e1"),
        kind: "CHURN".into(),
        status: "OPEN".into(),
        at_ms: T0 + at,
        by: "ccx-stream".into(),
        note: String::new(),
    };
    store
        .write_alert_events(&[event("t1", 1_000), event("t2", 2_000)])
        .await
        .expect("alert events");
    for t in TENANTS {
        let db = store.provision_tenant(t, false).await.expect("provision");
        assert_eq!(db, tenant_database("ccx", t));
        // A second run changes nothing.
        store.provision_tenant(t, false).await.expect("again");
    }
    // Rows written after the databases were built reach their tenant's only.
    let mut later = full_batch(2);
    later.queue.push((
        queue_key("t2", 9, "late", "CHAT", "INBOUND"),
        Components {
            offered: 1,
            ..Default::default()
        },
    ));
    store.write(&later).await.expect("write later");
    add_read_users(&server).await;

    let url = server.url();
    for t in TENANTS {
        let (u, p) = (user(t), password(t));
        let own = tenants::ident(&tenant_database("ccx", t));
        let mut seen = 0;
        for table in TABLES.iter().chain(VIEWS.iter()) {
            let is_table = TABLES.contains(table);
            let fin = if is_table { " FINAL" } else { "" };
            let theirs = query(&url, &u, &p, &format!("SELECT * FROM {own}.{table}{fin}"))
                .await
                .unwrap_or_else(|e| panic!("{u} reads {own}.{table}: {e}"));
            let tenants_seen: BTreeSet<&str> = theirs
                .iter()
                .map(|r| r["tenant_id"].as_str().unwrap())
                .collect();
            assert!(
                tenants_seen.iter().all(|x| *x == t),
                "{u} saw {tenants_seen:?} in {table}"
            );
            // Exactly the analytics database's rows of the tenant.
            let columns = if is_table {
                store
                    .table_shapes()
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|s| s.name == *table)
                    .unwrap()
                    .columns
                    .join(", ")
            } else {
                "*".into()
            };
            let want = query(
                &url,
                "default",
                "",
                &format!("SELECT {columns} FROM ccx.{table}{fin} WHERE tenant_id = '{t}'"),
            )
            .await
            .unwrap();
            assert_eq!(texts(&theirs), texts(&want), "{t}: {table}");
            seen += theirs.len();
        }
        assert!(seen > 0, "{t} has rows");
        let late = query(
            &url,
            &u,
            &p,
            &format!(
                "SELECT toUInt32(count()) AS n FROM {own}.queue_metrics_1m FINAL WHERE queue_id = 'late'"
            ),
        )
        .await
        .unwrap();
        assert_eq!(late[0]["n"], if t == "t2" { 1 } else { 0 }, "{t}");

        // Nothing else is readable, nothing is writable.
        let other = TENANTS.iter().find(|o| **o != t).unwrap();
        let refused = [
            "SELECT count() FROM ccx.events".to_string(),
            "SELECT count() FROM ccx.queue_kpis_1m".to_string(),
            format!(
                "SELECT count() FROM {}.events",
                tenants::ident(&tenant_database("ccx", other))
            ),
            format!("INSERT INTO {own}.tenant_progress (tenant_id) VALUES ('{t}')"),
            format!("DROP TABLE {own}.events"),
            format!("CREATE TABLE {own}.x (a UInt8) ENGINE = Memory"),
        ];
        for sql in &refused[..3] {
            let err = query(&url, &u, &p, sql).await.expect_err(sql);
            assert!(err.contains("Access denied"), "{sql}: {err}");
        }
        for sql in &refused[3..] {
            let err = query(&url, &u, &p, sql).await.expect_err(sql);
            assert!(err.contains("readonly"), "{sql}: {err}");
        }
    }
}
