//! The numbers of the page, computed once from a source's summed components
//! ([`ccx_model::kpi`]) and the tenant's settings: the board both sources and every viewer
//! share. Durations that grow with the clock (a wait, a time in state) are sent as the instant
//! they started, and the page counts them to its clock; so the board changes only when data
//! does, and is pushed only then.

use std::collections::BTreeMap;

use ccx_control_client::{AlertRecord, AlertStatus};
use ccx_model::kpi::{occupancy_pct, Kpis};
use ccx_model::rows::{minute_of, Components};
use ccx_model::settings::TenantSettings;
use serde::Serialize;

use crate::source::{Snapshot, Starts, RANGES};

/// Live rows whose newest `as_of` is older than this are not moving: the stream rewrites a
/// queue's `queue_now` row at every flush while contacts wait in it or it had traffic in the
/// last 30 minutes (SPEC §7.4 asks for 1 s), so a few seconds without one means the data
/// stopped, unless the tenant is quiet (see [`Live`]).
pub const STALE_AFTER_MS: i64 = 5_000;

/// How many alerts the board shows (the newest).
pub const ALERTS_SHOWN: usize = 10;

/// Range labels, in [`Starts`] order.
pub const RANGE_NAMES: [&str; RANGES] = ["15 min", "60 min", "today"];

/// The first minute of each range at `now_ms`: the last 15 and 60 minutes (the current
/// minute included) and today in the tenant's time zone.
pub fn starts(now_ms: i64, settings: &TenantSettings) -> Starts {
    let minute = minute_of(now_ms);
    [
        minute - 14 * 60_000,
        minute - 59 * 60_000,
        minute_of(ccx_model::rollup::local_day(now_ms, settings.tz()).start),
    ]
}

/// Colour of a service level against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// At or above target.
    Good,
    /// Below target by at most 10 points.
    Warn,
    /// Further below.
    Bad,
    /// No contact decided yet.
    None,
}

impl Level {
    pub fn of(value: Option<f64>, target_pct: u32) -> Level {
        let target = f64::from(target_pct);
        match value {
            None => Level::None,
            Some(v) if v >= target => Level::Good,
            Some(v) if v >= target - 10.0 => Level::Warn,
            Some(_) => Level::Bad,
        }
    }
}

/// A service level and its colour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServiceLevel {
    pub pct: Option<f64>,
    pub level: Level,
}

/// One queue's tile (or the tenant's, over all queues).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueTile {
    pub queue_id: String,
    pub sl_target_pct: u32,
    pub waiting: u64,
    /// When the longest current wait began (`as_of − longest_wait_ms` of the live rows);
    /// `None` when nobody waits.
    pub oldest_waiting_since: Option<i64>,
    /// Erlang C agents needed for the last 30 minutes' traffic, when known.
    pub agents_needed: Option<u32>,
    /// Agents on a contact of this queue now (busy with it or in its after-contact work):
    /// the events give agents no queue of their own, so this is who the queue has now.
    pub agents_on_queue: u32,
    pub offered: [u64; RANGES],
    pub service_level: [ServiceLevel; RANGES],
    pub asa_ms: [Option<f64>; RANGES],
    pub abandonment_pct: [Option<f64>; RANGES],
    /// Today: callbacks customers asked for, and those not attempted yet.
    pub callbacks_requested: u64,
    pub callbacks_waiting: u64,
}

/// One agent now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentRow {
    pub agent_id: String,
    pub state: String,
    pub state_since: i64,
    pub contact_id: String,
    pub queue_id: String,
    pub channel: String,
    pub on_hold: bool,
    /// None until the agent's sums are read (an agent newly listed, for a moment).
    pub handled_today: Option<u64>,
    pub aht_today_ms: Option<f64>,
}

/// One open or acknowledged alert (resolved ones are not listed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRow {
    pub alert_id: String,
    /// CHURN or THRESHOLD.
    pub kind: &'static str,
    /// A threshold alert's rule, and what it saw ('' for churn): `sl-low: service_level 62.5
    /// (threshold 80)`.
    pub rule: String,
    pub customer_id: String,
    pub score: u32,
    pub reasons: Vec<String>,
    pub status: &'static str,
    /// Who changed the status last ('' while open).
    pub by: String,
    pub triggered_at: i64,
    pub queue_id: String,
    pub agent_id: String,
}

