//! Threshold alerts end to end (SPEC §7.5): from the acknowledgement of the event that makes a
//! rule's condition true to the notification a webhook receives. The real broker and
//! ClickHouse, the collector, a stream raising alerts into a single-replica control plane, and
//! an HTTP receiver on 127.0.0.1 as the tenant's notification target. Rule: `waiting above 1`
//! on every queue. Each round offers two contacts to a new queue (the second's acknowledgement
//! starts the clock; the open notification stops it), then answers both (the clock runs to the
//! resolved notification). Prints the percentiles of both.
//!
//! Usage: `cargo run --release -p ccx-load-tests --bin threshold-bench -- --rounds 60`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use ccx_e2e::{now_ms, offered, publish_by_tenant, unique_topic, Pipeline};
use ccx_model::settings::TenantSettings;
use ccx_model::settings::{AlertKind, Format, Metric, NotificationTarget, Op, ThresholdRule};
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_stream::dataflow::{run, Progress, StreamOptions};
use ccx_stream::sink::{ClickHouseSinks, WithAlerts};
use ccx_stream::source::KafkaLog;
use clap::Parser;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 60)]
    rounds: usize,
}

/// Received notifications: (when, queue, transition).
type Received = Arc<Mutex<Vec<(Instant, String, String)>>>;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let p = Pipeline::start("bench.threshold", 4).await?;

    let received: Received = Arc::default();
    let receiver = {
        let received = Arc::clone(&received);
        axum::Router::new().route(
            "/hook",
            post(move |body: axum::Json<serde_json::Value>| async move {
                let field = |k: &str| body[k].as_str().unwrap_or_default().to_string();
                let seen = (Instant::now(), field("queue"), field("transition"));
                ccx_model::sync::lock(&received).push(seen);
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let dir = std::env::temp_dir().join(unique_topic("ccx-bench-threshold"));
    // One credential for this run, made up here.
    let token = format!("bench-{}", ccx_model::now_ms());
    let control = ccx_control::start_replica(
        ccx_control::ReplicaOptions::single_node(dir.clone()).with_operator("bench", &token),
    )
    .await?;
    let endpoint = control.grpc_addr().to_string();
    let client = control.client(&token)?;
    let settings = TenantSettings {
        threshold_rules: vec![ThresholdRule {
            id: "queue-building".into(),
            metric: Metric::Waiting,
            queue_id: String::new(),
            channel: String::new(),
            op: Op::Above,
            threshold: 1.0,
            window_ms: 15 * 60_000,
            for_ms: 0,
        }],
        notification_targets: vec![NotificationTarget {
            url: hook,
            kinds: vec![AlertKind::Threshold],
            format: Format::Json,
        }],
        ..TenantSettings::default()
    };
    client.put_config(settings.to_proto("tenant-0")).await?;

    // The stream follows the control plane's settings, as `ccx stream` does.
    let shared = Arc::new(ccx_stream::engine::SharedSettings::default());
    let stop_follow = CancellationToken::new();
    tokio::spawn(ccx_stream::serve::follow_settings(
        Arc::clone(&shared),
        control.client(&token)?,
        Duration::from_millis(500),
        stop_follow.clone(),
    ));
    while shared.get("tenant-0").is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut stream_settings = ccx_stream::Settings::new(TenantSettings::default());
    stream_settings.shared = Some(Arc::clone(&shared));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let options = StreamOptions {
        workers: 1,
        partitions: 4,
        idle_timeout: Duration::from_secs(1),
        checkpoint_dir: Some(dir.join("checkpoints")),
        ..StreamOptions::default()
    };
    let stream = {
        let stream_token = token.clone();
        let (kafka, sinks, stop) = (
            p.config.kafka.clone(),
            ClickHouseSinks::new(&p.clickhouse_config),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || {
            run(
                options,
                stream_settings,
                move |_| KafkaLog::new(&kafka),
                move |_| {
                    WithAlerts::new(
                        sinks.sink()?,
                        std::slice::from_ref(&endpoint),
                        &stream_token,
                    )
                },
                stop,
                Arc::new(Progress::default()),
            )
        })
    };

    let mut collector =
        CollectorClient::connect(format!("http://{}", p.collector.grpc_addr)).await?;
    let wait_for = |queue: String, transition: &'static str| {
        let received = Arc::clone(&received);
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let hit = ccx_model::sync::lock(&received)
                    .iter()
                    .find(|(_, q, t)| *q == queue && t == transition)
                    .map(|(at, _, _)| *at);
                if let Some(at) = hit {
                    return Some(at);
                }
                if Instant::now() > deadline {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let (mut opened, mut resolved, mut missed) = (Vec::new(), Vec::new(), 0);
    for round in 0..args.rounds {
        let queue = format!("q{round}");
        let now = now_ms();
        let contact = |n: u32| {
            let mut e = offered("tenant-0", &format!("{queue}-{n}"), "x", now);
            e.queue_id = queue.clone();
            e
        };
        let offers = [contact(1), contact(2)];
        publish_by_tenant(&mut collector, &offers, 10).await?;
        let acked = Instant::now();
        match wait_for(queue.clone(), "open").await {
            Some(at) => opened.push(at.duration_since(acked).as_secs_f64() * 1e3),
            None => missed += 1,
        }
        let answers: Vec<_> = offers
            .iter()
            .map(|o| {
                let mut a = o.clone();
                a.event_id.push_str("-answered");
                a.r#type = ccx_model::EventType::ContactAnswered as i32;
                a.agent_id = "a1".into();
                a.occurred_at = Some(ccx_model::ms_timestamp(now_ms()));
                a
            })
            .collect();
        publish_by_tenant(&mut collector, &answers, 10).await?;
        let acked = Instant::now();
        match wait_for(queue, "resolved").await {
            Some(at) => resolved.push(at.duration_since(acked).as_secs_f64() * 1e3),
            None => missed += 1,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    stream
        .join()
        .map_err(|_| anyhow::anyhow!("stream panicked"))?
        .map_err(|e| anyhow::anyhow!(e))?;
    stop_follow.cancel();
    control.stop().await;
    p.collector.stop().await;
    let _ = std::fs::remove_dir_all(dir);

    println!("| what | p50 / p99 / max |");
    println!("|---|---|");
    for (name, mut ms) in [
        ("condition true (ack) -> open notification", opened),
        ("condition cleared (ack) -> resolved notification", resolved),
    ] {
        ms.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| {
            ms.get(((ms.len() as f64 - 1.0) * p) as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "| {name} ({} rounds) | {:.0} / {:.0} / {:.0} ms |",
            ms.len(),
            pct(0.5),
            pct(0.99),
            ms.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!("| notifications not received within 30 s | {missed} |");
    Ok(())
}
