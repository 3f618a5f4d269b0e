//! Crash tests of `ccx stream` processes against the real broker and ClickHouse: the stream
//! is killed with SIGKILL at random points while it consumes (three times per run) and
//! restarted; after the watermark passed the data, every row of `… FINAL` equals the
//! independent reference model — which is also what an uninterrupted run gives. The same with
//! 2 worker threads and with a 2-process timely cluster.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccx_e2e::*;
use ccx_model::settings::TenantSettings;
use ccx_model::Event;
use ccx_sim::Rng;

const PARTITIONS: u32 = 8;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

struct Cluster {
    config: PathBuf,
    workers: usize,
    processes: usize,
    children: Vec<Child>,
    http_ports: Vec<u16>,
}

impl Cluster {
    fn start(&mut self) {
        let peers: Vec<String> = (0..self.processes)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        self.http_ports = (0..self.processes).map(|_| free_port()).collect();
        for p in 0..self.processes {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_ccx"));
            cmd.arg("--config")
                .arg(&self.config)
                .args(["stream", "-w", &self.workers.to_string()])
                .env(
                    "CCX__STREAM__HTTP_LISTEN",
                    format!("127.0.0.1:{}", self.http_ports[p]),
                )
                .env("CCX_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(self.log(p));
            if self.processes > 1 {
                cmd.args(["-n", &self.processes.to_string(), "-p", &p.to_string()])
                    .args(["--peers", &peers.join(",")]);
            }
            self.children.push(cmd.spawn().expect("spawn ccx stream"));
        }
    }

    /// Each process's log (a killed peer makes the other process report its lost connection).
    fn log(&self, process: usize) -> Stdio {
        let path = self.config.with_file_name(format!("stream-{process}.log"));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    }

    fn kill(&mut self) {
        for mut child in self.children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM: the stream writes its last rows and exits.
    fn stop(&mut self) {
        for child in &self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for mut child in self.children.drain(..) {
            let status = child.wait().expect("wait");
            assert!(status.success(), "stream exited with {status}");
        }
    }

    /// `metric` of every process (from /metrics), if all answer.
    async fn metric(&self, metric: &str) -> Option<Vec<i64>> {
        let mut values = Vec::new();
        for port in &self.http_ports {
            let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let value = text
                .lines()
                .find_map(|l| l.strip_prefix(metric)?.strip_prefix(' '))?
                .trim()
                .parse::<i64>()
                .ok()?;
            values.push(value);
        }
        Some(values)
    }

    /// The lowest watermark over the processes, if all answer.
    async fn watermark(&self) -> Option<i64> {
        self.metric("ccx_stream_watermark_ms")
            .await?
            .into_iter()
            .min()
    }

    /// Events read by the processes since they started, if all answer.
    async fn events_read(&self) -> Option<i64> {
        Some(
            self.metric("ccx_stream_events_read_total")
                .await?
                .iter()
                .sum(),
        )
    }

    /// Waits until the stream's watermark passed `target`.
    async fn wait_past(&self, target: i64) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let w = self.watermark().await;
            assert!(Instant::now() < deadline, "watermark stuck at {w:?}");
            if w.is_some_and(|w| w >= target) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
    }
}

fn write_config(dir: &Path, brokers: &str, topic: &str, clickhouse_url: &str) -> PathBuf {
    let mut text = format!(
        "[kafka]\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\npartitions = {PARTITIONS}\n\
         [clickhouse]\nurl = \"{clickhouse_url}\"\n\
         [stream]\ncheckpoint_dir = \"{}\"\nidle_timeout = \"4s\"\nflush_interval = \"200ms\"\n\
         checkpoint_every = \"1s\"\n",
        dir.join("checkpoints").display()
    );
    for t in TENANTS {
        text.push_str(&format!(
            "[[tenants]]\nid = \"{t}\"\ntoken_sha256 = \"{}\"\n",
            ccx_model::hash_token(&token(t))
        ));
    }
    let path = dir.join("ccx.toml");
    std::fs::write(&path, text).expect("config");
    path
}

async fn crash_and_recover(workers: usize, processes: usize, seed: u64) {
    let p = Pipeline::start("ccx.events.crash", PARTITIONS)
        .await
        .expect("pipeline");
    let dir = std::env::temp_dir().join(unique_topic("ccx-crash"));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut cluster = Cluster {
        config: write_config(&dir, &p.broker.addr(), &p.topic, &p.clickhouse_config.url),
        workers,
        processes,
        children: Vec::new(),
        http_ports: Vec::new(),
    };

    let events = simulated(seed, now_ms() - 3 * 3_600_000, 1_200, 1.0);
    assert!(events.len() >= 5_000);
    let chunks: Vec<&[Event]> = events.chunks(events.len() / 6 + 1).collect();
    let mut rng = Rng::new(seed);
    let mut kills = 0;
    cluster.start();
    for (i, chunk) in chunks.iter().enumerate() {
        publish_all(p.collector.grpc_addr, chunk, 400).await;
        if i % 2 == 0 && kills < 3 {
            // Kill while the chunk is being consumed, at a random moment.
            tokio::time::sleep(Duration::from_millis(rng.range(30, 900) as u64)).await;
            cluster.kill();
            kills += 1;
            cluster.start();
        } else {
            tokio::time::sleep(Duration::from_millis(rng.range(100, 600) as u64)).await;
        }
    }
    assert_eq!(kills, 3);
    // Once the partitions are idle the watermark follows the clock, past every event.
    let target = newest(&events) + 1;
    cluster.wait_past(target).await;
    cluster.stop();

    // No agent state is open and FCR successes would need a day more: the rows are final.
    let want = ccx_reference::compute(&events, &TenantSettings::default(), target + 3_600_000);
    let got = p.store.read_final(None).await.expect("read");
    assert_same_rows(&got, &want);
    let checkpoints = std::fs::read_dir(dir.join("checkpoints"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(checkpoints > 0, "checkpoints were written");
    p.collector.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_worker_killed_three_times_loses_and_doubles_nothing() {
    crash_and_recover(1, 1, 21).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_killed_three_times_lose_and_double_nothing() {
    crash_and_recover(2, 1, 22).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_process_cluster_killed_three_times_loses_and_doubles_nothing() {
    crash_and_recover(1, 2, 23).await;
}

/// A large backlog (two days old, published while no stream runs) read by a stream that is
/// killed with SIGKILL twice while it catches up, each time after a random share of what is
/// left: the restarted stream goes on from its last checkpoint, and every row equals the
/// reference, nothing counted late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_catching_up_on_a_large_backlog_loses_and_doubles_nothing() {
    let p = Pipeline::start("ccx.events.catchup", PARTITIONS)
        .await
        .expect("pipeline");
    let dir = std::env::temp_dir().join(unique_topic("ccx-catchup"));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut cluster = Cluster {
        config: write_config(&dir, &p.broker.addr(), &p.topic, &p.clickhouse_config.url),
        workers: 2,
        processes: 1,
        children: Vec::new(),
        http_ports: Vec::new(),
    };
    let events = simulated(24, now_ms() - 2 * 86_400_000, 7_500, 10.0);
    assert!(events.len() >= 50_000, "{} events", events.len());
    publish_all_at_once(p.collector.grpc_addr, &events, 1_000).await;
    publish_all_at_once(
        p.collector.grpc_addr,
        &closing_batch(newest(&events)),
        1_000,
    )
    .await;

    let mut rng = Rng::new(24);
    cluster.start();
    for _ in 0..2 {
        // Read since this start; a killed stream re-reads from its checkpoint.
        let share = rng.range(10, 40);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let read = cluster.events_read().await.unwrap_or(0);
            if read * 100 >= events.len() as i64 * share / 2 {
                break;
            }
            assert!(Instant::now() < deadline, "{read} events read");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cluster.kill();
        cluster.start();
    }
    let target = newest(&events) + 1;
    cluster.wait_past(target).await;
    cluster.stop();

    // Two days on, the FCR windows are over too: the rows are final at any watermark now.
    let want = ccx_reference::compute(&events, &TenantSettings::default(), now_ms() - 5_000);
    let got = without_closing_tenant(p.store.read_final(None).await.expect("read"));
    let late: u64 = got.quality.values().map(|q| q.late_dropped).sum();
    assert_eq!(late, 0, "events counted late");
    assert_same_rows(&got, &want);
    p.collector.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
