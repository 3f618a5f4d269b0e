//! `ccx config get | set`: a tenant's settings and collector tokens.

use ccx_control_client::ControlError;
use ccx_model::settings::{
    AlertKind, Format, Metric, NotificationTarget, Op, QueueSettings, Signal, TenantSettings,
    ThresholdRule,
};
use ccx_proto::v1 as pb;
use serde_json::json;
use std::path::PathBuf;

use ccx_model::json::format_ms;

use super::ControlEndpoints;

/// `ccx config …`
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub endpoints: ControlEndpoints,
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ConfigCommand {
    /// Print a tenant's configuration (JSON).
    Get { tenant: String },
    /// Change settings: key=value ... Keys: sl_threshold, short_abandon, fcr_window,
    /// allowed_lateness, churn_lookback, churn_cooldown, churn_long_abandon, callback_window,
    /// campaign_window, case_window (durations: 20s, 5m, 24h, 30d or ms), churn_threshold,
    /// churn.SIGNAL.weight, churn.SIGNAL.cap, sl_target (%), time_zone (IANA name),
    /// queues.QUEUE.sl_threshold (a duration), queues.QUEUE.sl_target (%) (either `default`
    /// for the tenant's),
    /// rules.ID="METRIC above|below THRESHOLD [queue=Q] [channel=C] [window=15m] [for=0s]"
    /// (SPEC §7.5 metrics: service_level, asa, abandonment, waiting, longest_wait, occupancy,
    /// aht, agents_short; seconds for times, % for rates), rules.ID=delete,
    /// target="URL [kinds=CHURN,THRESHOLD] [format=json|slack]", remove_target=URL,
    /// token=PLAINTEXT (stored as sha256), token_sha256=HEX, remove_token_sha256=HEX,
    /// clear_tokens=true.
    Set {
        tenant: String,
        #[arg(required = true, value_parser = parse_setting)]
        settings: Vec<(String, String)>,
        /// Recorded as the author of the change.
        #[arg(long, env = "CCX_USER", default_value = "")]
        by: String,
    },
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("{text:?}: expected key=value"))
}

/// `1500`, `1500ms`, `20s`, `5m`, `24h`, `30d` → milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?}: expected a duration like 20s, 5m, 24h or ms"))?;
    let factor = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h, d)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?}: too large"))
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ControlError> {
    value
        .parse()
        .map_err(|_| ControlError::InvalidArgument(format!("{key}: {value:?} is not a number")))
}

/// A rule from `METRIC above|below THRESHOLD [queue=Q] [channel=C] [window=D] [for=D]`.
fn parse_rule(id: &str, text: &str) -> Result<ThresholdRule, ControlError> {
    let bad = |why: String| ControlError::InvalidArgument(format!("rules.{id}: {why}"));
    let mut words = text.split_whitespace();
    let (Some(metric), Some(op), Some(threshold)) = (words.next(), words.next(), words.next())
    else {
        return Err(bad(format!(
            "{text:?}: expected \"METRIC above|below THRESHOLD [queue=Q] [channel=C] \
             [window=15m] [for=0s]\""
        )));
    };
    let metric = Metric::parse(metric).ok_or_else(|| bad(format!("unknown metric {metric:?}")))?;
    let op = Op::parse(op).ok_or_else(|| bad(format!("{op:?} is not above or below")))?;
    let threshold: f64 = threshold
        .parse()
        .map_err(|_| bad(format!("threshold {threshold:?} is not a number")))?;
    let mut rule = ThresholdRule {
        id: id.to_string(),
        metric,
        queue_id: String::new(),
        channel: String::new(),
        op,
        threshold,
        window_ms: 15 * 60_000,
        for_ms: 0,
    };
    for word in words {
        let (k, v) = word
            .split_once('=')
            .ok_or_else(|| bad(format!("{word:?}: expected key=value")))?;
        let ms = || parse_duration_ms(v).map(|ms| ms as i64).map_err(&bad);
        match k {
            "queue" => rule.queue_id = v.to_string(),
            "channel" => rule.channel = v.to_ascii_uppercase(),
            "window" => rule.window_ms = ms()?,
            "for" => rule.for_ms = ms()?,
            _ => return Err(bad(format!("unknown option {k:?}"))),
        }
    }
    Ok(rule)
}

