//! `ccx alerts list | ack | resolve | test-notify`.

use std::fmt::Write as _;
use std::path::PathBuf;

use ccx_control_client::{AlertFilter, AlertKind, AlertRecord, AlertStatus, ControlError};
use serde_json::json;

use ccx_model::json::format_ms;

use super::ControlEndpoints;

/// `ccx alerts …`
#[derive(clap::Args, Debug, Clone)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub endpoints: ControlEndpoints,
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum AlertsCommand {
    /// List alerts (churn and threshold), oldest trigger first; resolved ones only with
    /// `--all` or `--status resolved`.
    List {
        #[arg(long)]
        tenant: Option<String>,
        /// open | acknowledged | resolved
        #[arg(long, value_parser = parse_status)]
        status: Option<AlertStatus>,
        /// Resolved alerts too.
        #[arg(long)]
        all: bool,
        /// Triggered at or after (RFC 3339).
        #[arg(long, value_parser = ccx_model::json::rfc3339_ms)]
        from: Option<i64>,
        /// Triggered before (RFC 3339).
        #[arg(long, value_parser = ccx_model::json::rfc3339_ms)]
        to: Option<i64>,
        #[arg(long)]
        limit: Option<usize>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an open alert.
    Ack {
        #[arg(long)]
        tenant: String,
        alert_id: String,
        /// Who acknowledges.
        #[arg(long, env = "CCX_USER")]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Resolve an open or acknowledged alert.
    Resolve {
        #[arg(long)]
        tenant: String,
        alert_id: String,
        #[arg(long, env = "CCX_USER")]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Post a test message to each of the tenant's notification targets, and say what each
    /// answered.
    TestNotify {
        tenant: String,
        /// How long each post may take.
        #[arg(long, default_value_t = 10)]
        timeout_s: u64,
    },
}

fn parse_status(text: &str) -> Result<AlertStatus, String> {
    AlertStatus::parse(text).ok_or_else(|| format!("{text:?}: open, acknowledged or resolved"))
}

/// An alert as one JSON object.
pub fn alert_json(a: &AlertRecord) -> serde_json::Value {
    let mut out = json!({
        "tenantId": a.tenant_id,
        "alertId": a.alert_id,
        "kind": a.kind.name(),
        "customerId": a.customer_id,
        "score": a.score,
        "reasons": a.reasons,
        "triggeredAt": format_ms(a.triggered_at_ms),
        "contactId": a.contact_id,
        "channel": a.channel,
        "queueId": a.queue_id,
        "agentId": a.agent_id,
        "status": a.status.name(),
        "history": a.history.iter().map(|h| json!({
            "status": h.status.name(),
            "by": h.by,
            "note": h.note,
            "at": format_ms(h.at_ms),
        })).collect::<Vec<_>>(),
    });
    if let Some(t) = &a.threshold {
        out["rule"] = json!(t.rule_id);
        out["metric"] = json!(t.metric);
        out["value"] = json!(t.value);
        out["threshold"] = json!(t.threshold);
    }
    out
}

/// What fired the alert, in a few words: the score and reasons of a churn alert, the rule
/// and value of a threshold alert.
fn detail(a: &AlertRecord) -> String {
    match (&a.kind, &a.threshold) {
        (AlertKind::Threshold, Some(t)) => format!(
            "rule {}: {} {} (threshold {})",
            t.rule_id, t.metric, t.value, t.threshold
        ),
        _ => format!("score {}: {}", a.score, a.reasons.join(",")),
    }
}

/// `ccx alerts test-notify`: the test message goes from where the command runs, straight to
/// each target of the tenant's settings (read through the control plane), with the same body
/// builder and post as the leader's deliveries. Sending it from here rather than through a
/// control-plane call needs no leader and no new RPC, and shows the operator at once each
/// target's answer; what it cannot show is whether the replicas' own network reaches the
/// target (their `ccx_control_notification_failures_total` and logs do).
async fn test_notify(
    client: &ccx_control_client::ControlClient,
    tenant: &str,
    timeout: std::time::Duration,
    out: &mut String,
) -> Result<(), ControlError> {
    let settings = client.get_settings(tenant).await?;
    if settings.notification_targets.is_empty() {
        return Err(ControlError::NotFound(format!(
            "tenant {tenant}: no notification targets (ccx config set {tenant} \"target=URL …\")"
        )));
    }
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| ControlError::Config(format!("HTTP client: {e}")))?;
    let at_ms = ccx_model::now_ms();
    let key = format!("test:{tenant}:{at_ms}");
    let mut failed = 0;
    for t in &settings.notification_targets {
        let body = ccx_control::notify::body::test_body(t.format, tenant, at_ms);
        let answer = ccx_control::notify::post(&http, &t.url, &key, &body).await;
        let kinds = if t.kinds.is_empty() {
            "all kinds".to_string()
        } else {
            t.kinds
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(",")
        };
        let format = match t.format {
            ccx_model::settings::Format::Json => "json",
            ccx_model::settings::Format::Slack => "slack",
        };
        let result = match answer {
            Ok(status) => format!("ok (HTTP {status})"),
            Err(e) => {
                failed += 1;
                format!("FAILED: {e}")
            }
        };
        let _ = writeln!(out, "{} [{format}, {kinds}]: {result}", t.url);
    }
    if failed > 0 {
        print!("{out}");
        out.clear();
        return Err(ControlError::Unavailable(format!(
            "{failed} of {} targets did not accept the test message",
            settings.notification_targets.len()
        )));
    }
    Ok(())
}

/// `ccx alerts …`: prints what the command answers.
pub async fn run(args: AlertsArgs, config: &[PathBuf]) -> Result<(), ControlError> {
    let client = args.endpoints.client(config)?;
    let mut out = String::new();
    match args.command {
        AlertsCommand::List {
            tenant,
            status,
            all,
            from,
            to,
            limit,
            json,
        } => {
            let alerts = client
                .list_alerts(&AlertFilter {
                    tenant_id: tenant,
                    status,
                    from_ms: from,
                    to_ms: to,
                    limit,
                })
                .await?;
            // Resolved alerts are history: shown when asked for.
            let alerts: Vec<AlertRecord> = alerts
                .into_iter()
                .filter(|a| all || status.is_some() || a.status != AlertStatus::Resolved)
                .collect();
            if json {
                for a in &alerts {
                    let _ = writeln!(out, "{}", alert_json(a));
                }
            } else {
                let _ = writeln!(
                    out,
                    "{:<24} {:<12} {:<9} {:<13} {:<40} DETAIL",
                    "TRIGGERED", "TENANT", "KIND", "STATUS", "ALERT"
                );
                for a in &alerts {
                    let _ = writeln!(
                        out,
                        "{:<24} {:<12} {:<9} {:<13} {:<40} {}",
                        format_ms(a.triggered_at_ms),
                        a.tenant_id,
                        a.kind.name(),
                        a.status.name(),
                        a.alert_id,
                        detail(a)
                    );
                }
            }
        }
        AlertsCommand::Ack {
            tenant,
            alert_id,
            by,
            note,
        } => {
            let a = client.acknowledge(&tenant, &alert_id, &by, &note).await?;
            let _ = writeln!(out, "{}", alert_json(&a));
        }
        AlertsCommand::Resolve {
            tenant,
            alert_id,
            by,
            note,
        } => {
            let a = client.resolve(&tenant, &alert_id, &by, &note).await?;
            let _ = writeln!(out, "{}", alert_json(&a));
        }
        AlertsCommand::TestNotify { tenant, timeout_s } => {
            let timeout = std::time::Duration::from_secs(timeout_s.max(1));
            test_notify(&client, &tenant, timeout, &mut out).await?;
        }
    }
    print!("{out}");
    Ok(())
}
