//! The replicated state machine: tenant configuration, the alert lifecycle, and what the
//! leader finished sending about each alert (notifications delivered or given up, transitions
//! written to `alert_events`), so that a new leader resumes where the last one stopped.
//!
//! It also holds the tenants' credentials (token hashes only), which the replicas check every
//! call against (`server/access.rs`).
//!
//! Pure logic: [`StateMachine::apply`] is deterministic in the log entry it is given (the
//! proposer stamps the time), so every replica that applies the same log holds the same state.
//! Retried writes carry the same request id and are applied once (a bounded window of recent ids
//! is kept, and travels in snapshots).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// The records the state machine holds are the control plane's API records.
pub use ccx_control_client::{
    AlertFilter, AlertRecord, AlertStatus, CommandError, HistoryEntry, StoredConfig,
    TenantCredential,
};

/// How many recent request ids are remembered for exactly-once retries.
pub const DEDUP_WINDOW: usize = 65_536;

/// Format tag written in front of every encoded proposal and snapshot (2: a configuration
/// holds `TenantSettings`; 3: alerts carry a kind; 4: what was sent about each alert; 5:
/// tenant credentials).
const FORMAT: u8 = 5;
/// Previous formats, still read: their log entries are the first commands of format 5's,
/// and their snapshots lack only what later formats added.
const FORMAT_4: u8 = 4;
const FORMAT_3: u8 = 3;

/// A state change, as proposed to raft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Stores a configuration. `expected_version` 0 writes unconditionally.
    PutConfig {
        config: StoredConfig,
        expected_version: u64,
    },
    /// Records an alert once: an alert id that exists leaves the alert as it is.
    RaiseAlert { alert: AlertRecord },
    Acknowledge {
        tenant_id: String,
        alert_id: String,
        by: String,
        note: String,
    },
    Resolve {
        tenant_id: String,
        alert_id: String,
        by: String,
        note: String,
    },
    /// A notification was posted and answered 2xx.
    DeliveryDone { delivery: DeliveryKey },
    /// A notification was retried for its whole window without success.
    DeliveryGaveUp { delivery: DeliveryKey },
    /// Transitions written to ClickHouse `alert_events`: (tenant, alert id, status) each.
    AlertEventsWritten {
        events: Vec<(String, String, AlertStatus)>,
    },
    /// Adds a tenant credential, or replaces the hash of the one with its name. No other
    /// credential may hold the same hash.
    PutCredential { credential: TenantCredential },
    /// Withdraws a tenant credential.
    RemoveCredential { tenant_id: String, name: String },
}

/// One notification: an alert's transition (named by the status it moved to) to one target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeliveryKey {
    pub tenant_id: String,
    pub alert_id: String,
    pub transition: AlertStatus,
    pub target_url: String,
}

/// How a notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryOutcome {
    Delivered,
    GaveUp,
}

/// What the leaders finished sending about one alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// Per (transition, target url): delivered or given up. Absent: still to send.
    pub deliveries: BTreeMap<(AlertStatus, String), DeliveryOutcome>,
    /// Transitions written to `alert_events`.
    pub events_written: BTreeSet<AlertStatus>,
}

