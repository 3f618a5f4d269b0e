//! Control-plane write benchmark: starts a 3-replica cluster as separate processes on loopback
//! (fsync on, default tuning), raises alerts through `ControlClient` and prints write latency
//! (p50, p99, max) and writes/s, first one client at a time, then with concurrent clients.
//!
//! cargo build --release -p ccx-control --bins
//! target/release/control-bench --writes 2000 --concurrency 32

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccx_control::ControlClient;
use ccx_model::rows::ChurnAlert;
use clap::Parser;

#[derive(Parser)]
#[command(about = "ccx control-plane write benchmark (3 replicas on loopback)")]
struct Args {
    /// Writes per phase.
    #[arg(long, default_value_t = 2_000)]
    writes: usize,
    /// Concurrent clients in the second phase.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The replica binary (default: ccx-control-replica next to this program).
    #[arg(long)]
    replica_bin: Option<PathBuf>,
    /// Data directories go here (default: a fresh directory under the system temp dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn alert(n: usize) -> ChurnAlert {
    ChurnAlert {
        tenant_id: "bench".into(),
        alert_id: format!("bench:c{n}:e{n}"),
        customer_id: format!("c{n}"),
        score: 70,
        reasons: vec!["NPS_DETRACTOR".into(), "REPEAT_CONTACT".into()],
        triggered_at: 1_700_000_000_000 + n as i64,
        contact_id: format!("k{n}"),
        channel: "VOICE".into(),
        queue_id: "q1".into(),
        agent_id: "a1".into(),
    }
}

fn report(phase: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1_000.0
    };
    println!(
        "{phase:<28} writes={:<6} p50={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms  {:>8.0} writes/s",
        latencies.len(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
}

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let replica_bin = match args.replica_bin {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("ccx-control-replica"),
    };
    let root = args.data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ccx-control-bench-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let grpc: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let peers = grpc
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    // One operator credential, made up for this run.
    let token = format!("bench-{}", ccx_model::now_ms());
    let operator = format!("bench={}", ccx_model::hash_token(&token));
    let mut children = Children(Vec::new());
    for (i, addr) in grpc.iter().enumerate() {
        let id = (i + 1).to_string();
        children.0.push(
            Command::new(&replica_bin)
                .args(["--id", &id, "--peers", &peers, "--grpc-listen", addr])
                .args(["--http-listen", &format!("127.0.0.1:{}", free_port())])
                .args(["--operator", &operator])
                .arg("--data-dir")
                .arg(root.join(format!("r{id}")))
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()?,
        );
    }
    let client = Arc::new(
        ControlClient::new(&grpc)?
            .with_credential(&token)?
            .with_timeout(Duration::from_secs(30)),
    );
    let started = Instant::now();
    let leader = loop {
        if let Ok(s) = client.status().await {
            if s.leader_id != 0 {
                break s.leader_id;
            }
        }
        if started.elapsed() > Duration::from_secs(15) {
            return Err("no leader within 15 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "3 replicas on loopback, fsync on; leader {leader} elected {:?} after start; {} cores",
        started.elapsed(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Warm-up: connections and the leader's first entries.
    for n in 0..50 {
        client.raise_alert(&alert(1_000_000_000 + n)).await?;
    }

    let mut latencies = Vec::with_capacity(args.writes);
    let t0 = Instant::now();
    for n in 0..args.writes {
        let t = Instant::now();
        client.raise_alert(&alert(n)).await?;
        latencies.push(t.elapsed());
    }
    report("1 client, sequential", latencies, t0.elapsed());

    let per_client = args.writes.div_ceil(args.concurrency.max(1));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.concurrency.max(1) {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let n = 10_000_000 + c * per_client + i;
                let t = Instant::now();
                client.raise_alert(&alert(n)).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, ccx_control::ControlError>(lat)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    report(
        &format!("{} clients, concurrent", args.concurrency.max(1)),
        latencies,
        t0.elapsed(),
    );
    drop(children);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
