//! The ranges a tenant's settings must lie in, checked wherever settings are accepted (the
//! control plane's put, `ccx config set`, a proto config).

use super::{Signal, TenantSettings, DAY_MS};

/// A setting out of range: the field (proto3 JSON name) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SettingsError {
    pub field: String,
    pub reason: String,
}

impl SettingsError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> SettingsError {
        SettingsError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Largest weight of one signal (a score is at most 100).
const MAX_WEIGHT: u32 = 100;
/// Largest number of times one signal may count.
const MAX_CAP: u32 = 1000;

impl TenantSettings {
    /// Every setting in range, naming the first that is not.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let c = &self.churn;
        let checks: [(&str, i64, i64); 12] = [
            ("slThresholdMs", self.sl_threshold_ms, DAY_MS),
            ("shortAbandonMs", self.short_abandon_ms, DAY_MS),
            ("fcrWindowMs", self.fcr_window_ms, 90 * DAY_MS),
            ("allowedLatenessMs", self.allowed_lateness_ms, DAY_MS),
            ("churnLookbackMs", c.lookback_ms, 365 * DAY_MS),
            ("churnThreshold", i64::from(c.threshold), 100),
            ("churnCooldownMs", c.cooldown_ms, 365 * DAY_MS),
            ("churnLongAbandonMs", c.long_abandon_ms, DAY_MS),
            ("callbackWindowMs", self.callback_window_ms, 30 * DAY_MS),
            ("campaignWindowMs", self.campaign_window_ms, 90 * DAY_MS),
            ("caseWindowMs", self.case_window_ms, 365 * DAY_MS),
            ("slTargetPct", i64::from(self.sl_target_pct), 100),
        ];
        for (field, value, max) in checks {
            if !(1..=max).contains(&value) {
                return Err(SettingsError::new(
                    field,
                    format!("{value} is out of range 1..={max}"),
                ));
            }
        }
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(SettingsError::new(
                "timeZone",
                format!("{:?} is not an IANA time zone name", self.time_zone),
            ));
        }
        for (queue, q) in &self.queues {
            if queue.is_empty() || queue.chars().count() > crate::validate::MAX_ID_CHARS {
                return Err(SettingsError::new(
                    "queues",
                    format!("{queue:?} is not a queue id (1..128 characters)"),
                ));
            }
            if let Some(ms) = q.sl_threshold_ms {
                if !(1..=DAY_MS).contains(&ms) {
                    return Err(SettingsError::new(
                        "queues",
                        format!("{queue}: slThresholdMs {ms} is out of range 1..={DAY_MS}"),
                    ));
                }
            }
            if let Some(pct) = q.sl_target_pct {
                if !(1..=100).contains(&pct) {
                    return Err(SettingsError::new(
                        "queues",
                        format!("{queue}: slTargetPct {pct} is out of range 1..=100"),
                    ));
                }
            }
        }
        super::rules::validate(&self.threshold_rules, &self.notification_targets)?;
        for signal in Signal::ALL {
            let rule = c.rules[signal.index()];
            if rule.weight > MAX_WEIGHT || rule.cap > MAX_CAP {
                return Err(SettingsError::new(
                    "churnSignals",
                    format!(
                        "{}: weight must be 0..={MAX_WEIGHT} and cap 0..={MAX_CAP}",
                        signal.name()
                    ),
                ));
            }
        }
        Ok(())
    }
}
