//! `ccx alerts list | ack | resolve`.

use std::fmt::Write as _;

use ccx_control_client::{AlertFilter, AlertRecord, AlertStatus, ControlError};
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
    /// List churn alerts, oldest trigger first.
    List {
        #[arg(long)]
        tenant: Option<String>,
        /// open | acknowledged | resolved
        #[arg(long, value_parser = parse_status)]
        status: Option<AlertStatus>,
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
}

fn parse_status(text: &str) -> Result<AlertStatus, String> {
    AlertStatus::parse(text).ok_or_else(|| format!("{text:?}: open, acknowledged or resolved"))
}

/// An alert as one JSON object.
pub fn alert_json(a: &AlertRecord) -> serde_json::Value {
    json!({
        "tenantId": a.tenant_id,
        "alertId": a.alert_id,
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
    })
}

/// `ccx alerts …`: prints what the command answers.
pub async fn run(args: AlertsArgs) -> Result<(), ControlError> {
    let client = args.endpoints.client()?;
    let mut out = String::new();
    match args.command {
        AlertsCommand::List {
            tenant,
            status,
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
            if json {
                for a in &alerts {
                    let _ = writeln!(out, "{}", alert_json(a));
                }
            } else {
                let _ = writeln!(
                    out,
                    "{:<24} {:<12} {:>5}  {:<13} {:<40} REASONS",
                    "TRIGGERED", "TENANT", "SCORE", "STATUS", "ALERT"
                );
                for a in &alerts {
                    let _ = writeln!(
                        out,
                        "{:<24} {:<12} {:>5}  {:<13} {:<40} {}",
                        format_ms(a.triggered_at_ms),
                        a.tenant_id,
                        a.score,
                        a.status.name(),
                        a.alert_id,
                        a.reasons.join(",")
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
    }
    print!("{out}");
    Ok(())
}
