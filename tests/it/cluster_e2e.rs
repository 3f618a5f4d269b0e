//! End to end on a replicated ClickHouse cluster: a ZooKeeper, shard 1 with two replicas and
//! shard 2 with one (ClickHouse 18.16 servers on loopback), the real broker and collector, the
//! stream writing through the cluster. The replica the stream writes to is killed with
//! SIGKILL while the stream runs and started again; afterwards the `… FINAL` rows read from
//! each server (each reads its own replica of its shard) equal the reference model.

use std::time::{Duration, Instant};

use ccx_e2e::*;
use ccx_store::testing::cluster::{sync_replicas, ClickHouseCluster};
use ccx_store::Store;
use ccx_stream::dataflow::StreamOptions;

const PARTITIONS: u32 = 4;

async fn count(store: &Store, sql: &str) -> u64 {
    let rows = store.query_json(sql).await.expect(sql);
    rows[0]["n"].as_u64().expect("n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_rows_equal_the_reference_on_every_replica_after_one_is_killed() {
    let (mut cluster, config) = ClickHouseCluster::start(&[2, 1]).expect("cluster");
    let p = Pipeline::start_on("ccx.events.cluster", PARTITIONS, config.clone(), None)
        .await
        .expect("pipeline");
    let events = simulated(11, now_ms() - 3_600_000, 1_100, 1.0);
    publish_all(p.collector.grpc_addr, &events, 500).await;

    let checkpoints = std::env::temp_dir().join(format!("ccx-cluster-e2e-{}", std::process::id()));
    let stream = p.spawn_stream(StreamOptions {
        workers: 2,
        partitions: PARTITIONS,
        checkpoint_dir: Some(checkpoints.clone()),
        idle_timeout: Duration::from_secs(3),
        checkpoint_every_ms: 60_000,
        ..StreamOptions::default()
    });

    // Once rows arrive, the server the stream writes to (shard 1, replica 1) dies; the stream
    // goes on through replica 2 and the restarted replica catches up from it.
    let replica_2 = Store::connect(&cluster.config_at(&config, 1))
        .await
        .expect("replica 2");
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&replica_2, "SELECT count() AS n FROM ccx.events").await == 0 {
        assert!(Instant::now() < deadline, "no rows written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.servers[0].kill();
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut server = cluster.servers.remove(0);
    let server = tokio::task::spawn_blocking(move || server.restart().map(|()| server))
        .await
        .expect("join")
        .expect("restart");
    cluster.servers.insert(0, server);
    eprintln!(
        "replica 1 of shard 1 killed and answering again after {:?}",
        killed_at.elapsed()
    );

    let target = newest(&events) + 1;
    while stream.progress.watermark() < target {
        assert!(
            Instant::now() < deadline,
            "watermark stuck at {}",
            stream.progress.watermark()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stream
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    stream.handle.join().expect("join").expect("stream");
    let watermark = stream.progress.watermark();
    let want = ccx_reference::compute(
        &events,
        &ccx_model::settings::TenantSettings::default(),
        watermark,
    );
    assert!(want.queue.len() > 100, "{} queue rows", want.queue.len());

    // Every replica back in its shard and caught up before any is read: a restarted replica
    // answers before it fetched what its shard wrote meanwhile.
    let mut stores = Vec::new();
    for i in 0..cluster.servers.len() {
        let store = Store::connect(&cluster.config_at(&config, i))
            .await
            .expect("connect");
        sync_replicas(&store).await.expect("replicas in sync");
        stores.push(store);
    }
    for (i, store) in stores.iter().enumerate() {
        let (shard, replica) = cluster.replicas[i];
        for table in ["queue_metrics_1m", "events"] {
            let local = count(
                store,
                &format!("SELECT count() AS n FROM ccx.{table}_local"),
            )
            .await;
            let all = count(store, &format!("SELECT count() AS n FROM ccx.{table}")).await;
            eprintln!("shard {shard} replica {replica}: {table}: {local} local, {all} in all");
        }
    }
    for (i, store) in stores.iter().enumerate() {
        let (shard, replica) = cluster.replicas[i];
        let got = store.read_final(None).await.expect("read");
        eprintln!(
            "shard {shard} replica {replica}: {} queue rows",
            got.queue.len()
        );
        assert_same_rows(&got, &want);
        assert_eq!(
            count(store, "SELECT count() AS n FROM ccx.events FINAL").await,
            events.len() as u64
        );
    }
    // What the scenario occupies on a replica of shard 1 (docs/operations.md sizes from it).
    let parts = stores[0]
        .query_json(
            "SELECT table, sum(rows) AS rows, sum(data_compressed_bytes) AS bytes \
             FROM system.parts WHERE database = 'ccx' AND active GROUP BY table ORDER BY table",
        )
        .await
        .expect("system.parts");
    for part in parts {
        eprintln!(
            "shard 1 replica 1: {} {} rows {} bytes",
            part["table"], part["rows"], part["bytes"]
        );
    }
    let span = stores[0]
        .query_json(
            "SELECT uniqExact(tenant_id, agent_id) AS agents, \
             max(occurred_at_ms) - min(occurred_at_ms) AS span_ms FROM ccx.events",
        )
        .await
        .expect("span");
    eprintln!("scenario: {:?}", span[0]);
    // The replicas of shard 1 hold the same rows, the shards hold them all between them.
    let local = |i: usize| {
        let config = cluster.config_at(&config, i);
        async move {
            let store = Store::connect(&config).await.expect("connect");
            count(&store, "SELECT count() AS n FROM ccx.events_local FINAL").await
        }
    };
    let (r1, r2, s2) = (local(0).await, local(1).await, local(2).await);
    assert_eq!(r1, r2, "the replicas of shard 1");
    assert_eq!(r1 + s2, events.len() as u64);
    assert!(r1 > 0 && s2 > 0, "both shards hold tenants ({r1}, {s2})");
    p.collector.stop().await;
    let _ = std::fs::remove_dir_all(checkpoints);
}
