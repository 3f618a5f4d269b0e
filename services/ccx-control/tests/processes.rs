//! Replicas as separate processes on loopback (`ccx-control-replica`), killed with SIGKILL:
//! failover under a stream of writes, a full restart, and a wiped replica that rejoins.
//! The tests run one at a time (they share the machine's two cores).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccx_control::{AlertFilter, AlertStatus, ControlClient};
use ccx_model::rows::ChurnAlert;

/// The operator credential the replica processes accept (`--operator`).
const OPERATOR: &str = "operator-token-of-the-process-tests";

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Replica {
    id: u64,
    grpc: String,
    http: String,
    dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

struct Cluster {
    replicas: Vec<Replica>,
    peers: String,
    snapshot_every: u64,
}

impl Cluster {
    fn new(root: &Path, n: u64, snapshot_every: u64) -> Cluster {
        let replicas: Vec<Replica> = (1..=n)
            .map(|id| Replica {
                id,
                grpc: format!("127.0.0.1:{}", free_port()),
                http: format!("127.0.0.1:{}", free_port()),
                dir: root.join(format!("r{id}")),
                log: root.join(format!("r{id}.log")),
                child: None,
            })
            .collect();
        let peers = replicas
            .iter()
            .map(|r| format!("{}={}", r.id, r.grpc))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Cluster {
            replicas,
            peers,
            snapshot_every,
        };
        for id in 1..=n {
            c.start(id);
        }
        c
    }

    fn start(&mut self, id: u64) {
        let r = &mut self.replicas[id as usize - 1];
        assert!(r.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&r.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ccx-control-replica"))
            .args(["--id", &id.to_string()])
            .args(["--peers", &self.peers])
            .arg("--data-dir")
            .arg(&r.dir)
            .args(["--grpc-listen", &r.grpc])
            .args(["--http-listen", &r.http])
            .args(["--snapshot-every", &self.snapshot_every.to_string()])
            .args([
                "--operator",
                &format!("ops={}", ccx_model::hash_token(OPERATOR)),
            ])
            .env("RUST_LOG", "info,raft=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        r.child = Some(child);
    }

    /// SIGKILL: no chance to flush anything.
    fn kill9(&mut self, id: u64) {
        if let Some(mut c) = self.replicas[id as usize - 1].child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn endpoints(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.grpc.clone()).collect()
    }

    fn client(&self) -> ControlClient {
        ControlClient::new(self.endpoints())
            .unwrap()
            .with_credential(OPERATOR)
            .unwrap()
            .with_timeout(Duration::from_secs(20))
    }

    fn client_of(&self, id: u64) -> ControlClient {
        ControlClient::new([self.replicas[id as usize - 1].grpc.clone()])
            .unwrap()
            .with_credential(OPERATOR)
            .unwrap()
            .with_timeout(Duration::from_millis(500))
    }

    /// The leader as reported by any live replica that claims to lead.
    async fn leader(&self, except: Option<u64>) -> Option<u64> {
        for r in &self.replicas {
            if r.child.is_none() || Some(r.id) == except {
                continue;
            }
            if let Ok(s) = self.client_of(r.id).status().await {
                if s.role == "leader" && s.leader_id == r.id {
                    return Some(r.id);
                }
            }
        }
        None
    }

    async fn wait_leader(&self, except: Option<u64>, within: Duration) -> (u64, Duration) {
        let started = Instant::now();
        loop {
            if let Some(l) = self.leader(except).await {
                return (l, started.elapsed());
            }
            assert!(
                started.elapsed() < within,
                "no leader within {within:?}; logs in {}",
                self.replicas[0].log.parent().unwrap().display()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until replica `id` has applied alerts with all of `ids` (its own state, no read
    /// index), and returns what it holds.
    async fn wait_replica_has(
        &self,
        id: u64,
        ids: &BTreeSet<String>,
    ) -> Vec<ccx_control::AlertRecord> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(alerts) = self
                .client_of(id)
                .list_alerts_local(&AlertFilter::default())
                .await
            {
                let have: BTreeSet<&String> = alerts.iter().map(|a| &a.alert_id).collect();
                if ids.iter().all(|i| have.contains(i)) {
                    return alerts;
                }
                assert!(
                    Instant::now() < deadline,
                    "replica {id} misses {} acknowledged alerts",
                    ids.iter().filter(|i| !have.contains(i)).count()
                );
            } else {
                assert!(Instant::now() < deadline, "replica {id} does not answer");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            if let Some(mut c) = r.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn alert(n: u64) -> ChurnAlert {
    ChurnAlert {
        tenant_id: "acme".into(),
        alert_id: format!("acme:c{n}:e{n}"),
        customer_id: format!("c{n}"),
        score: 65,
        reasons: vec!["LONG_ABANDON".into(), "NPS_DETRACTOR".into()],
        triggered_at: 1_700_000_000_000 + n as i64,
        contact_id: format!("k{n}"),
        channel: "VOICE".into(),
        queue_id: "q1".into(),
        agent_id: "a1".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_leader_under_writes_loses_nothing_acknowledged() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path(), 3, 500);
    let (old_leader, _) = cluster.wait_leader(None, Duration::from_secs(10)).await;

    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let client = cluster.client();
        let acked = acked.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut n = w;
            let mut failures = 0;
            while !stop.load(Ordering::SeqCst) {
                let a = alert(n);
                match client.raise_alert(&a).await {
                    Ok(_) => {
                        ccx_model::sync::lock(&acked).insert(a.alert_id);
                    }
                    Err(_) => failures += 1,
                }
                n += 4;
            }
            failures
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before_kill = ccx_model::sync::lock(&acked).len();
    assert!(
        before_kill > 10,
        "only {before_kill} writes before the kill"
    );
    cluster.kill9(old_leader);
    let (new_leader, failover) = cluster
        .wait_leader(Some(old_leader), Duration::from_secs(10))
        .await;
    println!("new leader {new_leader} {failover:?} after SIGKILL of leader {old_leader}");
    assert_ne!(new_leader, old_leader);
    assert!(
        failover < Duration::from_secs(3),
        "failover took {failover:?}"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut failures = 0;
    for w in writers {
        failures += w.await.unwrap();
    }
    let acked = ccx_model::sync::lock(&acked).clone();
    assert!(
        acked.len() > before_kill,
        "no write acknowledged after the failover"
    );
    println!(
        "{} writes acknowledged ({before_kill} before the kill), {failures} failed",
        acked.len()
    );
    // The killed replica comes back and catches up; every acknowledged write is everywhere.
    cluster.start(old_leader);
    for id in 1..=3 {
        cluster.wait_replica_has(id, &acked).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_all_replicas_keeps_state() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path(), 3, 40);
    cluster.wait_leader(None, Duration::from_secs(10)).await;
    let client = cluster.client();
    let mut ids = BTreeSet::new();
    for n in 0..60 {
        ids.insert(client.raise_alert(&alert(n)).await.unwrap().alert_id);
    }
    for n in 0..20 {
        client
            .acknowledge("acme", &format!("acme:c{n}:e{n}"), "kim", "")
            .await
            .unwrap();
    }
    for n in 0..5 {
        client
            .resolve("acme", &format!("acme:c{n}:e{n}"), "sam", "")
            .await
            .unwrap();
    }
    let mut config = ccx_model::settings::TenantSettings::default().to_proto("acme");
    config.churn_threshold = 70;
    client.put_config(config).await.unwrap();
    for id in 1..=3 {
        cluster.kill9(id);
    }
    for id in 1..=3 {
        cluster.start(id);
    }
    cluster.wait_leader(None, Duration::from_secs(10)).await;
    let client = cluster.client();
    let alerts = client.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(alerts.len(), 60);
    let count = |s| alerts.iter().filter(|a| a.status == s).count();
    assert_eq!(count(AlertStatus::Resolved), 5);
    assert_eq!(count(AlertStatus::Acknowledged), 15);
    assert_eq!(count(AlertStatus::Open), 40);
    assert_eq!(client.get_config("acme").await.unwrap().churn_threshold, 70);
    for id in 1..=3 {
        cluster.wait_replica_has(id, &ids).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_replica_rejoins_through_a_snapshot() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path(), 3, 20);
    let (leader, _) = cluster.wait_leader(None, Duration::from_secs(10)).await;
    let victim = (1..=3).find(|&i| i != leader).unwrap();
    let client = cluster.client();
    let mut ids = BTreeSet::new();
    for n in 0..50 {
        ids.insert(client.raise_alert(&alert(n)).await.unwrap().alert_id);
    }
    cluster.kill9(victim);
    std::fs::remove_dir_all(&cluster.replicas[victim as usize - 1].dir).unwrap();
    for n in 50..100 {
        ids.insert(client.raise_alert(&alert(n)).await.unwrap().alert_id);
    }
    let status = cluster.client_of(leader).status().await.unwrap();
    assert!(
        status.first_index > 2,
        "the leader's log should be compacted: {status:?}"
    );
    // Same command line, empty data directory.
    cluster.start(victim);
    let alerts = cluster.wait_replica_has(victim, &ids).await;
    assert_eq!(alerts.len(), 100);
    let status = cluster.client_of(victim).status().await.unwrap();
    assert!(
        status.snapshot_index > 1,
        "caught up without a snapshot? {status:?}"
    );
    // It takes part again: writes keep committing and reach it.
    let a = client.raise_alert(&alert(100)).await.unwrap();
    ids.insert(a.alert_id);
    cluster.wait_replica_has(victim, &ids).await;
}
