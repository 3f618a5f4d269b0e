//! Alerts as the control plane holds them (the lifecycle open → acknowledged → resolved, with
//! its history), their proto form and the list filter.

use ccx_model::rows::{ChurnAlert, ThresholdAlert};
pub use ccx_model::settings::AlertKind;
use ccx_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::error::CommandError;

/// Lifecycle of an alert: open → acknowledged → resolved (acknowledging is optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn name(self) -> &'static str {
        match self {
            AlertStatus::Open => "OPEN",
            AlertStatus::Acknowledged => "ACKNOWLEDGED",
            AlertStatus::Resolved => "RESOLVED",
        }
    }

    pub fn to_proto(self) -> pb::AlertStatus {
        match self {
            AlertStatus::Open => pb::AlertStatus::Open,
            AlertStatus::Acknowledged => pb::AlertStatus::Acknowledged,
            AlertStatus::Resolved => pb::AlertStatus::Resolved,
        }
    }

    /// `None` for UNSPECIFIED (no filter).
    pub fn from_proto(status: pb::AlertStatus) -> Option<AlertStatus> {
        match status {
            pb::AlertStatus::Unspecified => None,
            pb::AlertStatus::Open => Some(AlertStatus::Open),
            pb::AlertStatus::Acknowledged => Some(AlertStatus::Acknowledged),
            pb::AlertStatus::Resolved => Some(AlertStatus::Resolved),
        }
    }

    /// Parses `open`, `acknowledged`/`ack`, `resolved` (any case).
    pub fn parse(text: &str) -> Option<AlertStatus> {
        match text.to_ascii_lowercase().as_str() {
            "open" => Some(AlertStatus::Open),
            "acknowledged" | "ack" | "acked" => Some(AlertStatus::Acknowledged),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// One step of an alert's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub status: AlertStatus,
    pub by: String,
    pub note: String,
    pub at_ms: i64,
}

/// What fired a THRESHOLD alert: its rule, the rule's metric, the value and the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdFacts {
    pub rule_id: String,
    pub metric: String,
    pub value: f64,
    pub threshold: f64,
}

/// An alert as the control plane holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub kind: AlertKind,
    /// Set for a THRESHOLD alert.
    pub threshold: Option<ThresholdFacts>,
    pub tenant_id: String,
    pub alert_id: String,
    pub customer_id: String,
    pub score: u32,
    pub reasons: Vec<String>,
    pub triggered_at_ms: i64,
    pub contact_id: String,
    pub channel: String,
    pub queue_id: String,
    pub agent_id: String,
    pub status: AlertStatus,
    pub history: Vec<HistoryEntry>,
}

impl AlertRecord {
    pub fn from_churn_alert(alert: &ChurnAlert) -> AlertRecord {
        AlertRecord {
            kind: AlertKind::Churn,
            threshold: None,
            tenant_id: alert.tenant_id.clone(),
            alert_id: alert.alert_id.clone(),
            customer_id: alert.customer_id.clone(),
            score: alert.score,
            reasons: alert.reasons.clone(),
            triggered_at_ms: alert.triggered_at,
            contact_id: alert.contact_id.clone(),
            channel: alert.channel.clone(),
            queue_id: alert.queue_id.clone(),
            agent_id: alert.agent_id.clone(),
            status: AlertStatus::Open,
            history: Vec::new(),
        }
    }

    /// The open THRESHOLD alert a rule fired.
    pub fn from_threshold(alert: &ThresholdAlert) -> AlertRecord {
        AlertRecord {
            kind: AlertKind::Threshold,
            threshold: Some(ThresholdFacts {
                rule_id: alert.rule_id.clone(),
                metric: alert.metric.clone(),
                value: alert.value,
                threshold: alert.threshold,
            }),
            tenant_id: alert.tenant_id.clone(),
            alert_id: alert.alert_id.clone(),
            customer_id: String::new(),
            score: 0,
            reasons: Vec::new(),
            triggered_at_ms: alert.at,
            contact_id: String::new(),
            channel: alert.channel.clone(),
            queue_id: alert.queue_id.clone(),
            agent_id: String::new(),
            status: AlertStatus::Open,
            history: Vec::new(),
        }
    }

    pub fn to_churn_alert(&self) -> ChurnAlert {
        ChurnAlert {
            tenant_id: self.tenant_id.clone(),
            alert_id: self.alert_id.clone(),
            customer_id: self.customer_id.clone(),
            score: self.score,
            reasons: self.reasons.clone(),
            triggered_at: self.triggered_at_ms,
            contact_id: self.contact_id.clone(),
            channel: self.channel.clone(),
            queue_id: self.queue_id.clone(),
            agent_id: self.agent_id.clone(),
        }
    }