/// Whether the live data moves. Rows older than [`STALE_AFTER_MS`] are stale while the tenant
/// is active (someone waits, or contacts were offered in the last 15 minutes); a tenant with
/// neither is quiet: its rows are not rewritten, and that is no fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Live {
    /// The newest `as_of` of the tenant's `queue_now` and `agent_now` rows.
    pub as_of: Option<i64>,
    pub stale: bool,
    /// Why it is stale.
    pub problem: Option<String>,
    /// Nobody waits and nothing was offered in the last 15 minutes.
    pub quiet: bool,
}

/// Everything the page shows for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Board {
    pub tenant: String,
    pub time_zone: String,
    pub ranges: [&'static str; RANGES],
    pub starts: Starts,
    pub live: Live,
    pub total: QueueTile,
    pub queues: Vec<QueueTile>,
    /// The agents longest in their state ([`crate::source::AGENTS_LISTED`] at most), by agent.
    pub agents: Vec<AgentRow>,
    /// Agents of the tenant now (listed or not).
    pub agents_total: u32,
    /// Agents per state now.
    pub agent_states: BTreeMap<String, u32>,
    /// Agents now available, busy or in after-contact work.
    pub agents_working: u32,
    /// Σ agents needed of the queues − agents working (SPEC §7.5 `agents_short`); None while
    /// no queue has a handled contact in its last half hour.
    pub agents_short: Option<i64>,
    pub occupancy_pct: [Option<f64>; RANGES],
    pub fcr_pct_today: Option<f64>,
    pub csat_pct_today: Option<f64>,
    pub alerts: Vec<AlertRow>,
    /// Why alerts could not be read (the last ones read are shown).
    pub alerts_problem: Option<String>,
}

/// What a board is computed from.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub tenant: &'a str,
    pub settings: &'a TenantSettings,
    pub starts: Starts,
    /// The source's answer (the last one it gave, when it fails now).
    pub snapshot: &'a Snapshot,
    /// Why the source does not answer now.
    pub source_problem: Option<&'a str>,
    /// Alerts of the tenant (any order).
    pub alerts: &'a [AlertRecord],
    pub alerts_problem: Option<&'a str>,
    pub now_ms: i64,
}

impl Board {
    pub fn compute(inputs: &Inputs<'_>) -> Board {
        let snapshot = inputs.snapshot;
        let settings = inputs.settings;
        let today = RANGES - 1;

        let mut names: Vec<&str> = snapshot.queues.keys().map(String::as_str).collect();
        names.extend(snapshot.queue_now.iter().map(|n| n.queue_id.as_str()));
        names.sort_unstable();
        names.dedup();
        let none = [Components::default(); RANGES];
        let queues: Vec<QueueTile> = names
            .iter()
            .map(|q| {
                let mut t = tile(
                    q,
                    settings.sl_target_of(q),
                    snapshot.queues.get(*q).unwrap_or(&none),
                    snapshot.queue_now.iter().filter(|n| n.queue_id == *q),
                );
                t.agents_on_queue = snapshot.floor.on_queue.get(*q).copied().unwrap_or(0);
                t
            })
            .collect();
        let mut all = none;
        for sums in snapshot.queues.values() {
            for (a, s) in all.iter_mut().zip(sums) {
                *a += *s;
            }
        }
        let mut total = tile("", settings.sl_target_pct, &all, snapshot.queue_now.iter());
        total.agents_on_queue = snapshot.floor.on_queue.values().sum();

        let mut agents: Vec<AgentRow> = snapshot
            .agent_now
            .iter()
            .map(|a| {
                let today_sums = snapshot.agents.get(&a.agent_id).map(|s| s[today]);
                let kpis = today_sums.map(|c| Kpis::of(&c));
                AgentRow {
                    agent_id: a.agent_id.clone(),
                    state: a.state.clone(),
                    state_since: a.state_since,
                    contact_id: a.contact_id.clone(),
                    queue_id: a.queue_id.clone(),
                    channel: a.channel.clone(),
                    on_hold: a.on_hold,
                    handled_today: today_sums.map(|c| c.handled),
                    aht_today_ms: kpis.and_then(|k| k.aht_ms),
                }
            })
            .collect();
        agents.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
        let agent_states = snapshot.floor.states.clone();
        let agents_working: u32 = ccx_model::staffing::WORKING_STATES
            .iter()
            .map(|s| agent_states.get(s.as_str_name()).copied().unwrap_or(0))
            .sum();
        let agents_short = total
            .agents_needed
            .map(|n| i64::from(n) - i64::from(agents_working));

        let newest = snapshot
            .queue_now
            .iter()
            .map(|n| n.as_of)
            .max()
            .max(snapshot.floor.as_of);
        let quiet = total.waiting == 0 && total.offered[0] == 0;
        let problem = match (inputs.source_problem, newest) {
            (Some(e), _) => Some(format!("source unavailable: {e}")),
            (None, None) if quiet => None,
            (None, None) => Some("no live data for this tenant yet".to_string()),
            (None, Some(as_of)) if inputs.now_ms - as_of > STALE_AFTER_MS && !quiet => {
                Some("live data is not moving".to_string())
            }
            (None, Some(_)) => None,
        };

        let mut alerts: Vec<&AlertRecord> = inputs.alerts.iter().collect();
        alerts.sort_by(|a, b| {
            (b.triggered_at_ms, &b.alert_id).cmp(&(a.triggered_at_ms, &a.alert_id))
        });
        let alerts = alerts
            .into_iter()
            .filter(|a| a.status != AlertStatus::Resolved)
            .take(ALERTS_SHOWN)
            .map(|a| AlertRow {
                alert_id: a.alert_id.clone(),
                kind: a.kind.name(),
                rule: a.threshold.as_ref().map_or(String::new(), |t| {
                    format!(
                        "{}: {} {:.1} (threshold {})",
                        t.rule_id, t.metric, t.value, t.threshold
                    )
                }),
                customer_id: a.customer_id.clone(),
                score: a.score,
                reasons: a.reasons.clone(),
                status: a.status.name(),
                by: a.history.last().map(|h| h.by.clone()).unwrap_or_default(),
                triggered_at: a.triggered_at_ms,
                queue_id: a.queue_id.clone(),
                agent_id: a.agent_id.clone(),
            })
            .collect();

        let kpis_today = Kpis::of(&all[today]);
        Board {
            tenant: inputs.tenant.to_string(),
            time_zone: settings.time_zone.clone(),
            ranges: RANGE_NAMES,
            starts: inputs.starts,
            live: Live {
                as_of: newest,
                stale: problem.is_some(),
                problem,
                quiet,
            },
            total,
            queues,
            agents,
            agents_total: agent_states.values().sum(),
            agent_states,
            agents_working,
            agents_short,
            occupancy_pct: snapshot.state.map(|s| occupancy_pct(&s)),
            fcr_pct_today: kpis_today.fcr_pct,
            csat_pct_today: kpis_today.csat_pct,
            alerts,
            alerts_problem: inputs.alerts_problem.map(str::to_string),
        }
    }
}

