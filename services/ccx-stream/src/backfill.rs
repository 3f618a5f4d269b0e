//! `ccx backfill`: a tenant's rows of a time range recomputed from its stored events
//! (`ccx.events`, where every accepted event lands, late ones included) and written again with
//! a new version, so `… FINAL` holds what the stream would have computed had no event been
//! late. docs/metrics.md ("Late events and backfills") has the rules.
//!
//! Only minutes the running stream can no longer change are rewritten: those far enough behind
//! the tenant's watermark (as the stream last recorded it in `tenant_progress`) that no FCR
//! verdict reaches them. A newer minute would be rewritten again by the stream from its own
//! state, which does not hold the late events.

use std::collections::BTreeMap;

use ccx_model::json::format_ms;
use ccx_model::now_ms;
use ccx_model::rows::{minute_of, ChurnAlert, FinalRows, StateTimes};
use ccx_model::settings::TenantSettings;
use ccx_model::Event;
use ccx_store::{version_now, RowFilter, Store, StoreError};

use crate::engine::{history_needed_ms, rows_final_before, Engine, Output, Settings};
use crate::sink::row_batch;

/// One tenant's minutes `[from_ms, to_ms)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub tenant: String,
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Range {
    /// The range widened to whole minutes.
    pub fn whole_minutes(&self) -> Range {
        Range {
            tenant: self.tenant.clone(),
            from_ms: minute_of(self.from_ms),
            to_ms: minute_of(self.to_ms.saturating_add(59_999)),
        }
    }

    fn holds(&self, ms: i64) -> bool {
        ms >= self.from_ms && ms < self.to_ms
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The request cannot be carried out as given; `field` names the option.
    #[error("--{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The minutes rewritten, `[from, to)`.
    pub range: (i64, i64),
    /// The tenant's watermark the rows were computed to.
    pub watermark: i64,
    pub events_read: usize,
    /// Rows written with their recomputed values (queue, agent, reason, agent state).
    pub rows: usize,
    /// Rows the stream had written that the recomputation does not have, written as zero.
    pub zeroed: usize,
    pub alerts: usize,
    /// Churn alerts the stream raised in the range that the complete events do not raise:
    /// their rows are deleted and, with a control plane, the alerts resolved.
    pub withdrawn: usize,
    /// Late events of the range's minutes, now taken into its rows.
    pub late_covered: u64,
}

/// The rows of `range` computed from `events` (the tenant's events from
/// [`history_needed_ms`] before the range on, in any order) to the tenant's `watermark`, and a
/// zero row for every key of `stored` (the range's rows as `FINAL` shows them now) that the
/// computation does not have. Ingest-quality rows are left out: they record what arrived
/// when, not what the events mean.
pub fn recompute(
    mut events: Vec<Event>,
    settings: &TenantSettings,
    watermark: i64,
    range: &Range,
    stored: &FinalRows,
) -> Output {
    // Time-ordered and advanced in steps, so the engine's buffer stays an hour of events.
    const STEP_MS: i64 = 3_600_000;
    events.sort_by_key(|e| e.occurred_at.as_ref().map_or(0, ccx_model::timestamp_ms));
    let mut engine = Engine::new(Settings::new(settings.clone()), crate::engine::NO_WATERMARK);
    let mut rows = FinalRows::default();
    let take = |engine: &mut Engine, rows: &mut FinalRows| {
        let out = engine.take_output();
        let minutes = |m: i64| range.holds(m);
        rows.queue.extend(
            out.queue
                .into_iter()
                .filter(|(k, _)| minutes(k.window_start)),
        );
        rows.agent.extend(
            out.agent
                .into_iter()
                .filter(|(k, _)| minutes(k.window_start)),
        );
        rows.reason.extend(
            out.reason
                .into_iter()
                .filter(|(k, _)| minutes(k.window_start)),
        );
        rows.agent_state.extend(
            out.agent_state
                .into_iter()
                .filter(|(k, _)| minutes(k.window_start)),
        );
        rows.alerts.extend(
            out.alerts
                .into_iter()
                .filter(|a| minutes(minute_of(a.triggered_at))),
        );
    };
    let mut step_end = None;
    for event in &events {
        let t = event
            .occurred_at
            .as_ref()
            .map_or(0, ccx_model::timestamp_ms);
        if t >= watermark {
            break;
        }
        let end = *step_end.get_or_insert(t - t.rem_euclid(STEP_MS) + STEP_MS);
        if t >= end {
            engine.advance(end);
            take(&mut engine, &mut rows);
            step_end = Some(t - t.rem_euclid(STEP_MS) + STEP_MS);
        }
        engine.ingest(event);
    }
    engine.advance(watermark);
    take(&mut engine, &mut rows);
    with_vanished_keys_zeroed(rows, stored)
}

/// `rows` as an output, plus a zero row for each key of `stored` it lacks.
fn with_vanished_keys_zeroed(mut rows: FinalRows, stored: &FinalRows) -> Output {
    for key in stored.queue.keys() {
        rows.queue.entry(key.clone()).or_default();
    }
    for key in stored.agent.keys() {
        rows.agent.entry(key.clone()).or_default();
    }
    for key in stored.reason.keys() {
        rows.reason.entry(key.clone()).or_default();
    }
    for key in stored.agent_state.keys() {
        rows.agent_state.entry(key.clone()).or_default();
    }
    let alerts: BTreeMap<String, ChurnAlert> = rows
        .alerts
        .into_iter()
        .map(|a| (a.alert_id.clone(), a))
        .collect();
    Output {
        queue: rows.queue.into_iter().collect(),
        agent: rows.agent.into_iter().collect(),
        reason: rows.reason.into_iter().collect(),
        agent_state: rows.agent_state.into_iter().collect(),
        alerts: alerts.into_values().collect(),
        ..Output::default()
    }
}

/// Recomputes and rewrites `range` of its tenant with `settings` (the tenant's, as the stream
/// uses them), records the late events it covered in `backfills`, and raises the churn alerts
/// it found through `control` (idempotent by alert id) when given.
pub async fn backfill(
    store: &Store,
    control: Option<&ccx_control_client::ControlClient>,
    settings: &TenantSettings,
    range: &Range,
) -> Result<Report, BackfillError> {
    let range = range.whole_minutes();
    if range.from_ms >= range.to_ms {
        return Err(BackfillError::Invalid {
            field: "to",
            reason: "must be after --from".into(),
        });
    }
    let watermark = store
        .tenant_watermark(&range.tenant)
        .await?
        .ok_or_else(|| BackfillError::Invalid {
            field: "tenant",
            reason: format!(
                "the stream has recorded no progress for tenant {:?} (no rows of it written)",
                range.tenant
            ),
        })?;
    let final_before = rows_final_before(settings, watermark);
    if range.to_ms > final_before {
        return Err(BackfillError::Invalid {
            field: "to",
            reason: format!(
                "the minutes from {} on are not final yet: the stream may still change them \
                 (FCR verdicts reach back {} h behind the tenant's watermark, now {}); backfill \
                 up to {} now, or the rest once the watermark is past {}",
                format_ms(final_before.max(range.from_ms)),
                (watermark - final_before) / 3_600_000,
                format_ms(watermark),
                format_ms(final_before),
                format_ms(watermark + range.to_ms - final_before),
            ),
        });
    }
    let since = range.from_ms.saturating_sub(history_needed_ms(settings));
    let events = store.read_events(&range.tenant, since).await?;
    let filter = RowFilter {
        tenant: Some(&range.tenant),
        between_ms: Some((range.from_ms, range.to_ms)),
    };
    let stored = store.read_final_where(&filter).await?;
    let mut report = Report {
        range: (range.from_ms, range.to_ms),
        watermark,
        events_read: events.len(),
        ..Report::default()
    };
    let out = recompute(events, settings, watermark, &range, &stored);
    report.zeroed = out.queue.iter().filter(|(_, c)| c.is_zero()).count()
        + out.agent.iter().filter(|(_, c)| c.is_zero()).count()
        + out.reason.iter().filter(|(_, c)| c.is_zero()).count()
        + out
            .agent_state
            .iter()
            .filter(|(_, s)| *s == StateTimes::default())
            .count();
    report.rows = out.queue.len() + out.agent.len() + out.reason.len() + out.agent_state.len()
        - report.zeroed;
    report.alerts = out.alerts.len();
    let alerts = out.alerts.clone();
    let withdrawn = withdrawn_alerts(&stored, &alerts);
    report.withdrawn = withdrawn.len();
    let version = version_now();
    store.write(&row_batch(out, Vec::new(), version)).await?;
    store.delete_alerts(&range.tenant, &withdrawn).await?;
    let covered: Vec<(i64, u64)> = stored
        .quality
        .iter()
        .filter(|(_, q)| q.late_dropped > 0)
        .map(|((_, minute), q)| (*minute, q.late_dropped))
        .collect();
    report.late_covered = covered.iter().map(|(_, late)| late).sum();
    store
        .record_backfill(&range.tenant, &covered, now_ms(), version)
        .await?;
    if let Some(control) = control {
        for alert in &alerts {
            if let Err(e) = control.raise_alert(alert).await {
                tracing::warn!(alert = %alert.alert_id, error = %e, "control plane did not take the alert");
            }
        }
        for id in &withdrawn {
            // Already resolved by a supervisor, or never taken by the control plane: nothing
            // left to do, and the row is gone either way.
            if let Err(e) = control
                .resolve(&range.tenant, id, WITHDRAWN_BY, WITHDRAWN_NOTE)
                .await
            {
                tracing::warn!(alert = %id, error = %e, "control plane did not resolve the withdrawn alert");
            }
        }
    }
    Ok(report)
}

/// Who resolves a withdrawn alert in the control plane's history, and why.
pub const WITHDRAWN_BY: &str = "ccx backfill";
pub const WITHDRAWN_NOTE: &str =
    "withdrawn: with the late events taken in, the customer's contacts do not raise this alert";

/// The ids of the range's stored churn alerts that the recomputation does not raise.
fn withdrawn_alerts(stored: &FinalRows, recomputed: &[ChurnAlert]) -> Vec<String> {
    stored
        .alerts
        .iter()
        .filter(|a| !recomputed.iter().any(|r| r.alert_id == a.alert_id))
        .map(|a| a.alert_id.clone())
        .collect()
}