    pub fn to_proto(&self) -> pb::Alert {
        let facts = self.threshold.clone().unwrap_or(ThresholdFacts {
            rule_id: String::new(),
            metric: String::new(),
            value: 0.0,
            threshold: 0.0,
        });
        pb::Alert {
            kind: match self.kind {
                AlertKind::Churn => pb::AlertKind::Churn,
                AlertKind::Threshold => pb::AlertKind::Threshold,
            } as i32,
            rule_id: facts.rule_id,
            metric: facts.metric,
            value: facts.value,
            threshold: facts.threshold,
            tenant_id: self.tenant_id.clone(),
            alert_id: self.alert_id.clone(),
            customer_id: self.customer_id.clone(),
            score: self.score,
            reasons: self.reasons.clone(),
            triggered_at: Some(ccx_model::ms_timestamp(self.triggered_at_ms)),
            contact_id: self.contact_id.clone(),
            channel: self.channel.clone(),
            queue_id: self.queue_id.clone(),
            agent_id: self.agent_id.clone(),
            status: self.status.to_proto() as i32,
            history: self
                .history
                .iter()
                .map(|h| pb::AlertHistoryEntry {
                    status: h.status.to_proto() as i32,
                    by: h.by.clone(),
                    note: h.note.clone(),
                    at: Some(ccx_model::ms_timestamp(h.at_ms)),
                })
                .collect(),
        }
    }

    /// The raise-relevant fields of a proto alert (status and history are ignored).
    pub fn from_proto(alert: &pb::Alert) -> AlertRecord {
        let kind = match pb::AlertKind::try_from(alert.kind) {
            Ok(pb::AlertKind::Threshold) => AlertKind::Threshold,
            _ => AlertKind::Churn,
        };
        AlertRecord {
            kind,
            threshold: (kind == AlertKind::Threshold).then(|| ThresholdFacts {
                rule_id: alert.rule_id.clone(),
                metric: alert.metric.clone(),
                value: alert.value,
                threshold: alert.threshold,
            }),
            tenant_id: alert.tenant_id.clone(),
            alert_id: alert.alert_id.clone(),
            customer_id: alert.customer_id.clone(),
            score: alert.score,
            reasons: alert.reasons.clone(),
            triggered_at_ms: alert
                .triggered_at
                .as_ref()
                .map(ccx_model::timestamp_ms)
                .unwrap_or(0),
            contact_id: alert.contact_id.clone(),
            channel: alert.channel.clone(),
            queue_id: alert.queue_id.clone(),
            agent_id: alert.agent_id.clone(),
            status: AlertStatus::Open,
            history: Vec::new(),
        }
    }

    /// Every field of a proto alert, status and history included.
    pub fn from_proto_full(alert: &pb::Alert) -> AlertRecord {
        let status = |s: i32| {
            pb::AlertStatus::try_from(s)
                .ok()
                .and_then(AlertStatus::from_proto)
                .unwrap_or(AlertStatus::Open)
        };
        let mut record = AlertRecord::from_proto(alert);
        record.status = status(alert.status);
        record.history = alert
            .history
            .iter()
            .map(|h| HistoryEntry {
                status: status(h.status),
                by: h.by.clone(),
                note: h.note.clone(),
                at_ms: h.at.as_ref().map(ccx_model::timestamp_ms).unwrap_or(0),
            })
            .collect();
        record
    }

    /// Checks what a raise must carry.
    pub fn validate_new(&self) -> Result<(), CommandError> {
        if !ccx_model::validate::is_tenant_id(&self.tenant_id) {
            return Err(CommandError::invalid(format!(
                "tenantId: {:?} is not a tenant id ([a-z0-9][a-z0-9_-]{{0,62}})",
                self.tenant_id
            )));
        }
        if self.alert_id.is_empty() || self.alert_id.len() > 512 {
            return Err(CommandError::invalid(
                "alertId: required, at most 512 bytes",
            ));
        }
        if self.score > 100 {
            return Err(CommandError::invalid(format!(
                "score: {} is above 100",
                self.score
            )));
        }
        Ok(())
    }
}

/// Alert list filter. `from` inclusive, `to` exclusive, on `triggered_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub tenant_id: Option<String>,
    pub status: Option<AlertStatus>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: Option<usize>,
}

impl AlertFilter {
    pub fn matches(&self, a: &AlertRecord) -> bool {
        self.tenant_id.as_ref().is_none_or(|t| *t == a.tenant_id)
            && self.status.is_none_or(|s| s == a.status)
            && self.from_ms.is_none_or(|f| a.triggered_at_ms >= f)
            && self.to_ms.is_none_or(|t| a.triggered_at_ms < t)
    }

    pub fn to_proto(&self, local: bool) -> pb::ListAlertsRequest {
        pb::ListAlertsRequest {
            tenant_id: self.tenant_id.clone().unwrap_or_default(),
            status: self
                .status
                .map(|s| s.to_proto())
                .unwrap_or(pb::AlertStatus::Unspecified) as i32,
            from: self.from_ms.map(ccx_model::ms_timestamp),
            to: self.to_ms.map(ccx_model::ms_timestamp),
            local,
            limit: self.limit.unwrap_or(0).min(u32::MAX as usize) as u32,
        }
    }

    pub fn from_proto(req: &pb::ListAlertsRequest) -> AlertFilter {
        AlertFilter {
            tenant_id: (!req.tenant_id.is_empty()).then(|| req.tenant_id.clone()),
            status: pb::AlertStatus::try_from(req.status)
                .ok()
                .and_then(AlertStatus::from_proto),
            from_ms: req.from.as_ref().map(ccx_model::timestamp_ms),
            to_ms: req.to.as_ref().map(ccx_model::timestamp_ms),
            limit: (req.limit > 0).then_some(req.limit as usize),
        }
    }
}
