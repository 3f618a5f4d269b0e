//! `ccx demo`: the whole pipeline in one process on embedded defaults — a simulated contact
//! center publishing through the real collector (gRPC) into an in-process event log, the same
//! stream dataflow as production (provisional rows on), a single-node control plane receiving
//! churn alerts, and the wallboard page (`ccx_wallboard`, the code `ccx wallboard` serves)
//! over the stream's memory rows.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccx_collector::Sink;
use ccx_config::{Config, TenantToken};
use ccx_model::hash_token;
use ccx_model::log::MemoryTopic;
use ccx_model::settings::TenantSettings;
use ccx_model::{timestamp_ms, Event};
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_proto::v1::PublishRequest;
use ccx_sim::{Sim, SimConfig};
use ccx_stream::dataflow::{run, Progress, StreamOptions};
use ccx_stream::sink::{MemorySink, WithAlerts};
use ccx_stream::source::MemoryLog;
use tokio_util::sync::CancellationToken;

const TENANTS: [&str; 4] = ["tenant-0", "tenant-1", "tenant-2", "tenant-3"];
const PARTITIONS: u32 = 8;

/// Runs until SIGINT/SIGTERM. `contacts_per_second` is the simulated arrival rate.
pub async fn run_demo(listen: SocketAddr, contacts_per_second: f64) -> anyhow::Result<()> {
    let topic = MemoryTopic::new(PARTITIONS as usize);
    let mut config = Config::default();
    config.collector.grpc_listen = ([127, 0, 0, 1], 0).into();
    config.collector.http_listen = ([127, 0, 0, 1], 0).into();
    config.tenants = TENANTS
        .iter()
        .map(|t| TenantToken {
            id: t.to_string(),
            token_sha256: hash_token(&format!("dev-token-{t}")),
        })
        .collect();
    let shutdown = CancellationToken::new();
    let collector =
        ccx_collector::serve(&config, Sink::Memory(Arc::clone(&topic)), shutdown.clone()).await?;

    let control_dir = std::env::temp_dir().join(format!("ccx-demo-control-{}", std::process::id()));
    // One operator credential, made up for this run, for the demo's own parts.
    let control_token = format!("demo-{:x}-{}", std::process::id(), ccx_model::now_ms());
    let control = ccx_control::start_replica(
        ccx_control::ReplicaOptions::single_node(control_dir.clone())
            .with_operator("demo", &control_token),
    )
    .await?;
    let control_endpoint = control.grpc_addr().to_string();

    let rows = MemorySink::default();
    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let stream = {
        let stream_token = control_token.clone();
        let (rows, progress, stop, topic) = (
            rows.clone(),
            Arc::clone(&progress),
            Arc::clone(&stop),
            Arc::clone(&topic),
        );
        let options = StreamOptions {
            partitions: PARTITIONS,
            flush_interval: Duration::from_millis(200),
            idle_timeout: Duration::from_secs(2),
            checkpoint_every_ms: 0,
            ..StreamOptions::default()
        };
        std::thread::spawn(move || {
            run(
                options,
                ccx_stream::Settings::new(TenantSettings::default()),
                move |_| Ok(MemoryLog::new(Arc::clone(&topic))),
                move |_| {
                    WithAlerts::new(
                        rows.clone(),
                        std::slice::from_ref(&control_endpoint),
                        &stream_token,
                    )
                },
                stop,
                progress,
            )
        })
    };

    let mut options = ccx_wallboard::Options::new(listen);
    options.tenants = config.tenants.clone();
    options.control = vec![control.grpc_addr().to_string()];
    options.control_token = control_token;
    let source = Arc::new(ccx_wallboard::MemorySource::new(rows));
    let wallboard = ccx_wallboard::serve(options, source, shutdown.clone()).await?;
    // The centers' history is in the log before anything else can publish: a contact a
    // viewer publishes now would otherwise move the tenant's clock past the history still
    // coming, and the history would count as late.
    let mut client = CollectorClient::connect(format!("http://{}", collector.grpc_addr)).await?;
    let (sim, history) = warm_up(contacts_per_second);
    publish(&mut client, history).await?;
    let simulator = tokio::spawn(simulate(client, sim));
    println!(
        "ccx demo: wallboard on http://{}  (collector gRPC {}, HTTP {})",
        wallboard.addr, collector.grpc_addr, collector.http_addr
    );
    println!(
        "ccx demo: sign in as tenant {} with token dev-token-{} (tenants {})",
        TENANTS[0],
        TENANTS[0],
        TENANTS.join(", ")
    );

    crate::wait_for_signal().await;
    println!("ccx demo: stopping");
    simulator.abort();
    shutdown.cancel();
    wallboard.wait().await;
    collector.wait().await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || stream.join()).await;
    control.stop().await;
    let _ = std::fs::remove_dir_all(control_dir);
    Ok(())
}

