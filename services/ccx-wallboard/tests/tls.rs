//! The wallboard over HTTPS with client certificates (`wallboard.tls` with a `client_ca`),
//! following a control plane it reaches over TLS (`control.ca`): a viewer with a certificate
//! of the CA signs in with a token the control plane holds; plaintext clients, clients
//! without a certificate and clients of another CA are refused.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ccx_config::TlsConfig;
use ccx_control_client::ControlClient;
use ccx_model::settings::TenantSettings;
use ccx_tls::testing::TestCa;
use ccx_wallboard::{MemorySource, Options};
use common::*;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

const OPERATOR: &str = "operator-token-of-the-wallboard-tls-test";
const SERVICE: &str = "service-token-of-the-wallboard-tls-test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_over_tls_to_clients_of_the_ca_only() {
    let ca = TestCa::new("ccx test CA");
    let dir = tempfile::tempdir().unwrap();
    let mut replica = ccx_control::ReplicaOptions::single_node(dir.path().join("control"));
    replica.tls = Some(TlsConfig {
        client_ca: Some(ca.ca_path()),
        ..ca.issue("control", &["127.0.0.1"]).tls()
    });
    replica.ca = Some(ca.ca_path());
    let replica = ccx_control::start_replica(
        replica
            .with_operator("ops", OPERATOR)
            .with_service("wallboard", SERVICE),
    )
    .await
    .expect("control");
    let endpoint = replica.grpc_addr().to_string();
    let control = ControlClient::new([endpoint.clone()])
        .unwrap()
        .with_credential(OPERATOR)
        .unwrap()
        .with_tls(Some(ca.client_tls(None)));
    let mut config = TenantSettings::default().to_proto("acme");
    config.token_sha256 = vec![ccx_model::hash_token("token-acme")];
    control.put_config(config).await.expect("put over TLS");

    let mut options = Options::new(([127, 0, 0, 1], 0).into());
    options.control = vec![endpoint];
    options.control_token = SERVICE.into();
    options.control_tls = Some(ca.client_tls(None));
    options.tokens_every = Duration::from_millis(100);
    options.tls = Some(TlsConfig {
        client_ca: Some(ca.ca_path()),
        ..ca.issue("wallboard", &["localhost"]).tls()
    });
    let source = Arc::new(MemorySource::new(memory(&batch(0))));
    let shutdown = CancellationToken::new();
    let running = ccx_wallboard::serve(options, source, shutdown.clone())
        .await
        .expect("serve");
    let base = format!("https://localhost:{}", running.addr.port());

    let viewer = ca.https_client(Some(&ca.issue("supervisor", &["supervisor"])));
    let health = viewer.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // The token comes from the control plane, read over TLS.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = viewer
            .post(format!("{base}/signin"))
            .form(&[("tenant", "acme"), ("user", "sam"), ("token", "token-acme")])
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::SEE_OTHER {
            assert_eq!(r.headers()[reqwest::header::LOCATION], "/");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "token not followed: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let plain = format!("http://127.0.0.1:{}/healthz", running.addr.port());
    assert!(reqwest::get(plain).await.is_err());
    assert!(ca
        .https_client(None)
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_err());
    let stranger = TestCa::new("another CA");
    let foreign = stranger.https_client(Some(&stranger.issue("supervisor", &["x"])));
    assert!(foreign.get(format!("{base}/healthz")).send().await.is_err());

    shutdown.cancel();
    running.wait().await;
    replica.stop().await;
}