impl Command {
    /// Shape checks done before proposing (apply re-checks what depends on state).
    pub fn validate(&self) -> Result<(), CommandError> {
        match self {
            Command::PutConfig { config, .. } => config.validate(),
            Command::RaiseAlert { alert } => alert.validate_new(),
            Command::Acknowledge {
                tenant_id,
                alert_id,
                by,
                ..
            }
            | Command::Resolve {
                tenant_id,
                alert_id,
                by,
                ..
            } => {
                if tenant_id.is_empty() || alert_id.is_empty() {
                    Err(CommandError::invalid("tenantId and alertId are required"))
                } else if by.trim().is_empty() {
                    Err(CommandError::invalid(
                        "by: required (who acknowledges or resolves)",
                    ))
                } else {
                    Ok(())
                }
            }
            Command::DeliveryDone { delivery } | Command::DeliveryGaveUp { delivery } => {
                if delivery.tenant_id.is_empty()
                    || delivery.alert_id.is_empty()
                    || delivery.target_url.is_empty()
                {
                    Err(CommandError::invalid(
                        "tenantId, alertId and target url are required",
                    ))
                } else {
                    Ok(())
                }
            }
            Command::AlertEventsWritten { .. } => Ok(()),
            Command::PutCredential { credential } => credential.validate(),
            Command::RemoveCredential { tenant_id, name } => {
                if tenant_id.is_empty() || name.is_empty() {
                    Err(CommandError::invalid("tenantId and name are required"))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// A command with what makes it deterministic and retryable: the proposer's id for it and the
/// time the proposer stamped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub request_id: String,
    pub at_ms: i64,
    pub command: Command,
}

impl Proposal {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT];
        out.extend(bincode::serialize(self).expect("proposal serializes"));
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Proposal, String> {
        match bytes.split_first() {
            // Earlier formats' commands are the first variants of format 5's, encoded alike.
            Some((&FORMAT | &FORMAT_4 | &FORMAT_3, rest)) => {
                bincode::deserialize(rest).map_err(|e| e.to_string())
            }
            Some((v, _)) => Err(format!(
                "proposal in format {v}, not {FORMAT} (written by another version of ccx)"
            )),
            None => Err("empty proposal".into()),
        }
    }
}

/// What an applied command produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CommandValue {
    Config(StoredConfig),
    Alert(AlertRecord),
    Credential(TenantCredential),
    /// A membership change applied for this replica id.
    Membership(u64),
    /// A delivery or an `alert_events` write recorded.
    Recorded,
}

pub type CommandResult = Result<CommandValue, CommandError>;

/// A replica known to the cluster: its id and gRPC address (host:port).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub id: u64,
    pub address: String,
}

/// The replicated state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateMachine {
    configs: BTreeMap<String, StoredConfig>,
    alerts: BTreeMap<(String, String), AlertRecord>,
    /// What was sent about each alert (same keys as `alerts`).
    sent: BTreeMap<(String, String), Sent>,
    /// Replica addresses learned through configuration changes (id → host:port).
    members: BTreeMap<u64, String>,
    recent: HashMap<String, Result<(), CommandError>>,
    recent_order: VecDeque<String>,
    applied_index: u64,
    /// Tenant credentials by (tenant, name).
    credentials: BTreeMap<(String, String), TenantCredential>,
}

impl StateMachine {
    pub fn new() -> StateMachine {
        StateMachine::default()
    }

    /// Index of the last log entry applied.
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    pub fn set_applied_index(&mut self, index: u64) {
        self.applied_index = index;
    }

    /// Applies one proposal at log `index`.
    pub fn apply(&mut self, index: u64, proposal: &Proposal) -> CommandResult {
        self.applied_index = index;
        if let Some(prior) = self.recent.get(&proposal.request_id) {
            // A retry of a command already applied: answer with the current state.
            let prior = prior.clone();
            return prior.and_then(|()| self.current_value(&proposal.command));
        }
        let result = self.execute(proposal);
        if !proposal.request_id.is_empty() {
            self.remember(
                proposal.request_id.clone(),
                result.as_ref().map(|_| ()).map_err(Clone::clone),
            );
        }
        result
    }

    fn remember(&mut self, id: String, outcome: Result<(), CommandError>) {
        if self.recent.insert(id.clone(), outcome).is_none() {
            self.recent_order.push_back(id);
        }
        while self.recent_order.len() > DEDUP_WINDOW {
            if let Some(old) = self.recent_order.pop_front() {
                self.recent.remove(&old);
            }
        }
    }

