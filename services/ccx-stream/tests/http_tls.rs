//! The stream's probe and metrics listener over TLS (`stream.tls`): a client with a
//! certificate of the CA reads it, a plaintext client and a client without a certificate are
//! refused. No broker is needed: the listener answers before the dataflow reads anything.

use ccx_config::{Config, TlsConfig};
use ccx_stream::Cluster;
use ccx_tls::testing::TestCa;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics_are_served_over_tls() {
    let ca = TestCa::new("ccx test CA");
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.kafka.brokers = "127.0.0.1:1".into();
    config.stream.checkpoint_dir = dir.path().to_path_buf();
    config.stream.http_listen = ([127, 0, 0, 1], 0).into();
    config.stream.tls = Some(TlsConfig {
        client_ca: Some(ca.ca_path()),
        ..ca.issue("stream", &["localhost"]).tls()
    });
    config.validate().unwrap();
    let shutdown = CancellationToken::new();
    let running = ccx_stream::serve(&config, Cluster::default(), shutdown.clone())
        .await
        .expect("serve");
    let port = running.http_addr.port();

    let prometheus = ca.https_client(Some(&ca.issue("prometheus", &["prometheus"])));
    let health = prometheus
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .expect("HTTPS");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .is_err());
    assert!(ca
        .https_client(None)
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .is_err());
    shutdown.cancel();
    let _ = running.wait().await;
}
