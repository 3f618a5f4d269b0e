//! `ccx config`, `ccx alerts`, `ccx credentials` and `ccx cluster` as an operator (and a
//! tenant) runs them, against a running control-plane replica: what they print, that a bad
//! setting is refused naming its field, and that a tenant's credential reaches its own tenant
//! only.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use ccx_control::{start_replica, ReplicaOptions};
use ccx_model::rows::ChurnAlert;
use serde_json::Value;

/// The operator credential of the replicas these tests start.
const OPERATOR: &str = "operator-token-of-the-cli-tests";

/// `ccx ARGS` as the operator.
fn ccx(control: &str, args: &[&str]) -> Output {
    ccx_as(control, Some(OPERATOR), args)
}

/// `ccx ARGS` presenting `token` in CCX_CONTROL_TOKEN (`None`: no variable).
fn ccx_as(control: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ccx"));
    command
        .args(args)
        .args(["--control", control])
        .env("CCX_LOG", "warn")
        .env_remove("CCX_CONTROL")
        .env_remove("CCX_CONTROL_TOKEN")
        .env_remove("CCX__CONTROL__TOKEN");
    if let Some(token) = token {
        command.env("CCX_CONTROL_TOKEN", token);
    }
    command.output().expect("run ccx")
}

async fn replica(dir: &std::path::Path) -> ccx_control::ReplicaHandle {
    let replica = start_replica(
        ReplicaOptions::single_node(dir.to_path_buf()).with_operator("ops", OPERATOR),
    )
    .await
    .expect("replica");
    let client = replica.client(OPERATOR).expect("client");
    let started = std::time::Instant::now();
    while client.status().await.map_or(true, |s| s.leader_id == 0) {
        assert!(started.elapsed().as_secs() < 10, "no leader");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    replica
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "ccx failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).expect("one JSON object")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_commands_read_and_change_the_control_plane() {
    let dir = std::env::temp_dir().join(format!("ccx-control-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let replica = replica(&dir).await;
    let control = replica.grpc_addr().to_string();
    let client = replica.client(OPERATOR).expect("client");

    let control = control.as_str();
    let defaults = json(&ccx(control, &["config", "get", "acme"]));
    assert_eq!(defaults["version"], 0);
    assert_eq!(defaults["slThresholdMs"], 20_000);

    let set = ccx(
        control,
        &[
            "config",
            "set",
            "acme",
            "sl_threshold=30s",
            "allowed_lateness=2m",
            "churn.repeat_contact.cap=5",
            "time_zone=Europe/Rome",
            "queues.vip.sl_target=95",
            "token=secret-token",
            "--by",
            "ops",
        ],
    );
    let changed = json(&set);
    assert_eq!(changed["version"], 1);
    assert_eq!(changed["slThresholdMs"], 30_000);
    assert_eq!(changed["allowedLatenessMs"], 120_000);
    assert_eq!(changed["churn"]["signals"]["REPEAT_CONTACT"]["cap"], 5);
    assert_eq!(changed["timeZone"], "Europe/Rome");
    assert_eq!(changed["queues"]["vip"]["slTargetPct"], 95);
    assert_eq!(changed["updatedBy"], "ops via operator:ops");
    assert_eq!(
        changed["tokenSha256"],
        serde_json::json!([ccx_model::hash_token("secret-token")])
    );
    let stored = client.get_settings("acme").await.unwrap();
    assert_eq!(stored.allowed_lateness_ms, 120_000);

    // Out of range: refused, the field named, nothing stored.
    let bad = ccx(control, &["config", "set", "acme", "churn_threshold=101"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("churnThreshold: 101 is out of range"), "{err}");
    let rules = json(&ccx(
        control,
        &[
            "config",
            "set",
            "acme",
            "rules.sl-low=service_level below 80 queue=vip window=10m for=2m",
            "target=https://hooks.example.com/x kinds=THRESHOLD format=slack",
        ],
    ));
    assert_eq!(
        rules["thresholdRules"],
        serde_json::json!([{"id": "sl-low", "metric": "service_level", "queueId": "vip",
            "channel": "", "op": "below", "threshold": 80.0, "windowMs": 600_000,
            "forMs": 120_000}])
    );
    assert_eq!(
        rules["notificationTargets"],
        serde_json::json!([{"url": "https://hooks.example.com/x", "kinds": ["THRESHOLD"],
            "format": "slack"}])
    );
    let bad = ccx(
        control,
        &[
            "config",
            "set",
            "acme",
            "rules.x=agents_short above 2 queue=q1",
        ],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("thresholdRules") && err.contains("tenant-wide"),
        "{err}"
    );
    let bad = ccx(
        control,
        &["config", "set", "acme", "rules.x=boredom above 2"],
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown metric"));
    let bad = ccx(control, &["config", "set", "acme", "time_zone=Rome"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("timeZone: \"Rome\" is not an IANA"), "{err}");
    // Only the rules and target were stored.
    assert_eq!(
        json(&ccx(control, &["config", "get", "acme"]))["version"],
        2
    );

    client
        .raise_alert(&ChurnAlert {
            tenant_id: "acme".into(),
            alert_id: "acme:c1:e1".into(),
            customer_id: "c1".into(),
            score: 75,
            reasons: vec!["NPS_DETRACTOR".into()],
            triggered_at: 1_700_000_000_000,
            contact_id: "k1".into(),
            channel: "CHAT".into(),
            queue_id: "billing".into(),
            agent_id: "a7".into(),
        })
        .await
        .unwrap();
    let acked = json(&ccx(
        control,
        &[
            "alerts",
            "ack",
            "--tenant",
            "acme",
            "acme:c1:e1",
            "--by",
            "kim",
        ],
    ));
    assert_eq!(acked["status"], "ACKNOWLEDGED");
    let history = acked["history"].as_array().expect("history");
    assert_eq!(
        history.last().map(|h| &h["by"]),
        Some(&Value::from("kim via operator:ops"))
    );
    let listed = stdout(&ccx(
        control,
        &[
            "alerts",
            "list",
            "--tenant",
            "acme",
            "--status",
            "acknowledged",
        ],
    ));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("acme:c1:e1"), "{listed}");
    let open = stdout(&ccx(
        control,
        &["alerts", "list", "--status", "open", "--json"],
    ));
    assert_eq!(open.lines().count(), 0, "{open}");

    let status = json(&ccx(control, &["cluster", "status"]));
    assert_eq!(status["leader"], 1);
    replica.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A receiver on loopback recording (path, Idempotency-Key, body); `/broken` answers 500.
async fn receiver() -> (String, Arc<Mutex<Vec<(String, String, Value)>>>) {
    let seen: Arc<Mutex<Vec<(String, String, Value)>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/*path",
        axum::routing::post(
            move |axum::extract::Path(path): axum::extract::Path<String>,
                  headers: axum::http::HeaderMap,
                  body: String| {
                let record = record.clone();
                async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let broken = path == "broken";
                    ccx_model::sync::lock(&record).push((path, key, body));
                    if broken {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_list_shows_kinds_hides_resolved_and_test_notify_posts_to_each_target() {
    let dir = std::env::temp_dir().join(format!("ccx-alerts-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let replica = replica(&dir).await;
    let control = replica.grpc_addr().to_string();
    let control = control.as_str();
    let client = replica.client(OPERATOR).expect("client");
    let alert = |n: u32| ChurnAlert {
        tenant_id: "acme".into(),
        alert_id: format!("acme:c{n}:e{n}"),
        customer_id: format!("c{n}"),
        score: 75,
        reasons: vec!["NPS_DETRACTOR".into()],
        triggered_at: 1_700_000_000_000 + i64::from(n),
        contact_id: "k1".into(),
        channel: "CHAT".into(),
        queue_id: "billing".into(),
        agent_id: "a7".into(),
    };
    client.raise_alert(&alert(1)).await.unwrap();
    client.raise_alert(&alert(2)).await.unwrap();
    client
        .resolve("acme", "acme:c2:e2", "sam", "done")
        .await
        .unwrap();
    let listed = stdout(&ccx(control, &["alerts", "list", "--tenant", "acme"]));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines[0].contains("KIND"), "{listed}");
    assert!(lines[1].contains("CHURN"), "{listed}");
    assert!(lines[1].contains("score 75: NPS_DETRACTOR"), "{listed}");
    assert!(!listed.contains("acme:c2:e2"), "resolved shown: {listed}");
    let all = stdout(&ccx(control, &["alerts", "list", "--all"]));
    assert_eq!(all.lines().count(), 3, "{all}");
    let resolved = stdout(&ccx(
        control,
        &["alerts", "list", "--status", "resolved", "--json"],
    ));
    let resolved: Value = serde_json::from_str(resolved.trim()).unwrap();
    assert_eq!(resolved["kind"], "CHURN");
    assert_eq!(resolved["alertId"], "acme:c2:e2");

    // No targets: says so, and fails.
    let none = ccx(control, &["alerts", "test-notify", "acme"]);
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no notification targets"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    let (url, seen) = receiver().await;
    let set = ccx(
        control,
        &[
            "config",
            "set",
            "acme",
            &format!("target={url}/slack kinds=CHURN,THRESHOLD format=slack"),
            &format!("target={url}/json kinds=THRESHOLD"),
        ],
    );
    stdout(&set);
    let sent = stdout(&ccx(control, &["alerts", "test-notify", "acme"]));
    assert_eq!(sent.lines().count(), 2, "{sent}");
    assert!(
        sent.contains(&format!(
            "{url}/slack [slack, CHURN,THRESHOLD]: ok (HTTP 200)"
        )),
        "{sent}"
    );
    {
        // (The replica also notifies the slack target of the churn alerts: not counted here.)
        let seen: Vec<_> = ccx_model::sync::lock(&seen)
            .iter()
            .filter(|(_, key, _)| key.starts_with("test:"))
            .cloned()
            .collect();
        assert_eq!(seen.len(), 2, "{seen:?}");
        let (path, key, body) = &seen[0];
        assert_eq!(path, "slack");
        assert!(key.starts_with("test:acme:"), "{key}");
        assert!(body["text"]
            .as_str()
            .unwrap()
            .starts_with("[acme] ccx test"));
        assert_eq!(seen[1].2["kind"], "TEST");
    }
    // A target that refuses: named, and the command fails.
    stdout(&ccx(
        control,
        &["config", "set", "acme", &format!("target={url}/broken")],
    ));
    let broken = ccx(control, &["alerts", "test-notify", "acme"]);
    assert!(!broken.status.success());
    let said = String::from_utf8_lossy(&broken.stdout);
    assert!(
        said.contains(&format!("{url}/broken [json, all kinds]: FAILED: HTTP 500")),
        "{said}"
    );
    replica.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_credential_reaches_its_own_tenant_only_and_none_reaches_nothing() {
    let dir = std::env::temp_dir().join(format!("ccx-credentials-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let replica = replica(&dir).await;
    let control = replica.grpc_addr().to_string();
    let control = control.as_str();
    let client = replica.client(OPERATOR).expect("client");
    for tenant in ["acme", "beta"] {
        client
            .raise_alert(&ChurnAlert {
                tenant_id: tenant.into(),
                alert_id: format!("{tenant}:c1:e1"),
                customer_id: "c1".into(),
                score: 75,
                reasons: vec!["NPS_DETRACTOR".into()],
                triggered_at: 1_700_000_000_000,
                contact_id: "k1".into(),
                channel: "CHAT".into(),
                queue_id: "billing".into(),
                agent_id: "a7".into(),
            })
            .await
            .unwrap();
    }

    // The operator gives acme a credential; the token is printed once, its hash kept.
    let added = json(&ccx(control, &["credentials", "add", "acme", "ann"]));
    let token = added["token"]
        .as_str()
        .expect("a generated token")
        .to_string();
    assert_eq!(added["tokenSha256"], ccx_model::hash_token(&token));
    assert_eq!(added["createdBy"], "operator:ops");
    let listed = stdout(&ccx(control, &["credentials", "list"]));
    assert!(
        listed.contains("\"name\":\"ann\"") && !listed.contains(&token),
        "{listed}"
    );

    // acme's credential: acme's alerts and settings, nothing of beta's.
    let acme = |args: &[&str]| ccx_as(control, Some(&token), args);
    let own = stdout(&acme(&["alerts", "list"]));
    assert!(own.contains("acme:c1:e1") && !own.contains("beta"), "{own}");
    for args in [
        &["alerts", "list", "--tenant", "beta"][..],
        &[
            "alerts",
            "ack",
            "--tenant",
            "beta",
            "beta:c1:e1",
            "--by",
            "ann",
        ],
        &[
            "alerts",
            "resolve",
            "--tenant",
            "beta",
            "beta:c1:e1",
            "--by",
            "ann",
        ],
        &["config", "get", "beta"],
        &["config", "set", "beta", "sl_threshold=1s"],
        &["config", "set", "acme", "token=planted"],
        &["credentials", "add", "acme", "mallory"],
        &["credentials", "list", "beta"],
        &["cluster", "status"],
    ] {
        let out = acme(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains("permission denied"), "{args:?}: {err}");
    }
    let set = json(&acme(&[
        "config",
        "set",
        "acme",
        "sl_threshold=25s",
        "--by",
        "ann",
    ]));
    assert_eq!(set["updatedBy"], "ann via tenant:acme/ann");
    let acked = json(&acme(&[
        "alerts",
        "ack",
        "--tenant",
        "acme",
        "acme:c1:e1",
        "--by",
        "ann",
    ]));
    assert_eq!(acked["status"], "ACKNOWLEDGED");
    let beta = client
        .list_alerts(&ccx_control::AlertFilter {
            tenant_id: Some("beta".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(beta[0].status, ccx_control::AlertStatus::Open);
    assert_eq!(client.get_config("beta").await.unwrap().version, 0);

    // No credential, or a guessed one: refused before anything is read.
    let none = ccx_as(control, None, &["alerts", "list"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("CCX_CONTROL_TOKEN"));
    let guess = ccx_as(control, Some("guess"), &["alerts", "list"]);
    assert!(String::from_utf8_lossy(&guess.stderr).contains("unauthenticated"));

    // The credential can come from the configuration instead of the environment.
    let config = dir.join("ccx.toml");
    std::fs::write(&config, format!("[control]\ntoken = \"{token}\"\n")).unwrap();
    let from_config = ccx_as(
        control,
        None,
        &["--config", config.to_str().unwrap(), "alerts", "list"],
    );
    assert!(stdout(&from_config).contains("acme:c1:e1"));

    // Withdrawn: refused at once.
    json(&ccx(control, &["credentials", "remove", "acme", "ann"]));
    let after = acme(&["alerts", "list"]);
    assert!(String::from_utf8_lossy(&after.stderr).contains("unauthenticated"));
    replica.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