    fn current_value(&self, command: &Command) -> CommandResult {
        match command {
            Command::PutConfig { config, .. } => Ok(CommandValue::Config(
                self.config_or_default(&config.tenant_id),
            )),
            Command::RaiseAlert { alert } => self.alert_value(&alert.tenant_id, &alert.alert_id),
            Command::Acknowledge {
                tenant_id,
                alert_id,
                ..
            }
            | Command::Resolve {
                tenant_id,
                alert_id,
                ..
            } => self.alert_value(tenant_id, alert_id),
            Command::DeliveryDone { .. }
            | Command::DeliveryGaveUp { .. }
            | Command::AlertEventsWritten { .. } => Ok(CommandValue::Recorded),
            Command::PutCredential { credential } => self
                .credentials
                .get(&(credential.tenant_id.clone(), credential.name.clone()))
                .cloned()
                .map(CommandValue::Credential)
                .ok_or_else(|| no_credential(&credential.tenant_id, &credential.name)),
            // A retried removal answers with what the first one removed.
            Command::RemoveCredential { tenant_id, name } => {
                Ok(CommandValue::Credential(TenantCredential {
                    tenant_id: tenant_id.clone(),
                    name: name.clone(),
                    token_sha256: String::new(),
                    created_at_ms: 0,
                    created_by: String::new(),
                }))
            }
        }
    }

    fn alert_value(&self, tenant_id: &str, alert_id: &str) -> CommandResult {
        self.alert(tenant_id, alert_id)
            .cloned()
            .map(CommandValue::Alert)
            .ok_or_else(|| not_found(tenant_id, alert_id))
    }

    fn execute(&mut self, proposal: &Proposal) -> CommandResult {
        let at_ms = proposal.at_ms;
        proposal.command.validate()?;
        match &proposal.command {
            Command::PutConfig {
                config,
                expected_version,
            } => {
                let current = self.configs.get(&config.tenant_id).map_or(0, |c| c.version);
                if *expected_version != 0 && *expected_version != current {
                    return Err(CommandError::FailedPrecondition(format!(
                        "tenant {}: configuration is at version {current}, not {expected_version}",
                        config.tenant_id
                    )));
                }
                let mut stored = config.clone();
                stored.version = current + 1;
                stored.updated_at_ms = at_ms;
                self.configs
                    .insert(stored.tenant_id.clone(), stored.clone());
                Ok(CommandValue::Config(stored))
            }
            Command::RaiseAlert { alert } => {
                let key = (alert.tenant_id.clone(), alert.alert_id.clone());
                if let Some(existing) = self.alerts.get(&key) {
                    return Ok(CommandValue::Alert(existing.clone()));
                }
                let mut record = alert.clone();
                record.status = AlertStatus::Open;
                record.history = vec![HistoryEntry {
                    status: AlertStatus::Open,
                    by: "ccx-stream".into(),
                    note: opening_note(&record),
                    at_ms,
                }];
                self.alerts.insert(key, record.clone());
                Ok(CommandValue::Alert(record))
            }
            Command::Acknowledge {
                tenant_id,
                alert_id,
                by,
                note,
            } => self.transition(
                tenant_id,
                alert_id,
                AlertStatus::Acknowledged,
                by,
                note,
                at_ms,
            ),
            Command::Resolve {
                tenant_id,
                alert_id,
                by,
                note,
            } => self.transition(tenant_id, alert_id, AlertStatus::Resolved, by, note, at_ms),
            Command::DeliveryDone { delivery } => {
                self.record_delivery(delivery, DeliveryOutcome::Delivered)
            }
            Command::DeliveryGaveUp { delivery } => {
                self.record_delivery(delivery, DeliveryOutcome::GaveUp)
            }
            Command::AlertEventsWritten { events } => {
                for (tenant_id, alert_id, status) in events {
                    let key = (tenant_id.clone(), alert_id.clone());
                    if self.alerts.contains_key(&key) {
                        self.sent
                            .entry(key)
                            .or_default()
                            .events_written
                            .insert(*status);
                    }
                }
                Ok(CommandValue::Recorded)
            }
            Command::PutCredential { credential } => {
                let key = (credential.tenant_id.clone(), credential.name.clone());
                let taken = self
                    .credentials
                    .iter()
                    .any(|(k, c)| *k != key && c.token_sha256 == credential.token_sha256);
                if taken {
                    return Err(CommandError::FailedPrecondition(
                        "tokenSha256: another credential holds this token; use a new token".into(),
                    ));
                }
                let mut held = credential.clone();
                held.created_at_ms = at_ms;
                self.credentials.insert(key, held.clone());
                Ok(CommandValue::Credential(held))
            }
            Command::RemoveCredential { tenant_id, name } => self
                .credentials
                .remove(&(tenant_id.clone(), name.clone()))
                .map(CommandValue::Credential)
                .ok_or_else(|| no_credential(tenant_id, name)),
        }
    }

