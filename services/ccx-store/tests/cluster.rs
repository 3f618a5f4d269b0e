//! The cluster layout on real ClickHouse 18.16 servers: a ZooKeeper, shard 1 with two
//! replicas and shard 2 with one, on loopback ports. `ccx migrate` creates the schema on every
//! server, versions replace each other as on one server, every replica of a shard holds the
//! same rows, and retention drops old months on every shard.

mod common;

use ccx_store::layout::LOCAL;
use ccx_store::schema::{self, TABLES, VIEWS};
use ccx_store::testing::cluster::{sync_replicas, ClickHouseCluster};
use ccx_store::{Store, StoreError};
use common::*;

async fn count(store: &Store, sql: &str) -> u64 {
    let rows = store.query_json(sql).await.expect(sql);
    rows[0]["n"].as_u64().expect("n")
}

async fn sync(store: &Store) {
    sync_replicas(store).await.expect("replicas in sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_layout_keeps_versions_on_every_replica() {
    let (cluster, config) = ClickHouseCluster::start(&[2, 1]).expect("cluster");
    let stores: Vec<Store> = futures::future::try_join_all((0..cluster.servers.len()).map(|i| {
        let config = cluster.config_at(&config, i);
        async move { Store::connect(&config).await }
    }))
    .await
    .expect("connect");
    let store = &stores[0];

    let applied = store.migrate().await.expect("migrate");
    assert_eq!(applied.len(), schema::migrations("ccx").len());
    // Again, from another server: nothing to do.
    assert!(stores[2].migrate().await.expect("again").is_empty());

    // Every server has the local and Distributed tables, the views and the migrations.
    for s in &stores {
        let names: Vec<String> = s
            .query_json("SELECT name, engine FROM system.tables WHERE database = 'ccx'")
            .await
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["name"].as_str().unwrap(),
                    r["engine"].as_str().unwrap()
                )
            })
            .collect();
        for table in TABLES.iter().chain(&[schema::MIGRATIONS_TABLE]) {
            let local = format!("{table}{LOCAL} ReplicatedReplacingMergeTree");
            assert!(names.contains(&local), "{local} in {names:?}");
            assert!(names.contains(&format!("{table} Distributed")), "{table}");
        }
        for view in VIEWS {
            assert!(names.contains(&format!("{view} View")), "{view}");
        }
        let recorded = count(s, "SELECT count() AS n FROM ccx.schema_migrations FINAL").await;
        assert_eq!(recorded, schema::migrations("ccx").len() as u64);
    }

    // Versions: the newest wins, a stale one written later does not, seen from every server.
    store.write(&full_batch(10)).await.expect("write");
    let v2 = replaced(20);
    stores[1].write(&v2).await.expect("write");
    stores[2].write(&stale(15)).await.expect("write");
    for s in &stores {
        sync(s).await;
        assert_eq!(s.read_final(None).await.unwrap(), expected_final(&v2, None));
    }
    // The replicas of shard 1 hold the same rows; the shards hold every row once.
    let all = count(store, "SELECT count() AS n FROM ccx.queue_metrics_1m").await;
    let on = |i: usize| {
        let s = &stores[i];
        async move { count(s, "SELECT count() AS n FROM ccx.queue_metrics_1m_local").await }
    };
    let (r1, r2, shard2) = (on(0).await, on(1).await, on(2).await);
    assert_eq!(r1, r2, "replicas of shard 1");
    assert_eq!(r1 + shard2, all);
    // The views answer through the Distributed tables.
    let kpis = count(store, "SELECT count() AS n FROM ccx.queue_kpis_1m").await;
    assert!(kpis > 0);

    // A join of two Distributed tables (the Grafana wallboard's alert list) runs as GLOBAL:
    // a plain one is refused as a double-distributed subquery on a cluster of shards.
    let join = |global: &str| {
        format!(
            "SELECT count() AS n FROM ccx.churn_alerts FINAL {global}ANY LEFT JOIN \
             (SELECT alert_id, argMax(status, at_ms) AS latest_status FROM ccx.alert_events FINAL \
             GROUP BY alert_id) AS events USING (alert_id)"
        )
    };
    let alerts = count(store, "SELECT count() AS n FROM ccx.churn_alerts FINAL").await;
    assert!(alerts > 0);
    assert_eq!(count(&stores[2], &join("GLOBAL ")).await, alerts);
    assert!(stores[2].query_json(&join("")).await.is_err());

    // Retention: a month past it is dropped from every shard and replica, the rest stays.
    let old = full_batch(30);
    let mut old_rows = old.clone();
    for (key, _) in &mut old_rows.queue {
        key.window_start -= 400 * 86_400_000;
    }
    old_rows.agent.clear();
    old_rows.reason.clear();
    old_rows.agent_state.clear();
    old_rows.quality.clear();
    old_rows.alerts.clear();
    old_rows.queue_now.clear();
    old_rows.agent_now.clear();
    old_rows.staffing.clear();
    old_rows.events.clear();
    old_rows.progress.clear();
    store.write(&old_rows).await.expect("old rows");
    let before = count(store, "SELECT count() AS n FROM ccx.queue_metrics_1m").await;
    assert_eq!(before, all + old_rows.queue.len() as u64);
    let now_ms = old.queue[0].0.window_start + 10 * 86_400_000;
    let dropped = store.apply_retention(now_ms).await.expect("retention");
    assert!(
        dropped.iter().all(|(t, _)| t == "queue_metrics_1m"),
        "{dropped:?}"
    );
    assert!(!dropped.is_empty());
    for s in &stores {
        sync(s).await;
        assert_eq!(s.read_final(None).await.unwrap(), expected_final(&v2, None));
    }
    assert_eq!(
        count(store, "SELECT count() AS n FROM ccx.queue_metrics_1m").await,
        all
    );
    assert!(store.apply_retention(now_ms).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_cluster_the_servers_do_not_know_is_refused() {
    let (_cluster, config) = ClickHouseCluster::start(&[1]).expect("cluster");
    let mut wrong = config.clone();
    wrong.cluster.as_mut().unwrap().name = "elsewhere".into();
    let err = Store::connect(&wrong)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Config(_)));
    assert!(err.to_string().contains("clickhouse.cluster.name"), "{err}");
    let mut wrong = config.clone();
    wrong.cluster.as_mut().unwrap().shards = 2;
    let err = Store::connect(&wrong)
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("clickhouse.cluster.shards: 2 configured, cluster \"ccx_test\" has 1"),
        "{err}"
    );
}
