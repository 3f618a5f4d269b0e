//! In-process clusters on loopback: the gRPC service, forwarding, linearizable reads, the
//! client. (The `ccx` commands built on the client are tested in services/ccx/tests.)

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ccx_control::{
    start_replica, AlertFilter, AlertStatus, ControlClient, ReplicaHandle, ReplicaOptions,
};
use ccx_model::rows::ChurnAlert;

/// The operator credential every replica of these tests accepts.
const OPERATOR: &str = "operator-token-of-the-cluster-tests";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn alert(n: u32) -> ChurnAlert {
    ChurnAlert {
        tenant_id: "acme".into(),
        alert_id: format!("acme:c{n}:e{n}"),
        customer_id: format!("c{n}"),
        score: 75,
        reasons: vec!["CSAT_DISSATISFIED".into(), "NPS_DETRACTOR".into()],
        triggered_at: 1_700_000_000_000 + n as i64 * 1_000,
        contact_id: format!("k{n}"),
        channel: "CHAT".into(),
        queue_id: "billing".into(),
        agent_id: "a7".into(),
    }
}

async fn cluster(n: u64, dir: &std::path::Path) -> Vec<ReplicaHandle> {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let peers: Vec<(u64, String)> = (1..=n)
        .map(|id| (id, format!("127.0.0.1:{}", ports[id as usize - 1])))
        .collect();
    let mut handles = Vec::new();
    for id in 1..=n {
        let grpc: SocketAddr = peers[id as usize - 1].1.parse().unwrap();
        let mut o = ReplicaOptions::new(
            id,
            peers.clone(),
            dir.join(format!("r{id}")),
            grpc,
            "127.0.0.1:0".parse().unwrap(),
        );
        o.tuning.tick = Duration::from_millis(50);
        handles.push(
            start_replica(o.with_operator("ops", OPERATOR))
                .await
                .unwrap(),
        );
    }
    handles
}

