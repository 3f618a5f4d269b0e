//! `ccx demo`: the whole pipeline in one process on embedded defaults — a simulated contact
//! center publishing through the real collector (gRPC) into an in-process event log, the same
//! stream dataflow as production (provisional rows on), a single-node control plane receiving
//! churn alerts, and a live wallboard page.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use ccx_collector::Sink;
use ccx_config::{Config, TenantToken};
use ccx_model::hash_token;
use ccx_model::kpi::{occupancy_pct, Kpis};
use ccx_model::log::MemoryTopic;
use ccx_model::rows::{Components, StateTimes};
use ccx_model::settings::TenantSettings;
use ccx_model::{timestamp_ms, Event};
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_proto::v1::PublishRequest;
use ccx_sim::{Sim, SimConfig};
use ccx_stream::dataflow::{run, Progress, StreamOptions};
use ccx_stream::sink::{MemorySink, WithAlerts};
use ccx_stream::source::MemoryLog;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const TENANTS: [&str; 4] = ["tenant-0", "tenant-1", "tenant-2", "tenant-3"];
const PARTITIONS: u32 = 8;

#[derive(Clone)]
struct Wallboard {
    rows: MemorySink,
    progress: Arc<Progress>,
    control: Arc<ccx_control::ControlClient>,
}

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
    let control = ccx_control::start_replica(ccx_control::ReplicaOptions::single_node(
        control_dir.clone(),
    ))
    .await?;
    let control_endpoint = control.grpc_addr().to_string();

    let rows = MemorySink::default();
    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let stream = {
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
                move |_| WithAlerts::new(rows.clone(), std::slice::from_ref(&control_endpoint)),
                stop,
                progress,
            )
        })
    };

    let board = Wallboard {
        rows,
        progress,
        control: Arc::new(ccx_control::ControlClient::new([control
            .grpc_addr()
            .to_string()])?),
    };
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/wallboard", get(wallboard))
        .with_state(board);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let http = tokio::spawn(async move { axum::serve(listener, app).await });
    let simulator = tokio::spawn(simulate(collector.grpc_addr, contacts_per_second));
    println!("ccx demo: wallboard on http://{listen}  (collector gRPC {}, HTTP {}; tokens dev-token-tenant-0..3)",
        collector.grpc_addr, collector.http_addr);

    crate::wait_for_signal().await;
    println!("ccx demo: stopping");
    simulator.abort();
    http.abort();
    shutdown.cancel();
    collector.wait().await;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || stream.join()).await;
    control.stop().await;
    let _ = std::fs::remove_dir_all(control_dir);
    Ok(())
}

/// Publishes the simulated centers' events as they come due, simulated a minute ahead at a time.
async fn simulate(grpc: SocketAddr, contacts_per_second: f64) -> anyhow::Result<()> {
    let mut client = CollectorClient::connect(format!("http://{grpc}")).await?;
    let config = SimConfig {
        tenants: TENANTS.iter().map(|t| t.to_string()).collect(),
        customers: 80,
        agents: 10,
        seed: std::process::id() as u64,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(config);
    let mut pending: Vec<Event> = Vec::new();
    let mut generated_until = now_ms();
    // The centers run on their own from now, read a minute at a time.
    sim.start(generated_until, contacts_per_second);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let now = now_ms();
        if generated_until < now + 30_000 {
            generated_until += 60_000;
            pending.extend(sim.run_until(generated_until));
        }
        let due = pending.iter().take_while(|e| time(e) <= now).count();
        let batch: Vec<Event> = pending.drain(..due).collect();
        let mut by_tenant: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for e in batch {
            by_tenant.entry(e.tenant_id.clone()).or_default().push(e);
        }
        for (tenant, events) in by_tenant {
            let mut request = tonic::Request::new(PublishRequest { events });
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer dev-token-{tenant}").parse()?,
            );
            if let Err(e) = client.publish(request).await {
                tracing::warn!(error = %e, "publish failed");
            }
        }
    }
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

#[derive(Deserialize)]
struct BoardQuery {
    tenant: Option<String>,
}

/// The last 15 minutes per queue (summed components, then KPIs), queues now, occupancy and the
/// latest churn alerts of one tenant.
async fn wallboard(State(board): State<Wallboard>, Query(q): Query<BoardQuery>) -> Json<Value> {
    let tenant = q.tenant.unwrap_or_else(|| TENANTS[0].to_string());
    let since = ccx_model::rows::minute_of(now_ms()) - 14 * 60_000;
    let (queues, now_rows, state) = {
        let shared = ccx_model::sync::lock(&board.rows.shared);
        let mut queues: BTreeMap<String, Components> = BTreeMap::new();
        for (k, c) in &shared.rows.queue {
            if k.tenant_id == tenant && k.window_start >= since {
                *queues.entry(k.queue_id.clone()).or_default() += *c;
            }
        }
        let mut state = StateTimes::default();
        for (k, s) in &shared.rows.agent_state {
            if k.tenant_id == tenant && k.window_start >= since {
                state += *s;
            }
        }
        let now_rows: Vec<_> = shared
            .queue_now
            .values()
            .filter(|n| n.tenant_id == tenant)
            .cloned()
            .collect();
        (queues, now_rows, state)
    };
    let mut total = Components::default();
    let queue_rows: Vec<Value> = queues
        .iter()
        .map(|(queue, c)| {
            total += *c;
            let waiting: u64 = now_rows
                .iter()
                .filter(|n| &n.queue_id == queue)
                .map(|n| n.waiting)
                .sum();
            let longest = now_rows
                .iter()
                .filter(|n| &n.queue_id == queue)
                .map(|n| n.longest_wait_ms)
                .max()
                .unwrap_or(0);
            queue_json(queue, c, waiting, longest)
        })
        .collect();
    let filter = ccx_control::AlertFilter {
        tenant_id: Some(tenant.clone()),
        limit: Some(8),
        ..Default::default()
    };
    let alerts: Vec<Value> = board
        .control
        .list_alerts_local(&filter)
        .await
        .unwrap_or_default()
        .iter()
        .rev()
        .take(8)
        .map(|a| {
            json!({"alert_id": a.alert_id, "customer_id": a.customer_id, "score": a.score,
                   "reasons": a.reasons, "status": format!("{:?}", a.status)})
        })
        .collect();
    Json(json!({
        "tenant": tenant,
        "tenants": TENANTS,
        "watermark": board.progress.watermark(),
        "queues": queue_rows,
        "total": queue_json("all queues", &total, now_rows.iter().map(|n| n.waiting).sum(), 0),
        "occupancy_pct": occupancy_pct(&state),
        "alerts": alerts,
    }))
}