    /// Records how a delivery ended; the first outcome recorded stays.
    fn record_delivery(&mut self, d: &DeliveryKey, outcome: DeliveryOutcome) -> CommandResult {
        let key = (d.tenant_id.clone(), d.alert_id.clone());
        let alert = self
            .alerts
            .get(&key)
            .ok_or_else(|| not_found(&d.tenant_id, &d.alert_id))?;
        if !alert.history.iter().any(|h| h.status == d.transition) {
            return Err(CommandError::FailedPrecondition(format!(
                "alert {} has no {} transition",
                d.alert_id,
                d.transition.name()
            )));
        }
        self.sent
            .entry(key)
            .or_default()
            .deliveries
            .entry((d.transition, d.target_url.clone()))
            .or_insert(outcome);
        Ok(CommandValue::Recorded)
    }

    fn transition(
        &mut self,
        tenant_id: &str,
        alert_id: &str,
        to: AlertStatus,
        by: &str,
        note: &str,
        at_ms: i64,
    ) -> CommandResult {
        let record = self
            .alerts
            .get_mut(&(tenant_id.to_string(), alert_id.to_string()))
            .ok_or_else(|| not_found(tenant_id, alert_id))?;
        let allowed = matches!(
            (record.status, to),
            (AlertStatus::Open, AlertStatus::Acknowledged)
                | (AlertStatus::Open, AlertStatus::Resolved)
                | (AlertStatus::Acknowledged, AlertStatus::Resolved)
        );
        if !allowed {
            let last = record.history.last();
            return Err(CommandError::FailedPrecondition(format!(
                "alert {alert_id} is already {}{}",
                record.status.name(),
                last.map(|h| format!(" (by {})", h.by)).unwrap_or_default()
            )));
        }
        record.status = to;
        record.history.push(HistoryEntry {
            status: to,
            by: by.to_string(),
            note: note.to_string(),
            at_ms,
        });
        Ok(CommandValue::Alert(record.clone()))
    }

    /// Records the address of a replica added by a configuration change.
    pub fn add_member(&mut self, id: u64, address: String, index: u64) {
        self.applied_index = index;
        if !address.is_empty() {
            self.members.insert(id, address);
        }
    }

    /// Forgets a removed replica.
    pub fn remove_member(&mut self, id: u64, index: u64) {
        self.applied_index = index;
        self.members.remove(&id);
    }

    /// Addresses learned through configuration changes.
    pub fn members(&self) -> &BTreeMap<u64, String> {
        &self.members
    }

    pub fn config(&self, tenant_id: &str) -> Option<&StoredConfig> {
        self.configs.get(tenant_id)
    }

    /// The stored configuration, or the SPEC defaults (version 0).
    pub fn config_or_default(&self, tenant_id: &str) -> StoredConfig {
        self.configs
            .get(tenant_id)
            .cloned()
            .unwrap_or_else(|| StoredConfig::defaults(tenant_id))
    }

    pub fn configs(&self) -> impl Iterator<Item = &StoredConfig> {
        self.configs.values()
    }

    pub fn alert(&self, tenant_id: &str, alert_id: &str) -> Option<&AlertRecord> {
        self.alerts
            .get(&(tenant_id.to_string(), alert_id.to_string()))
    }

    /// Alerts matching `filter`, ordered by trigger time, then tenant and alert id.
    pub fn list_alerts(&self, filter: &AlertFilter) -> Vec<AlertRecord> {
        let mut out: Vec<AlertRecord> = match &filter.tenant_id {
            Some(t) => self
                .alerts
                .range((t.clone(), String::new())..)
                .take_while(|((tenant, _), _)| tenant == t)
                .map(|(_, a)| a)
                .filter(|a| filter.matches(a))
                .cloned()
                .collect(),
            None => self
                .alerts
                .values()
                .filter(|a| filter.matches(a))
                .cloned()
                .collect(),
        };
        out.sort_by(|a, b| {
            (a.triggered_at_ms, &a.tenant_id, &a.alert_id).cmp(&(
                b.triggered_at_ms,
                &b.tenant_id,
                &b.alert_id,
            ))
        });
        if let Some(limit) = filter.limit {
            out.truncate(limit);
        }
        out
    }

