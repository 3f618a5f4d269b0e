//! The control plane's clients over TLS, built from `[control] ca` as the services build
//! them: a collector follows the tokens of a TLS replica, and the stream's alert sink raises a
//! churn alert into it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ccx_collector::Sink;
use ccx_config::{ControlConfig, TlsConfig};
use ccx_control_client::{AlertFilter, ControlClient};
use ccx_e2e::*;
use ccx_model::hash_token;
use ccx_model::rows::ChurnAlert;
use ccx_model::settings::TenantSettings;
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_proto::v1::PublishRequest;
use ccx_stream::dataflow::RowSink;
use ccx_tls::testing::TestCa;
use tokio_util::sync::CancellationToken;
use tonic::Code;

const OPERATOR: &str = "operator-token-of-the-tls-test";
const SERVICE: &str = "service-token-of-the-tls-test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_follow_and_feed_a_tls_control_plane() {
    let ca = TestCa::new("ccx control CA");
    let dir = tempfile::tempdir().unwrap();
    let mut options = ccx_control::ReplicaOptions::single_node(dir.path().to_path_buf())
        .with_operator("ops", OPERATOR)
        .with_service("pipeline", SERVICE);
    options.tls = Some(TlsConfig {
        client_ca: Some(ca.ca_path()),
        ..ca.issue("control", &["127.0.0.1"]).tls()
    });
    options.ca = Some(ca.ca_path());
    let replica = ccx_control::start_replica(options).await.expect("replica");
    let endpoint = replica.grpc_addr().to_string();
    let control = ControlConfig {
        endpoints: vec![endpoint.clone()],
        ca: Some(ca.ca_path()),
        token: SERVICE.into(),
        ..ControlConfig::default()
    };
    let client = ControlClient::from_config(&ControlConfig {
        token: OPERATOR.into(),
        ..control.clone()
    })
    .expect("client");

    // The collector's token directory, as `ccx collector` builds it.
    let config = collector_config("127.0.0.1:1", "unused", 1);
    let stop = CancellationToken::new();
    let running = ccx_collector::serve(&config, Sink::Null, stop.clone())
        .await
        .expect("serve");
    tokio::spawn(ccx_collector::directory::follow_control(
        Arc::clone(&running.ingest),
        config.tenants.clone(),
        ControlClient::from_config(&control).expect("client"),
        Duration::from_millis(200),
        stop.clone(),
    ));
    let mut tenant = TenantSettings::default().to_proto("acme");
    tenant.token_sha256 = vec![hash_token("acme-token")];
    client.put_config(tenant).await.expect("put over TLS");
    let mut grpc = CollectorClient::connect(format!("http://{}", running.grpc_addr))
        .await
        .expect("connect");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut request = tonic::Request::new(PublishRequest {
            events: sample_events("acme", "w", 2),
        });
        request
            .metadata_mut()
            .insert("authorization", "Bearer acme-token".parse().expect("ascii"));
        match grpc.publish(request).await {
            Ok(response) => {
                assert_eq!(response.into_inner().accepted, 2);
                break;
            }
            Err(status) if status.code() == Code::Unauthenticated && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("{status}"),
        }
    }

    // The stream's alert sink, as `ccx stream` builds it.
    let tls = ccx_control_client::client_tls(&control).expect("CA");
    let alert = ChurnAlert {
        tenant_id: "acme".into(),
        alert_id: "acme:k1:e1".into(),
        customer_id: "k1".into(),
        score: 80,
        reasons: vec!["NPS_DETRACTOR".into()],
        triggered_at: now_ms(),
        contact_id: "c1".into(),
        channel: "VOICE".into(),
        queue_id: "q1".into(),
        agent_id: "a1".into(),
    };
    let endpoints = control.endpoints.clone();
    let raised = alert.clone();
    tokio::task::spawn_blocking(move || {
        let mut sink = ccx_stream::sink::WithAlerts::with_tls(
            ccx_stream::sink::MemorySink::default(),
            &endpoints,
            SERVICE,
            tls,
        )
        .expect("sink");
        let rows = ccx_stream::engine::Output {
            alerts: vec![raised],
            ..Default::default()
        };
        sink.write(rows, Vec::new()).expect("write");
    })
    .await
    .unwrap();
    let alerts = client.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(
        alerts
            .iter()
            .map(|a| a.alert_id.as_str())
            .collect::<Vec<_>>(),
        [alert.alert_id.as_str()]
    );

    stop.cancel();
    running.wait().await;
    replica.stop().await;
}
