//! The leader's delivery loop: derives the pending notifications from the state whenever it
//! changed (and every second), posts the due ones concurrently, records each 2xx with
//! `DeliveryDone` and each delivery retried past its window with `DeliveryGaveUp`. A replica
//! that does not lead forgets its queue; answers of posts started under an earlier leadership
//! are ignored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::state::{Command, DeliveryKey};

use super::body;
use super::queue::{self, Delivery, Queue};
use super::{Cluster, NotifyMetrics, NotifyOptions};

/// Posts at once, at most.
const CONCURRENT_POSTS: usize = 32;
/// How often the loop looks at the state and the queue.
const TICK: Duration = Duration::from_millis(50);
/// The state is scanned again after this long even when nothing was applied (the retry
/// window moves with the clock).
const RESCAN: Duration = Duration::from_secs(1);

/// Posts `body` to `url` with header `Idempotency-Key: key`; Ok with the status when 2xx.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> Result<u16, String> {
    let response = client
        .post(url)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    let status = response.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(format!("HTTP {status}"))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// How one delivery's attempt ended.
enum Attempt {
    Delivered { recorded: bool },
    Failed(String),
    GaveUp { recorded: bool },
}

struct Report {
    generation: u64,
    key: DeliveryKey,
    attempt: Attempt,
}

/// Runs until `shutdown`: delivers while this replica leads.
pub(crate) async fn run<C: Cluster>(
    cluster: Arc<C>,
    options: super::NotifyOptions,
    metrics: NotifyMetrics,
    shutdown: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.timeout.min(Duration::from_secs(5)))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client: alert notifications are off");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(CONCURRENT_POSTS));
    let (tx, mut rx) = mpsc::unbounded_channel::<Report>();
    let mut queue = Queue::default();
    let mut generation = 0u64;
    let mut leading = false;
    let mut last_scan: Option<(u64, Instant)> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            Some(report) = rx.recv() => {
                if report.generation == generation {
                    settle(&mut queue, report, &options, &metrics);
                }
            }
        }
        if !cluster.is_leader() {
            if leading {
                tracing::info!(
                    pending = queue.len(),
                    "not leading: notifications left to the leader"
                );
                queue.clear();
                generation += 1;
                leading = false;
                last_scan = None;
            }
            metrics.pending.set(0);
            continue;
        }
        leading = true;
        let now = Instant::now();
        let applied = cluster.applied_index();
        let stale = last_scan.is_none_or(|(i, at)| i != applied || now - at >= RESCAN);
        if stale {
            let pending = {
                let state = cluster.state();
                let state = ccx_model::sync::read(&state);
                queue::pending(&state, ccx_model::now_ms(), options.give_up_after)
            };
            let refreshed = queue.refresh(pending, now);
            for key in refreshed.give_up {
                tracing::warn!(
                    tenant = %key.tenant_id,
                    alert = %key.alert_id,
                    url = %key.target_url,
                    "notification given up after {:?}",
                    options.give_up_after
                );
                let cluster = cluster.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let recorded = cluster
                        .record(Command::DeliveryGaveUp {
                            delivery: key.clone(),
                        })
                        .await
                        .is_ok();
                    let _ = tx.send(Report {
                        generation,
                        key,
                        attempt: Attempt::GaveUp { recorded },
                    });
                });
            }
            last_scan = Some((applied, now));
        }
        for delivery in queue.take_due(now) {
            tokio::spawn(attempt(
                cluster.clone(),
                client.clone(),
                permits.clone(),
                delivery,
                generation,
                tx.clone(),
                metrics.clone(),
            ));
        }
        metrics.pending.set(queue.len() as i64);
    }
}

/// Posts one delivery and, on a 2xx, records it.
async fn attempt<C: Cluster>(
    cluster: Arc<C>,
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    d: Delivery,
    generation: u64,
    tx: mpsc::UnboundedSender<Report>,
    metrics: NotifyMetrics,
) {
    let Ok(_permit) = permits.acquire_owned().await else {
        return;
    };
    let key = body::idempotency_key(&d.key.alert_id, d.key.transition);
    let payload = body::body(d.format, &d.alert, &d.entry);
    let attempt = match post(&client, &d.key.target_url, &key, &payload).await {
        Ok(_) => {
            metrics.delivered.inc();
            let recorded = cluster
                .record(Command::DeliveryDone {
                    delivery: d.key.clone(),
                })
                .await;
            if let Err(e) = &recorded {
                tracing::warn!(key, error = %e, "delivered, but not recorded: it will be sent again");
            }
            Attempt::Delivered {
                recorded: recorded.is_ok(),
            }
        }
        Err(e) => {
            metrics.failures.inc();
            Attempt::Failed(e)
        }
    };
    let _ = tx.send(Report {
        generation,
        key: d.key,
        attempt,
    });
}

fn settle(queue: &mut Queue, report: Report, options: &NotifyOptions, metrics: &NotifyMetrics) {
    let now = Instant::now();
    match report.attempt {
        Attempt::Delivered { recorded: true } => queue.delivered(&report.key),
        Attempt::Delivered { recorded: false } | Attempt::GaveUp { recorded: false } => {
            queue.unrecorded(&report.key, now, &options.retry)
        }
        Attempt::GaveUp { recorded: true } => {
            metrics.given_up.inc();
            queue.delivered(&report.key);
        }
        Attempt::Failed(error) => {
            let failures = queue.failed(&report.key, now, &options.retry);
            tracing::warn!(
                tenant = %report.key.tenant_id,
                alert = %report.key.alert_id,
                transition = body::transition_name(report.key.transition),
                url = %report.key.target_url,
                failures,
                retry_in = ?options.retry.after(failures),
                error,
                "notification not delivered"
            );
        }
    }
}
