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

async fn control() -> (
    ccx_control::ReplicaHandle,
    ccx_control::ControlClient,
    std::path::PathBuf,
) {
    let dir = std::env::temp_dir().join(unique_topic("ccx-control-wiring"));
    let replica = ccx_control::start_replica(ccx_control::ReplicaOptions::single_node(dir.clone()))
        .await
        .expect("replica");
    let client =
        ccx_control::ControlClient::new([replica.grpc_addr().to_string()]).expect("client");
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
        ccx_control::ControlClient::new([replica.grpc_addr().to_string()]).expect("client"),
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
        ccx_control::ControlClient::new([replica.grpc_addr().to_string()]).expect("client"),
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
