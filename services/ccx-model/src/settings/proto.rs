//! The one conversion between [`TenantSettings`] and the settings fields of
//! `ccx.v1.TenantConfig`. A zero field means "SPEC's default" (proto3 cannot tell an unset
//! field from a zero), so a sparse message is a valid configuration.

use ccx_proto::v1 as pb;

use super::signals::unknown_signal;
use super::{
    NotificationTarget, QueueSettings, SettingsError, Signal, SignalRule, TenantSettings,
    ThresholdRule,
};

impl TenantSettings {
    /// The settings a proto configuration carries, validated. Absent signals keep their
    /// defaults.
    pub fn from_proto(config: &pb::TenantConfig) -> Result<TenantSettings, SettingsError> {
        let mut s = TenantSettings::default();
        let set = |target: &mut i64, value: u64| {
            if value != 0 {
                *target = i64::try_from(value).unwrap_or(i64::MAX);
            }
        };
        set(&mut s.sl_threshold_ms, config.sl_threshold_ms.into());
        set(&mut s.short_abandon_ms, config.short_abandon_ms.into());
        set(&mut s.fcr_window_ms, config.fcr_window_ms);
        set(
            &mut s.allowed_lateness_ms,
            config.allowed_lateness_ms.into(),
        );
        set(&mut s.churn.lookback_ms, config.churn_lookback_ms);
        set(&mut s.churn.cooldown_ms, config.churn_cooldown_ms);
        set(&mut s.churn.long_abandon_ms, config.churn_long_abandon_ms);
        set(&mut s.callback_window_ms, config.callback_window_ms);
        set(&mut s.campaign_window_ms, config.campaign_window_ms);
        set(&mut s.case_window_ms, config.case_window_ms);
        if config.sl_target_pct != 0 {
            s.sl_target_pct = config.sl_target_pct;
        }
        if !config.time_zone.is_empty() {
            s.time_zone = config.time_zone.clone();
        }
        for q in &config.queues {
            let threshold = (q.sl_threshold_ms != 0).then_some(i64::from(q.sl_threshold_ms));
            s.queues.insert(
                q.queue_id.clone(),
                QueueSettings {
                    sl_threshold_ms: threshold,
                    sl_target_pct: (q.sl_target_pct != 0).then_some(q.sl_target_pct),
                },
            );
        }
        s.threshold_rules = config
            .threshold_rules
            .iter()
            .map(ThresholdRule::from_proto)
            .collect::<Result<_, _>>()?;
        s.notification_targets = config
            .notification_targets
            .iter()
            .map(NotificationTarget::from_proto)
            .collect::<Result<_, _>>()?;
        if config.churn_threshold != 0 {
            s.churn.threshold = config.churn_threshold;
        }
        for c in &config.churn_signals {
            let signal = Signal::parse(&c.signal)
                .ok_or_else(|| SettingsError::new("churnSignals", unknown_signal(&c.signal)))?;
            s.churn.rules[signal.index()] = SignalRule {
                weight: c.weight,
                cap: c.cap,
            };
        }
        s.validate()?;
        Ok(s)
    }

