//! End to end with the real broker and the real ClickHouse server: a simulated contact center
//! of four tenants published through the collector, consumed by the stream, and every row of
//! `… FINAL` compared with the independent reference model at the stream's watermark.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccx_e2e::*;
use ccx_model::settings::TenantSettings;
use ccx_stream::dataflow::{run, Progress, StreamOptions};
use ccx_stream::sink::{ClickHouseSink, WithAlerts};
use ccx_stream::source::KafkaLog;
use ccx_stream::Settings;

const PARTITIONS: u32 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_final_row_equals_the_reference_model() {
    let p = Pipeline::start("ccx.events.e2e", PARTITIONS)
        .await
        .expect("pipeline");
    // A single-replica control plane receives the churn alerts too.
    let control_dir = tempfile_dir();
    let control = ccx_control::start_replica(ccx_control::ReplicaOptions::single_node(
        control_dir.clone(),
    ))
    .await
    .expect("control replica");
    let control_endpoint = control.grpc_addr().to_string();

    let events = simulated(11, now_ms() - 3_600_000, 1_100, 1.0);
    assert!(events.len() >= 5_000, "{} events", events.len());
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
    let stream = {
        let (stop, progress) = (Arc::clone(&stop), Arc::clone(&progress));
        let ch = p.clickhouse_config.clone();
        std::thread::spawn(move || {
            run(
                options,
                Settings::new(TenantSettings::default()),
                move |_| KafkaLog::new(&kafka),
                move |_| {
                    let sink = ClickHouseSink::new(&ch)?;
                    WithAlerts::new(sink, std::slice::from_ref(&control_endpoint))
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
    let client =
        ccx_control::ControlClient::new([control.grpc_addr().to_string()]).expect("client");
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
    p.collector.stop().await;
    control.stop().await;
    let _ = std::fs::remove_dir_all(checkpoints);
    let _ = std::fs::remove_dir_all(control_dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique_topic("ccx-ckpt"));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}
