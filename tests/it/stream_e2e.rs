//! End to end with the real broker and the real ClickHouse server: a simulated contact center
//! of four tenants published through the collector, consumed by the stream, and every row of
//! `… FINAL` compared with the independent reference model at the stream's watermark.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccx_e2e::*;
use ccx_model::settings::TenantSettings;
use ccx_stream::dataflow::{run, Progress, StreamOptions};
use ccx_stream::sink::{ClickHouseSinks, WithAlerts};
use ccx_stream::source::KafkaLog;
use ccx_stream::Settings;

const PARTITIONS: u32 = 8;

/// The control plane's credential in this test (the stream raises alerts with it).
const CONTROL_TOKEN: &str = "control-token-of-the-e2e-test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_final_row_equals_the_reference_model() {
    let p = Pipeline::start("ccx.events.e2e", PARTITIONS)
        .await
        .expect("pipeline");
    // A single-replica control plane receives the churn alerts too.
    let control_dir = tempfile_dir();
    let control = ccx_control::start_replica(
        ccx_control::ReplicaOptions::single_node(control_dir.clone())
            .with_operator("ops", CONTROL_TOKEN),
    )
    .await
    .expect("control replica");
    let control_endpoint = control.grpc_addr().to_string();

    let mut events = simulated(11, now_ms() - 3_600_000, 1_100, 1.0);
    assert!(events.len() >= 5_000, "{} events", events.len());
    // Two calls still waiting at the end, for the live floor.
    for n in 0..2 {
        events.push(ccx_model::Event {
            event_id: format!("still-waiting-{n}"),
            tenant_id: "tenant-1".into(),
            r#type: ccx_model::EventType::ContactOffered as i32,
            occurred_at: Some(ccx_model::ms_timestamp(newest(&events) - 10_000)),
            contact_id: format!("still-waiting-{n}"),
            customer_id: format!("patient-{n}"),
            channel: ccx_model::Channel::Voice as i32,
            direction: ccx_model::Direction::Inbound as i32,
            queue_id: "q-waiting".into(),
            ..Default::default()
        });
    }
    publish_all(p.collector.grpc_addr, &events, 500).await;

    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::default());
    let checkpoints = tempfile_dir();
    let options = StreamOptions {
        workers: 2,
        partitions: PARTITIONS,
        checkpoint_dir: Some(checkpoints.clone()),
        idle_timeout: Duration::from_secs(3),
        checkpoint_every_ms: 60_000,
        ..StreamOptions::default()
    };
    let kafka = p.config.kafka.clone();
    // tenant-2 counts its days in Rome, the others in UTC.
    let mut settings = Settings::new(TenantSettings::default());
    settings.tenants.insert("tenant-2".into(), rome());
    let stream = {
        let (stop, progress) = (Arc::clone(&stop), Arc::clone(&progress));
        let sinks = ClickHouseSinks::new(&p.clickhouse_config);
        std::thread::spawn(move || {
            run(
                options,
                settings,
                move |_| KafkaLog::new(&kafka),
                move |_| {
                    let sink = sinks.sink()?;
                    WithAlerts::new(sink, std::slice::from_ref(&control_endpoint), CONTROL_TOKEN)
                },
                stop,
                progress,
            )
        })
    };
    // Once the partitions are idle the watermark follows the clock, past every event.
    let target = newest(&events) + 1;
    let deadline = Instant::now() + Duration::from_secs(120);
    while progress.watermark() < target {
        assert!(
            Instant::now() < deadline,
            "watermark stuck at {}",
            progress.watermark()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    stream.join().expect("join").expect("stream");
    let watermark = progress.watermark();
    assert!(watermark >= target);
    // Every event is behind the watermark and no agent state is open: the rows are final
    // (FCR successes would need a day more).
    let want = ccx_reference::compute(&events, &TenantSettings::default(), watermark);
    let got = p.store.read_final(None).await.expect("read");
    assert_same_rows(&got, &want);
    assert!(!want.alerts.is_empty(), "the scenario raises churn alerts");
    // The same alerts are open in the control plane, once each.
    let client = control.client(CONTROL_TOKEN).expect("client");
    let mut raised: Vec<String> = client
        .list_alerts(&ccx_control::AlertFilter::default())
        .await
        .expect("alerts")
        .into_iter()
        .map(|a| a.alert_id)
        .collect();
    raised.sort();
    let mut expected: Vec<String> = want.alerts.iter().map(|a| a.alert_id.clone()).collect();
    expected.sort();
    assert_eq!(raised, expected, "alerts in the control plane");
    assert!(want.queue.len() > 100, "{} queue rows", want.queue.len());
    // The scenario exercises the SPEC §7.2 components, so the comparison above covers them.
    let mut queue = ccx_model::rows::Components::default();
    for c in want.queue.values() {
        queue += *c;
    }
    let mut agent = ccx_model::rows::Components::default();
    for c in want.agent.values() {
        agent += *c;
    }
    for (name, n) in [
        ("callbacks_requested", queue.callbacks_requested),
        ("callbacks_matched", queue.callbacks_matched),
        ("transfer_answered", queue.transfer_answered),
        ("cases_resolved", queue.cases_resolved),
        ("mos_count", queue.mos_count),
        ("accounts_attempted", queue.accounts_attempted),
        ("qa_evaluations", agent.qa_evaluations),
    ] {
        assert!(n > 0, "the scenario has no {name}");
    }
    assert!(want.reason.len() > 10, "{} reason rows", want.reason.len());

    // Every accepted event is in `events`, once.
    let rows = p
        .store
        .query_json("SELECT count() AS n FROM ccx.events FINAL")
        .await
        .expect("count");
    assert_eq!(rows[0]["n"].as_u64(), Some(events.len() as u64));
    assert_live_floor(&p.store, &events).await;
    assert_staffing_from_minutes(&p.store, &got, watermark).await;
    assert_rollups_from_minutes(&p.store, &got).await;
    p.collector.stop().await;
    control.stop().await;
    let _ = std::fs::remove_dir_all(checkpoints);
    let _ = std::fs::remove_dir_all(control_dir);
}

/// The live floor in ClickHouse after every event was received: the contacts waiting are the
/// reference model's once every event is applied, and each agent shows its newest state
/// change (the simulation ends every shift, so every contact has left its agent).
async fn assert_live_floor(store: &ccx_store::Store, events: &[ccx_model::Event]) {
    let waiting = |rows: Vec<ccx_model::rows::QueueNow>| -> Vec<(String, String, String, u64)> {
        rows.into_iter()
            .filter(|r| r.waiting > 0)
            .map(|r| (r.tenant_id, r.queue_id, r.channel, r.waiting))
            .collect()
    };
    let after_all = newest(events) + 1;
    let want = ccx_reference::queue_now(events, &TenantSettings::default(), after_all);
    let mut got = Vec::new();
    let mut agents_got = Vec::new();
    for tenant in TENANTS {
        got.extend(store.read_queue_now(tenant).await.expect("queue_now"));
        agents_got.extend(store.read_agent_now(tenant).await.expect("agent_now"));
    }
    assert_eq!(
        waiting(got),
        waiting(want),
        "contacts waiting in queue_now FINAL"
    );

    // Per agent: the time of its newest state change and the states changed to then (two
    // changes in one millisecond may show either).
    type Newest = (i64, std::collections::BTreeSet<String>);
    let mut newest_state: std::collections::BTreeMap<(String, String), Newest> = Default::default();
    for e in events.iter().filter(|e| !e.agent_id.is_empty()) {
        let key = (e.tenant_id.clone(), e.agent_id.clone());
        let entry = newest_state
            .entry(key)
            .or_insert((i64::MIN, Default::default()));
        if e.r#type != ccx_model::EventType::AgentStateChanged as i32 {
            continue;
        }
        let t = e.occurred_at.as_ref().map_or(0, ccx_model::timestamp_ms);
        let state = ccx_model::AgentState::try_from(e.agent_state)
            .expect("a valid state")
            .as_str_name()
            .to_string();
        if t > entry.0 {
            *entry = (t, Default::default());
        }
        if t == entry.0 {
            entry.1.insert(state);
        }
    }
    let got: std::collections::BTreeMap<(String, String), ccx_model::rows::AgentNow> = agents_got
        .into_iter()
        .map(|a| ((a.tenant_id.clone(), a.agent_id.clone()), a))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        newest_state.keys().collect::<Vec<_>>(),
        "agents in agent_now FINAL"
    );
    assert!(newest_state.values().any(|(_, s)| s.contains("OFFLINE")));
    for (key, (t, states)) in &newest_state {
        let a = &got[key];
        assert!(
            states.contains(&a.state) && a.state_since == *t && a.contact_id.is_empty(),
            "{key:?}: {a:?}, want one of {states:?} since {t}"
        );
    }
}