/// A notification target from `URL [kinds=CHURN,THRESHOLD] [format=json|slack]`.
fn parse_target(text: &str) -> Result<NotificationTarget, ControlError> {
    let bad = |why: String| ControlError::InvalidArgument(format!("target: {why}"));
    let mut words = text.split_whitespace();
    let url = words
        .next()
        .ok_or_else(|| bad("a URL is required".into()))?;
    let mut target = NotificationTarget {
        url: url.to_string(),
        kinds: Vec::new(),
        format: Format::Json,
    };
    for word in words {
        match word.split_once('=') {
            Some(("kinds", v)) => {
                target.kinds = v
                    .split(',')
                    .map(|k| AlertKind::parse(k).ok_or_else(|| bad(format!("unknown kind {k:?}"))))
                    .collect::<Result<_, _>>()?;
            }
            Some(("format", "json")) => target.format = Format::Json,
            Some(("format", "slack")) => target.format = Format::Slack,
            _ => {
                return Err(bad(format!(
                    "{word:?}: expected kinds=… or format=json|slack"
                )))
            }
        }
    }
    Ok(target)
}

/// Applies `key=value` edits (see [`ConfigCommand::Set`]) to a tenant's settings and token
/// hashes. The result is validated by the control plane's put.
pub fn apply_settings(
    settings: &mut TenantSettings,
    tokens: &mut Vec<String>,
    edits: &[(String, String)],
) -> Result<(), ControlError> {
    let dur = |k: &str, v: &str| -> Result<i64, ControlError> {
        let ms =
            parse_duration_ms(v).map_err(|e| ControlError::InvalidArgument(format!("{k}: {e}")))?;
        i64::try_from(ms)
            .map_err(|_| ControlError::InvalidArgument(format!("{k}: {v:?} is too large")))
    };
    let churn = &mut settings.churn;
    for (key, value) in edits {
        match key.trim_end_matches("_ms") {
            "sl_threshold" => settings.sl_threshold_ms = dur(key, value)?,
            "short_abandon" => settings.short_abandon_ms = dur(key, value)?,
            "fcr_window" => settings.fcr_window_ms = dur(key, value)?,
            "allowed_lateness" => settings.allowed_lateness_ms = dur(key, value)?,
            "churn_lookback" => churn.lookback_ms = dur(key, value)?,
            "churn_cooldown" => churn.cooldown_ms = dur(key, value)?,
            "churn_long_abandon" => churn.long_abandon_ms = dur(key, value)?,
            "churn_threshold" => churn.threshold = number(key, value)?,
            "callback_window" => settings.callback_window_ms = dur(key, value)?,
            "campaign_window" => settings.campaign_window_ms = dur(key, value)?,
            "case_window" => settings.case_window_ms = dur(key, value)?,
            "sl_target" => settings.sl_target_pct = number(key, value)?,
            "time_zone" => settings.time_zone = value.clone(),
            "target" => {
                let target = parse_target(value)?;
                settings
                    .notification_targets
                    .retain(|t| t.url != target.url);
                settings.notification_targets.push(target);
            }
            "remove_target" => settings.notification_targets.retain(|t| t.url != *value),
            _ if key.starts_with("rules.") => {
                let id = &key["rules.".len()..];
                settings.threshold_rules.retain(|r| r.id != id);
                if value != "delete" {
                    settings.threshold_rules.push(parse_rule(id, value)?);
                }
            }
            "token" => tokens.push(ccx_model::hash_token(value)),
            "token_sha256" => tokens.push(value.to_ascii_lowercase()),
            "remove_token_sha256" => {
                let v = value.to_ascii_lowercase();
                tokens.retain(|t| *t != v)
            }
            "clear_tokens" if value == "true" => tokens.clear(),
            _ if key.starts_with("queues.") => {
                let Some((queue, field)) = key["queues.".len()..].rsplit_once('.') else {
                    return Err(ControlError::InvalidArgument(format!(
                        "{key}: expected queues.<queueId>.sl_threshold or .sl_target"
                    )));
                };
                let queue = queue.to_string();
                match field.trim_end_matches("_ms") {
                    "sl_threshold" if value == "default" => {
                        if let Some(q) = settings.queues.get_mut(&queue) {
                            q.sl_threshold_ms = None;
                        }
                    }
                    "sl_threshold" => {
                        let ms = dur(key, value)?;
                        settings.queues.entry(queue).or_default().sl_threshold_ms = Some(ms);
                    }
                    "sl_target" if value == "default" => {
                        if let Some(q) = settings.queues.get_mut(&queue) {
                            q.sl_target_pct = None;
                        }
                    }
                    "sl_target" => {
                        let pct = number(key, value)?;
                        settings.queues.entry(queue).or_default().sl_target_pct = Some(pct);
                    }
                    _ => {
                        return Err(ControlError::InvalidArgument(format!(
                            "{key}: expected queues.<queueId>.sl_threshold or .sl_target"
                        )))
                    }
                }
                settings
                    .queues
                    .retain(|_, q| *q != QueueSettings::default());
            }
            _ => {
                let parts: Vec<&str> = key.split('.').collect();
                let ["churn", signal, field] = parts[..] else {
                    return Err(ControlError::InvalidArgument(format!(
                        "unknown setting {key:?}"
                    )));
                };
                let Some(signal) = Signal::parse(signal) else {
                    return Err(ControlError::InvalidArgument(format!(
                        "{key}: unknown signal {signal}"
                    )));
                };
                let rule = &mut churn.rules[signal.index()];
                match field {
                    "weight" => rule.weight = number(key, value)?,
                    "cap" => rule.cap = number(key, value)?,
                    _ => {
                        return Err(ControlError::InvalidArgument(format!(
                            "{key}: expected churn.<SIGNAL>.weight or .cap"
                        )))
                    }
                }
            }
        }
    }
    Ok(())
}