fn tile<'a>(
    queue: &str,
    target: u32,
    sums: &[Components; RANGES],
    now: impl Iterator<Item = &'a ccx_model::rows::QueueNow>,
) -> QueueTile {
    let mut waiting = 0;
    let mut oldest = None::<i64>;
    let mut needed = None::<u32>;
    for n in now {
        waiting += n.waiting;
        if n.waiting > 0 {
            let since = n.as_of - n.longest_wait_ms as i64;
            oldest = Some(oldest.map_or(since, |o| o.min(since)));
        }
        if let Some(a) = n.agents_needed {
            needed = Some(needed.unwrap_or(0) + a);
        }
    }
    let kpis = sums.map(|c| Kpis::of(&c));
    let today = &sums[RANGES - 1];
    QueueTile {
        queue_id: queue.to_string(),
        sl_target_pct: target,
        waiting,
        oldest_waiting_since: oldest,
        agents_needed: needed,
        agents_on_queue: 0,
        offered: sums.map(|c| c.offered),
        service_level: kpis.map(|k| ServiceLevel {
            pct: k.service_level_pct,
            level: Level::of(k.service_level_pct, target),
        }),
        asa_ms: kpis.map(|k| k.asa_ms),
        abandonment_pct: kpis.map(|k| k.abandonment_pct),
        callbacks_requested: today.callbacks_requested,
        callbacks_waiting: today
            .callbacks_requested
            .saturating_sub(today.callbacks_matched),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccx_model::rows::{AgentNow, QueueNow};

    #[test]
    fn colours_follow_the_target() {
        assert_eq!(Level::of(Some(80.0), 80), Level::Good);
        assert_eq!(Level::of(Some(70.0), 80), Level::Warn);
        assert_eq!(Level::of(Some(69.9), 80), Level::Bad);
        assert_eq!(Level::of(None, 80), Level::None);
    }

    #[test]
    fn today_starts_at_local_midnight() {
        let mut settings = TenantSettings::default();
        let now = 1_764_900_000_000; // 2025-12-05T02:00:00Z
        assert_eq!(starts(now, &settings)[2], 1_764_892_800_000); // 00:00Z
        settings.time_zone = "America/New_York".into(); // 21:00 the day before
        assert_eq!(starts(now, &settings)[2], 1_764_824_400_000); // 05:00Z on the 4th
        assert_eq!(starts(now, &settings)[0], now - 14 * 60_000);
    }

    #[test]
    fn a_board_of_rows() {
        let settings = TenantSettings::default();
        let now = 10 * 3_600_000;
        let c = Components {
            offered: 10,
            answered: 8,
            answered_in_sl: 6,
            abandoned: 2,
            wait_answered_ms: 8_000,
            callbacks_requested: 3,
            callbacks_matched: 1,
            ..Components::default()
        };
        let mut snapshot = Snapshot::default();
        snapshot.queues.insert("q1".into(), [c; RANGES]);
        let live = |channel: &str, waiting, longest, as_of| QueueNow {
            tenant_id: "t".into(),
            queue_id: "q1".into(),
            channel: channel.into(),
            waiting,
            longest_wait_ms: longest,
            agents_needed: Some(2),
            as_of,
        };
        snapshot.queue_now = vec![
            live("CHAT", 1, 5_000, now - 1_000),
            live("VOICE", 2, 9_000, now - 2_000),
        ];
        let agent = |id: &str, state: &str, contact: &str, queue: &str| AgentNow {
            tenant_id: "t".into(),
            agent_id: id.into(),
            state: state.into(),
            state_since: now - 60_000,
            contact_id: contact.into(),
            queue_id: queue.into(),
            channel: "VOICE".into(),
            on_hold: id == "a1",
            as_of: now - 500,
        };
        // On q1: a1 busy, a2 in its wrap-up; a3 on another queue; a4 free after a q1 call.
        snapshot.agent_now = vec![
            agent("a1", "BUSY", "c1", "q1"),
            agent("a2", "AFTER_CONTACT_WORK", "c2", "q1"),
            agent("a3", "BUSY", "c3", "q2"),
            agent("a4", "AVAILABLE", "c4", "q1"),
        ];
        snapshot.floor = crate::source::Floor::count(&snapshot.agent_now);
        let inputs = Inputs {
            tenant: "t",
            settings: &settings,
            starts: starts(now, &settings),
            snapshot: &snapshot,
            source_problem: None,
            alerts: &[],
            alerts_problem: None,
            now_ms: now,
        };
        let board = Board::compute(&inputs);
        let q = &board.queues[0];
        assert_eq!(q.waiting, 3);
        assert_eq!(q.oldest_waiting_since, Some(now - 11_000));
        assert_eq!(q.agents_needed, Some(4));
        assert_eq!((q.agents_on_queue, board.total.agents_on_queue), (2, 3));
        assert_eq!(q.service_level[0].pct, Some(60.0));
        assert_eq!(q.service_level[0].level, Level::Bad);
        assert_eq!(q.asa_ms[2], Some(1_000.0));
        assert_eq!((q.callbacks_requested, q.callbacks_waiting), (3, 2));
        assert_eq!(board.total.waiting, 3);
        assert_eq!(board.agent_states.get("BUSY"), Some(&2));
        let working = ["AVAILABLE", "BUSY", "AFTER_CONTACT_WORK"]
            .iter()
            .map(|s| board.agent_states.get(*s).copied().unwrap_or(0))
            .sum::<u32>();
        assert_eq!(board.agents_working, working);
        assert_eq!(
            board.agents_short,
            board
                .total
                .agents_needed
                .map(|n| i64::from(n) - i64::from(working))
        );
        assert_eq!(board.live.as_of, Some(now - 500));
        assert!(!board.live.stale);

        let later = Board::compute(&Inputs {
            now_ms: now + STALE_AFTER_MS + 1,
            ..inputs
        });
        assert!(later.live.stale);
        assert!(!later.live.quiet);

        // Nobody waits, nothing offered in the last 15 minutes: quiet, not stale.
        let mut calm = snapshot.clone();
        calm.queue_now.iter_mut().for_each(|n| n.waiting = 0);
        calm.queues.get_mut("q1").unwrap()[0] = Components::default();
        let calm = Board::compute(&Inputs {
            snapshot: &calm,
            now_ms: now + 600_000,
            ..inputs
        });
        assert!(calm.live.quiet && !calm.live.stale);
        let failed = Board::compute(&Inputs {
            source_problem: Some("down"),
            ..inputs
        });
        assert_eq!(
            failed.live.problem.as_deref(),
            Some("source unavailable: down")
        );
    }
}
