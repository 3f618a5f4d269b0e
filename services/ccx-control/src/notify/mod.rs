//! What the control-plane leader sends about alerts (SPEC §7.5): a notification of every
//! transition (open, acknowledged, resolved) to each of the tenant's targets that wants the
//! alert's kind, and a row per transition in ClickHouse `alert_events`.
//!
//! Both are derived from the replicated state and recorded in it once done (`DeliveryDone`,
//! `DeliveryGaveUp`, `AlertEventsWritten`): only the leader sends, and a new leader sends
//! what no leader recorded, so nothing finished is repeated and nothing is lost. A send whose
//! record did not make it before a leader change is sent again, with the same
//! `Idempotency-Key` (notifications) or the same row version (`alert_events`).
//!
//! One job per file: `body` (the key and the bodies posted), `queue` (what is still to send,
//! backoff), `deliver` (the leader's delivery loop and the HTTP post), `events` (the
//! `alert_events` writer).

pub mod body;
mod deliver;
mod events;
pub mod queue;

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge, Registry};

use crate::error::ControlError;
use crate::state::{Command, StateMachine};

pub use self::deliver::post;
pub(crate) use self::deliver::run as run_deliveries;
pub(crate) use self::events::run as run_alert_events;
pub use self::queue::Backoff;

/// How notifications are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyOptions {
    /// Wait after a failed post: doubling from `retry.first` up to `retry.max`.
    pub retry: Backoff,
    /// How long after a transition its notification is retried before it is given up.
    pub give_up_after: Duration,
    /// How long one post may take.
    pub timeout: Duration,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            retry: Backoff {
                first: Duration::from_secs(1),
                max: Duration::from_secs(300),
            },
            give_up_after: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What the senders need from the replica they run in.
pub(crate) trait Cluster: Send + Sync + 'static {
    /// True while this replica leads (only the leader sends).
    fn is_leader(&self) -> bool;
    /// The index of the last applied entry (a change means the state may have changed).
    fn applied_index(&self) -> u64;
    fn state(&self) -> Arc<RwLock<StateMachine>>;
    /// Proposes a record (`DeliveryDone`, …) and returns once it applied.
    fn record(&self, command: Command) -> impl Future<Output = Result<(), ControlError>> + Send;
}

/// The replica's `/metrics` of what it sent.
#[derive(Clone)]
pub(crate) struct NotifyMetrics {
    pub(crate) delivered: IntCounter,
    pub(crate) failures: IntCounter,
    pub(crate) given_up: IntCounter,
    pub(crate) pending: IntGauge,
    pub(crate) events_written: IntCounter,
    pub(crate) event_write_failures: IntCounter,
    pub(crate) events_pending: IntGauge,
}

impl NotifyMetrics {
    pub(crate) fn new(registry: &Registry) -> NotifyMetrics {
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("metric");
            registry.register(Box::new(c.clone())).expect("register");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("metric");
            registry.register(Box::new(g.clone())).expect("register");
            g
        };
        NotifyMetrics {
            delivered: counter(
                "ccx_control_notifications_delivered_total",
                "Alert notifications posted and answered 2xx by this replica.",
            ),
            failures: counter(
                "ccx_control_notification_failures_total",
                "Notification posts that failed (not 2xx, timeout, unreachable); retried.",
            ),
            given_up: counter(
                "ccx_control_notifications_given_up_total",
                "Notifications given up after their retry window.",
            ),
            pending: gauge(
                "ccx_control_notifications_pending",
                "Notifications this leader has still to deliver (0 on followers).",
            ),
            events_written: counter(
                "ccx_control_alert_events_written_total",
                "Alert transitions written to ClickHouse alert_events by this replica.",
            ),
            event_write_failures: counter(
                "ccx_control_alert_event_write_failures_total",
                "Failed writes to ClickHouse alert_events; retried.",
            ),
            events_pending: gauge(
                "ccx_control_alert_events_pending",
                "Alert transitions this leader has still to write to alert_events (at most \
                 one batch counted).",
            ),
        }
    }
}