/// A configuration as one JSON object: its settings as serde writes them (proto3 JSON names)
/// with the tenant, version, token hashes and last change.
pub fn config_json(c: &pb::TenantConfig) -> Result<serde_json::Value, ControlError> {
    let settings = TenantSettings::from_proto(c)?;
    let mut v = json!({
        "tenantId": c.tenant_id,
        "version": c.version,
    });
    if let (Some(out), Ok(serde_json::Value::Object(fields))) =
        (v.as_object_mut(), serde_json::to_value(&settings))
    {
        out.extend(fields);
        out.insert("tokenSha256".into(), json!(c.token_sha256));
        out.insert(
            "updatedAt".into(),
            json!(c
                .updated_at
                .as_ref()
                .map(|t| format_ms(ccx_model::timestamp_ms(t)))),
        );
        out.insert("updatedBy".into(), json!(c.updated_by));
    }
    Ok(v)
}

/// `ccx config …`: prints the tenant's configuration (after the change, for `set`).
pub async fn run(args: ConfigArgs, config: &[PathBuf]) -> Result<(), ControlError> {
    let client = args.endpoints.client(config)?;
    let config = match args.command {
        ConfigCommand::Get { tenant } => client.get_config(&tenant).await?,
        ConfigCommand::Set {
            tenant,
            settings,
            by,
        } => {
            let current = client.get_config(&tenant).await?;
            let mut edited = TenantSettings::from_proto(&current)?;
            let mut tokens = current.token_sha256.clone();
            apply_settings(&mut edited, &mut tokens, &settings)?;
            let config = pb::TenantConfig {
                token_sha256: tokens,
                // The version read makes the put conditional: a concurrent change is not
                // overwritten.
                version: current.version,
                ..edited.to_proto(&tenant)
            };
            client.put_config_by(config, &by).await?
        }
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&config_json(&config)?).unwrap_or_default()
    );
    Ok(())
}
