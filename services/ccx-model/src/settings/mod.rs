//! Per-tenant metric settings (SPEC §3): thresholds, FCR window, lateness and churn scoring.
//! Defaults are SPEC's; the control plane holds each tenant's values. This is the one
//! definition: the control plane stores it, the stream applies it, the CLI shows it (serde,
//! proto3 JSON names), and [`TenantSettings::from_proto`] / [`TenantSettings::to_proto`] are its
//! one conversion to and from `ccx.v1.TenantConfig`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod proto;
mod rules;
mod signals;
mod validate;

pub use rules::{AlertKind, Format, Metric, NotificationTarget, Op, ThresholdRule};
pub use validate::SettingsError;

const DAY_MS: i64 = 86_400_000;

/// A churn signal of SPEC §3, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    NpsDetractor,
    CsatDissatisfied,
    HighEffort,
    NegativeSentiment,
    RepeatContact,
    LongAbandon,
    TransferBounce,
}

impl Signal {
    pub const ALL: [Signal; 7] = [
        Signal::NpsDetractor,
        Signal::CsatDissatisfied,
        Signal::HighEffort,
        Signal::NegativeSentiment,
        Signal::RepeatContact,
        Signal::LongAbandon,
        Signal::TransferBounce,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Signal::NpsDetractor => "NPS_DETRACTOR",
            Signal::CsatDissatisfied => "CSAT_DISSATISFIED",
            Signal::HighEffort => "HIGH_EFFORT",
            Signal::NegativeSentiment => "NEGATIVE_SENTIMENT",
            Signal::RepeatContact => "REPEAT_CONTACT",
            Signal::LongAbandon => "LONG_ABANDON",
            Signal::TransferBounce => "TRANSFER_BOUNCE",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The signal of a SPEC name, in any case.
    pub fn parse(name: &str) -> Option<Signal> {
        Signal::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

/// Weight and cap ("counts at most") of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalRule {
    pub weight: u32,
    pub cap: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ChurnSettings {
    /// Indexed by [`Signal::index`]; written as a map by SPEC name.
    #[serde(rename = "signals", with = "signals")]
    pub rules: [SignalRule; 7],
    pub lookback_ms: i64,
    pub threshold: u32,
    pub cooldown_ms: i64,
    /// An inbound abandon with a wait at or above this is a LONG_ABANDON signal.
    pub long_abandon_ms: i64,
}

impl Default for ChurnSettings {
    fn default() -> Self {
        let r = |weight, cap| SignalRule { weight, cap };
        ChurnSettings {
            rules: [
                r(30, 1),
                r(20, 1),
                r(15, 1),
                r(15, 1),
                r(10, 3),
                r(10, 2),
                r(5, 1),
            ],
            lookback_ms: 30 * DAY_MS,
            threshold: 60,
            cooldown_ms: DAY_MS,
            long_abandon_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSettings {
    pub sl_threshold_ms: i64,
    pub short_abandon_ms: i64,
    pub fcr_window_ms: i64,
    pub allowed_lateness_ms: i64,
    pub churn: ChurnSettings,
    /// A callback attempt matches a request at most this long after it (SPEC §7.2).
    pub callback_window_ms: i64,
    /// An outbound campaign's memory of a customer's attempts on a queue (SPEC §7.2).
    pub campaign_window_ms: i64,
    /// A case with no contact offered for this long is forgotten (SPEC §7.2).
    pub case_window_ms: i64,
    /// Service-level target %: staffing's goal and the wallboard's colours (SPEC §7.3).
    pub sl_target_pct: u32,
    /// IANA time zone of the tenant's "today" and of its days, weeks and months in trends.
    pub time_zone: String,
    /// Per-queue overrides (SPEC §7.3), by queue id.
    pub queues: BTreeMap<String, QueueSettings>,
    /// What the stream watches on the live floor (SPEC §7.5).
    pub threshold_rules: Vec<ThresholdRule>,
    /// Where the control plane posts alert transitions (SPEC §7.5).
    pub notification_targets: Vec<NotificationTarget>,
}

/// A queue's own settings; what is unset takes the tenant's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueSettings {
    /// Service-level threshold of contacts first answered in this queue.
    pub sl_threshold_ms: Option<i64>,
    /// Service-level target % of this queue.
    pub sl_target_pct: Option<u32>,
}

impl TenantSettings {
    /// The service-level threshold of contacts first answered in `queue`.
    pub fn sl_threshold_of(&self, queue: &str) -> i64 {
        if self.queues.is_empty() {
            return self.sl_threshold_ms;
        }
        self.queues
            .get(queue)
            .and_then(|q| q.sl_threshold_ms)
            .unwrap_or(self.sl_threshold_ms)
    }

    /// The service-level target % of `queue`.
    pub fn sl_target_of(&self, queue: &str) -> u32 {
        self.queues
            .get(queue)
            .and_then(|q| q.sl_target_pct)
            .unwrap_or(self.sl_target_pct)
    }

    /// The tenant's time zone (its `time_zone` is checked when settings are accepted; UTC
    /// stands in for a name this build does not know).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            sl_threshold_ms: 20_000,
            short_abandon_ms: 5_000,
            fcr_window_ms: DAY_MS,
            allowed_lateness_ms: 5_000,
            churn: ChurnSettings::default(),
            callback_window_ms: DAY_MS,
            campaign_window_ms: 7 * DAY_MS,
            case_window_ms: 30 * DAY_MS,
            sl_target_pct: 80,
            time_zone: "UTC".into(),
            queues: BTreeMap::new(),
            threshold_rules: Vec::new(),
            notification_targets: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_as_json_with_proto3_names_and_defaults_for_what_is_left_out() {
        let json = r#"{"slThresholdMs": 30000,
                       "churn": {"threshold": 70, "signals": {"nps_detractor": {"weight": 40, "cap": 2}}}}"#;
        let s: TenantSettings = serde_json::from_str(json).unwrap();
        assert_eq!(s.sl_threshold_ms, 30_000);
        assert_eq!(
            s.allowed_lateness_ms,
            TenantSettings::default().allowed_lateness_ms
        );
        assert_eq!(s.churn.threshold, 70);
        let nps = s.churn.rules[Signal::NpsDetractor.index()];
        assert_eq!((nps.weight, nps.cap), (40, 2));
        assert_eq!(
            s.churn.rules[Signal::HighEffort.index()],
            ChurnSettings::default().rules[Signal::HighEffort.index()]
        );
        let back: TenantSettings =
            serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);

        let unknown = serde_json::from_str::<TenantSettings>(r#"{"slThreshold": 1}"#);
        assert!(unknown.unwrap_err().to_string().contains("slThreshold"));
        let signal = serde_json::from_str::<TenantSettings>(
            r#"{"churn": {"signals": {"BORED": {"weight": 1, "cap": 1}}}}"#,
        );
        assert!(signal.unwrap_err().to_string().contains("BORED"));
    }

    #[test]
    fn settings_round_trip_through_bincode() {
        let mut s = TenantSettings::default();
        s.churn.rules[Signal::TransferBounce.index()].cap = 9;
        let bytes = bincode::serialize(&s).unwrap();
        assert_eq!(bincode::deserialize::<TenantSettings>(&bytes).unwrap(), s);
    }
}
