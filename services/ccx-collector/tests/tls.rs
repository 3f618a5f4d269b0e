//! The collector's two listeners over TLS with client certificates (`collector.tls` with a
//! `client_ca`), against a CA generated here: a publish round-trips on each, and a plaintext
//! client, a client without a certificate and one that does not trust the CA are refused.

use std::time::Duration;

use ccx_collector::{Running, Sink};
use ccx_config::{Config, TenantToken, TlsConfig};
use ccx_model::json::event_to_json;
use ccx_model::{hash_token, ms_timestamp, Event};
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_proto::v1::{Channel, Direction, EventType, PublishRequest, PublishResponse};
use ccx_tls::testing::{Issued, TestCa};
use ccx_tls::ClientTls;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;

const TOKEN: &str = "token-acme";

async fn start(ca: &TestCa) -> Running {
    let server = ca.issue("collector", &["localhost", "127.0.0.1"]);
    let mut config = Config::default();
    config.collector.grpc_listen = ([127, 0, 0, 1], 0).into();
    config.collector.http_listen = ([127, 0, 0, 1], 0).into();
    config.collector.drain_timeout = Duration::from_secs(1);
    config.collector.tls = Some(TlsConfig {
        client_ca: Some(ca.ca_path()),
        ..server.tls()
    });
    config.tenants = vec![TenantToken {
        id: "acme".into(),
        token_sha256: hash_token(TOKEN),
    }];
    config.validate().expect("valid test config");
    ccx_collector::serve(&config, Sink::Null, CancellationToken::new())
        .await
        .expect("collector")
}

fn event() -> Event {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    Event {
        event_id: "e-1".into(),
        tenant_id: "acme".into(),
        r#type: EventType::ContactOffered as i32,
        occurred_at: Some(ms_timestamp(now)),
        contact_id: "c-1".into(),
        customer_id: "k".into(),
        channel: Channel::Voice as i32,
        direction: Direction::Inbound as i32,
        queue_id: "support".into(),
        reason: "billing".into(),
        ..Default::default()
    }
}

async fn grpc_publish(url: String, tls: Option<ClientTls>) -> Result<PublishResponse, String> {
    let mut endpoint = Endpoint::from_shared(url)
        .unwrap()
        .connect_timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.tonic()).unwrap();
    }
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    let mut request = tonic::Request::new(PublishRequest {
        events: vec![event()],
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    CollectorClient::new(channel)
        .publish(request)
        .await
        .map(|r| r.into_inner())
        .map_err(|s| format!("{s:?}"))
}

async fn http_post(client: &reqwest::Client, url: String) -> Result<u16, reqwest::Error> {
    let body = serde_json::to_vec(&[event_to_json(&event())]).unwrap();
    let response = client
        .post(url)
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn both_listeners_serve_tls_to_clients_of_the_ca_only() {
    let ca = TestCa::new("ccx test CA");
    let running = start(&ca).await;
    let client: Issued = ca.issue("acd", &["acd.example"]);
    let grpc_url = format!("https://localhost:{}", running.grpc_addr.port());
    let http_url = format!("https://localhost:{}/v1/events", running.http_addr.port());

    let published = grpc_publish(grpc_url.clone(), Some(ca.client_tls(Some(&client))))
        .await
        .expect("gRPC over TLS");
    assert_eq!(published.accepted, 1);
    let status = http_post(&ca.https_client(Some(&client)), http_url.clone())
        .await
        .expect("HTTPS");
    assert_eq!(status, 200);

    // Plaintext clients.
    let plain_grpc = format!("http://127.0.0.1:{}", running.grpc_addr.port());
    assert!(grpc_publish(plain_grpc, None).await.is_err());
    let plain_http = format!("http://127.0.0.1:{}/v1/events", running.http_addr.port());
    assert!(http_post(&reqwest::Client::new(), plain_http)
        .await
        .is_err());

    // Clients without a certificate.
    assert!(grpc_publish(grpc_url.clone(), Some(ca.client_tls(None)))
        .await
        .is_err());
    assert!(http_post(&ca.https_client(None), http_url.clone())
        .await
        .is_err());

    // Clients that trust another CA (with a certificate of that CA).
    let stranger = TestCa::new("another CA");
    let foreign = stranger.issue("acd", &["acd.example"]);
    assert!(
        grpc_publish(grpc_url, Some(stranger.client_tls(Some(&foreign))))
            .await
            .is_err()
    );
    assert!(http_post(&stranger.https_client(Some(&foreign)), http_url)
        .await
        .is_err());
    running.stop().await;
}