/// How long the simulated centers have been open when the demo starts (longer than the
/// 30 minutes agents needed are computed from).
const WARM_UP_MS: i64 = 40 * 60_000;
/// The share of its staffing target the simulated sales queue's teams get.
const SALES_STAFFED: f64 = 0.5;
const PUBLISH_BATCH: usize = 2_000;

/// The simulated centers, opened WARM_UP ago, and their events until now.
fn warm_up(contacts_per_second: f64) -> (Sim, Vec<Event>) {
    let config = SimConfig {
        tenants: TENANTS.iter().map(|t| t.to_string()).collect(),
        customers: 80,
        agents: 10,
        seed: std::process::id() as u64,
        // One contact per agent on every channel: agents needed (Erlang C per channel, SPEC
        // §7.6) then count the agents the centers really need, so only a short team shows up
        // short.
        chat_concurrency: 1,
        // One team short on the floor, so the page shows what understaffing looks like.
        understaffed: vec![("sales".into(), SALES_STAFFED)],
        ..SimConfig::default()
    };
    let mut sim = Sim::new(config);
    let now = now_ms();
    sim.start(now - WARM_UP_MS, contacts_per_second);
    let history = sim.run_until(now);
    (sim, history)
}

/// Publishes the simulated centers' events as they come due, simulated a minute ahead at a
/// time from where [`warm_up`] left them.
async fn simulate(
    mut client: CollectorClient<tonic::transport::Channel>,
    mut sim: Sim,
) -> anyhow::Result<()> {
    let mut generated_until = now_ms();
    let mut pending: Vec<Event> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let now = now_ms();
        if generated_until < now + 30_000 {
            generated_until += 60_000;
            pending.extend(sim.run_until(generated_until));
        }
        let due = pending.iter().take_while(|e| time(e) <= now).count();
        if let Err(e) = publish(&mut client, pending.drain(..due).collect()).await {
            tracing::warn!(error = %e, "publish failed");
        }
    }
}

/// Publishes `events` with each tenant's token, in batches the collector takes. A batch that
/// fails does not stop the others (one tenant's refusal costs no other tenant its events);
/// the first failure is returned once all were tried.
async fn publish(
    client: &mut CollectorClient<tonic::transport::Channel>,
    events: Vec<Event>,
) -> anyhow::Result<()> {
    let mut by_tenant: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for e in events {
        by_tenant.entry(e.tenant_id.clone()).or_default().push(e);
    }
    let mut first_failure = None;
    for (tenant, events) in by_tenant {
        for events in events.chunks(PUBLISH_BATCH) {
            let mut request = tonic::Request::new(PublishRequest {
                events: events.to_vec(),
            });
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer dev-token-{tenant}").parse()?,
            );
            if let Err(e) = client.publish(request).await {
                first_failure.get_or_insert(anyhow::anyhow!("publishing {tenant}'s events: {e}"));
            }
        }
    }
    first_failure.map_or(Ok(()), Err)
}

fn time(e: &Event) -> i64 {
    e.occurred_at.as_ref().map(timestamp_ms).unwrap_or(0)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
