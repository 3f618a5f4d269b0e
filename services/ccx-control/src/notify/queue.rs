//! Which notifications are still to send, and when to try each again.
//!
//! [`pending`] derives the deliveries from the replicated state alone: every transition of an
//! alert, for every target of its tenant that wants the alert's kind, that no leader recorded
//! as delivered or given up. Per alert and target, only the oldest unfinished transition is
//! due (the receiver sees an alert's transitions in order); a transition older than the
//! retry window is past its chance and never blocks the next one. [`Queue`] is the leader's
//! own bookkeeping on top: attempts, the next try, what is in flight. It is rebuilt from
//! [`pending`] by every new leader, which is what makes delivery at-least-once across leader
//! changes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ccx_control_client::{AlertRecord, HistoryEntry};
use ccx_model::settings::Format;

use crate::state::{DeliveryKey, StateMachine};

/// One notification to post.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub key: DeliveryKey,
    pub format: Format,
    pub alert: AlertRecord,
    pub entry: HistoryEntry,
    /// Past its retry window (`entry.at_ms + window`): to give up, not to post.
    pub expired: bool,
}

/// The deliveries not recorded as finished, as of `now_ms`, with a retry window of `window`.
pub fn pending(state: &StateMachine, now_ms: i64, window: Duration) -> Vec<Delivery> {
    let window_ms = window.as_millis().min(i64::MAX as u128) as i64;
    let mut out = Vec::new();
    for (alert, sent) in state.alerts_with_sent() {
        // An alert whose last transition is a window past its own window has nothing left
        // to send (the second window lets the leader give up what it was retrying).
        let Some(last) = alert.history.last() else {
            continue;
        };
        if last.at_ms.saturating_add(window_ms.saturating_mul(2)) < now_ms {
            continue;
        }
        let Some(config) = state.config(&alert.tenant_id) else {
            continue;
        };
        for target in &config.settings.notification_targets {
            if !target.wants(alert.kind) {
                continue;
            }
            for entry in &alert.history {
                let finished = sent.is_some_and(|s| {
                    s.deliveries
                        .contains_key(&(entry.status, target.url.clone()))
                });
                if finished {
                    continue;
                }
                let expired = entry.at_ms.saturating_add(window_ms) < now_ms;
                out.push(Delivery {
                    key: DeliveryKey {
                        tenant_id: alert.tenant_id.clone(),
                        alert_id: alert.alert_id.clone(),
                        transition: entry.status,
                        target_url: target.url.clone(),
                    },
                    format: target.format,
                    alert: alert.clone(),
                    entry: entry.clone(),
                    expired,
                });
                if !expired {
                    break;
                }
            }
        }
    }
    out
}

/// Exponential backoff: `first`, doubling per failed attempt, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after `failures` failed attempts (1 or more).
    pub fn after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }
}

#[derive(Debug)]
struct Entry {
    delivery: Delivery,
    failures: u32,
    next_at: Instant,
    in_flight: bool,
    /// Posted and answered 2xx; waiting for the record to apply.
    delivered: bool,
}

/// The leader's queue of deliveries (see the module docs).
#[derive(Debug, Default)]
pub struct Queue {
    entries: HashMap<DeliveryKey, Entry>,
}

/// What [`Queue::refresh`] found to do besides posting.
#[derive(Debug, Default, PartialEq)]
pub struct Refreshed {
    /// Attempted by this leader and now past the window: to record as given up.
    pub give_up: Vec<DeliveryKey>,
}

