//! `ccx wallboard` as an operator runs it: the config's ClickHouse and tenants, `--listen` and
//! `--clickhouse` flags, probes, and a tenant's board read from ClickHouse after sign-in.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use ccx_model::rows::{Components, QueueKey, QueueNow};
use ccx_store::testing::ClickHouseServer;
use ccx_store::{RowBatch, Store};
use serde_json::Value;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallboard_serves_a_tenants_rows_from_clickhouse() {
    let (_server, clickhouse) = ClickHouseServer::start();
    let store = Store::connect(&clickhouse).await.expect("connect");
    store.migrate().await.expect("migrate");
    let now = now_ms();
    let minute = now - now.rem_euclid(60_000);
    let rows = |tenant: &str, waiting| RowBatch {
        version: 1,
        queue: vec![(
            QueueKey {
                tenant_id: tenant.into(),
                window_start: minute,
                queue_id: "support".into(),
                channel: "VOICE".into(),
                direction: "INBOUND".into(),
            },
            Components {
                offered: 5,
                answered: 4,
                answered_in_sl: 3,
                ..Components::default()
            },
        )],
        queue_now: vec![QueueNow {
            tenant_id: tenant.into(),
            queue_id: "support".into(),
            channel: "VOICE".into(),
            waiting,
            longest_wait_ms: 30_000,
            agents_needed: Some(2),
            as_of: now,
        }],
        ..RowBatch::default()
    };
    store.write(&rows("acme", 2)).await.expect("write");
    store.write(&rows("other", 9)).await.expect("write");

    // The config names a ClickHouse that is not there: the flag wins.
    let dir = std::env::temp_dir().join(format!("ccx-wallboard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("ccx.toml");
    std::fs::write(
        &config,
        format!(
            "[clickhouse]\nurl = \"http://127.0.0.1:1\"\ndatabase = \"{}\"\n\n\
             [[tenants]]\nid = \"acme\"\ntoken_sha256 = \"{}\"\n\n\
             [[tenants]]\nid = \"other\"\ntoken_sha256 = \"{}\"\n",
            clickhouse.database,
            ccx_model::hash_token("acme-token"),
            ccx_model::hash_token("other-token"),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccx"))
        .args(["--config", config.to_str().unwrap(), "wallboard"])
        .args(["--listen", "127.0.0.1:0", "--clickhouse", &clickhouse.url])
        .env("CCX_LOG", "warn")
        .env_remove("CCX_WALLBOARD_CONTROL")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ccx wallboard");
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for probe in ["/healthz", "/readyz"] {
        let r = http.get(format!("{base}{probe}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{probe}");
    }
    let signed = http
        .post(format!("{base}/signin"))
        .form(&[("tenant", "acme"), ("user", "Ann"), ("token", "acme-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let board: Value = http
        .get(format!("{base}/api/board?tenant=other"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(board["tenant"], "acme");
    assert_eq!(board["queues"][0]["queue_id"], "support");
    assert_eq!(board["queues"][0]["waiting"], 2);
    assert_eq!(board["queues"][0]["offered"][0], 5);
    assert_eq!(board["queues"][0]["service_level"][0]["level"], "warn");
    assert_eq!(board["live"]["stale"], false);
    assert_eq!(board["alerts"], serde_json::json!([]), "no control plane");
    let _ = std::fs::remove_dir_all(&dir);
}
