//! The ClickHouse source and the memory source give the same board for the same rows (a real
//! ClickHouse server, started on free loopback ports).

mod common;

use ccx_model::settings::TenantSettings;
use ccx_store::testing::ClickHouseServer;
use ccx_store::Store;
use ccx_wallboard::board::{starts, Board, Inputs, Level};
use ccx_wallboard::{ClickHouseSource, MemorySource, RowSource, Snapshot};
use common::*;

fn board(tenant: &str, settings: &TenantSettings, snapshot: &Snapshot) -> Board {
    Board::compute(&Inputs {
        tenant,
        settings,
        starts: starts(NOON, settings),
        snapshot,
        source_problem: None,
        alerts: &[],
        alerts_problem: None,
        now_ms: NOON,
    })
}

#[tokio::test]
async fn clickhouse_and_memory_give_the_same_board() {
    let (_server, config) = ClickHouseServer::start();
    let store = Store::connect(&config).await.expect("connect");
    store.migrate().await.expect("migrate");
    let rows = batch(NOON);
    store.write(&rows).await.expect("write");
    let clickhouse = ClickHouseSource::new(store);
    let memory = MemorySource::new(memory(&rows));
    clickhouse.ready().await.expect("ClickHouse answers");

    let mut settings = TenantSettings::default();
    for time_zone in ["UTC", "Asia/Kolkata"] {
        settings.time_zone = time_zone.into();
        let starts = starts(NOON, &settings);
        for tenant in ["a", "b", "nobody"] {
            let from_clickhouse = clickhouse.snapshot(tenant, &starts).await.expect("read");
            let from_memory = memory.snapshot(tenant, &starts).await.expect("read");
            assert_eq!(from_clickhouse, from_memory, "{tenant} in {time_zone}");
            assert_eq!(
                board(tenant, &settings, &from_clickhouse),
                board(tenant, &settings, &from_memory)
            );
        }
    }

    // The board of a's rows: each range sums its own minutes, live rows are a's only.
    settings.time_zone = "UTC".into();
    let snapshot = memory
        .snapshot("a", &starts(NOON, &settings))
        .await
        .unwrap();
    let a = board("a", &settings, &snapshot);
    assert_eq!(a.tenant, "a");
    let q1 = &a.queues[0];
    assert_eq!(q1.queue_id, "q1");
    // q1 VOICE (k=1) and CHAT (k=2), minutes 0 and 10 ago: offered 10 + k + m.
    assert_eq!(q1.offered[0], (11 + 12) + (12 + 13));
    assert_eq!(q1.offered[1], q1.offered[0] + 13 + 14);
    assert_eq!(q1.offered[2], q1.offered[1] + 14 + 15);
    assert_eq!(q1.waiting, 4);
    assert_eq!(q1.oldest_waiting_since, Some(NOON - 300 - 42_000));
    assert_eq!(q1.agents_needed, Some(4));
    assert_ne!(q1.service_level[0].level, Level::None);
    assert_eq!(a.total.waiting, 4);
    assert_eq!(a.agents.len(), 2);
    assert_eq!(a.agent_states.get("BUSY"), Some(&1));
    assert!(a.occupancy_pct.iter().all(Option::is_some));
    assert!(a.fcr_pct_today.is_some() && a.csat_pct_today.is_some());
    assert!(!a.live.stale);
    let b = board(
        "b",
        &settings,
        &memory
            .snapshot("b", &starts(NOON, &settings))
            .await
            .unwrap(),
    );
    assert_eq!(b.total.waiting, 5);
}

/// The wallboard reads a replicated, sharded cluster through its `Distributed` tables as it
/// reads one server: two shards, read from the second server.
#[tokio::test]
async fn a_cluster_gives_the_same_snapshots() {
    let (cluster, config) =
        ccx_store::testing::cluster::ClickHouseCluster::start(&[1, 1]).expect("cluster");
    let store = Store::connect(&config).await.expect("connect");
    store.migrate().await.expect("migrate");
    let rows = batch(NOON);
    store.write(&rows).await.expect("write");
    let other = Store::connect(&cluster.config_at(&config, 1))
        .await
        .expect("connect");
    let clickhouse = ClickHouseSource::new(other);
    let memory = MemorySource::new(memory(&rows));
    let settings = TenantSettings::default();
    let starts = starts(NOON, &settings);
    for tenant in ["a", "b", "nobody"] {
        let from_cluster = clickhouse.snapshot(tenant, &starts).await.expect("read");
        let from_memory = memory.snapshot(tenant, &starts).await.expect("read");
        assert_eq!(from_cluster, from_memory, "{tenant}");
    }
}