impl Queue {
    /// Takes the deliveries [`pending`] answered: new ones are due now, finished ones (no
    /// longer pending) leave, expired ones this leader tried are handed back to give up.
    pub fn refresh(&mut self, pending: Vec<Delivery>, now: Instant) -> Refreshed {
        let mut out = Refreshed::default();
        let mut seen = std::collections::HashSet::with_capacity(pending.len());
        for d in pending {
            seen.insert(d.key.clone());
            match self.entries.get_mut(&d.key) {
                Some(e) if d.expired => {
                    if !e.in_flight && !e.delivered {
                        out.give_up.push(d.key.clone());
                        e.in_flight = true;
                    }
                }
                Some(e) => e.delivery = d,
                None if d.expired => {}
                None => {
                    self.entries.insert(
                        d.key.clone(),
                        Entry {
                            delivery: d,
                            failures: 0,
                            next_at: now,
                            in_flight: false,
                            delivered: false,
                        },
                    );
                }
            }
        }
        // A delivery no longer pending was recorded (or its target removed): it leaves; a
        // post still in flight for it finds nothing to update when it returns.
        self.entries.retain(|k, _| seen.contains(k));
        out
    }

    /// The deliveries due at `now`, marked in flight.
    pub fn take_due(&mut self, now: Instant) -> Vec<Delivery> {
        let mut due = Vec::new();
        for e in self.entries.values_mut() {
            if !e.in_flight && !e.delivered && !e.delivery.expired && e.next_at <= now {
                e.in_flight = true;
                due.push(e.delivery.clone());
            }
        }
        due.sort_by(|a, b| (a.entry.at_ms, &a.key).cmp(&(b.entry.at_ms, &b.key)));
        due
    }

    /// A post answered 2xx (its record is on its way).
    pub fn delivered(&mut self, key: &DeliveryKey) {
        if let Some(e) = self.entries.get_mut(key) {
            e.in_flight = false;
            e.delivered = true;
        }
    }

    /// A post failed: try again after the backoff. Returns the failures so far.
    pub fn failed(&mut self, key: &DeliveryKey, now: Instant, backoff: &Backoff) -> u32 {
        match self.entries.get_mut(key) {
            Some(e) => {
                e.in_flight = false;
                e.failures += 1;
                e.next_at = now + backoff.after(e.failures);
                e.failures
            }
            None => 0,
        }
    }

    /// The record of a delivery (or of giving it up) could not be proposed: do it again
    /// later (a post again carries the same key).
    pub fn unrecorded(&mut self, key: &DeliveryKey, now: Instant, backoff: &Backoff) {
        if let Some(e) = self.entries.get_mut(key) {
            e.delivered = false;
            e.in_flight = false;
            e.next_at = now + backoff.first;
        }
    }

    /// Deliveries not finished yet (waiting, in flight or being recorded).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything (leadership lost: the next leader derives its own queue).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Command, Proposal};
    use ccx_control_client::{AlertStatus, StoredConfig};
    use ccx_model::rows::ChurnAlert;
    use ccx_model::settings::{AlertKind, NotificationTarget};

    const H: i64 = 3_600_000;

    fn apply(sm: &mut StateMachine, at_ms: i64, command: Command) {
        let index = sm.applied_index() + 1;
        let p = Proposal {
            request_id: format!("r{index}"),
            at_ms,
            command,
        };
        sm.apply(index, &p).unwrap();
    }

    fn state() -> StateMachine {
        let mut sm = StateMachine::new();
        let mut config = StoredConfig::defaults("acme");
        config.settings.notification_targets = vec![
            NotificationTarget {
                url: "http://json".into(),
                kinds: vec![AlertKind::Churn],
                format: Format::Json,
            },
            NotificationTarget {
                url: "http://threshold".into(),
                kinds: vec![AlertKind::Threshold],
                format: Format::Slack,
            },
        ];
        apply(
            &mut sm,
            0,
            Command::PutConfig {
                config,
                expected_version: 0,
            },
        );
        let alert = AlertRecord::from_churn_alert(&ChurnAlert {
            tenant_id: "acme".into(),
            alert_id: "x".into(),
            customer_id: "c1".into(),
            score: 70,
            reasons: vec![],
            triggered_at: 0,
            contact_id: String::new(),
            channel: String::new(),
            queue_id: String::new(),
            agent_id: String::new(),
        });
        apply(&mut sm, 10, Command::RaiseAlert { alert });
        apply(
            &mut sm,
            20,
            Command::Acknowledge {
                tenant_id: "acme".into(),
                alert_id: "x".into(),
                by: "kim".into(),
                note: String::new(),
            },
        );
        sm
    }

