//! The ClickHouse sink writes on a thread of its own: rows handed over are stored once `sync`
//! returns, a sink dropped stores what it was given, and a ClickHouse that stays down fails
//! `sync` (so no checkpoint passes rows that were not stored) and every write after it.

use ccx_model::rows::{Components, QueueKey};
use ccx_store::testing::ClickHouseServer;
use ccx_store::Store;
use ccx_stream::dataflow::RowSink;
use ccx_stream::engine::Output;
use ccx_stream::sink::ClickHouseSink;

fn rows(queue: &str, offered: u64) -> Output {
    let key = QueueKey {
        tenant_id: "t".into(),
        window_start: 1_790_000_040_000,
        queue_id: queue.into(),
        channel: "VOICE".into(),
        direction: "INBOUND".into(),
    };
    Output {
        queue: vec![(
            key,
            Components {
                offered,
                ..Components::default()
            },
        )],
        ..Output::default()
    }
}

fn offered(store: &Store, runtime: &tokio::runtime::Runtime) -> Vec<(String, u64)> {
    let rows = runtime.block_on(store.read_final(Some("t"))).unwrap();
    rows.queue
        .into_iter()
        .map(|(k, c)| (k.queue_id, c.offered))
        .collect()
}

#[test]
fn rows_are_stored_by_sync_and_a_lasting_failure_stops_the_sink() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, config) = ClickHouseServer::start();
    let store = runtime.block_on(Store::connect(&config)).unwrap();
    runtime.block_on(store.migrate()).unwrap();

    let mut sink = ClickHouseSink::new(&config).unwrap();
    for n in 1..=5 {
        sink.write(rows("q1", n), Vec::new()).unwrap();
    }
    sink.sync().unwrap();
    assert_eq!(offered(&store, &runtime), [("q1".into(), 5)]);

    // Dropped without a sync: what was handed over is stored first.
    sink.write(rows("q2", 7), Vec::new()).unwrap();
    drop(sink);
    assert_eq!(
        offered(&store, &runtime),
        [("q1".into(), 5), ("q2".into(), 7)]
    );

    let mut sink = ClickHouseSink::new(&config).unwrap();
    drop(server);
    sink.write(rows("q3", 1), Vec::new()).unwrap();
    let failed = sink.sync().unwrap_err().to_string();
    assert!(failed.starts_with("ClickHouse rows: "), "{failed}");
    let again = sink.write(rows("q3", 2), Vec::new()).unwrap_err();
    assert_eq!(again.to_string(), failed);
}
