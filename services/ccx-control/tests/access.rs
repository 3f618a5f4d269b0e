//! Who may call the control plane: an unauthenticated or unknown caller is refused every call;
//! a tenant credential reads and acts on its own tenant only (alerts, configuration, never
//! tokens or credentials); a service credential runs the pipeline but changes no
//! configuration; the history records which credential acted. One replica on loopback, the
//! real gRPC service and client.

use std::time::Duration;

use ccx_control::{start_replica, AlertFilter, AlertStatus, ReplicaHandle, ReplicaOptions};
use ccx_model::rows::ChurnAlert;

const OPERATOR: &str = "operator-token-of-the-access-tests";
const SERVICE: &str = "service-token-of-the-access-tests";
const ACME: &str = "acme-supervisor-token";
const BETA: &str = "beta-supervisor-token";

fn alert(tenant: &str, n: u32) -> ChurnAlert {
    ChurnAlert {
        tenant_id: tenant.into(),
        alert_id: format!("{tenant}:c{n}:e{n}"),
        customer_id: format!("c{n}"),
        score: 75,
        reasons: vec!["NPS_DETRACTOR".into()],
        triggered_at: 1_700_000_000_000 + n as i64,
        contact_id: format!("k{n}"),
        channel: "CHAT".into(),
        queue_id: "q1".into(),
        agent_id: "a1".into(),
    }
}

async fn replica(dir: &std::path::Path) -> ReplicaHandle {
    let mut o = ReplicaOptions::single_node(dir.join("r1"))
        .with_operator("ops", OPERATOR)
        .with_service("stream", SERVICE);
    o.tuning.tick = Duration::from_millis(50);
    o.tuning.sync = false;
    let r = start_replica(o).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while r.status().leader_id != r.id() {
        assert!(std::time::Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    r
}

fn code(e: ccx_control::ControlError) -> tonic::Code {
    e.code()
}

#[tokio::test]
async fn no_or_an_unknown_credential_is_refused_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let r = replica(dir.path()).await;
    let operator = r.client(OPERATOR).unwrap();
    operator.raise_alert(&alert("acme", 1)).await.unwrap();
    for token in ["", "a-guess"] {
        let c = r
            .client(token)
            .unwrap()
            .with_timeout(Duration::from_secs(2));
        let refused = [
            c.list_alerts(&AlertFilter::default()).await.map(|_| ()),
            c.get_config("acme").await.map(|_| ()),
            c.list_configs().await.map(|_| ()),
            c.put_config(ccx_proto::v1::TenantConfig {
                tenant_id: "acme".into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
            c.acknowledge("acme", "acme:c1:e1", "eve", "")
                .await
                .map(|_| ()),
            c.raise_alert(&alert("acme", 2)).await.map(|_| ()),
            c.status().await.map(|_| ()),
            c.remove_replica(1).await.map(|_| ()),
            c.list_credentials(None).await.map(|_| ()),
            c.put_credential("acme", "eve", &ccx_model::hash_token("x"))
                .await
                .map(|_| ()),
        ];
        for (i, answer) in refused.into_iter().enumerate() {
            let err = answer.expect_err(&format!("call {i} with {token:?} answered"));
            assert_eq!(
                code(err),
                tonic::Code::Unauthenticated,
                "call {i} with {token:?}"
            );
        }
    }
    // Nothing changed: the alert is still open and there is one.
    let held = operator.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].status, AlertStatus::Open);
    r.stop().await;
}

#[tokio::test]
async fn a_tenant_credential_reads_and_changes_its_own_tenant_only() {
    let dir = tempfile::tempdir().unwrap();
    let r = replica(dir.path()).await;
    let operator = r.client(OPERATOR).unwrap();
    operator
        .put_credential("acme", "ann", &ccx_model::hash_token(ACME))
        .await
        .unwrap();
    operator
        .put_credential("beta", "bob", &ccx_model::hash_token(BETA))
        .await
        .unwrap();
    for tenant in ["acme", "beta"] {
        let config = ccx_proto::v1::TenantConfig {
            tenant_id: tenant.into(),
            token_sha256: vec![ccx_model::hash_token(&format!("ingest-{tenant}"))],
            ..Default::default()
        };
        operator.put_config(config).await.unwrap();
        operator.raise_alert(&alert(tenant, 1)).await.unwrap();
    }
    let acme = r.client(ACME).unwrap();
    let denied = |e: ccx_control::ControlError| assert_eq!(code(e), tonic::Code::PermissionDenied);

    // Alerts: its own only, whatever the filter says.
    let own = acme.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(
        own.iter().map(|a| a.alert_id.as_str()).collect::<Vec<_>>(),
        ["acme:c1:e1"]
    );
    denied(
        acme.list_alerts(&AlertFilter {
            tenant_id: Some("beta".into()),
            ..Default::default()
        })
        .await
        .unwrap_err(),
    );
    denied(
        acme.acknowledge("beta", "beta:c1:e1", "ann", "")
            .await
            .unwrap_err(),
    );
    denied(
        acme.resolve("beta", "beta:c1:e1", "ann", "")
            .await
            .unwrap_err(),
    );
    denied(acme.raise_alert(&alert("acme", 2)).await.unwrap_err());
    let acked = acme
        .acknowledge("acme", "acme:c1:e1", "Ann Lee", "calling back")
        .await
        .unwrap();
    assert_eq!(
        acked.history.last().map(|h| h.by.as_str()),
        Some("Ann Lee via tenant:acme/ann")
    );

    // Configuration: its own, without its ingest tokens' control.
    denied(acme.get_config("beta").await.unwrap_err());
    let configs = acme.list_configs().await.unwrap();
    assert_eq!(
        configs
            .iter()
            .map(|c| c.tenant_id.as_str())
            .collect::<Vec<_>>(),
        ["acme"]
    );
    let mut beta_config = operator.get_config("beta").await.unwrap();
    beta_config.sl_threshold_ms = 1_000;
    denied(acme.put_config(beta_config).await.unwrap_err());
    let mut own_config = acme.get_config("acme").await.unwrap();
    own_config
        .token_sha256
        .push(ccx_model::hash_token("planted"));
    let err = acme.put_config(own_config.clone()).await.unwrap_err();
    assert!(err.to_string().contains("tokenSha256"), "{err}");
    own_config.token_sha256.pop();
    own_config.sl_threshold_ms = 30_000;
    let stored = acme.put_config_by(own_config, "Ann Lee").await.unwrap();
    assert_eq!(stored.sl_threshold_ms, 30_000);
    assert_eq!(stored.updated_by, "Ann Lee via tenant:acme/ann");
    let beta_now = operator.get_config("beta").await.unwrap();
    assert_eq!(
        beta_now.version, 1,
        "tenant beta's configuration is untouched"
    );

    // Credentials and the cluster are the operator's.
    denied(
        acme.put_credential("acme", "mallory", &ccx_model::hash_token("m"))
            .await
            .unwrap_err(),
    );
    denied(acme.remove_credential("beta", "bob").await.unwrap_err());
    denied(acme.list_credentials(Some("beta")).await.unwrap_err());
    denied(acme.list_credentials(None).await.unwrap_err());
    let mine = acme.list_credentials(Some("acme")).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].created_by, "operator:ops");
    denied(acme.status().await.unwrap_err());
    denied(acme.remove_replica(1).await.unwrap_err());

    // A withdrawn credential is unknown at once.
    operator.remove_credential("acme", "ann").await.unwrap();
    assert_eq!(
        code(acme.list_alerts(&AlertFilter::default()).await.unwrap_err()),
        tonic::Code::Unauthenticated
    );
    // Beta's alert was never touched.
    let beta = r.client(BETA).unwrap();
    let theirs = beta.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].status, AlertStatus::Open);
    r.stop().await;
}

