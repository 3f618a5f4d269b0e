//! `ccx backfill` as an operator runs it, against a real ClickHouse server: a tenant's events
//! are stored (as the stream stores every accepted event, late ones included) but its rows
//! are missing or wrong; the command rewrites the range's rows to the reference model's, and
//! refuses minutes the stream can still change, naming the option. A churn alert the stream
//! raised that the complete events do not raise is withdrawn: its row deleted and the alert
//! resolved in the control plane.

use std::process::Command;

use ccx_control::{start_replica, ReplicaOptions};
use ccx_control_client::{AlertFilter, AlertStatus};
use ccx_model::rows::{ChurnAlert, Components, QueueKey};
use ccx_model::settings::TenantSettings;
use ccx_model::timestamp_ms;
use ccx_model::Event;
use ccx_sim::Sim;
use ccx_store::{RowBatch, Store};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn chrono_tz_utc() -> ccx_model::rollup::Tz {
    TenantSettings::default().tz()
}

fn time(e: &Event) -> i64 {
    e.occurred_at.as_ref().map_or(0, timestamp_ms)
}

fn rfc3339(ms: i64) -> String {
    ccx_model::json::format_timestamp(&ccx_model::ms_timestamp(ms))
}

fn backfill(config: &std::path::Path, from: i64, to: i64) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ccx"))
        .arg("--config")
        .arg(config)
        .args(["backfill", "--tenant", "acme"])
        .args(["--from", &rfc3339(from), "--to", &rfc3339(to)])
        .env("CCX_LOG", "warn")
        .output()
        .expect("run ccx backfill")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccx_backfill_rewrites_a_tenants_rows_from_its_stored_events() {
    let (_server, clickhouse) = ccx_store::testing::ClickHouseServer::start();
    let store = Store::connect(&clickhouse).await.expect("connect");
    store.migrate().await.expect("migrate");

    let now = now_ms();
    // Three days back: their UTC day is final (its rollups no longer written by the stream).
    let events = Sim::source_history("acme", 41, now - 3 * 86_400_000, 30, 2_000);
    let want = ccx_reference::compute(&events, &TenantSettings::default(), now);
    // Stored events, the tenant's progress, and rows that are wrong: a third of the queue rows
    // missing and a row no event made.
    let stray = QueueKey {
        tenant_id: "acme".into(),
        window_start: ccx_model::rows::minute_of(time(&events[0])),
        queue_id: "nobody".into(),
        channel: "VOICE".into(),
        direction: "INBOUND".into(),
    };
    let mut queue: Vec<(QueueKey, Components)> = want
        .queue
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, (k, v))| (k.clone(), *v))
        .collect();
    queue.push((
        stray.clone(),
        Components {
            offered: 7,
            ..Components::default()
        },
    ));
    // A churn alert raised on incomplete events: in ClickHouse and open in the control plane.
    let ghost = ChurnAlert {
        tenant_id: "acme".into(),
        alert_id: "acme:ghost:1".into(),
        customer_id: "ghost".into(),
        score: 80,
        reasons: vec!["NPS_DETRACTOR".into()],
        triggered_at: time(&events[0]) + 90_000,
        contact_id: "ghost-contact".into(),
        channel: "VOICE".into(),
        queue_id: "q1".into(),
        agent_id: String::new(),
    };
    let dir = std::env::temp_dir().join(format!("ccx-backfill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The control plane's operator; `ccx backfill` presents it as its `[control] token`.
    const OPERATOR: &str = "operator-token-of-the-backfill-test";
    let replica = start_replica(
        ReplicaOptions::single_node(dir.join("control")).with_operator("ops", OPERATOR),
    )
    .await
    .expect("replica");
    let client = replica.client(OPERATOR).expect("client");
    let started = std::time::Instant::now();
    while client.status().await.map_or(true, |s| s.leader_id == 0) {
        assert!(started.elapsed().as_secs() < 10, "no leader");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    client.raise_alert(&ghost).await.expect("raise");
    let batch = RowBatch {
        version: 1,
        queue,
        alerts: vec![ghost.clone()],
        events: events.clone(),
        progress: vec![ccx_model::rows::TenantProgress {
            tenant_id: "acme".into(),
            watermark: now - 5_000,
        }],
        ..RowBatch::default()
    };
    store.write(&batch).await.expect("write");

    let config = dir.join("ccx.toml");
    std::fs::write(
        &config,
        format!(
            "[clickhouse]\nurl = \"{}\"\n[control]\nendpoints = [\"{}\"]\ntoken = \"{OPERATOR}\"\n",
            clickhouse.url,
            replica.grpc_addr()
        ),
    )
    .expect("config");

    let from = events.iter().map(time).min().unwrap();
    let to = events.iter().map(time).max().unwrap() + 60_000;
    let out = backfill(&config, from, to);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("backfilled acme from "), "{stdout}");
    assert!(
        stdout.contains(&format!("{} events read", events.len())),
        "{stdout}"
    );
    assert!(stdout.contains(" 1 rows zeroed"), "{stdout}");
    assert!(stdout.contains(" 1 withdrawn"), "{stdout}");

    let got = store.read_final(Some("acme")).await.expect("read");
    assert_eq!(got.queue, want.queue, "queue rows");
    assert_eq!(got.agent, want.agent, "agent rows");
    assert_eq!(got.agent_state, want.agent_state, "agent state rows");
    assert_eq!(got.alerts, want.alerts, "churn alerts");
    assert!(want.queue.len() > 20);
    // The control plane holds every alert of the reference, open, and the ghost resolved by
    // the backfill, with the reason.
    let held = client
        .list_alerts(&AlertFilter {
            tenant_id: Some("acme".into()),
            ..AlertFilter::default()
        })
        .await
        .expect("list");
    let status = |id: &str| held.iter().find(|a| a.alert_id == id).map(|a| a.status);
    for alert in &want.alerts {
        assert_eq!(
            status(&alert.alert_id),
            Some(AlertStatus::Open),
            "{alert:?}"
        );
    }
    let ghost = held.iter().find(|a| a.alert_id == ghost.alert_id).unwrap();
    assert_eq!(ghost.status, AlertStatus::Resolved);
    let last = ghost.history.last().unwrap();
    // Recorded with the credential backfill presented.
    assert_eq!(
        last.by,
        format!("{} via operator:ops", ccx_stream::backfill::WITHDRAWN_BY)
    );
    assert_eq!(last.note, ccx_stream::backfill::WITHDRAWN_NOTE);
    // The hours and the day of the range sum the rewritten minutes (the stray row's gone).
    let all = ccx_store::RowFilter::default();
    let (hourly, daily) = ccx_model::rollup::roll_up(&got, |_| chrono_tz_utc());
    assert!(!hourly.queue.is_empty() && !daily.agent.is_empty());
    use ccx_store::schema::Grain;
    assert_eq!(store.read_rollups(Grain::Hour, &all).await.unwrap(), hourly);
    assert_eq!(store.read_rollups(Grain::Day, &all).await.unwrap(), daily);
    assert!(
        stdout.contains("hourly and daily rollup rows rewritten"),
        "{stdout}"
    );

    // Minutes that are final but whose day is not: the stream still writes the day's rollup.
    let at = |text: &str| ccx_model::json::rfc3339_ms(text).expect("a time");
    let day_open = RowBatch {
        version: 1,
        progress: vec![ccx_model::rows::TenantProgress {
            tenant_id: "dayopen".into(),
            // Minutes before 2026-03-29 12:00 UTC are final (24 h FCR window + 2 h).
            watermark: at("2026-03-30T14:00:00Z"),
        }],
        ..RowBatch::default()
    };
    store.write(&day_open).await.expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_ccx"))
        .arg("--config")
        .arg(&config)
        .args(["backfill", "--tenant", "dayopen"])
        .args([
            "--from",
            "2026-03-29T10:00:00Z",
            "--to",
            "2026-03-29T11:00:00Z",
        ])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--to: the day 2026-03-29 (time zone UTC) is not final until"),
        "{stderr}"
    );

    // The last hour is not final yet (24 h FCR window + 2 h behind the watermark).
    let out = backfill(&config, now - 3_600_000, now);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--to: the minutes from "), "{stderr}");
    // A time that is not RFC 3339 is refused by name.
    let out = Command::new(env!("CARGO_BIN_EXE_ccx"))
        .arg("--config")
        .arg(&config)
        .args([
            "backfill",
            "--tenant",
            "acme",
            "--from",
            "yesterday",
            "--to",
            "now",
        ])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--from"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
