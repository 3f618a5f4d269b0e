//! One feed per tenant being watched: a task recomputes the tenant's board every refresh
//! (~250 ms) from the source, the tenant's settings and its alerts, and publishes it when it
//! changed. Every viewer of the tenant shares it; the task ends when the last viewer leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccx_control_client::{AlertFilter, AlertRecord, ControlClient};
use ccx_model::settings::TenantSettings;
use tokio::sync::watch;

use crate::board::{starts, Board, Inputs};
use crate::source::Snapshot;
use crate::App;

/// How long a control-plane call may hold up a board.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(1);

/// How often a tenant's settings are read again.
const SETTINGS_EVERY: Duration = Duration::from_secs(5);

/// Alerts triggered longer ago than this are not shown.
const ALERTS_LOOKBACK_MS: i64 = 7 * 86_400_000;

/// The serialized board of a tenant, once computed.
pub type Published = Option<Arc<str>>;

/// The running feeds, by tenant.
#[derive(Default)]
pub struct Feeds {
    running: Mutex<HashMap<String, watch::Sender<Published>>>,
}

impl Feeds {
    /// Ends every feed (their viewers' streams end too).
    pub fn close(&self) {
        ccx_model::sync::lock(&self.running).clear();
    }
}

/// What a tenant's feed keeps between two boards.
#[derive(Default)]
pub struct TenantState {
    settings: TenantSettings,
    settings_read: Option<Instant>,
    alerts: Vec<AlertRecord>,
    last_snapshot: Option<Snapshot>,
}

/// A receiver of `tenant`'s boards, starting its feed if none runs.
pub fn subscribe(app: &Arc<App>, tenant: &str) -> watch::Receiver<Published> {
    let mut running = ccx_model::sync::lock(&app.feeds.running);
    if let Some(sender) = running.get(tenant) {
        return sender.subscribe();
    }
    let (sender, receiver) = watch::channel(None);
    running.insert(tenant.to_string(), sender.clone());
    app.metrics.feeds.set(running.len() as i64);
    tokio::spawn(run(Arc::clone(app), tenant.to_string(), sender));
    receiver
}

async fn run(app: Arc<App>, tenant: String, sender: watch::Sender<Published>) {
    let mut state = TenantState::default();
    let mut last = String::new();
    // A board every refresh from the start of the last one, not a refresh after it ended: the
    // reads take up to a few hundred milliseconds when ClickHouse is busy, and would add to
    // every figure's age.
    let mut every = tokio::time::interval(app.refresh);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = app.shutdown.cancelled() => return,
        }
        let board = board_of(&app, &tenant, &mut state, now_ms()).await;
        match serde_json::to_string(&board) {
            Ok(body) if body != last => {
                sender.send_replace(Some(Arc::from(body.as_str())));
                last = body;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "board not serialized"),
        }
        {
            let mut running = ccx_model::sync::lock(&app.feeds.running);
            let mine = running
                .get(&tenant)
                .is_some_and(|s| s.same_channel(&sender));
            if !mine || sender.receiver_count() == 0 {
                if mine {
                    running.remove(&tenant);
                }
                app.metrics.feeds.set(running.len() as i64);
                return;
            }
        }
    }
}

/// The tenant's board now: settings (re-read every few seconds), the source's rows (the last
/// ones it gave when it fails, with the failure on the banner) and the alerts.
pub async fn board_of(app: &App, tenant: &str, state: &mut TenantState, now: i64) -> Board {
    if let Some(control) = &app.control {
        if state
            .settings_read
            .is_none_or(|at| at.elapsed() >= SETTINGS_EVERY)
        {
            match tokio::time::timeout(CONTROL_TIMEOUT, control.get_settings(tenant)).await {
                Ok(Ok(settings)) => state.settings = settings,
                Ok(Err(e)) => tracing::warn!(tenant, error = %e, "tenant settings not read"),
                Err(_) => tracing::warn!(tenant, "tenant settings not read in time"),
            }
            state.settings_read = Some(Instant::now());
        }
    }
    let starts = starts(now, &state.settings);
    let (snapshot, alerts) = tokio::join!(
        app.source.snapshot(tenant, &starts),
        read_alerts(app.control.as_ref(), tenant, now)
    );
    let source_problem = match snapshot {
        Ok(snapshot) => {
            state.last_snapshot = Some(snapshot);
            None
        }
        Err(e) => {
            app.metrics.source_errors.inc();
            Some(e.0)
        }
    };
    let alerts_problem = match alerts {
        Ok(alerts) => {
            state.alerts = alerts;
            None
        }
        Err(e) => Some(e),
    };
    let empty = Snapshot::default();
    Board::compute(&Inputs {
        tenant,
        settings: &state.settings,
        starts,
        snapshot: state.last_snapshot.as_ref().unwrap_or(&empty),
        source_problem: source_problem.as_deref(),
        alerts: &state.alerts,
        alerts_problem: alerts_problem.as_deref(),
        now_ms: now,
    })
}

async fn read_alerts(
    control: Option<&ControlClient>,
    tenant: &str,
    now: i64,
) -> Result<Vec<AlertRecord>, String> {
    let Some(control) = control else {
        return Ok(Vec::new());
    };
    let filter = AlertFilter {
        tenant_id: Some(tenant.to_string()),
        from_ms: Some(now - ALERTS_LOOKBACK_MS),
        ..AlertFilter::default()
    };
    match tokio::time::timeout(CONTROL_TIMEOUT, control.list_alerts_local(&filter)).await {
        Ok(Ok(alerts)) => Ok(alerts),
        Ok(Err(e)) => Err(format!("control plane: {e}")),
        Err(_) => Err("control plane: no answer in time".to_string()),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