    /// What was sent about an alert (nothing yet: `None`).
    pub fn sent(&self, tenant_id: &str, alert_id: &str) -> Option<&Sent> {
        self.sent
            .get(&(tenant_id.to_string(), alert_id.to_string()))
    }

    /// Every alert with what was sent about it, by tenant and alert id.
    pub fn alerts_with_sent(&self) -> impl Iterator<Item = (&AlertRecord, Option<&Sent>)> {
        self.alerts
            .iter()
            .map(move |(key, alert)| (alert, self.sent.get(key)))
    }

    /// Every tenant credential, by tenant and name.
    pub fn credentials(&self) -> impl Iterator<Item = &TenantCredential> {
        self.credentials.values()
    }

    /// The credentials of one tenant, by name.
    pub fn credentials_of<'a>(
        &'a self,
        tenant_id: &'a str,
    ) -> impl Iterator<Item = &'a TenantCredential> + 'a {
        self.credentials
            .range((tenant_id.to_string(), String::new())..)
            .take_while(move |((t, _), _)| t == tenant_id)
            .map(|(_, c)| c)
    }

    pub fn alert_count(&self) -> usize {
        self.alerts.len()
    }

    /// Serializes the whole state (the data of a raft snapshot).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT];
        out.extend(bincode::serialize(self).expect("state serializes"));
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<StateMachine, String> {
        match bytes.split_first() {
            None => Ok(StateMachine::default()),
            Some((&FORMAT, rest)) => bincode::deserialize(rest).map_err(|e| e.to_string()),
            Some((&FORMAT_4, rest)) => bincode::deserialize::<StateV4>(rest)
                .map(StateV4::upgrade)
                .map_err(|e| e.to_string()),
            Some((&FORMAT_3, rest)) => bincode::deserialize::<StateV3>(rest)
                .map(StateV3::upgrade)
                .map_err(|e| e.to_string()),
            Some((v, _)) => Err(format!(
                "snapshot in format {v}, not {FORMAT} (written by another version of ccx)"
            )),
        }
    }
}

/// A format-4 snapshot: the state before it held tenant credentials.
#[derive(Deserialize)]
struct StateV4 {
    configs: BTreeMap<String, StoredConfig>,
    alerts: BTreeMap<(String, String), AlertRecord>,
    sent: BTreeMap<(String, String), Sent>,
    members: BTreeMap<u64, String>,
    recent: HashMap<String, Result<(), CommandError>>,
    recent_order: VecDeque<String>,
    applied_index: u64,
}

impl StateV4 {
    fn upgrade(self) -> StateMachine {
        StateMachine {
            configs: self.configs,
            alerts: self.alerts,
            sent: self.sent,
            members: self.members,
            recent: self.recent,
            recent_order: self.recent_order,
            applied_index: self.applied_index,
            credentials: BTreeMap::new(),
        }
    }
}

/// A format-3 snapshot: the state before it recorded what was sent about alerts.
#[derive(Deserialize)]
struct StateV3 {
    configs: BTreeMap<String, StoredConfig>,
    alerts: BTreeMap<(String, String), AlertRecord>,
    members: BTreeMap<u64, String>,
    recent: HashMap<String, Result<(), CommandError>>,
    recent_order: VecDeque<String>,
    applied_index: u64,
}

impl StateV3 {
    fn upgrade(self) -> StateMachine {
        StateMachine {
            configs: self.configs,
            alerts: self.alerts,
            sent: BTreeMap::new(),
            members: self.members,
            recent: self.recent,
            recent_order: self.recent_order,
            applied_index: self.applied_index,
            credentials: BTreeMap::new(),
        }
    }
}

fn no_credential(tenant_id: &str, name: &str) -> CommandError {
    CommandError::NotFound(format!("tenant {tenant_id}: no credential {name:?}"))
}

fn not_found(tenant_id: &str, alert_id: &str) -> CommandError {
    CommandError::NotFound(format!("tenant {tenant_id}: no alert {alert_id:?}"))
}

