//! Threshold rules and notification targets (SPEC §7.5): what the stream watches on the live
//! floor, and where the control plane posts alert transitions.

use ccx_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use super::SettingsError;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// What a rule watches (SPEC §7.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Service level %, over the rule's window.
    ServiceLevel,
    /// Average speed of answer, seconds, over the window.
    Asa,
    /// Abandonment %, over the window.
    Abandonment,
    /// Contacts waiting now.
    Waiting,
    /// The longest current wait, seconds.
    LongestWait,
    /// Occupancy %, over the window (agents' time, tenant-wide: agents have no queue).
    Occupancy,
    /// Average handle time, seconds, over the window.
    Aht,
    /// Σ agents needed of the tenant's queues − agents now available, busy or in ACW.
    AgentsShort,
}

impl Metric {
    pub const ALL: [Metric; 8] = [
        Metric::ServiceLevel,
        Metric::Asa,
        Metric::Abandonment,
        Metric::Waiting,
        Metric::LongestWait,
        Metric::Occupancy,
        Metric::Aht,
        Metric::AgentsShort,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::ServiceLevel => "service_level",
            Metric::Asa => "asa",
            Metric::Abandonment => "abandonment",
            Metric::Waiting => "waiting",
            Metric::LongestWait => "longest_wait",
            Metric::Occupancy => "occupancy",
            Metric::Aht => "aht",
            Metric::AgentsShort => "agents_short",
        }
    }

    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// Whether the metric is only defined for the whole tenant (no queue or channel).
    pub fn tenant_wide(self) -> bool {
        matches!(self, Metric::AgentsShort | Metric::Occupancy)
    }
}

/// Above or below the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Above,
    Below,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Above => "above",
            Op::Below => "below",
        }
    }

    pub fn parse(name: &str) -> Option<Op> {
        match name.to_ascii_lowercase().as_str() {
            "above" => Some(Op::Above),
            "below" => Some(Op::Below),
            _ => None,
        }
    }

    /// Whether `value` breaks a rule of this op and `threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Above => value > threshold,
            Op::Below => value < threshold,
        }
    }
}

/// One threshold rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThresholdRule {
    pub id: String,
    pub metric: Metric,
    /// Empty: every queue (one alert per queue).
    #[serde(default)]
    pub queue_id: String,
    /// Empty: all channels together.
    #[serde(default)]
    pub channel: String,
    pub op: Op,
    pub threshold: f64,
    #[serde(default = "default_window_ms")]
    pub window_ms: i64,
    #[serde(default)]
    pub for_ms: i64,
}

fn default_window_ms() -> i64 {
    15 * MINUTE_MS
}

/// The kinds of alert there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertKind {
    Churn,
    Threshold,
}

impl AlertKind {
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::Churn => "CHURN",
            AlertKind::Threshold => "THRESHOLD",
        }
    }

    pub fn parse(name: &str) -> Option<AlertKind> {
        match name.to_ascii_uppercase().as_str() {
            "CHURN" => Some(AlertKind::Churn),
            "THRESHOLD" => Some(AlertKind::Threshold),
            _ => None,
        }
    }
}

/// The body a notification target receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The alert and its transition as JSON.
    #[default]
    Json,
    /// A Slack incoming-webhook message (`{"text": …}`).
    Slack,
}

/// Where a tenant's alert transitions are posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationTarget {
    pub url: String,
    /// The kinds posted (empty: every kind).
    #[serde(default)]
    pub kinds: Vec<AlertKind>,
    #[serde(default)]
    pub format: Format,
}

impl NotificationTarget {
    pub fn wants(&self, kind: AlertKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }
}

