//! The stream's retention task on a real ClickHouse server: the months past a table's
//! retention go, newer months and other tables stay.

use std::time::{Duration, Instant};

use ccx_model::rows::{Components, QueueKey};
use ccx_store::testing::ClickHouseServer;
use ccx_store::{RowBatch, Store};
use ccx_stream::retention::keep_retention;
use tokio_util::sync::CancellationToken;

const DAY: i64 = 86_400_000;

fn queue_row(window_start: i64) -> (QueueKey, Components) {
    (
        QueueKey {
            tenant_id: "t1".into(),
            window_start,
            queue_id: "q".into(),
            channel: "VOICE".into(),
            direction: "INBOUND".into(),
        },
        Components {
            offered: 1,
            ..Components::default()
        },
    )
}

async fn months(store: &Store) -> Vec<u64> {
    store
        .query_json(
            "SELECT DISTINCT toYYYYMM(window_start) AS m FROM ccx.queue_metrics_1m ORDER BY m",
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r["m"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn months_past_retention_are_dropped() {
    let (_server, mut config) = ClickHouseServer::start();
    config.retention_days = [("queue_metrics_1m".to_string(), 30)].into();
    let store = Store::connect(&config).await.unwrap();
    store.migrate().await.unwrap();
    let now = ccx_model::now_ms();
    let batch = RowBatch {
        version: 1,
        queue: vec![queue_row(now - 120 * DAY), queue_row(now)],
        ..RowBatch::default()
    };
    store.write(&batch).await.unwrap();
    assert_eq!(months(&store).await.len(), 2);

    let stop = CancellationToken::new();
    let task = tokio::spawn(keep_retention(
        config.clone(),
        Duration::from_millis(100),
        stop.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while months(&store).await.len() > 1 {
        assert!(Instant::now() < deadline, "old month still there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = store.read_final(None).await.unwrap();
    assert_eq!(rows.queue.len(), 1);
    assert_eq!(
        rows.queue.keys().next().unwrap().window_start,
        now / 1000 * 1000
    );
    stop.cancel();
    task.await.unwrap();
}