    fn keys(p: &[Delivery]) -> Vec<(AlertStatus, &str, bool)> {
        p.iter()
            .map(|d| (d.key.transition, d.key.target_url.as_str(), d.expired))
            .collect()
    }

    #[test]
    fn one_transition_at_a_time_per_alert_and_target() {
        let mut sm = state();
        let day = Duration::from_secs(86_400);
        let p = pending(&sm, 30, day);
        assert_eq!(keys(&p), [(AlertStatus::Open, "http://json", false)]);
        let done = |t| Command::DeliveryDone {
            delivery: DeliveryKey {
                tenant_id: "acme".into(),
                alert_id: "x".into(),
                transition: t,
                target_url: "http://json".into(),
            },
        };
        apply(&mut sm, 40, done(AlertStatus::Open));
        assert_eq!(
            keys(&pending(&sm, 50, day)),
            [(AlertStatus::Acknowledged, "http://json", false)]
        );
        apply(&mut sm, 60, done(AlertStatus::Acknowledged));
        assert!(pending(&sm, 70, day).is_empty());
    }

    #[test]
    fn an_expired_transition_does_not_block_the_next() {
        let mut sm = state();
        apply(
            &mut sm,
            30 * H,
            Command::Resolve {
                tenant_id: "acme".into(),
                alert_id: "x".into(),
                by: "sam".into(),
                note: String::new(),
            },
        );
        let p = pending(&sm, 31 * H, Duration::from_secs(86_400));
        assert_eq!(
            keys(&p),
            [
                (AlertStatus::Open, "http://json", true),
                (AlertStatus::Acknowledged, "http://json", true),
                (AlertStatus::Resolved, "http://json", false)
            ]
        );
        // Nothing at all once the last transition is two windows old.
        assert!(pending(&sm, 80 * H, Duration::from_secs(86_400)).is_empty());
    }

    #[test]
    fn queue_retries_with_backoff_and_gives_up_what_it_tried() {
        let sm = state();
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
        };
        assert_eq!(backoff.after(1), Duration::from_secs(1));
        assert_eq!(backoff.after(4), Duration::from_secs(8));
        assert_eq!(backoff.after(40), Duration::from_secs(300));
        let t0 = Instant::now();
        let mut q = Queue::default();
        let window = Duration::from_secs(86_400);
        assert_eq!(
            q.refresh(pending(&sm, 30, window), t0),
            Refreshed::default()
        );
        let due = q.take_due(t0);
        assert_eq!(due.len(), 1);
        assert!(q.take_due(t0).is_empty(), "in flight");
        assert_eq!(q.failed(&due[0].key, t0, &backoff), 1);
        assert!(q.take_due(t0).is_empty());
        assert_eq!(q.take_due(t0 + Duration::from_secs(1)).len(), 1);
        q.failed(&due[0].key, t0, &backoff);
        // The window passes: what this leader tried is given up once.
        let later = 30 + 86_400_001;
        let r = q.refresh(pending(&sm, later, window), t0);
        assert_eq!(r.give_up, vec![due[0].key.clone()]);
        assert!(q
            .refresh(pending(&sm, later, window), t0)
            .give_up
            .is_empty());
        // Delivered and recorded: it leaves the queue.
        let mut q = Queue::default();
        q.refresh(pending(&sm, 30, window), t0);
        let due = q.take_due(t0);
        q.delivered(&due[0].key);
        assert_eq!(q.len(), 1);
        q.refresh(Vec::new(), t0);
        assert!(q.is_empty());
    }
}