/// The rules' and targets' ranges, naming the first that is out.
pub(super) fn validate(
    rules: &[ThresholdRule],
    targets: &[NotificationTarget],
) -> Result<(), SettingsError> {
    let bad = |field: &str, reason: String| Err(SettingsError::new(field, reason));
    let mut ids = std::collections::BTreeSet::new();
    for r in rules {
        let at = format!("rule {:?}", r.id);
        let id_ok = !r.id.is_empty()
            && r.id.len() <= 64
            && r.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return bad(
                "thresholdRules",
                format!("{at}: an id is 1..64 of [A-Za-z0-9_-]"),
            );
        }
        if !ids.insert(r.id.as_str()) {
            return bad("thresholdRules", format!("{at}: listed twice"));
        }
        if !r.threshold.is_finite() || r.threshold < 0.0 {
            return bad(
                "thresholdRules",
                format!("{at}: threshold {} is not a number ≥ 0", r.threshold),
            );
        }
        if !(MINUTE_MS..=DAY_MS).contains(&r.window_ms) {
            return bad(
                "thresholdRules",
                format!("{at}: windowMs {} is out of range 1 min..24 h", r.window_ms),
            );
        }
        if !(0..=DAY_MS).contains(&r.for_ms) {
            return bad(
                "thresholdRules",
                format!("{at}: forMs {} is out of range 0..24 h", r.for_ms),
            );
        }
        if r.metric.tenant_wide() && !(r.queue_id.is_empty() && r.channel.is_empty()) {
            return bad(
                "thresholdRules",
                format!(
                    "{at}: {} is tenant-wide (no queue or channel)",
                    r.metric.name()
                ),
            );
        }
        if !r.channel.is_empty() && ccx_proto::v1::Channel::from_str_name(&r.channel).is_none() {
            return bad(
                "thresholdRules",
                format!("{at}: channel {:?} is not a SPEC channel", r.channel),
            );
        }
    }
    for t in targets {
        let url = t.url.as_str();
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        let host = url.split_once("://").map_or("", |(_, rest)| rest);
        if !scheme_ok || host.is_empty() || host.starts_with('/') || url.len() > 2048 {
            return bad(
                "notificationTargets",
                format!("{url:?} is not an http(s) URL"),
            );
        }
    }
    Ok(())
}

impl ThresholdRule {
    pub(super) fn from_proto(r: &pb::ThresholdRule) -> Result<ThresholdRule, SettingsError> {
        let at = || format!("rule {:?}", r.id);
        let metric = Metric::parse(&r.metric).ok_or_else(|| {
            SettingsError::new(
                "thresholdRules",
                format!("{}: unknown metric {:?}", at(), r.metric),
            )
        })?;
        let op = Op::parse(&r.op).ok_or_else(|| {
            SettingsError::new(
                "thresholdRules",
                format!("{}: op {:?} is not above or below", at(), r.op),
            )
        })?;
        let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Ok(ThresholdRule {
            id: r.id.clone(),
            metric,
            queue_id: r.queue_id.clone(),
            channel: r.channel.clone(),
            op,
            threshold: r.threshold,
            window_ms: if r.window_ms == 0 {
                default_window_ms()
            } else {
                ms(r.window_ms)
            },
            for_ms: ms(r.for_ms),
        })
    }

    pub(super) fn to_proto(&self) -> pb::ThresholdRule {
        pb::ThresholdRule {
            id: self.id.clone(),
            metric: self.metric.name().to_string(),
            queue_id: self.queue_id.clone(),
            channel: self.channel.clone(),
            op: self.op.name().to_string(),
            threshold: self.threshold,
            window_ms: self.window_ms.max(0) as u64,
            for_ms: self.for_ms.max(0) as u64,
        }
    }
}

impl NotificationTarget {
    pub(super) fn from_proto(
        t: &pb::NotificationTarget,
    ) -> Result<NotificationTarget, SettingsError> {
        let kinds = t
            .kinds
            .iter()
            .map(|k| {
                AlertKind::parse(k).ok_or_else(|| {
                    SettingsError::new(
                        "notificationTargets",
                        format!("{}: unknown kind {k:?} (CHURN, THRESHOLD)", t.url),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let format = match t.format.to_ascii_lowercase().as_str() {
            "" | "json" => Format::Json,
            "slack" => Format::Slack,
            other => {
                return Err(SettingsError::new(
                    "notificationTargets",
                    format!("{}: format {other:?} is not json or slack", t.url),
                ))
            }
        };
        Ok(NotificationTarget {
            url: t.url.clone(),
            kinds,
            format,
        })
    }

    pub(super) fn to_proto(&self) -> pb::NotificationTarget {
        pb::NotificationTarget {
            url: self.url.clone(),
            kinds: self.kinds.iter().map(|k| k.name().to_string()).collect(),
            format: match self.format {
                Format::Json => "json",
                Format::Slack => "slack",
            }
            .to_string(),
        }
    }
}
