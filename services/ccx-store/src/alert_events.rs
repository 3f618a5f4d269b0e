//! `alert_events` (SPEC §7.5): one row per alert transition (open, acknowledged, resolved),
//! written by the control-plane leader. A transition never changes once it happened, so its
//! row's `version` is its own time and writing it again leaves the table as it was.

use serde_json::{json, Value};

use crate::codec::Insert;
use crate::{quote, StoreError};

/// One transition of an alert, as `alert_events` holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertEvent {
    pub tenant_id: String,
    pub alert_id: String,
    /// `CHURN` or `THRESHOLD`.
    pub kind: String,
    /// `OPEN`, `ACKNOWLEDGED` or `RESOLVED`.
    pub status: String,
    /// Unix milliseconds of the transition.
    pub at_ms: i64,
    pub by: String,
    pub note: String,
}

/// The insert of `events` into database `db` (`None` when there are none).
pub(crate) fn insert(db: &str, events: &[AlertEvent]) -> Option<Insert> {
    if events.is_empty() {
        return None;
    }
    let mut body = String::new();
    for e in events {
        let at_ms = e.at_ms.max(0);
        let row = json!({
            "tenant_id": e.tenant_id,
            "alert_id": e.alert_id,
            "kind": e.kind,
            "status": e.status,
            "at": at_ms.div_euclid(1000).min(i64::from(u32::MAX)),
            "at_ms": at_ms,
            "by": e.by,
            "note": e.note,
            "version": at_ms,
        });
        body.push_str(&row.to_string());
        body.push('\n');
    }
    Some(Insert {
        table: "alert_events",
        query: format!(
            "INSERT INTO {db}.alert_events (tenant_id, alert_id, kind, status, at, at_ms, `by`, \
             note, version) FORMAT JSONEachRow"
        ),
        body,
    })
}

/// The newest row of each of `tenant`'s transitions, by alert and time.
pub(crate) fn select(db: &str, tenant: &str) -> String {
    format!(
        "SELECT tenant_id, alert_id, kind, status, at_ms, `by`, note \
         FROM {db}.alert_events FINAL WHERE tenant_id = {} ORDER BY alert_id, at_ms, status",
        quote(tenant)
    )
}

pub(crate) fn assemble(answer: &[Value]) -> Result<Vec<AlertEvent>, StoreError> {
    let bad = |column: &str, row: &Value| StoreError::Decode {
        context: "SELECT … FROM alert_events FINAL".into(),
        message: format!("column {column}: missing or mistyped in {row}"),
    };
    answer
        .iter()
        .map(|row| {
            let text = |c: &str| {
                row.get(c)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| bad(c, row))
            };
            let at_ms = match row.get("at_ms") {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| bad("at_ms", row))?;
            Ok(AlertEvent {
                tenant_id: text("tenant_id")?,
                alert_id: text("alert_id")?,
                kind: text("kind")?,
                status: text("status")?,
                at_ms,
                by: text("by")?,
                note: text("note")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transition_is_versioned_by_its_time() {
        let e = AlertEvent {
            tenant_id: "acme".into(),
            alert_id: "acme:c1:e1".into(),
            kind: "CHURN".into(),
            status: "OPEN".into(),
            at_ms: 1_700_000_000_123,
            by: "ccx-stream".into(),
            note: "score 70".into(),
        };
        let insert = insert("ccx", std::slice::from_ref(&e)).unwrap();
        assert!(insert.query.starts_with("INSERT INTO ccx.alert_events ("));
        let row: Value = serde_json::from_str(insert.body.trim()).unwrap();
        assert_eq!(row["version"], 1_700_000_000_123_i64);
        assert_eq!(row["at"], 1_700_000_000);
        assert_eq!(assemble(&[row]).unwrap(), vec![e]);
        assert!(super::insert("ccx", &[]).is_none());
    }
}
