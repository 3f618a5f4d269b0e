//! `ccx config`, `ccx alerts` and `ccx cluster` as an operator runs them, against a running
//! control-plane replica: what they print, and that a bad setting is refused naming its field.

use std::process::{Command, Output};

use ccx_control::{start_replica, ReplicaOptions};
use ccx_model::rows::ChurnAlert;
use serde_json::Value;

fn ccx(control: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccx"))
        .args(args)
        .args(["--control", control])
        .env("CCX_LOG", "warn")
        .env_remove("CCX_CONTROL")
        .output()
        .expect("run ccx")
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
    let replica = start_replica(ReplicaOptions::single_node(dir.clone()))
        .await
        .expect("replica");
    let control = replica.grpc_addr().to_string();
    let client = replica.client().expect("client");
    let started = std::time::Instant::now();
    while client.status().await.map_or(true, |s| s.leader_id == 0) {
        assert!(started.elapsed().as_secs() < 10, "no leader");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

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
    assert_eq!(changed["updatedBy"], "ops");
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
    assert_eq!(history.last().map(|h| &h["by"]), Some(&Value::from("kim")));
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
