//! A three-replica cluster on loopback with `control.tls` and `control.ca` from a CA made
//! here: replicas elect, replicate and forward over mutual TLS, clients that trust the CA
//! read and write without a certificate of their own, and plaintext clients, clients of
//! another CA and replica traffic without a client certificate are refused.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ccx_config::TlsConfig;
use ccx_control::transport::pb::raft_transport_client::RaftTransportClient;
use ccx_control::transport::pb::RaftBatch;
use ccx_control::{start_replica, AlertFilter, ControlClient, ReplicaHandle, ReplicaOptions};
use ccx_control_client::tls_channel;
use ccx_model::rows::ChurnAlert;
use ccx_tls::testing::TestCa;

const OPERATOR: &str = "operator-token-of-the-tls-tests";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn tls_cluster(ca: &TestCa, dir: &std::path::Path) -> Vec<ReplicaHandle> {
    let peers: Vec<(u64, String)> = (1..=3)
        .map(|id| (id, format!("127.0.0.1:{}", free_port())))
        .collect();
    let mut handles = Vec::new();
    for (id, address) in &peers {
        let grpc: SocketAddr = address.parse().unwrap();
        let mut o = ReplicaOptions::new(
            *id,
            peers.clone(),
            dir.join(format!("r{id}")),
            grpc,
            "127.0.0.1:0".parse().unwrap(),
        );
        o.tuning.tick = Duration::from_millis(50);
        let own = ca.issue(&format!("replica-{id}"), &["127.0.0.1", "localhost"]);
        o.tls = Some(TlsConfig {
            client_ca: Some(ca.ca_path()),
            ..own.tls()
        });
        o.ca = Some(ca.ca_path());
        handles.push(
            start_replica(o.with_operator("ops", OPERATOR))
                .await
                .unwrap(),
        );
    }
    handles
}

async fn wait_leader(handles: &[ReplicaHandle]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(i) = handles.iter().position(|h| h.status().role == "leader") {
            return i;
        }
        assert!(Instant::now() < deadline, "no leader within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn alert(n: u32) -> ChurnAlert {
    ChurnAlert {
        tenant_id: "acme".into(),
        alert_id: format!("acme:c{n}:e{n}"),
        customer_id: format!("c{n}"),
        score: 75,
        reasons: vec!["NPS_DETRACTOR".into()],
        triggered_at: 1_700_000_000_000 + n as i64 * 1_000,
        contact_id: format!("k{n}"),
        channel: "CHAT".into(),
        queue_id: "billing".into(),
        agent_id: "a7".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_use_mutual_tls_and_clients_must_trust_the_ca() {
    let ca = TestCa::new("ccx control CA");
    let dir = tempfile::tempdir().unwrap();
    let handles = tls_cluster(&ca, dir.path()).await;
    let leader = wait_leader(&handles).await;
    let follower = &handles[(leader + 1) % 3];
    let endpoint = follower.grpc_addr().to_string();

    // A client of a follower only: its write is forwarded to the leader and its linearizable
    // read asks the leader, both over the replicas' mutual TLS.
    let client = ControlClient::new([endpoint.clone()])
        .unwrap()
        .with_credential(OPERATOR)
        .unwrap()
        .with_tls(Some(ca.client_tls(None)));
    let raised = client.raise_alert(&alert(1)).await.expect("write over TLS");
    assert_eq!(raised.alert_id, "acme:c1:e1");
    let listed = client.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(listed.len(), 1);
    // Replicated to the third replica too.
    let third = &handles[(leader + 2) % 3];
    let deadline = Instant::now() + Duration::from_secs(10);
    while third.status().applied_index < follower.status().applied_index {
        assert!(Instant::now() < deadline, "not replicated");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A plaintext client, and a client that trusts another CA, get nothing.
    let quick = Duration::from_secs(2);
    let plain = ControlClient::new([endpoint.clone()])
        .unwrap()
        .with_credential(OPERATOR)
        .unwrap()
        .with_timeout(quick);
    assert!(plain.list_alerts(&AlertFilter::default()).await.is_err());
    let stranger = TestCa::new("another CA");
    let foreign = ControlClient::new([endpoint.clone()])
        .unwrap()
        .with_credential(OPERATOR)
        .unwrap()
        .with_tls(Some(stranger.client_tls(None)))
        .with_timeout(quick);
    assert!(foreign.list_alerts(&AlertFilter::default()).await.is_err());

    // Replica traffic needs a client certificate of the CA.
    let batch = || RaftBatch {
        from: 9,
        to: 99,
        messages: Vec::new(),
        from_address: String::new(),
    };
    let anonymous = tls_channel(&endpoint, Some(&ca.client_tls(None))).unwrap();
    let refused = RaftTransportClient::new(anonymous)
        .step(batch())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let replica_cert = ca.issue("replica-9", &["127.0.0.1"]);
    let with_cert = tls_channel(&endpoint, Some(&ca.client_tls(Some(&replica_cert)))).unwrap();
    let passed = RaftTransportClient::new(with_cert)
        .step(batch())
        .await
        .unwrap_err();
    // Past the check: the replica itself answers that the batch is not for it.
    assert_eq!(passed.code(), tonic::Code::FailedPrecondition, "{passed:?}");
    let foreign_cert = stranger.issue("replica-9", &["127.0.0.1"]);
    let foreign_channel =
        tls_channel(&endpoint, Some(&ca.client_tls(Some(&foreign_cert)))).unwrap();
    let refused = RaftTransportClient::new(foreign_channel)
        .step(batch())
        .await
        .unwrap_err();
    assert_ne!(refused.code(), tonic::Code::FailedPrecondition);

    // The HTTP listener (probes, metrics) is HTTPS with the replica's certificate.
    let http = follower.http_addr().port();
    let ready = ca
        .https_client(None)
        .get(format!("https://localhost:{http}/healthz"))
        .send()
        .await
        .expect("HTTPS probe");
    assert_eq!(ready.status(), 200);
    assert!(reqwest::get(format!("http://127.0.0.1:{http}/healthz"))
        .await
        .is_err());

    for h in handles {
        h.stop().await;
    }
}
