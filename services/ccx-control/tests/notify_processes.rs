//! Notifications across a leader's SIGKILL: three `ccx-control-replica` processes on
//! loopback deliver alert transitions to a receiver in the test; the leader is killed while
//! deliveries are under way. Every transition reaches every target at least once, a repeat
//! carries the same Idempotency-Key and body, and each alert's transitions arrive in order.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccx_control::ControlClient;
use ccx_model::settings::Format;
use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Cluster {
    grpc: Vec<String>,
    dirs: Vec<PathBuf>,
    logs: Vec<PathBuf>,
    children: Vec<Option<Child>>,
    peers: String,
}

impl Cluster {
    fn new(root: &Path, n: usize) -> Cluster {
        let grpc: Vec<String> = (0..n)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let peers = grpc
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Cluster {
            dirs: (1..=n).map(|i| root.join(format!("r{i}"))).collect(),
            logs: (1..=n).map(|i| root.join(format!("r{i}.log"))).collect(),
            children: (0..n).map(|_| None).collect(),
            grpc,
            peers,
        };
        for id in 1..=n {
            c.start(id);
        }
        c
    }

    fn start(&mut self, id: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.logs[id - 1])
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ccx-control-replica"))
            .args(["--id", &id.to_string()])
            .args(["--peers", &self.peers])
            .arg("--data-dir")
            .arg(&self.dirs[id - 1])
            .args(["--grpc-listen", &self.grpc[id - 1]])
            .args(["--http-listen", &format!("127.0.0.1:{}", free_port())])
            .args([
                "--notify-retry-first-ms",
                "100",
                "--notify-retry-max-ms",
                "400",
            ])
            .env(
                "CCX_CONTROL_OPERATORS",
                format!("ops={}", ccx_model::hash_token(common::OPERATOR)),
            )
            .env("RUST_LOG", "info,raft=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children[id - 1] = Some(child);
    }

    /// SIGKILL: no chance to record anything.
    fn kill9(&mut self, id: usize) {
        if let Some(mut c) = self.children[id - 1].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn client(&self) -> ControlClient {
        ControlClient::new(self.grpc.clone())
            .unwrap()
            .with_credential(common::OPERATOR)
            .unwrap()
            .with_timeout(Duration::from_secs(20))
    }

    async fn leader(&self, except: Option<usize>, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            for (i, address) in self.grpc.iter().enumerate() {
                if self.children[i].is_none() || Some(i + 1) == except {
                    continue;
                }
                let c = ControlClient::new([address.clone()])
                    .unwrap()
                    .with_credential(common::OPERATOR)
                    .unwrap()
                    .with_timeout(Duration::from_millis(500));
                if let Ok(s) = c.status().await {
                    if s.role == "leader" && s.leader_id == i as u64 + 1 {
                        return i + 1;
                    }
                }
            }
            if Instant::now() >= deadline {
                // The logs' directory goes with the test: show their ends here.
                let tails: Vec<String> = self
                    .logs
                    .iter()
                    .map(|path| {
                        let log = std::fs::read_to_string(path).unwrap_or_default();
                        let lines: Vec<&str> = log.lines().collect();
                        let from = lines.len().saturating_sub(15);
                        format!("{}:\n{}", path.display(), lines[from..].join("\n"))
                    })
                    .collect();
                panic!("no leader within {within:?}\n{}", tails.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.children.iter_mut().filter_map(Option::take) {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_the_leader_during_deliveries_loses_no_transition() {
    let dir = tempfile::tempdir().unwrap();
    // Each post takes 150 ms: deliveries are under way when the leader dies.
    let rx = Receiver::start(&[
        ("json", Behaviour::Slow(Duration::from_millis(150))),
        ("slack", Behaviour::Slow(Duration::from_millis(150))),
    ])
    .await;
    let mut cluster = Cluster::new(dir.path(), 3);
    let first = cluster.leader(None, Duration::from_secs(30)).await;
    let client = cluster.client();
    client
        .put_config(config_with(
            "acme",
            vec![
                target(rx.url("json"), &[], Format::Json),
                target(rx.url("slack"), &[], Format::Slack),
            ],
        ))
        .await
        .unwrap();

    let n = 30;
    let alerts: Vec<_> = (1..=n).map(|i| churn("acme", i)).collect();
    for a in &alerts {
        client.raise_alert(a).await.unwrap();
    }
    // Kill the leader once some, not all, notifications arrived.
    let total = 2 * 3 * n as usize;
    eventually("the first deliveries", Duration::from_secs(20), || {
        rx.accepted("json").len() + rx.accepted("slack").len() >= 20
    })
    .await;
    let before = rx.accepted("json").len() + rx.accepted("slack").len();
    cluster.kill9(first);
    let second = cluster.leader(Some(first), Duration::from_secs(30)).await;
    eprintln!("leader {first} killed after {before} of {total} deliveries; replica {second} leads");
    assert!(
        before < 2 * n as usize,
        "every open delivery was done before the kill"
    );
    for a in &alerts {
        client
            .acknowledge("acme", &a.alert_id, "kim", "")
            .await
            .unwrap();
    }
    for a in &alerts {
        client
            .resolve("acme", &a.alert_id, "sam", "done")
            .await
            .unwrap();
    }
    cluster.start(first);

    let expected: BTreeSet<String> = alerts
        .iter()
        .flat_map(|a| ["open", "acknowledged", "resolved"].map(|t| format!("{}:{t}", a.alert_id)))
        .collect();
    eventually(
        "every transition at every target",
        Duration::from_secs(60),
        || {
            ["json", "slack"].iter().all(|p| {
                let got: BTreeSet<String> = rx.accepted(p).into_iter().map(|r| r.key).collect();
                got == expected
            })
        },
    )
    .await;
    // Let a lagging sender show a late repeat, if any.
    tokio::time::sleep(Duration::from_millis(1_000)).await;

    let mut repeats = 0;
    for path in ["json", "slack"] {
        let accepted = rx.accepted(path);
        let keys: BTreeSet<String> = accepted.iter().map(|r| r.key.clone()).collect();
        assert_eq!(keys, expected, "{path}: unknown or missing keys");
        // A repeat is the same notification: same key, same body.
        let mut bodies: BTreeMap<&str, &serde_json::Value> = BTreeMap::new();
        for r in &accepted {
            if let Some(first_body) = bodies.insert(&r.key, &r.body) {
                repeats += 1;
                assert_eq!(
                    first_body, &r.body,
                    "{path}: {} repeated differently",
                    r.key
                );
            }
        }
        // Per alert, first deliveries in transition order.
        for a in &alerts {
            let order: Vec<&str> = accepted
                .iter()
                .filter_map(|r| r.key.strip_prefix(&format!("{}:", a.alert_id)))
                .fold(Vec::new(), |mut seen, t| {
                    if !seen.contains(&t) {
                        seen.push(t);
                    }
                    seen
                });
            assert_eq!(order, ["open", "acknowledged", "resolved"], "{path}");
        }
    }
    eprintln!(
        "{} deliveries accepted for {total} notifications ({repeats} repeats after the kill)",
        rx.accepted("json").len() + rx.accepted("slack").len()
    );
}