fn queue_json(queue: &str, c: &Components, waiting: u64, longest_ms: u64) -> Value {
    let k = Kpis::of(c);
    json!({
        "queue": queue, "offered": c.offered, "answered": c.answered, "abandoned": c.abandoned,
        "waiting": waiting, "longest_wait_ms": longest_ms,
        "service_level_pct": k.service_level_pct, "asa_ms": k.asa_ms,
        "abandonment_pct": k.abandonment_pct, "aht_ms": k.aht_ms, "nps": k.nps, "csat_pct": k.csat_pct,
    })
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>ccx wallboard</title>
<style>
 body{font-family:system-ui,sans-serif;background:#10151c;color:#e8eef5;margin:24px}
 h1{font-weight:600;font-size:22px} table{border-collapse:collapse;width:100%;margin-top:12px}
 th,td{padding:8px 10px;border-bottom:1px solid #2a3340;text-align:right} th:first-child,td:first-child{text-align:left}
 th{color:#8fa3b8;font-weight:500} .big{font-size:28px;font-weight:600} .cards{display:flex;gap:16px}
 .card{background:#18202b;border-radius:8px;padding:12px 18px;min-width:140px} .muted{color:#8fa3b8;font-size:13px}
 select{background:#18202b;color:#e8eef5;border:1px solid #2a3340;padding:4px}
</style></head><body>
<h1>ccx live wallboard <select id="tenant"></select> <span class="muted" id="asof"></span></h1>
<div class="cards">
 <div class="card"><div class="muted">Service level (15 min)</div><div class="big" id="sl">–</div></div>
 <div class="card"><div class="muted">ASA</div><div class="big" id="asa">–</div></div>
 <div class="card"><div class="muted">Abandonment</div><div class="big" id="ab">–</div></div>
 <div class="card"><div class="muted">Waiting now</div><div class="big" id="waiting">–</div></div>
 <div class="card"><div class="muted">Occupancy</div><div class="big" id="occ">–</div></div>
 <div class="card"><div class="muted">Offered (15 min)</div><div class="big" id="offered">–</div></div>
</div>
<table><thead><tr><th>Queue</th><th>Offered</th><th>Answered</th><th>Abandoned</th><th>Waiting</th><th>Longest wait</th>
<th>SL %</th><th>ASA</th><th>Aband. %</th><th>AHT</th></tr></thead><tbody id="queues"></tbody></table>
<h1 style="margin-top:28px">Churn-risk alerts</h1>
<table><thead><tr><th>Customer</th><th>Score</th><th>Reasons</th><th>Status</th></tr></thead><tbody id="alerts"></tbody></table>
<script>
const pct=v=>v==null?'–':v.toFixed(1)+' %', sec=v=>v==null?'–':(v/1000).toFixed(1)+' s';
const sel=document.getElementById('tenant');
async function refresh(){
  const t=sel.value||'tenant-0';
  const r=await fetch('/api/wallboard?tenant='+encodeURIComponent(t)); const d=await r.json();
  if(!sel.options.length){d.tenants.forEach(x=>sel.add(new Option(x,x)));}
  document.getElementById('asof').textContent='watermark '+new Date(d.watermark).toISOString();
  document.getElementById('sl').textContent=pct(d.total.service_level_pct);
  document.getElementById('asa').textContent=sec(d.total.asa_ms);
  document.getElementById('ab').textContent=pct(d.total.abandonment_pct);
  document.getElementById('waiting').textContent=d.total.waiting;
  document.getElementById('occ').textContent=pct(d.occupancy_pct);
  document.getElementById('offered').textContent=d.total.offered;
  document.getElementById('queues').innerHTML=d.queues.map(q=>`<tr><td>${q.queue}</td><td>${q.offered}</td><td>${q.answered}</td><td>${q.abandoned}</td><td>${q.waiting}</td><td>${sec(q.longest_wait_ms)}</td><td>${pct(q.service_level_pct)}</td><td>${sec(q.asa_ms)}</td><td>${pct(q.abandonment_pct)}</td><td>${sec(q.aht_ms)}</td></tr>`).join('');
  document.getElementById('alerts').innerHTML=d.alerts.map(a=>`<tr><td>${a.customer_id}</td><td>${a.score}</td><td>${a.reasons.join(', ')}</td><td>${a.status}</td></tr>`).join('');
}
sel.onchange=refresh; refresh(); setInterval(refresh,500);
</script></body></html>"#;