    /// A proto configuration of `tenant_id` carrying these settings, every signal listed (no
    /// tokens; version 0, which a put takes as unconditional).
    pub fn to_proto(&self, tenant_id: &str) -> pb::TenantConfig {
        let u32_of = |v: i64| v.clamp(0, i64::from(u32::MAX)) as u32;
        let u64_of = |v: i64| v.max(0) as u64;
        let c = &self.churn;
        pb::TenantConfig {
            tenant_id: tenant_id.to_string(),
            sl_threshold_ms: u32_of(self.sl_threshold_ms),
            short_abandon_ms: u32_of(self.short_abandon_ms),
            fcr_window_ms: u64_of(self.fcr_window_ms),
            allowed_lateness_ms: u32_of(self.allowed_lateness_ms),
            churn_signals: Signal::ALL
                .iter()
                .map(|s| pb::ChurnSignalConfig {
                    signal: s.name().to_string(),
                    weight: c.rules[s.index()].weight,
                    cap: c.rules[s.index()].cap,
                })
                .collect(),
            churn_lookback_ms: u64_of(c.lookback_ms),
            churn_threshold: c.threshold,
            churn_cooldown_ms: u64_of(c.cooldown_ms),
            churn_long_abandon_ms: u64_of(c.long_abandon_ms),
            callback_window_ms: u64_of(self.callback_window_ms),
            campaign_window_ms: u64_of(self.campaign_window_ms),
            case_window_ms: u64_of(self.case_window_ms),
            sl_target_pct: self.sl_target_pct,
            time_zone: self.time_zone.clone(),
            threshold_rules: self.threshold_rules.iter().map(|r| r.to_proto()).collect(),
            notification_targets: self
                .notification_targets
                .iter()
                .map(|t| t.to_proto())
                .collect(),
            queues: self
                .queues
                .iter()
                .map(|(id, q)| pb::QueueConfig {
                    queue_id: id.clone(),
                    sl_threshold_ms: q.sl_threshold_ms.map_or(0, u32_of),
                    sl_target_pct: q.sl_target_pct.unwrap_or(0),
                })
                .collect(),
            ..pb::TenantConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_the_proto_and_zero_fields_take_defaults() {
        let mut s = TenantSettings {
            sl_threshold_ms: 30_000,
            ..TenantSettings::default()
        };
        s.churn.rules[Signal::RepeatContact.index()] = SignalRule { weight: 12, cap: 4 };
        s.case_window_ms = 86_400_000;
        s.time_zone = "Europe/Rome".into();
        s.sl_target_pct = 90;
        s.queues.insert(
            "vip".into(),
            QueueSettings {
                sl_threshold_ms: Some(10_000),
                sl_target_pct: Some(95),
            },
        );
        assert_eq!(TenantSettings::from_proto(&s.to_proto("acme")).unwrap(), s);
        assert_eq!(
            (s.sl_threshold_of("vip"), s.sl_threshold_of("other")),
            (10_000, 30_000)
        );
        assert_eq!((s.sl_target_of("vip"), s.sl_target_of("other")), (95, 90));
        assert_eq!(s.tz(), chrono_tz::Europe::Rome);
        s.threshold_rules.push(ThresholdRule {
            id: "sl-low".into(),
            metric: super::super::Metric::ServiceLevel,
            queue_id: "vip".into(),
            channel: "VOICE".into(),
            op: super::super::Op::Below,
            threshold: 80.5,
            window_ms: 900_000,
            for_ms: 120_000,
        });
        s.notification_targets.push(NotificationTarget {
            url: "https://hooks.example.com/T1".into(),
            kinds: vec![super::super::AlertKind::Threshold],
            format: super::super::Format::Slack,
        });
        assert_eq!(TenantSettings::from_proto(&s.to_proto("acme")).unwrap(), s);

        let sparse = pb::TenantConfig {
            tenant_id: "acme".into(),
            allowed_lateness_ms: 60_000,
            ..Default::default()
        };
        let read = TenantSettings::from_proto(&sparse).unwrap();
        assert_eq!(read.allowed_lateness_ms, 60_000);
        assert_eq!(
            read.sl_threshold_ms,
            TenantSettings::default().sl_threshold_ms
        );
    }

    #[test]
    fn a_bad_proto_field_is_named() {
        let err = |config: pb::TenantConfig| TenantSettings::from_proto(&config).unwrap_err();
        let e = err(pb::TenantConfig {
            churn_signals: vec![pb::ChurnSignalConfig {
                signal: "BORED".into(),
                weight: 1,
                cap: 1,
            }],
            ..Default::default()
        });
        assert_eq!(e.field, "churnSignals");
        assert!(e.reason.contains("BORED"), "{e}");
        let e = err(pb::TenantConfig {
            churn_threshold: 101,
            ..Default::default()
        });
        assert_eq!(e.to_string(), "churnThreshold: 101 is out of range 1..=100");
        let e = err(pb::TenantConfig {
            fcr_window_ms: 91 * 86_400_000,
            ..Default::default()
        });
        assert_eq!(e.field, "fcrWindowMs");
        let e = err(pb::TenantConfig {
            time_zone: "Mars/Olympus".into(),
            ..Default::default()
        });
        assert_eq!(e.field, "timeZone");
        assert!(e.reason.contains("Mars/Olympus"), "{e}");
        let e = err(pb::TenantConfig {
            sl_target_pct: 101,
            ..Default::default()
        });
        assert_eq!(e.to_string(), "slTargetPct: 101 is out of range 1..=100");
        let rule = |metric: &str, op: &str, queue: &str, threshold: f64| pb::ThresholdRule {
            id: "r1".into(),
            metric: metric.into(),
            queue_id: queue.into(),
            op: op.into(),
            threshold,
            ..Default::default()
        };
        for (r, says) in [
            (rule("boredom", "above", "", 1.0), "unknown metric"),
            (rule("asa", "sideways", "", 1.0), "op \"sideways\""),
            (rule("agents_short", "above", "q1", 1.0), "tenant-wide"),
            (rule("asa", "above", "", f64::NAN), "threshold NaN"),
        ] {
            let e = err(pb::TenantConfig {
                threshold_rules: vec![r],
                ..Default::default()
            });
            assert_eq!(e.field, "thresholdRules");
            assert!(e.reason.contains(says), "{e}");
        }
        let e = err(pb::TenantConfig {
            notification_targets: vec![pb::NotificationTarget {
                url: "ftp://example.com".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(e.field, "notificationTargets");
    }
}
