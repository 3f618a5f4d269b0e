//! Alert notifications and `alert_events` from an in-process replica: what reaches a JSON and
//! a Slack target and with which key, retries against a failing or stalling receiver, giving
//! up, and the rows in a real ClickHouse server.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use ccx_control::notify::Backoff;
use ccx_control::{
    start_replica, AlertStatus, DeliveryOutcome, NotifyOptions, ReplicaHandle, ReplicaOptions,
};
use ccx_model::settings::{AlertKind, Format};
use common::*;

async fn replica(dir: &std::path::Path, notify: NotifyOptions) -> ReplicaHandle {
    replica_with(dir, notify, None).await
}

async fn replica_with(
    dir: &std::path::Path,
    notify: NotifyOptions,
    clickhouse: Option<ccx_config::ClickHouseConfig>,
) -> ReplicaHandle {
    let mut o = ReplicaOptions::single_node(dir.join("r1"));
    o.tuning.tick = Duration::from_millis(50);
    o.tuning.sync = false;
    o.notify = notify;
    o.clickhouse = clickhouse;
    let r = start_replica(o.with_operator("ops", common::OPERATOR))
        .await
        .unwrap();
    eventually("a leader", Duration::from_secs(10), || {
        r.status().leader_id == r.id()
    })
    .await;
    r
}

fn fast(first_ms: u64) -> NotifyOptions {
    NotifyOptions {
        retry: Backoff {
            first: Duration::from_millis(first_ms),
            max: Duration::from_millis(first_ms * 4),
        },
        ..NotifyOptions::default()
    }
}