/// `staffing_15m FINAL` is what SPEC §7.6 makes of the `queue_metrics_1m FINAL` rows of each
/// interval the watermark completed.
async fn assert_staffing_from_minutes(
    store: &ccx_store::Store,
    minutes: &ccx_model::rows::FinalRows,
    watermark: i64,
) {
    use ccx_model::rows::{QueueKey, StaffingRow, STAFFING_INTERVAL_MS};
    let complete = watermark.div_euclid(STAFFING_INTERVAL_MS) * STAFFING_INTERVAL_MS;
    let mut want: std::collections::BTreeMap<QueueKey, StaffingRow> = Default::default();
    for (k, c) in &minutes.queue {
        if k.window_start >= complete || (c.offered == 0 && c.handled == 0) {
            continue;
        }
        let key = QueueKey {
            window_start: k.window_start.div_euclid(STAFFING_INTERVAL_MS) * STAFFING_INTERVAL_MS,
            ..k.clone()
        };
        let row = want.entry(key).or_default();
        row.offered += c.offered;
        row.handled += c.handled;
        row.handle_ms += c.talk_ms + c.hold_ms + c.acw_ms;
    }
    let settings = TenantSettings::default();
    for (k, row) in want.iter_mut() {
        let needed = ccx_model::staffing::interval(
            row.offered,
            row.handled,
            row.handle_ms,
            STAFFING_INTERVAL_MS,
            settings.sl_threshold_of(&k.queue_id),
            settings.sl_target_of(&k.queue_id),
        );
        row.agents_needed = needed.agents_needed;
        row.predicted_asa_ms = needed.predicted_asa_ms;
    }
    let mut got = std::collections::BTreeMap::new();
    for tenant in TENANTS {
        got.extend(store.read_staffing(tenant).await.expect("staffing_15m"));
    }
    assert!(want.len() > 10, "{} intervals", want.len());
    assert!(want
        .values()
        .any(|r| r.agents_needed.is_some_and(|n| n > 0)));
    assert_eq!(got, want, "staffing_15m FINAL");
}

