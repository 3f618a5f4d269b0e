//! What a notification says: the `Idempotency-Key` of a transition and the body posted for
//! it, as JSON (the alert and the transition) or as a Slack message (`{"text": …}`).

use ccx_control_client::{AlertKind, AlertRecord, AlertStatus, HistoryEntry};
use ccx_model::json::format_ms;
use ccx_model::settings::Format;
use serde_json::{json, Value};

/// `open`, `acknowledged` or `resolved`: the transition that moved an alert to `status`.
pub fn transition_name(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Open => "open",
        AlertStatus::Acknowledged => "acknowledged",
        AlertStatus::Resolved => "resolved",
    }
}

/// `<alert_id>:<transition>`: the same for every attempt, by any leader.
pub fn idempotency_key(alert_id: &str, transition: AlertStatus) -> String {
    format!("{alert_id}:{}", transition_name(transition))
}

/// The body of the notification of `alert`'s transition `entry`, in `format`.
pub fn body(format: Format, alert: &AlertRecord, entry: &HistoryEntry) -> Value {
    match format {
        Format::Json => json_body(alert, entry),
        Format::Slack => json!({ "text": slack_text(alert, entry) }),
    }
}

/// The alert as of the transition (its status is the transition's), and who made it when.
pub fn json_body(alert: &AlertRecord, entry: &HistoryEntry) -> Value {
    let mut body = json!({
        "tenant": alert.tenant_id,
        "id": alert.alert_id,
        "kind": alert.kind.name(),
        "status": entry.status.name(),
        "transition": transition_name(entry.status),
        "by": entry.by,
        "note": entry.note,
        "at": format_ms(entry.at_ms),
        "triggeredAt": format_ms(alert.triggered_at_ms),
        "queue": alert.queue_id,
        "channel": alert.channel,
    });
    let fields = body.as_object_mut().expect("an object");
    match (&alert.kind, &alert.threshold) {
        (AlertKind::Threshold, Some(t)) => {
            fields.insert("rule".into(), json!(t.rule_id));
            fields.insert("metric".into(), json!(t.metric));
            fields.insert("value".into(), json!(t.value));
            fields.insert("threshold".into(), json!(t.threshold));
        }
        _ => {
            fields.insert("customer".into(), json!(alert.customer_id));
            fields.insert("score".into(), json!(alert.score));
            fields.insert("reasons".into(), json!(alert.reasons));
            fields.insert("contact".into(), json!(alert.contact_id));
            fields.insert("agent".into(), json!(alert.agent_id));
        }
    }
    body
}

/// One readable line: tenant, kind, what happened, and the status it is in now.
pub fn slack_text(alert: &AlertRecord, entry: &HistoryEntry) -> String {
    let what = match (&alert.kind, &alert.threshold) {
        (AlertKind::Threshold, Some(t)) => {
            let mut scope = Vec::new();
            if !alert.queue_id.is_empty() {
                scope.push(format!("queue {}", alert.queue_id));
            }
            if !alert.channel.is_empty() {
                scope.push(alert.channel.clone());
            }
            let scope = if scope.is_empty() {
                String::new()
            } else {
                format!(", {}", scope.join(" "))
            };
            format!(
                "{} is {} (threshold {}; rule {}{scope})",
                t.metric,
                number(t.value),
                number(t.threshold),
                t.rule_id
            )
        }
        _ => format!(
            "customer {} at risk, score {} ({})",
            alert.customer_id,
            alert.score,
            alert.reasons.join(", ")
        ),
    };
    let mut text = format!(
        "[{}] {} alert: {what}: {}",
        alert.tenant_id,
        alert.kind.name(),
        entry.status.name()
    );
    if entry.status != AlertStatus::Open {
        text.push_str(&format!(" by {}", entry.by));
        if !entry.note.is_empty() {
            text.push_str(&format!(" ({})", entry.note));
        }
    }
    text.push_str(&format!(" [{}]", alert.alert_id));
    text
}

/// A value without a useless `.0`.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The message `ccx alerts test-notify` posts.
pub fn test_body(format: Format, tenant_id: &str, at_ms: i64) -> Value {
    let text = format!(
        "[{tenant_id}] ccx test notification at {}: this target receives the tenant's alerts",
        format_ms(at_ms)
    );
    match format {
        Format::Json => json!({
            "tenant": tenant_id,
            "kind": "TEST",
            "text": text,
            "at": format_ms(at_ms),
        }),
        Format::Slack => json!({ "text": text }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccx_control_client::ThresholdFacts;
    use ccx_model::rows::ChurnAlert;

    fn churn() -> AlertRecord {
        AlertRecord::from_churn_alert(&ChurnAlert {
            tenant_id: "acme".into(),
            alert_id: "acme:c1:e1".into(),
            customer_id: "c1".into(),
            score: 70,
            reasons: vec!["NPS_DETRACTOR".into(), "REPEAT_CONTACT".into()],
            triggered_at: 1_767_225_600_000,
            contact_id: "k1".into(),
            channel: "VOICE".into(),
            queue_id: "q1".into(),
            agent_id: "a1".into(),
        })
    }

    fn entry(status: AlertStatus, by: &str, note: &str) -> HistoryEntry {
        HistoryEntry {
            status,
            by: by.into(),
            note: note.into(),
            at_ms: 1_767_225_660_000,
        }
    }

    #[test]
    fn churn_bodies() {
        let a = churn();
        let ack = entry(AlertStatus::Acknowledged, "kim", "calling back");
        assert_eq!(
            idempotency_key(&a.alert_id, ack.status),
            "acme:c1:e1:acknowledged"
        );
        let j = json_body(&a, &ack);
        assert_eq!(j["tenant"], "acme");
        assert_eq!(j["kind"], "CHURN");
        assert_eq!(j["status"], "ACKNOWLEDGED");
        assert_eq!(j["customer"], "c1");
        assert_eq!(j["score"], 70);
        assert_eq!(j["by"], "kim");
        assert_eq!(j["at"], "2026-01-01T00:01:00Z");
        assert!(j.get("rule").is_none());
        assert_eq!(
            slack_text(&a, &ack),
            "[acme] CHURN alert: customer c1 at risk, score 70 (NPS_DETRACTOR, REPEAT_CONTACT): \
             ACKNOWLEDGED by kim (calling back) [acme:c1:e1]"
        );
    }

    #[test]
    fn threshold_bodies() {
        let mut a = churn();
        a.kind = AlertKind::Threshold;
        a.alert_id = "acme:sl:q1::29000".into();
        a.customer_id.clear();
        a.channel.clear();
        a.threshold = Some(ThresholdFacts {
            rule_id: "sl".into(),
            metric: "service_level".into(),
            value: 62.5,
            threshold: 80.0,
        });
        let open = entry(AlertStatus::Open, "ccx-stream", "");
        let j = json_body(&a, &open);
        assert_eq!(
            (&j["rule"], &j["metric"], &j["value"], &j["threshold"]),
            (
                &json!("sl"),
                &json!("service_level"),
                &json!(62.5),
                &json!(80.0)
            )
        );
        assert_eq!(j["queue"], "q1");
        assert!(j.get("customer").is_none());
        assert_eq!(
            body(Format::Slack, &a, &open)["text"],
            "[acme] THRESHOLD alert: service_level is 62.5 (threshold 80; rule sl, queue q1): \
             OPEN [acme:sl:q1::29000]"
        );
    }
}
