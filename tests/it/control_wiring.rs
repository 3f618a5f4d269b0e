//! Tenant configuration held by the control plane reaches the running services without a
//! restart: a token added for a tenant is accepted by a running collector, and a changed
//! service-level threshold is applied by a running engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ccx_collector::Sink;
use ccx_e2e::*;
use ccx_model::hash_token;
use ccx_model::settings::TenantSettings;
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_proto::v1::PublishRequest;
use ccx_stream::engine::{Engine, Settings, SharedSettings};
use tokio_util::sync::CancellationToken;
use tonic::Code;

/// The control plane's operator credential (the tests' own changes) and the pipeline's
/// service credential (collector, stream).
const OPERATOR: &str = "operator-token-of-the-wiring-tests";
const SERVICE: &str = "service-token-of-the-pipeline";

async fn control() -> (
    ccx_control::ReplicaHandle,
    ccx_control::ControlClient,
    std::path::PathBuf,
) {
    let dir = std::env::temp_dir().join(unique_topic("ccx-control-wiring"));
    let replica = ccx_control::start_replica(
        ccx_control::ReplicaOptions::single_node(dir.clone())
            .with_operator("ops", OPERATOR)
            .with_service("pipeline", SERVICE),
    )
    .await
    .expect("replica");
    let client = replica.client(OPERATOR).expect("client");
    (replica, client, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_added_in_the_control_plane_is_accepted_without_a_restart() {
    let (replica, client, dir) = control().await;
    let config = collector_config("127.0.0.1:1", "unused", 1);
    let stop = CancellationToken::new();
    let running = ccx_collector::serve(&config, Sink::Null, stop.clone())
        .await
        .expect("serve");
    tokio::spawn(ccx_collector::directory::follow_control(
        Arc::clone(&running.ingest),
        config.tenants.clone(),
        replica.client(SERVICE).expect("client"),
        Duration::from_millis(200),
        stop.clone(),
    ));
    let mut grpc = CollectorClient::connect(format!("http://{}", running.grpc_addr))
        .await
        .expect("connect");
    let publish = |token: &'static str| {
        let mut request = tonic::Request::new(PublishRequest {
            events: sample_events("acme", "w", 3),
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii"),
        );
        request
    };
    let status = grpc.publish(publish("acme-token")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut tenant = TenantSettings::default().to_proto("acme");
    tenant.token_sha256 = vec![hash_token("acme-token")];
    client.put_config(tenant).await.expect("put");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match grpc.publish(publish("acme-token")).await {
            Ok(response) => {
                assert_eq!(response.into_inner().accepted, 3);
                break;
            }
            Err(status) if status.code() == Code::Unauthenticated && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("{status}"),
        }
    }
    // The configured tenants keep working.
    let mut request = tonic::Request::new(PublishRequest {
        events: sample_events("tenant-0", "k", 2),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token("tenant-0"))
            .parse()
            .expect("ascii"),
    );
    assert_eq!(
        grpc.publish(request)
            .await
            .expect("publish")
            .into_inner()
            .accepted,
        2
    );
    stop.cancel();
    running.wait().await;
    replica.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_changed_in_the_control_plane_is_applied_by_a_running_engine() {
    let (replica, client, dir) = control().await;
    let shared = Arc::new(SharedSettings::default());
    tokio::spawn(ccx_stream::serve::follow_settings(
        Arc::clone(&shared),
        replica.client(SERVICE).expect("client"),
        Duration::from_millis(200),
        CancellationToken::new(),
    ));
    let mut settings = Settings::new(TenantSettings::default());
    settings.shared = Some(Arc::clone(&shared));
    let start = now_ms() - 600_000;
    let mut engine = Engine::new(settings, start);
    // A 15 s wait: within the default 20 s service level.
    let answer = |id: &str, at: i64| {
        let mut e = offered("tenant-0", id, "x", at);
        e.event_id = format!("{id}-a");
        e.r#type = ccx_model::EventType::ContactAnswered as i32;
        e.agent_id = "a1".into();
        e.occurred_at = Some(ccx_model::ms_timestamp(at + 15_000));
        e
    };
    engine.ingest(&offered("tenant-0", "c1", "x", start + 1_000));
    engine.ingest(&answer("c1", start + 1_000));
    engine.advance(start + 60_000);

    let tighter = TenantSettings {
        sl_threshold_ms: 10_000,
        ..TenantSettings::default()
    };
    client
        .put_config(tighter.to_proto("tenant-0"))
        .await
        .expect("put");
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared_threshold(&shared) != Some(10_000) {
        assert!(Instant::now() < deadline, "settings never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.ingest(&offered("tenant-0", "c2", "x", start + 120_000));
    engine.ingest(&answer("c2", start + 120_000));
    engine.advance(start + 180_000);
    let rows = engine.final_rows();
    let in_sl: Vec<u64> = rows
        .queue
        .values()
        .filter(|c| c.answered > 0)
        .map(|c| c.answered_in_sl)
        .collect();
    assert_eq!(in_sl, vec![1, 0], "20 s threshold, then 10 s");
    replica.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn shared_threshold(shared: &SharedSettings) -> Option<i64> {
    shared.get("tenant-0").map(|s| s.sl_threshold_ms)
}

/// A threshold rule set in the control plane is evaluated by a running stream on its live
/// floor: the THRESHOLD alert is raised in the control plane within seconds, and resolved
/// there ("condition cleared") once the queue recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_rule_raises_and_resolves_its_alert_in_the_control_plane() {
    use ccx_control_client::{AlertFilter, AlertKind, AlertStatus};
    use ccx_model::settings::{Metric, Op, ThresholdRule};
    use ccx_proto::prost::Message as _;
    use std::sync::atomic::{AtomicBool, Ordering};

    let (replica, client, dir) = control().await;
    let endpoint = replica.grpc_addr().to_string();
    let rules = TenantSettings {
        threshold_rules: vec![ThresholdRule {
            id: "queue-building".into(),
            metric: Metric::Waiting,
            queue_id: String::new(),
            channel: String::new(),
            op: Op::Above,
            threshold: 1.0,
            window_ms: 15 * 60_000,
            for_ms: 0,
        }],
        ..TenantSettings::default()
    };
    client
        .put_config(rules.to_proto("tenant-0"))
        .await
        .expect("put");
    let shared = Arc::new(SharedSettings::default());
    let stop_follow = CancellationToken::new();
    tokio::spawn(ccx_stream::serve::follow_settings(
        Arc::clone(&shared),
        ccx_control::ControlClient::new([endpoint.clone()])
            .and_then(|c| c.with_credential(SERVICE))
            .expect("client"),
        Duration::from_millis(100),
        stop_follow.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared
        .get("tenant-0")
        .is_none_or(|s| s.threshold_rules.is_empty())
    {
        assert!(Instant::now() < deadline, "settings never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut settings = Settings::new(TenantSettings::default());
    settings.shared = Some(Arc::clone(&shared));

    let topic = ccx_model::log::MemoryTopic::new(2);
    let stop = Arc::new(AtomicBool::new(false));
    let options = ccx_stream::dataflow::StreamOptions {
        partitions: 2,
        idle_timeout: Duration::from_millis(500),
        flush_interval: Duration::from_millis(100),
        checkpoint_every_ms: 0,
        ..Default::default()
    };
    let stream = {
        let (topic, stop) = (Arc::clone(&topic), Arc::clone(&stop));
        std::thread::spawn(move || {
            ccx_stream::dataflow::run(
                options,
                settings,
                move |_| Ok(ccx_stream::source::MemoryLog::new(Arc::clone(&topic))),
                move |_| {
                    let rows = ccx_stream::sink::MemorySink::default();
                    ccx_stream::sink::WithAlerts::new(
                        rows,
                        std::slice::from_ref(&endpoint),
                        SERVICE,
                    )
                },
                stop,
                Arc::new(ccx_stream::dataflow::Progress::default()),
            )
        })
    };
    let publish = |events: &[ccx_model::Event]| {
        for e in events {
            topic.append(&ccx_model::kafka_key(e), &e.encode_to_vec());
        }
    };
    let now = now_ms();
    publish(&[
        offered("tenant-0", "w1", "x1", now),
        offered("tenant-0", "w2", "x2", now),
    ]);
    let threshold_alerts = || async {
        let filter = AlertFilter {
            tenant_id: Some("tenant-0".into()),
            ..Default::default()
        };
        let alerts = client.list_alerts(&filter).await.expect("alerts");
        alerts
            .into_iter()
            .filter(|a| a.kind == AlertKind::Threshold)
            .collect::<Vec<_>>()
    };
    let raised_within = Instant::now();
    let alert = loop {
        if let Some(a) = threshold_alerts().await.pop() {
            break a;
        }
        assert!(
            raised_within.elapsed() < Duration::from_secs(10),
            "never raised"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let facts = alert.threshold.clone().expect("threshold facts");
    assert_eq!(alert.status, AlertStatus::Open);
    assert_eq!(
        (facts.rule_id.as_str(), facts.metric.as_str()),
        ("queue-building", "waiting")
    );
    assert_eq!((facts.value, facts.threshold), (2.0, 1.0));
    assert!(
        alert.alert_id.starts_with("tenant-0:queue-building:"),
        "{}",
        alert.alert_id
    );

    // Both answered: the queue recovered, the alert is resolved by the stream.
    let answered = |id: &str| {
        let mut e = offered("tenant-0", id, "x", now + 1_000);
        e.event_id = format!("{id}-a");
        e.r#type = ccx_model::EventType::ContactAnswered as i32;
        e.agent_id = "a1".into();
        e
    };
    publish(&[answered("w1"), answered("w2")]);
    let resolved_within = Instant::now();
    loop {
        let alerts = threshold_alerts().await;
        assert_eq!(alerts.len(), 1, "one alert per rule and queue: {alerts:?}");
        if alerts[0].status == AlertStatus::Resolved {
            let last = alerts[0].history.last().expect("history");
            assert_eq!(
                (last.by.as_str(), last.note.as_str()),
                ("ccx via service:pipeline", "condition cleared")
            );
            break;
        }
        assert!(
            resolved_within.elapsed() < Duration::from_secs(10),
            "never resolved"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    stream.join().expect("join").expect("stream");
    stop_follow.cancel();
    replica.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A service-level rule, end to end: a queue's calls answered late make its SL fall under the
/// rule's threshold and the tenant's webhook (a receiver on 127.0.0.1) gets the open
/// notification; fast answers bring it back and the webhook gets the resolved one, each with
/// `Idempotency-Key: <alert_id>:<transition>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_level_rule_notifies_when_the_queue_misses_it_and_when_it_recovers() {
    use ccx_model::settings::{AlertKind, Format, Metric, NotificationTarget, Op, ThresholdRule};
    use ccx_proto::prost::Message as _;
    use std::sync::atomic::{AtomicBool, Ordering};

    // The tenant's webhook: every request's key and body.
    type Hooks = Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;
    let hooks: Hooks = Arc::default();
    let app = {
        let hooks = Arc::clone(&hooks);
        axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::Json<serde_json::Value>| async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    ccx_model::sync::lock(&hooks).push((key, body.0));
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (replica, client, dir) = control().await;
    let endpoint = replica.grpc_addr().to_string();
    let settings = TenantSettings {
        threshold_rules: vec![ThresholdRule {
            id: "sl-low".into(),
            metric: Metric::ServiceLevel,
            queue_id: "q-sl".into(),
            channel: String::new(),
            op: Op::Below,
            threshold: 80.0,
            window_ms: 15 * 60_000,
            for_ms: 0,
        }],
        notification_targets: vec![NotificationTarget {
            url: hook,
            kinds: vec![AlertKind::Threshold],
            format: Format::Json,
        }],
        ..TenantSettings::default()
    };
    client
        .put_config(settings.to_proto("tenant-0"))
        .await
        .expect("put");
    let shared = Arc::new(SharedSettings::default());
    let stop_follow = CancellationToken::new();
    tokio::spawn(ccx_stream::serve::follow_settings(
        Arc::clone(&shared),
        ccx_control::ControlClient::new([endpoint.clone()])
            .and_then(|c| c.with_credential(SERVICE))
            .expect("client"),
        Duration::from_millis(100),
        stop_follow.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared
        .get("tenant-0")
        .is_none_or(|s| s.threshold_rules.is_empty())
    {
        assert!(Instant::now() < deadline, "settings never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut stream_settings = Settings::new(TenantSettings::default());
    stream_settings.shared = Some(Arc::clone(&shared));
    let topic = ccx_model::log::MemoryTopic::new(2);
    let stop = Arc::new(AtomicBool::new(false));
    let options = ccx_stream::dataflow::StreamOptions {
        partitions: 2,
        idle_timeout: Duration::from_millis(300),
        flush_interval: Duration::from_millis(100),
        checkpoint_every_ms: 0,
        ..Default::default()
    };
    let stream = {
        let (topic, stop) = (Arc::clone(&topic), Arc::clone(&stop));
        std::thread::spawn(move || {
            ccx_stream::dataflow::run(
                options,
                stream_settings,
                move |_| Ok(ccx_stream::source::MemoryLog::new(Arc::clone(&topic))),
                move |_| {
                    let rows = ccx_stream::sink::MemorySink::default();
                    ccx_stream::sink::WithAlerts::new(
                        rows,
                        std::slice::from_ref(&endpoint),
                        SERVICE,
                    )
                },
                stop,
                Arc::new(ccx_stream::dataflow::Progress::default()),
            )
        })
    };
    // Calls of q-sl offered at `offer` and answered `wait_ms` later.
    let calls = |prefix: &str, n: usize, offer: i64, wait_ms: i64| {
        let mut events = Vec::new();
        for i in 0..n {
            let mut o = offered("tenant-0", &format!("{prefix}{i}"), "x", offer);
            o.queue_id = "q-sl".into();
            let mut a = o.clone();
            a.event_id.push_str("-a");
            a.r#type = ccx_model::EventType::ContactAnswered as i32;
            a.agent_id = "a1".into();
            a.occurred_at = Some(ccx_model::ms_timestamp(offer + wait_ms));
            events.extend([o, a]);
        }
        for e in &events {
            topic.append(&ccx_model::kafka_key(e), &e.encode_to_vec());
        }
    };
    let hook_keys = || {
        ccx_model::sync::lock(&hooks)
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
    };
    let wait_for = |n: usize| {
        let hook_keys = &hook_keys;
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while hook_keys().len() < n {
                assert!(Instant::now() < deadline, "webhook got {:?}", hook_keys());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // Two calls answered after 30 s: SL 0 %.
    let now = now_ms();
    calls("late", 2, now - 40_000, 30_000);
    wait_for(1).await;
    let (key, body) = ccx_model::sync::lock(&hooks)[0].clone();
    let alert_id = body["id"].as_str().expect("id").to_string();
    assert_eq!(key, format!("{alert_id}:open"));
    assert_eq!(
        (
            body["kind"].as_str(),
            body["metric"].as_str(),
            body["queue"].as_str()
        ),
        (Some("THRESHOLD"), Some("service_level"), Some("q-sl"))
    );
    assert_eq!(
        (body["value"].as_f64(), body["threshold"].as_f64()),
        (Some(0.0), Some(80.0))
    );
    // Eight answered within 2 s (offered now: earlier ones would be behind the watermark by
    // now, too late for the minutes): 8 of 10 in SL, 80 %, no longer below.
    calls("fast", 8, now_ms(), 2_000);
    wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        hook_keys(),
        [format!("{alert_id}:open"), format!("{alert_id}:resolved")],
        "once each"
    );
    stop.store(true, Ordering::Relaxed);
    stream.join().expect("join").expect("stream");
    stop_follow.cancel();
    replica.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