fn rome() -> TenantSettings {
    TenantSettings {
        time_zone: "Europe/Rome".into(),
        ..TenantSettings::default()
    }
}

/// The hourly and daily rollups `… FINAL` are the sums of the minute rows `… FINAL`: compared
/// row by row with the minutes summed here, and by ClickHouse itself, grouping the minute
/// table by UTC hour and by the tenant's local date.
async fn assert_rollups_from_minutes(
    store: &ccx_store::Store,
    minutes: &ccx_model::rows::FinalRows,
) {
    use ccx_store::schema::Grain;
    let tz_of = |tenant: &str| {
        if tenant == "tenant-2" {
            rome().tz()
        } else {
            TenantSettings::default().tz()
        }
    };
    let (hourly, daily) = ccx_model::rollup::roll_up(minutes, tz_of);
    let all = ccx_store::RowFilter::default();
    let got_hourly = store.read_rollups(Grain::Hour, &all).await.expect("1h");
    let got_daily = store.read_rollups(Grain::Day, &all).await.expect("1d");
    assert!(hourly.queue.len() > 4 && hourly.reason.len() > 4 && !daily.agent.is_empty());
    assert_eq!(got_hourly, hourly, "*_metrics_1h FINAL");
    assert_eq!(got_daily, daily, "*_metrics_1d FINAL");

    // The same by ClickHouse: per table, every component summed both ways.
    for (minute, dims, columns) in [
        (
            "queue_metrics_1m",
            "queue_id, channel, direction",
            ccx_model::rows::QUEUE_COLUMNS,
        ),
        (
            "agent_metrics_1m",
            "agent_id, channel",
            ccx_model::rows::AGENT_COLUMNS,
        ),
        (
            "reason_metrics_1m",
            "reason, channel, direction",
            ccx_model::rows::REASON_COLUMNS,
        ),
    ] {
        let sums: Vec<String> = columns.iter().map(|c| format!("sum({c}) AS {c}")).collect();
        let sums = sums.join(", ");
        for (grain, start) in [
            (Grain::Hour, "toStartOfHour(window_start)".to_string()),
            (
                Grain::Day,
                "if(tenant_id = 'tenant-2', toDate(window_start, 'Europe/Rome'), \
                 toDate(window_start, 'UTC'))"
                    .to_string(),
            ),
        ] {
            let rollup = grain.table(minute);
            let key = if grain == Grain::Day {
                "day"
            } else {
                "window_start"
            };
            let grouped = format!(
                "SELECT tenant_id, toString({start}) AS at, {dims}, {sums} \
                 FROM ccx.{minute} FINAL GROUP BY tenant_id, at, {dims} \
                 HAVING {} ORDER BY tenant_id, at, {dims}",
                columns
                    .iter()
                    .map(|c| format!("{c} != 0"))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            );
            let stored = format!(
                "SELECT tenant_id, toString({key}) AS at, {dims}, {sums} \
                 FROM ccx.{rollup} FINAL GROUP BY tenant_id, at, {dims} \
                 ORDER BY tenant_id, at, {dims}"
            );
            let want = store.query_json(&grouped).await.expect("grouped minutes");
            let got = store.query_json(&stored).await.expect("rollup");
            assert!(!want.is_empty(), "{minute}");
            assert_eq!(got, want, "{rollup} FINAL against {minute} FINAL grouped");
        }
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique_topic("ccx-ckpt"));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}
