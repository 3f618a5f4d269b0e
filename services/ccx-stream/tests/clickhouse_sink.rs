//! The ClickHouse sink writes on a thread of its own: rows handed over are stored once `sync`
//! returns, a sink dropped stores what it was given, and a ClickHouse that stays down fails
//! `sync` (so no checkpoint passes rows that were not stored) and every write after it. The
//! live floor's rows, written apart and folded while a write is under way, end as the newest
//! row of each key. The other tables' flushes that come within one batch gap go as one write,
//! each keyed row once, every event kept.

use ccx_model::rows::{AgentNow, Components, QueueKey, QueueNow};
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

/// A ClickHouse server with the schema, and a store on it.
fn started() -> (
    tokio::runtime::Runtime,
    ClickHouseServer,
    ccx_config::ClickHouseConfig,
    Store,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, config) = ClickHouseServer::start();
    let store = runtime.block_on(Store::connect(&config)).unwrap();
    runtime.block_on(store.migrate()).unwrap();
    (runtime, server, config, store)
}

#[test]
fn rows_are_stored_by_sync_and_a_lasting_failure_stops_the_sink() {
    let (runtime, server, config, store) = started();

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

fn floor(n: u64) -> Output {
    // Queue "busy" changes at every flush, queue "once" and agent "a1" only in the first.
    let queue = |id: &str, waiting: u64| QueueNow {
        tenant_id: "t".into(),
        queue_id: id.into(),
        channel: "VOICE".into(),
        waiting,
        longest_wait_ms: waiting * 1_000,
        agents_needed: Some(waiting as u32),
        as_of: 1_790_000_000_000 + n as i64,
    };
    let agent = |id: &str, state: &str| AgentNow {
        tenant_id: "t".into(),
        agent_id: id.into(),
        state: state.into(),
        state_since: 1_790_000_000_000,
        contact_id: String::new(),
        queue_id: String::new(),
        channel: String::new(),
        on_hold: false,
        as_of: 1_790_000_000_000 + n as i64,
    };
    let mut out = rows("q1", n);
    out.queue_now = vec![queue("busy", n)];
    out.agent_now = vec![agent(
        "a2",
        if n.is_multiple_of(2) {
            "BREAK"
        } else {
            "AVAILABLE"
        },
    )];
    if n == 1 {
        out.queue_now.push(queue("once", 9));
        out.agent_now.push(agent("a1", "AVAILABLE"));
    }
    out
}

#[test]
fn the_live_floor_ends_as_the_newest_row_of_each_key() {
    let (runtime, _server, config, store) = started();

    let mut sink = ClickHouseSink::new(&config).unwrap();
    // Faster than ClickHouse takes them: most are folded into the next write.
    for n in 1..=40 {
        sink.write(floor(n), Vec::new()).unwrap();
    }
    sink.sync().unwrap();
    let mut queues = runtime.block_on(store.read_queue_now("t")).unwrap();
    queues.sort_by(|a, b| a.queue_id.cmp(&b.queue_id));
    let queues: Vec<_> = queues
        .iter()
        .map(|q| (q.queue_id.as_str(), q.waiting))
        .collect();
    assert_eq!(queues, [("busy", 40), ("once", 9)]);
    let mut agents = runtime.block_on(store.read_agent_now("t")).unwrap();
    agents.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    let agents: Vec<_> = agents
        .iter()
        .map(|a| (a.agent_id.as_str(), a.state.as_str(), a.as_of))
        .collect();
    assert_eq!(
        agents,
        [
            ("a1", "AVAILABLE", 1_790_000_000_001),
            ("a2", "BREAK", 1_790_000_000_040)
        ]
    );
    assert_eq!(offered(&store, &runtime), [("q1".into(), 40)]);

    // Dropped without a sync: the last live rows are stored too.
    sink.write(floor(41), Vec::new()).unwrap();
    drop(sink);
    let busy = runtime.block_on(store.read_queue_now("t")).unwrap();
    assert!(busy.iter().any(|q| q.queue_id == "busy" && q.waiting == 41));
}

fn event(n: u64) -> ccx_model::Event {
    ccx_model::Event {
        event_id: format!("e{n}"),
        tenant_id: "t".into(),
        r#type: ccx_model::EventType::ContactOffered as i32,
        occurred_at: Some(ccx_model::ms_timestamp(1_790_000_040_000 + n as i64)),
        contact_id: format!("c{n}"),
        queue_id: "q1".into(),
        ..ccx_model::Event::default()
    }
}

#[test]
fn flushes_between_two_batch_writes_are_folded_into_one() {
    let (runtime, _server, config, store) = started();

    let mut sink = ClickHouseSink::new(&config).unwrap();
    // Thirty flushes well within one batch gap: the first is written at once, the other 29
    // wait for the gap and go as one write, each queue row once with its newest value.
    for n in 1..=30 {
        let mut out = rows("q1", n);
        if n == 2 {
            out.queue.extend(rows("q2", 4).queue);
        }
        sink.write(out, vec![event(n)]).unwrap();
    }
    sink.sync().unwrap();
    assert_eq!(
        offered(&store, &runtime),
        [("q1".into(), 30), ("q2".into(), 4)]
    );
    let count = |sql: &str| {
        runtime.block_on(store.query_json(sql)).unwrap()[0]["n"]
            .as_u64()
            .unwrap()
    };
    // Stored rows before any merge: one per write that held the key (30 without folding).
    let q1_rows = count("SELECT count() AS n FROM ccx.queue_metrics_1m WHERE queue_id = 'q1'");
    assert!((1..=3).contains(&q1_rows), "{q1_rows} rows of q1");
    // Events do not fold: every one is stored, once.
    assert_eq!(count("SELECT count() AS n FROM ccx.events FINAL"), 30);
    assert_eq!(count("SELECT uniqExact(event_id) AS n FROM ccx.events"), 30);
}

#[test]
fn the_sinks_of_one_process_share_their_writes() {
    let (runtime, _server, config, store) = started();

    let sinks = ccx_stream::sink::ClickHouseSinks::new(&config);
    let (mut a, mut b) = (sinks.sink().unwrap(), sinks.sink().unwrap());
    // Each worker's first flush (q0 is written at once), then ten more each, well within
    // one gap: the twenty go as one write.
    a.write(rows("q0", 1), Vec::new()).unwrap();
    for n in 1..=10 {
        a.write(rows("qa", n), Vec::new()).unwrap();
        b.write(rows("qb", n), Vec::new()).unwrap();
    }
    // One sync stores what every sink of the process handed over.
    a.sync().unwrap();
    assert_eq!(
        offered(&store, &runtime),
        [("q0".into(), 1), ("qa".into(), 10), ("qb".into(), 10)]
    );
    let parts = runtime
        .block_on(store.query_json(
            "SELECT uniqExact(_part) AS n FROM ccx.queue_metrics_1m WHERE queue_id != 'q0'",
        ))
        .unwrap()[0]["n"]
        .as_u64()
        .unwrap();
    assert!(parts <= 2, "{parts} parts hold qa and qb");
}