async fn wait_leader(handles: &[ReplicaHandle]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(i) = handles
            .iter()
            .position(|h| h.status().leader_id == h.id() && h.status().role == "leader")
        {
            return i;
        }
        assert!(Instant::now() < deadline, "no leader within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_alert_raised_concurrently_is_one_alert_and_lifecycle_is_replicated() {
    let dir = tempfile::tempdir().unwrap();
    let handles = cluster(3, dir.path()).await;
    let leader = wait_leader(&handles).await;
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    // Two clients, each connected to a different follower only (writes are forwarded).
    let a = handles[followers[0]].client(OPERATOR).unwrap();
    let b = handles[followers[1]].client(OPERATOR).unwrap();
    for n in 0..20 {
        let x = alert(n);
        let (ra, rb) = tokio::join!(a.raise_alert(&x), b.raise_alert(&x));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra, rb);
        assert_eq!(ra.history.len(), 1);
    }
    // A linearizable read on a follower sees every acknowledged write at once.
    let all = a.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(all.len(), 20);
    let acked = a
        .acknowledge("acme", "acme:c3:e3", "kim", "calling back")
        .await
        .unwrap();
    assert_eq!(acked.status, AlertStatus::Acknowledged);
    let resolved = b
        .resolve("acme", "acme:c3:e3", "sam", "voucher sent")
        .await
        .unwrap();
    assert_eq!(resolved.status, AlertStatus::Resolved);
    let err = a
        .acknowledge("acme", "acme:c3:e3", "kim", "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err}");
    let err = a.resolve("acme", "nope", "kim", "").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err}");
    // Visible on every replica's own applied state.
    for h in &handles {
        eventually("ack and resolve on every replica", || {
            let state = h.state();
            let s = ccx_model::sync::read(&state);
            s.alert_count() == 20
                && s.alert("acme", "acme:c3:e3").is_some_and(|a| {
                    a.status == AlertStatus::Resolved
                        && a.history.iter().map(|h| h.by.as_str()).collect::<Vec<_>>()
                            == ["ccx-stream", "kim via operator:ops", "sam via operator:ops"]
                })
        })
        .await;
    }
    let open = b
        .list_alerts(&AlertFilter {
            tenant_id: Some("acme".into()),
            status: Some(AlertStatus::Open),
            from_ms: Some(1_700_000_005_000),
            to_ms: Some(1_700_000_010_000),
            limit: None,
        })
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|a| a.alert_id.as_str()).collect::<Vec<_>>(),
        [
            "acme:c5:e5",
            "acme:c6:e6",
            "acme:c7:e7",
            "acme:c8:e8",
            "acme:c9:e9"
        ]
    );
    let status = a.status().await.unwrap();
    assert_eq!(status.members, vec![1, 2, 3]);
    assert_eq!(status.leader_id, handles[leader].id());
    assert!(status.applied_index >= 23);
    for h in handles {
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_alerts_and_probes_through_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let handles = cluster(3, dir.path()).await;
    wait_leader(&handles).await;
    let endpoints: Vec<String> = handles.iter().map(|h| h.grpc_addr().to_string()).collect();
    let client = ControlClient::new(&endpoints)
        .unwrap()
        .with_credential(OPERATOR)
        .unwrap();
    let defaults = client.get_config("acme").await.unwrap();
    assert_eq!(defaults.version, 0);
    assert_eq!(defaults.sl_threshold_ms, 20_000);
    let mut edited = ccx_model::settings::TenantSettings {
        sl_threshold_ms: 30_000,
        ..Default::default()
    };
    edited.churn.rules[ccx_model::settings::Signal::RepeatContact.index()].cap = 5;
    let put = ccx_proto::v1::TenantConfig {
        token_sha256: vec![ccx_model::hash_token("secret-token")],
        version: defaults.version,
        ..edited.to_proto("acme")
    };
    client.put_config_by(put, "ops").await.unwrap();
    let settings = client.get_settings("acme").await.unwrap();
    assert_eq!(settings.sl_threshold_ms, 30_000);
    assert_eq!(
        settings.churn.rules[ccx_model::settings::Signal::RepeatContact.index()].cap,
        5
    );
    let stored = client.get_config("acme").await.unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.updated_by, "ops via operator:ops");
    assert_eq!(
        stored.token_sha256,
        vec![ccx_model::hash_token("secret-token")]
    );
    // A put with a stale version is refused.
    let mut stale = stored.clone();
    stale.version = 7;
    let err = client.put_config(stale).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    let mut bad = stored.clone();
    bad.tenant_id = "Bad Tenant".into();
    assert_eq!(
        client.put_config(bad).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );

    client.raise_alert(&alert(1)).await.unwrap();
    let acked = client
        .acknowledge("acme", "acme:c1:e1", "kim", "on it")
        .await
        .unwrap();
    assert_eq!(acked.status, AlertStatus::Acknowledged);
    let listed = client
        .list_alerts(&AlertFilter {
            tenant_id: Some("acme".into()),
            status: Some(AlertStatus::Acknowledged),
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    // HTTP endpoints.
    let http = handles[0].http_addr();
    let body = http_get(http, "/metrics").await;
    assert!(body.contains("ccx_control_applied_index"), "{body}");
    assert!(http_get(http, "/readyz").await.contains("ready"));
    assert!(http_get(http, "/healthz").await.contains("ok"));
    for h in handles {
        h.stop().await;
    }
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_replica_and_membership_changes() {
    let dir = tempfile::tempdir().unwrap();
    // A single-replica cluster (the demo) elects itself at once.
    let one = start_replica(
        ReplicaOptions::single_node(dir.path().join("solo")).with_operator("ops", OPERATOR),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let client = one.client(OPERATOR).unwrap();
    client.raise_alert(&alert(1)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    one.stop().await;

    // Grow a 3-replica cluster to 4, then remove one.
    let mut handles = cluster(3, dir.path()).await;
    wait_leader(&handles).await;
    let endpoints: Vec<String> = handles.iter().map(|h| h.grpc_addr().to_string()).collect();
    let client = ControlClient::new(&endpoints)
        .unwrap()
        .with_credential(OPERATOR)
        .unwrap();
    for n in 0..10 {
        client.raise_alert(&alert(n)).await.unwrap();
    }
    let port = free_port();
    let mut o = ReplicaOptions::new(
        4,
        Vec::new(),
        dir.path().join("r4"),
        format!("127.0.0.1:{port}").parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    );
    o.join = true;
    o.tuning.tick = Duration::from_millis(50);
    let four = start_replica(o.with_operator("ops", OPERATOR))
        .await
        .unwrap();
    let status = client
        .add_replica(4, &format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    assert_eq!(status.members, vec![1, 2, 3, 4]);
    eventually("replica 4 catches up", || {
        ccx_model::sync::read(&four.state()).alert_count() == 10
    })
    .await;
    eventually("replica 4 knows the voters", || {
        four.status().voters == vec![1, 2, 3, 4]
    })
    .await;
    let status = client.remove_replica(1).await.unwrap();
    assert_eq!(status.members, vec![2, 3, 4]);
    handles.remove(0).stop().await;
    handles.push(four);
    let client = ControlClient::new(
        handles
            .iter()
            .map(|h| h.grpc_addr().to_string())
            .collect::<Vec<_>>(),
    )
    .unwrap()
    .with_credential(OPERATOR)
    .unwrap();
    client.raise_alert(&alert(11)).await.unwrap();
    let ids: BTreeSet<String> = client
        .list_alerts(&AlertFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.alert_id)
        .collect();
    assert_eq!(ids.len(), 11);
    for h in handles {
        h.stop().await;
    }
}