/// What the opening entry of an alert's history says: a churn alert's score and signals, a
/// threshold alert's rule and what it saw.
fn opening_note(alert: &AlertRecord) -> String {
    match &alert.threshold {
        Some(t) => format!(
            "{}: {} {} (threshold {})",
            t.rule_id, t.metric, t.value, t.threshold
        ),
        None => format!("score {}: {}", alert.score, alert.reasons.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccx_model::rows::ChurnAlert;

    fn alert(id: &str) -> AlertRecord {
        AlertRecord::from_churn_alert(&ChurnAlert {
            tenant_id: "acme".into(),
            alert_id: id.into(),
            customer_id: "c1".into(),
            score: 70,
            reasons: vec!["NPS_DETRACTOR".into(), "REPEAT_CONTACT".into()],
            triggered_at: 1_000,
            contact_id: "k1".into(),
            channel: "VOICE".into(),
            queue_id: "q1".into(),
            agent_id: "a1".into(),
        })
    }

    fn p(id: &str, at: i64, command: Command) -> Proposal {
        Proposal {
            request_id: id.into(),
            at_ms: at,
            command,
        }
    }

    fn ack(id: &str, by: &str) -> Command {
        Command::Acknowledge {
            tenant_id: "acme".into(),
            alert_id: id.into(),
            by: by.into(),
            note: "calling back".into(),
        }
    }

    fn resolve(id: &str) -> Command {
        Command::Resolve {
            tenant_id: "acme".into(),
            alert_id: id.into(),
            by: "sam".into(),
            note: "refund issued".into(),
        }
    }

    #[test]
    fn raise_is_idempotent_by_alert_id() {
        let mut sm = StateMachine::new();
        let a = alert("acme:c1:e1");
        sm.apply(1, &p("r1", 10, Command::RaiseAlert { alert: a.clone() }))
            .unwrap();
        let mut again = a.clone();
        again.score = 99;
        let r = sm
            .apply(2, &p("r2", 20, Command::RaiseAlert { alert: again }))
            .unwrap();
        let CommandValue::Alert(r) = r else { panic!() };
        assert_eq!(r.score, 70);
        assert_eq!(r.history.len(), 1);
        assert_eq!(sm.alert_count(), 1);
    }

    #[test]
    fn lifecycle_and_history() {
        let mut sm = StateMachine::new();
        sm.apply(1, &p("r1", 10, Command::RaiseAlert { alert: alert("x") }))
            .unwrap();
        sm.apply(2, &p("r2", 20, ack("x", "kim"))).unwrap();
        let err = sm.apply(3, &p("r3", 30, ack("x", "lee"))).unwrap_err();
        assert!(matches!(err, CommandError::FailedPrecondition(_)), "{err}");
        let CommandValue::Alert(done) = sm.apply(4, &p("r4", 40, resolve("x"))).unwrap() else {
            panic!()
        };
        assert_eq!(done.status, AlertStatus::Resolved);
        let steps: Vec<_> = done
            .history
            .iter()
            .map(|h| (h.status, h.by.as_str(), h.at_ms))
            .collect();
        assert_eq!(
            steps,
            vec![
                (AlertStatus::Open, "ccx-stream", 10),
                (AlertStatus::Acknowledged, "kim", 20),
                (AlertStatus::Resolved, "sam", 40)
            ]
        );
        assert!(sm.apply(5, &p("r5", 50, resolve("x"))).is_err());
        assert!(matches!(
            sm.apply(6, &p("r6", 60, resolve("nope"))),
            Err(CommandError::NotFound(_))
        ));
    }

    #[test]
    fn retried_request_applies_once() {
        let mut sm = StateMachine::new();
        sm.apply(1, &p("r1", 10, Command::RaiseAlert { alert: alert("x") }))
            .unwrap();
        sm.apply(2, &p("r2", 20, ack("x", "kim"))).unwrap();
        // The same request again (a retry after a lost answer) succeeds without a new step.
        let CommandValue::Alert(a) = sm.apply(3, &p("r2", 20, ack("x", "kim"))).unwrap() else {
            panic!()
        };
        assert_eq!(a.history.len(), 2);
    }

    #[test]
    fn deliveries_and_written_events_are_recorded_once() {
        let mut sm = StateMachine::new();
        sm.apply(1, &p("r1", 10, Command::RaiseAlert { alert: alert("x") }))
            .unwrap();
        let d = |transition| DeliveryKey {
            tenant_id: "acme".into(),
            alert_id: "x".into(),
            transition,
            target_url: "http://hook".into(),
        };
        // Only a transition the alert went through can be delivered.
        let early = Command::DeliveryDone {
            delivery: d(AlertStatus::Resolved),
        };
        assert!(matches!(
            sm.apply(2, &p("r2", 20, early)),
            Err(CommandError::FailedPrecondition(_))
        ));
        let done = Command::DeliveryDone {
            delivery: d(AlertStatus::Open),
        };
        sm.apply(3, &p("r3", 30, done)).unwrap();
        let late = Command::DeliveryGaveUp {
            delivery: d(AlertStatus::Open),
        };
        sm.apply(4, &p("r4", 40, late)).unwrap();
        let written = Command::AlertEventsWritten {
            events: vec![
                ("acme".into(), "x".into(), AlertStatus::Open),
                ("acme".into(), "gone".into(), AlertStatus::Open),
            ],
        };
        sm.apply(5, &p("r5", 50, written)).unwrap();
        let sent = sm.sent("acme", "x").unwrap();
        assert_eq!(
            sent.deliveries
                .get(&(AlertStatus::Open, "http://hook".to_string())),
            Some(&DeliveryOutcome::Delivered)
        );
        assert_eq!(
            sent.events_written.iter().copied().collect::<Vec<_>>(),
            [AlertStatus::Open]
        );
        assert!(sm.sent("acme", "gone").is_none());
        assert_eq!(StateMachine::decode(&sm.encode()).unwrap(), sm);
    }

    #[test]
    fn format_3_snapshots_and_entries_are_read() {
        #[derive(Serialize)]
        struct V3<'a> {
            configs: &'a BTreeMap<String, StoredConfig>,
            alerts: &'a BTreeMap<(String, String), AlertRecord>,
            members: &'a BTreeMap<u64, String>,
            recent: &'a HashMap<String, Result<(), CommandError>>,
            recent_order: &'a VecDeque<String>,
            applied_index: u64,
        }
        let mut sm = StateMachine::new();
        let raise = p("r1", 10, Command::RaiseAlert { alert: alert("x") });
        let mut old_entry = raise.encode();
        old_entry[0] = FORMAT_3;
        sm.apply(1, &Proposal::decode(&old_entry).unwrap()).unwrap();
        let mut old = vec![FORMAT_3];
        old.extend(
            bincode::serialize(&V3 {
                configs: &sm.configs,
                alerts: &sm.alerts,
                members: &sm.members,
                recent: &sm.recent,
                recent_order: &sm.recent_order,
                applied_index: sm.applied_index,
            })
            .unwrap(),
        );
        assert_eq!(StateMachine::decode(&old).unwrap(), sm);
        assert!(StateMachine::decode(&[2, 0]).is_err());
    }

    #[test]
    fn credentials_are_unique_per_token_and_survive_a_snapshot() {
        let mut sm = StateMachine::new();
        let cred = |tenant: &str, name: &str, token: &str| Command::PutCredential {
            credential: TenantCredential {
                tenant_id: tenant.into(),
                name: name.into(),
                token_sha256: ccx_model::hash_token(token),
                created_at_ms: 0,
                created_by: "ops".into(),
            },
        };
        let CommandValue::Credential(c) =
            sm.apply(1, &p("a", 5, cred("acme", "ann", "t1"))).unwrap()
        else {
            panic!()
        };
        assert_eq!((c.created_at_ms, c.created_by.as_str()), (5, "ops"));
        // The same token for another credential would make its holder ambiguous.
        assert!(matches!(
            sm.apply(2, &p("b", 6, cred("beta", "bob", "t1"))),
            Err(CommandError::FailedPrecondition(_))
        ));
        sm.apply(3, &p("c", 7, cred("beta", "bob", "t2"))).unwrap();
        // Replacing a credential's own token is allowed.
        sm.apply(4, &p("d", 8, cred("acme", "ann", "t3"))).unwrap();
        assert_eq!(
            sm.credentials_of("acme")
                .map(|c| c.token_sha256.clone())
                .collect::<Vec<_>>(),
            [ccx_model::hash_token("t3")]
        );
        assert_eq!(StateMachine::decode(&sm.encode()).unwrap(), sm);
        let remove = Command::RemoveCredential {
            tenant_id: "acme".into(),
            name: "ann".into(),
        };
        sm.apply(5, &p("e", 9, remove.clone())).unwrap();
        assert_eq!(sm.credentials().count(), 1);
        assert!(matches!(
            sm.apply(6, &p("f", 9, remove)),
            Err(CommandError::NotFound(_))
        ));
    }

    #[test]
    fn format_4_snapshots_are_read() {
        #[derive(Serialize)]
        struct V4<'a> {
            configs: &'a BTreeMap<String, StoredConfig>,
            alerts: &'a BTreeMap<(String, String), AlertRecord>,
            sent: &'a BTreeMap<(String, String), Sent>,
            members: &'a BTreeMap<u64, String>,
            recent: &'a HashMap<String, Result<(), CommandError>>,
            recent_order: &'a VecDeque<String>,
            applied_index: u64,
        }
        let mut sm = StateMachine::new();
        sm.apply(1, &p("r1", 10, Command::RaiseAlert { alert: alert("x") }))
            .unwrap();
        let mut old = vec![FORMAT_4];
        old.extend(
            bincode::serialize(&V4 {
                configs: &sm.configs,
                alerts: &sm.alerts,
                sent: &sm.sent,
                members: &sm.members,
                recent: &sm.recent,
                recent_order: &sm.recent_order,
                applied_index: sm.applied_index,
            })
            .unwrap(),
        );
        assert_eq!(StateMachine::decode(&old).unwrap(), sm);
    }

    #[test]
    fn config_versions_and_defaults() {
        let mut sm = StateMachine::new();
        assert_eq!(sm.config_or_default("acme").version, 0);
        let mut c = StoredConfig::defaults("acme");
        c.settings.sl_threshold_ms = 30_000;
        let put = |c: &StoredConfig, v| Command::PutConfig {
            config: c.clone(),
            expected_version: v,
        };
        let CommandValue::Config(v1) = sm.apply(1, &p("a", 5, put(&c, 0))).unwrap() else {
            panic!()
        };
        assert_eq!((v1.version, v1.updated_at_ms), (1, 5));
        assert!(matches!(
            sm.apply(2, &p("b", 6, put(&c, 7))),
            Err(CommandError::FailedPrecondition(_))
        ));
        let CommandValue::Config(v2) = sm.apply(3, &p("c", 7, put(&c, 1))).unwrap() else {
            panic!()
        };
        assert_eq!(v2.version, 2);
        assert_eq!(v2.settings.sl_threshold_ms, 30_000);
    }

    #[test]
    fn filters_and_snapshot_round_trip() {
        let mut sm = StateMachine::new();
        for (i, t) in [3_000, 1_000, 2_000].into_iter().enumerate() {
            let mut a = alert(&format!("a{i}"));
            a.triggered_at_ms = t;
            sm.apply(
                i as u64 + 1,
                &p(&format!("r{i}"), 1, Command::RaiseAlert { alert: a }),
            )
            .unwrap();
        }
        sm.apply(9, &p("ack", 2, ack("a0", "kim"))).unwrap();
        let all = sm.list_alerts(&AlertFilter::default());
        assert_eq!(
            all.iter().map(|a| a.alert_id.as_str()).collect::<Vec<_>>(),
            ["a1", "a2", "a0"]
        );
        let open = sm.list_alerts(&AlertFilter {
            tenant_id: Some("acme".into()),
            status: Some(AlertStatus::Open),
            from_ms: Some(1_500),
            ..Default::default()
        });
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].alert_id, "a2");
        assert!(sm
            .list_alerts(&AlertFilter {
                tenant_id: Some("other".into()),
                ..Default::default()
            })
            .is_empty());
        let back = StateMachine::decode(&sm.encode()).unwrap();
        assert_eq!(back, sm);
        assert_eq!(back.applied_index(), 9);
    }
}