fn keys(received: &[Received]) -> Vec<String> {
    received.iter().map(|r| r.key.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_transitions_reach_json_and_slack_targets_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(&[]).await;
    let r = replica(dir.path(), fast(50)).await;
    let client = r.client(common::OPERATOR).unwrap();
    client
        .put_config(config_with(
            "acme",
            vec![
                target(rx.url("json"), &[AlertKind::Churn], Format::Json),
                target(rx.url("slack"), &[], Format::Slack),
                target(rx.url("threshold"), &[AlertKind::Threshold], Format::Json),
            ],
        ))
        .await
        .unwrap();

    let a = churn("acme", 1);
    client.raise_alert(&a).await.unwrap();
    eventually("the open notification", Duration::from_secs(10), || {
        rx.accepted("json").len() == 1 && rx.accepted("slack").len() == 1
    })
    .await;
    client
        .acknowledge("acme", &a.alert_id, "kim", "calling back")
        .await
        .unwrap();
    client
        .resolve("acme", &a.alert_id, "sam", "refund issued")
        .await
        .unwrap();
    eventually(
        "three notifications per target",
        Duration::from_secs(10),
        || rx.accepted("json").len() == 3 && rx.accepted("slack").len() == 3,
    )
    .await;
    let expected = [
        "acme:c1:e1:open",
        "acme:c1:e1:acknowledged",
        "acme:c1:e1:resolved",
    ];
    assert_eq!(keys(&rx.accepted("json")), expected);
    assert_eq!(keys(&rx.accepted("slack")), expected);

    let json = rx.accepted("json");
    let open = &json[0].body;
    assert_eq!(open["tenant"], "acme");
    assert_eq!(open["id"], "acme:c1:e1");
    assert_eq!(open["kind"], "CHURN");
    assert_eq!(open["status"], "OPEN");
    assert_eq!(open["customer"], "c1");
    assert_eq!(open["score"], 70);
    assert_eq!(open["reasons"][0], "NPS_DETRACTOR");
    assert_eq!(open["by"], "ccx-stream");
    let ack = &json[1].body;
    assert_eq!(
        (&ack["status"], &ack["by"], &ack["note"]),
        (
            &serde_json::json!("ACKNOWLEDGED"),
            &serde_json::json!("kim via operator:ops"),
            &serde_json::json!("calling back")
        )
    );
    assert_eq!(json[2].body["status"], "RESOLVED");
    assert_eq!(json[2].body["by"], "sam via operator:ops");
    let slack = rx.accepted("slack");
    let text = |i: usize| slack[i].body["text"].as_str().unwrap().to_string();
    assert!(
        text(0).starts_with("[acme] CHURN alert: customer c1 at risk, score 70"),
        "{}",
        text(0)
    );
    assert!(text(0).contains(": OPEN"), "{}", text(0));
    assert!(
        text(1).contains("ACKNOWLEDGED by kim via operator:ops (calling back)"),
        "{}",
        text(1)
    );
    assert!(
        text(2).contains("RESOLVED by sam via operator:ops"),
        "{}",
        text(2)
    );
    assert_eq!(slack[0].body.as_object().unwrap().len(), 1, "only text");

    // A threshold alert reaches the slack (every kind) and threshold targets, not json.
    let t = threshold("acme", "sl", 62.5);
    let raised = std::time::Instant::now();
    raise(&r.grpc_addr().to_string(), &t).await;
    eventually(
        "the threshold notification",
        Duration::from_secs(10),
        || rx.accepted("threshold").len() == 1 && rx.accepted("slack").len() == 4,
    )
    .await;
    eprintln!(
        "threshold alert raised → notification received: {:?}",
        rx.accepted("threshold")[0].at - raised
    );
    let body = &rx.accepted("threshold")[0].body;
    assert_eq!(
        (
            &body["kind"],
            &body["rule"],
            &body["metric"],
            &body["value"]
        ),
        (
            &serde_json::json!("THRESHOLD"),
            &serde_json::json!("sl"),
            &serde_json::json!("service_level"),
            &serde_json::json!(62.5)
        )
    );
    assert_eq!(body["threshold"], 80.0);
    assert_eq!(body["queue"], "q1");
    assert_eq!(
        rx.accepted("threshold")[0].key,
        format!("{}:open", t.alert_id)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.accepted("json").len(), 3, "json wants CHURN only");
    assert!(
        rx.requests("threshold")
            .iter()
            .all(|r| r.body["kind"] == "THRESHOLD"),
        "the THRESHOLD-only target got a churn alert"
    );
    assert_eq!(rx.all().len(), 8, "no repeats: {:?}", keys(&rx.all()));

    // Recorded through raft, and counted.
    let sent = ccx_model::sync::read(&r.state())
        .sent("acme", "acme:c1:e1")
        .cloned()
        .unwrap();
    assert_eq!(sent.deliveries.len(), 6);
    assert!(sent
        .deliveries
        .values()
        .all(|o| *o == DeliveryOutcome::Delivered));
    assert_eq!(
        metric(r.http_addr(), "ccx_control_notifications_delivered_total").await,
        8.0
    );
    assert_eq!(
        metric(r.http_addr(), "ccx_control_notifications_pending").await,
        0.0
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_stalling_receivers_get_every_transition_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(&[
        ("flaky", Behaviour::FailFirst(2)),
        (
            "stall",
            Behaviour::StallFirst(1, Duration::from_millis(1_500)),
        ),
    ])
    .await;
    let mut options = fast(100);
    options.timeout = Duration::from_millis(400);
    let r = replica(dir.path(), options).await;
    let client = r.client(common::OPERATOR).unwrap();
    client
        .put_config(config_with(
            "acme",
            vec![
                target(rx.url("flaky"), &[], Format::Json),
                target(rx.url("stall"), &[], Format::Slack),
            ],
        ))
        .await
        .unwrap();
    let alerts: Vec<_> = (1..=3).map(|n| churn("acme", n)).collect();
    for a in &alerts {
        client.raise_alert(a).await.unwrap();
        client
            .acknowledge("acme", &a.alert_id, "kim", "")
            .await
            .unwrap();
        client
            .resolve("acme", &a.alert_id, "sam", "")
            .await
            .unwrap();
    }
    eventually(
        "every transition delivered",
        Duration::from_secs(30),
        || rx.accepted("flaky").len() >= 9 && rx.accepted("stall").len() >= 9,
    )
    .await;
    for path in ["flaky", "stall"] {
        let accepted = rx.accepted(path);
        for a in &alerts {
            let mine: Vec<String> = accepted
                .iter()
                .filter(|r| r.key.starts_with(&format!("{}:", a.alert_id)))
                .map(|r| r.key.clone())
                .collect();
            assert_eq!(
                mine,
                ["open", "acknowledged", "resolved"].map(|t| format!("{}:{t}", a.alert_id)),
                "{path}"
            );
            // No transition was tried before the one before it was delivered.
            let all = rx.requests(path);
            for pair in ["open", "acknowledged", "resolved"].windows(2) {
                let delivered = all
                    .iter()
                    .find(|r| r.status == 200 && r.key == format!("{}:{}", a.alert_id, pair[0]))
                    .unwrap()
                    .at;
                let first_next = all
                    .iter()
                    .filter(|r| r.key == format!("{}:{}", a.alert_id, pair[1]))
                    .map(|r| r.at)
                    .min()
                    .unwrap();
                assert!(first_next >= delivered, "{path}: {pair:?} out of order");
            }
        }
    }
    // Each key failed twice on the flaky target before its 200.
    let flaky = rx.requests("flaky");
    let mut tries: BTreeMap<String, usize> = BTreeMap::new();
    for r in &flaky {
        *tries.entry(r.key.clone()).or_default() += 1;
    }
    assert!(tries.values().all(|n| *n == 3), "{tries:?}");
    let failures = metric(r.http_addr(), "ccx_control_notification_failures_total").await;
    // 18 answers 500, and 9 posts that timed out on the stalling receiver.
    assert!(failures >= 27.0, "failures {failures}");
    eprintln!(
        "flaky: {} requests, stall: {} requests, failures counted {failures}",
        flaky.len(),
        rx.requests("stall").len()
    );
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_is_given_up_after_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(&[("down", Behaviour::Down)]).await;
    let mut options = fast(100);
    options.give_up_after = Duration::from_millis(1_500);
    let r = replica(dir.path(), options).await;
    let client = r.client(common::OPERATOR).unwrap();
    client
        .put_config(config_with(
            "acme",
            vec![
                target(rx.url("down"), &[], Format::Json),
                target(rx.url("up"), &[], Format::Json),
            ],
        ))
        .await
        .unwrap();
    let a = churn("acme", 1);
    client.raise_alert(&a).await.unwrap();
    eventually("giving up", Duration::from_secs(15), || {
        ccx_model::sync::read(&r.state())
            .sent("acme", &a.alert_id)
            .is_some_and(|s| {
                s.deliveries
                    .get(&(AlertStatus::Open, rx.url("down")))
                    .is_some_and(|o| *o == DeliveryOutcome::GaveUp)
            })
    })
    .await;
    assert_eq!(keys(&rx.accepted("up")), ["acme:c1:e1:open"]);
    let tries = rx.requests("down").len();
    assert!(tries >= 3, "only {tries} tries before giving up");
    assert_eq!(
        metric(r.http_addr(), "ccx_control_notifications_given_up_total").await,
        1.0
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.requests("down").len(), tries, "retried after giving up");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_events_rows_equal_the_alert_histories() {
    let (_server, config) = ccx_store::testing::ClickHouseServer::start();
    let store = ccx_store::Store::connect(&config).await.unwrap();
    store.migrate().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = replica_with(dir.path(), NotifyOptions::default(), Some(config)).await;
    let client = r.client(common::OPERATOR).unwrap();
    let alerts: Vec<_> = (1..=4).map(|n| churn("acme", n)).collect();
    for (i, a) in alerts.iter().enumerate() {
        client.raise_alert(a).await.unwrap();
        if i % 2 == 0 {
            client
                .acknowledge("acme", &a.alert_id, "kim", "it's on me")
                .await
                .unwrap();
        }
        if i < 3 {
            client
                .resolve("acme", &a.alert_id, "sam", "done")
                .await
                .unwrap();
        }
    }
    let t = threshold("acme", "sl", 61.0);
    raise(&r.grpc_addr().to_string(), &t).await;
    client
        .resolve("acme", &t.alert_id, "ccx", "condition cleared")
        .await
        .unwrap();
    client.raise_alert(&churn("other", 9)).await.unwrap();

    let histories = client
        .list_alerts(&ccx_control::AlertFilter {
            tenant_id: Some("acme".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut expected: Vec<ccx_store::AlertEvent> = histories
        .iter()
        .flat_map(|a| {
            a.history.iter().map(|h| ccx_store::AlertEvent {
                tenant_id: a.tenant_id.clone(),
                alert_id: a.alert_id.clone(),
                kind: a.kind.name().to_string(),
                status: h.status.name().to_string(),
                at_ms: h.at_ms,
                by: h.by.clone(),
                note: h.note.clone(),
            })
        })
        .collect();
    expected.sort_by(|a, b| (&a.alert_id, a.at_ms).cmp(&(&b.alert_id, b.at_ms)));
    assert_eq!(expected.len(), 4 + 2 + 3 + 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let rows = store.read_alert_events("acme").await.unwrap();
        if rows.len() >= expected.len() || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows, expected);
    assert_eq!(store.read_alert_events("other").await.unwrap().len(), 1);
    // Recorded, so a new leader would not write them again.
    eventually("the writes recorded", Duration::from_secs(10), || {
        let state = r.state();
        let state = ccx_model::sync::read(&state);
        histories.iter().all(|a| {
            state
                .sent("acme", &a.alert_id)
                .is_some_and(|s| s.events_written.len() == a.history.len())
        })
    })
    .await;
    assert_eq!(
        metric(r.http_addr(), "ccx_control_alert_events_written_total").await,
        12.0
    );
    r.stop().await;
}