#[tokio::test]
async fn a_service_credential_runs_the_pipeline_and_changes_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let r = replica(dir.path()).await;
    let service = r.client(SERVICE).unwrap();
    let raised = service.raise_alert(&alert("acme", 1)).await.unwrap();
    service
        .resolve("acme", &raised.alert_id, "ccx-stream", "condition cleared")
        .await
        .unwrap();
    service.list_configs().await.unwrap();
    service.get_config("beta").await.unwrap();
    service.list_credentials(None).await.unwrap();
    service.status().await.unwrap();
    let put = ccx_proto::v1::TenantConfig {
        tenant_id: "acme".into(),
        ..Default::default()
    };
    assert_eq!(
        code(service.put_config(put).await.unwrap_err()),
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        code(
            service
                .put_credential("acme", "x", &ccx_model::hash_token("x"))
                .await
                .unwrap_err()
        ),
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        code(service.remove_replica(1).await.unwrap_err()),
        tonic::Code::PermissionDenied
    );
    // A tenant credential may not reuse a process credential's token.
    let operator = r.client(OPERATOR).unwrap();
    let err = operator
        .put_credential("acme", "ann", &ccx_model::hash_token(SERVICE))
        .await
        .unwrap_err();
    assert_eq!(code(err), tonic::Code::InvalidArgument);
    r.stop().await;
}

#[tokio::test]
async fn a_replica_without_an_operator_credential_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let err = match start_replica(ReplicaOptions::single_node(dir.path().join("r"))).await {
        Err(e) => e,
        Ok(_) => panic!("a replica without credentials started"),
    };
    assert!(err.to_string().contains("operators"), "{err}");
}
