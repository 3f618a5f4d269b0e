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

/// A floor larger than the page lists: both sources count every agent (by state, and on each
/// queue those on a contact), list the agents longest in their state, and read today's
/// figures of the listed agents only.
#[tokio::test]
async fn a_large_floor_is_counted_whole_and_its_longest_in_state_listed() {
    use ccx_model::rows::{AgentKey, AgentNow, Components, AGENT_COLUMNS};
    use ccx_wallboard::source::AGENTS_LISTED;

    let mut rows = ccx_store::RowBatch {
        version: 1,
        ..Default::default()
    };
    let floor = AGENTS_LISTED + 100;
    for i in 0..floor {
        // A quarter each busy, wrapping up, available, on a break; the first two on a
        // contact of queue q0, q1 or q2 by i % 3. Agent i has been in its state i seconds.
        let (state, on_contact) = match i % 4 {
            0 => ("BUSY", true),
            1 => ("AFTER_CONTACT_WORK", true),
            2 => ("AVAILABLE", false),
            _ => ("BREAK", false),
        };
        let agent_id = format!("agent-{i:04}");
        rows.agent_now.push(AgentNow {
            tenant_id: "big".into(),
            agent_id: agent_id.clone(),
            state: state.into(),
            state_since: NOON - i as i64 * 1_000,
            contact_id: if on_contact {
                format!("c-{i}")
            } else {
                String::new()
            },
            queue_id: if on_contact {
                format!("q{}", i % 3)
            } else {
                String::new()
            },
            channel: if on_contact { "VOICE" } else { "" }.into(),
            on_hold: false,
            as_of: NOON - 300 + (i % 7) as i64,
        });
        // The agent longest in its state (listed first) and agent 0 (not listed) handled
        // contacts today.
        if i == 0 || i == floor - 1 {
            let c = Components {
                handled: 5,
                talk_ms: 50_000,
                ..Components::default()
            };
            rows.agent.push((
                AgentKey {
                    tenant_id: "big".into(),
                    window_start: NOON - 10 * MINUTE,
                    agent_id,
                    channel: "VOICE".into(),
                },
                c.only(AGENT_COLUMNS),
            ));
        }
    }
    let (_server, config) = ClickHouseServer::start();
    let store = Store::connect(&config).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.write(&rows).await.expect("write");
    let clickhouse = ClickHouseSource::new(store);
    let memory = MemorySource::new(memory(&rows));
    let settings = TenantSettings::default();
    let starts = starts(NOON, &settings);
    let snapshot = memory.snapshot("big", &starts).await.expect("read");
    assert_eq!(
        clickhouse.snapshot("big", &starts).await.expect("read"),
        snapshot
    );

    let listed: Vec<&str> = snapshot
        .agent_now
        .iter()
        .map(|a| a.agent_id.as_str())
        .collect();
    assert_eq!(listed.len(), AGENTS_LISTED);
    assert_eq!(
        listed[0],
        format!("agent-{:04}", floor - 1),
        "longest in state first"
    );
    assert_eq!(listed[AGENTS_LISTED - 1], "agent-0100");
    let quarter = (floor / 4) as u32;
    for state in ["BUSY", "AFTER_CONTACT_WORK", "AVAILABLE", "BREAK"] {
        assert_eq!(snapshot.floor.states.get(state), Some(&quarter), "{state}");
    }
    // i % 4 in {0, 1} and i % 3 = q: 2 of every 12 agents, for each queue.
    for q in ["q0", "q1", "q2"] {
        assert_eq!(
            snapshot.floor.on_queue.get(q),
            Some(&((floor / 6) as u32)),
            "{q}"
        );
    }
    assert_eq!(snapshot.floor.as_of, Some(NOON - 300 + 6));

    let board = board("big", &settings, &snapshot);
    assert_eq!(board.agents.len(), AGENTS_LISTED);
    assert_eq!(board.agents_total, floor as u32);
    assert_eq!(board.total.agents_on_queue, (floor / 2) as u32);
    assert_eq!(board.agents_working, 3 * quarter);
    let row = |id: &str| board.agents.iter().find(|a| a.agent_id == id);
    assert_eq!(
        row(&format!("agent-{:04}", floor - 1))
            .unwrap()
            .handled_today,
        Some(5)
    );
    assert_eq!(row("agent-0100").unwrap().handled_today, Some(0));
    assert!(row("agent-0000").is_none(), "not listed");
}
