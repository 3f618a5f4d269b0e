//! Rows and hand-computed expectations shared by the store tests.
#![allow(dead_code)]

use ccx_model::rows::{
    AgentKey, AgentMinute, AgentNow, ChurnAlert, Components, QueueKey, QueueNow, ReasonKey,
    StaffingRow, StateTimes,
};
use ccx_model::rows::{FinalRows, Quality, TenantProgress};
use ccx_model::{ms_timestamp, Channel, Direction, Event, EventType, SurveyType};
use ccx_store::schema::{V1_AGENT_COLUMNS, V1_QUEUE_COLUMNS};
use ccx_store::RowBatch;
use serde_json::Value;

/// 2026-01-01T00:00:00Z in ms.
pub const T0: i64 = 1_767_225_600_000;
pub const MINUTE: i64 = 60_000;

pub fn queue_key(tenant: &str, minute: i64, queue: &str, channel: &str, dir: &str) -> QueueKey {
    QueueKey {
        tenant_id: tenant.into(),
        window_start: T0 + minute * MINUTE,
        queue_id: queue.into(),
        channel: channel.into(),
        direction: dir.into(),
    }
}

pub fn agent_key(tenant: &str, minute: i64, agent: &str, channel: &str) -> AgentKey {
    AgentKey {
        tenant_id: tenant.into(),
        window_start: T0 + minute * MINUTE,
        agent_id: agent.into(),
        channel: channel.into(),
    }
}

pub fn reason_key(tenant: &str, minute: i64, reason: &str, channel: &str, dir: &str) -> ReasonKey {
    ReasonKey {
        tenant_id: tenant.into(),
        window_start: T0 + minute * MINUTE,
        reason: reason.into(),
        channel: channel.into(),
        direction: dir.into(),
    }
}

pub fn agent_minute(tenant: &str, minute: i64, agent: &str) -> AgentMinute {
    AgentMinute {
        tenant_id: tenant.into(),
        window_start: T0 + minute * MINUTE,
        agent_id: agent.into(),
    }
}

/// A minute of a busy inbound voice queue (row A of the KPI example).
pub fn busy_queue_minute() -> Components {
    Components {
        offered: 10,
        answered: 8,
        answered_in_sl: 6,
        wait_answered_ms: 80_000,
        abandoned: 2,
        abandoned_short: 1,
        wait_abandoned_ms: 30_000,
        handled: 9,
        talk_ms: 900_000,
        hold_ms: 60_000,
        holds: 3,
        transfers: 1,
        acw_ms: 90_000,
        acw_count: 8,
        resolved: 6,
        self_served: 1,
        conversions: 2,
        fcr_eligible: 5,
        fcr_success: 4,
        nps_responses: 4,
        nps_promoters: 2,
        nps_detractors: 1,
        csat_responses: 5,
        csat_satisfied: 4,
        ces_responses: 2,
        ces_score_sum: 9,
        sentiment_count: 4,
        sentiment_milli_sum: -500,
        sentiment_negative: 1,
        sentiment_positive: 2,
        callbacks_requested: 2,
        wait_callback_ms: 50_000,
        callbacks_attempted: 4,
        callback_delay_ms: 1_200_000,
        callbacks_matched: 3,
        callbacks_connected: 3,
        transfer_answered: 1,
        transfer_wait_ms: 12_000,
        repeats: 2,
        cases_resolved: 5,
        case_resolution_ms: 7_200_000,
        case_contacts: 8,
        mos_count: 4,
        mos_milli_sum: 15_200,
        mos_poor: 1,
        ..Components::default()
    }
}

/// The agent components of the KPI example (row AG1).
pub fn busy_agent_minute() -> Components {
    Components {
        handled: 4,
        talk_ms: 400_000,
        hold_ms: 20_000,
        holds: 2,
        transfers: 1,
        acw_ms: 40_000,
        acw_count: 3,
        resolved: 2,
        conversions: 1,
        fcr_eligible: 2,
        fcr_success: 1,
        nps_responses: 2,
        nps_detractors: 2,
        csat_responses: 1,
        ces_responses: 1,
        ces_score_sum: 7,
        sentiment_count: 2,
        sentiment_milli_sum: 300,
        sentiment_positive: 1,
        mos_count: 2,
        mos_milli_sum: 7_000,
        qa_evaluations: 2,
        qa_score_sum: 170,
        ..Default::default()
    }
}

/// A minute of contacts with reason `billing` (the reason row of the KPI example).
pub fn billing_minute() -> Components {
    Components {
        offered: 6,
        handled: 5,
        resolved: 4,
        repeats: 2,
        fcr_eligible: 4,
        fcr_success: 3,
        cases_resolved: 3,
        case_resolution_ms: 5_400_000,
        nps_responses: 3,
        nps_promoters: 2,
        csat_responses: 4,
        csat_satisfied: 3,
        ces_responses: 2,
        ces_score_sum: 11,
        ..Default::default()
    }
}

/// The rows of the KPI example.
pub fn kpi_batch(version: u64) -> RowBatch {
    RowBatch {
        version,
        queue: vec![
            (
                queue_key("t1", 0, "q1", "VOICE", "INBOUND"),
                busy_queue_minute(),
            ),
            // Only an offer: most ratios have no denominator.
            (
                queue_key("t1", 1, "q1", "VOICE", "INBOUND"),
                Components {
                    offered: 1,
                    ..Default::default()
                },
            ),
            // A short abandon of a contact offered in an earlier minute.
            (
                queue_key("t1", 2, "q1", "VOICE", "INBOUND"),
                Components {
                    abandoned: 1,
                    abandoned_short: 1,
                    wait_abandoned_ms: 2_000,
                    ..Default::default()
                },
            ),
            (
                queue_key("t1", 0, "q2", "CHAT", "OUTBOUND"),
                Components {
                    offered: 4,
                    answered: 3,
                    answered_in_sl: 3,
                    wait_answered_ms: 3_000,
                    handled: 3,
                    talk_ms: 300_000,
                    conversions: 1,
                    callbacks_attempted: 2,
                    callbacks_connected: 1,
                    accounts_attempted: 2,
                    first_call_closes: 1,
                    ..Default::default()
                },
            ),
        ],
        agent: vec![
            (agent_key("t1", 0, "a1", "VOICE"), busy_agent_minute()),
            // Wrap-up time and a QA evaluation only: no handled contact in this minute.
            (
                agent_key("t1", 0, "a1", "CHAT"),
                Components {
                    acw_ms: 30_000,
                    acw_count: 1,
                    qa_evaluations: 1,
                    qa_score_sum: 60,
                    ..Default::default()
                },
            ),
        ],
        reason: vec![
            // No reason given: offers only.
            (
                reason_key("t1", 0, "", "CHAT", "INBOUND"),
                Components {
                    offered: 2,
                    handled: 1,
                    ..Default::default()
                },
            ),
            (
                reason_key("t1", 0, "billing", "VOICE", "INBOUND"),
                billing_minute(),
            ),
            // Outbound: no repeat rate (inbound only).
            (
                reason_key("t1", 1, "billing", "VOICE", "OUTBOUND"),
                Components {
                    offered: 2,
                    handled: 1,
                    resolved: 1,
                    cases_resolved: 1,
                    case_resolution_ms: 60_000,
                    ..Default::default()
                },
            ),
        ],
        agent_state: vec![
            (
                agent_minute("t1", 0, "a1"),
                StateTimes {
                    available_ms: 20_000,
                    busy_ms: 30_000,
                    acw_state_ms: 10_000,
                    break_ms: 0,
                },
            ),
            (
                agent_minute("t1", 1, "a1"),
                StateTimes {
                    break_ms: 60_000,
                    ..Default::default()
                },
            ),
        ],
        ..Default::default()
    }
}

/// One expected view row: its key columns (as the server prints them) and KPI values.
pub struct Expected {
    pub key: Vec<(&'static str, &'static str)>,
    pub values: Vec<(&'static str, Option<f64>)>,
}

const NULL: Option<f64> = None;

fn some(v: f64) -> Option<f64> {
    Some(v)
}

/// `SELECT * FROM <db>.queue_kpis_1m ORDER BY …` of [`kpi_batch`], computed by hand.
pub fn expected_queue_kpis() -> Vec<Expected> {
    let key = |minute: &'static str, queue: &'static str, channel: &'static str, dir| {
        vec![
            ("tenant_id", "t1"),
            ("window_start", minute),
            ("queue_id", queue),
            ("channel", channel),
            ("direction", dir),
        ]
    };
    vec![
        Expected {
            key: key("2026-01-01 00:00:00", "q1", "VOICE", "INBOUND"),
            values: vec![
                ("offered", some(10.0)),
                ("answered", some(8.0)),
                ("abandoned", some(2.0)),
                ("handled", some(9.0)),
                ("asa_ms", some(10_000.0)),               // 80000 / 8
                ("service_level_pct", some(200.0 / 3.0)), // 100·6 / (8 + 2 − 1)
                ("abandonment_pct", some(100.0 / 9.0)),   // 100·(2 − 1) / (10 − 1)
                ("aht_ms", some(1_050_000.0 / 9.0)),      // (900000 + 60000 + 90000) / 9
                ("avg_hold_ms", some(20_000.0)),          // 60000 / 3
                ("transfer_rate_pct", some(100.0 / 9.0)), // 100·1 / 9
                ("fcr_pct", some(80.0)),                  // 100·4 / 5
                ("nps", some(25.0)),                      // 100·(2 − 1) / 4
                ("csat_pct", some(80.0)),                 // 100·4 / 5
                ("ces", some(4.5)),                       // 9 / 2
                ("answer_rate_pct", some(80.0)),          // 100·8 / 10
                ("conversion_rate_pct", some(25.0)),      // 100·2 / 8
                ("sentiment", some(-0.125)),              // −500 / 1000 / 4
                ("callbacks_requested", some(2.0)),
                ("callback_connect_pct", some(75.0)), // 100·3 / 4
                ("avg_callback_delay_ms", some(400_000.0)), // 1200000 / 3
                ("transfer_speed_ms", some(12_000.0)), // 12000 / 1
                ("repeat_rate_pct", some(20.0)),      // 100·2 / 10
                ("art_ms", some(1_440_000.0)),        // 7200000 / 5
                ("contacts_per_resolution", some(1.6)), // 8 / 5
                ("mos", some(3.8)),                   // 15200 / 1000 / 4
                ("poor_quality_pct", some(25.0)),     // 100·1 / 4
                ("calls_per_account", NULL),          // inbound: no accounts attempted
                ("first_call_close_pct", NULL),       // inbound
                ("self_service_pct", some(10.0)),     // 100·1 / 10
            ],
        },
        Expected {
            key: key("2026-01-01 00:00:00", "q2", "CHAT", "OUTBOUND"),
            values: vec![
                ("offered", some(4.0)),
                ("asa_ms", some(1_000.0)),
                ("service_level_pct", some(100.0)),
                ("abandonment_pct", some(0.0)),
                ("aht_ms", some(100_000.0)),
                ("avg_hold_ms", NULL),
                ("transfer_rate_pct", some(0.0)),
                ("fcr_pct", NULL),
                ("answer_rate_pct", some(75.0)),
                ("conversion_rate_pct", some(100.0 / 3.0)),
                ("sentiment", NULL),
                ("callbacks_requested", some(0.0)),
                ("callback_connect_pct", some(50.0)), // 100·1 / 2
                ("avg_callback_delay_ms", NULL),
                ("transfer_speed_ms", NULL),
                ("repeat_rate_pct", NULL), // outbound
                ("art_ms", NULL),
                ("contacts_per_resolution", NULL),
                ("mos", NULL),
                ("poor_quality_pct", NULL),
                ("calls_per_account", some(2.0)),      // 4 / 2
                ("first_call_close_pct", some(100.0)), // 100·1 / 1
                ("self_service_pct", some(0.0)),
            ],
        },
        Expected {
            key: key("2026-01-01 00:01:00", "q1", "VOICE", "INBOUND"),
            values: vec![
                ("offered", some(1.0)),
                ("answered", some(0.0)),
                ("asa_ms", NULL),
                ("service_level_pct", NULL),
                ("abandonment_pct", some(0.0)), // 0 / 1: a real zero
                ("aht_ms", NULL),
                ("avg_hold_ms", NULL),
                ("transfer_rate_pct", NULL),
                ("fcr_pct", NULL),
                ("nps", NULL),
                ("csat_pct", NULL),
                ("ces", NULL),
                ("answer_rate_pct", some(0.0)),
                ("conversion_rate_pct", NULL),
                ("sentiment", NULL),
                ("callback_connect_pct", NULL),
                ("avg_callback_delay_ms", NULL),
                ("transfer_speed_ms", NULL),
                ("repeat_rate_pct", some(0.0)), // 0 / 1 inbound offer
                ("art_ms", NULL),
                ("contacts_per_resolution", NULL),
                ("mos", NULL),
                ("poor_quality_pct", NULL),
                ("calls_per_account", NULL),
                ("first_call_close_pct", NULL),
                ("self_service_pct", some(0.0)),
            ],
        },
        Expected {
            key: key("2026-01-01 00:02:00", "q1", "VOICE", "INBOUND"),
            values: vec![
                ("offered", some(0.0)),
                ("abandoned", some(1.0)),
                ("service_level_pct", NULL), // 0 + 1 − 1 = 0
                ("abandonment_pct", NULL),   // denominator 0 − 1 < 0
                ("answer_rate_pct", NULL),
                ("repeat_rate_pct", NULL),
                ("self_service_pct", NULL),
                ("calls_per_account", NULL),
            ],
        },
    ]
}

/// `SELECT * FROM <db>.agent_kpis_1m ORDER BY …` of [`kpi_batch`].
pub fn expected_agent_kpis() -> Vec<Expected> {
    let key = |channel: &'static str| {
        vec![
            ("tenant_id", "t1"),
            ("window_start", "2026-01-01 00:00:00"),
            ("agent_id", "a1"),
            ("channel", channel),
        ]
    };
    vec![
        Expected {
            key: key("CHAT"),
            values: vec![
                ("handled", some(0.0)),
                ("aht_ms", NULL),
                ("avg_hold_ms", NULL),
                ("transfer_rate_pct", NULL),
                ("conversion_rate_pct", NULL),
                ("sentiment", NULL),
                ("qa_evaluations", some(1.0)),
                ("qa_score", some(60.0)), // 60 / 1
                ("mos", NULL),
                ("poor_quality_pct", NULL),
            ],
        },
        Expected {
            key: key("VOICE"),
            values: vec![
                ("handled", some(4.0)),
                ("aht_ms", some(115_000.0)), // (400000 + 20000 + 40000) / 4
                ("avg_hold_ms", some(10_000.0)), // 20000 / 2
                ("transfer_rate_pct", some(25.0)), // 100·1 / 4
                ("fcr_pct", some(50.0)),     // 100·1 / 2
                ("nps", some(-100.0)),       // 100·(0 − 2) / 2
                ("csat_pct", some(0.0)),     // 100·0 / 1
                ("ces", some(7.0)),          // 7 / 1
                ("conversion_rate_pct", some(100.0 / 3.0)), // 100·1 / (4 − 1)
                ("sentiment", some(0.15)),   // 300 / 1000 / 2
                ("mos", some(3.5)),          // 7000 / 1000 / 2
                ("poor_quality_pct", some(0.0)), // 100·0 / 2
                ("qa_score", some(85.0)),    // 170 / 2
            ],
        },
    ]
}

/// `SELECT * FROM <db>.reason_kpis_1m ORDER BY …` of [`kpi_batch`].
pub fn expected_reason_kpis() -> Vec<Expected> {
    let key = |minute: &'static str, reason: &'static str, channel: &'static str, dir| {
        vec![
            ("tenant_id", "t1"),
            ("window_start", minute),
            ("reason", reason),
            ("channel", channel),
            ("direction", dir),
        ]
    };
    let all_null = |offered: f64| {
        vec![
            ("offered", some(offered)),
            ("fcr_pct", NULL),
            ("art_ms", NULL),
            ("nps", NULL),
            ("csat_pct", NULL),
            ("ces", NULL),
        ]
    };
    let mut no_reason = all_null(2.0);
    no_reason.push(("repeat_rate_pct", some(0.0))); // 0 / 2 inbound offers
    let mut outbound = all_null(2.0);
    outbound.retain(|(c, _)| *c != "art_ms");
    outbound.extend([("repeat_rate_pct", NULL), ("art_ms", some(60_000.0))]);
    vec![
        Expected {
            key: key("2026-01-01 00:00:00", "", "CHAT", "INBOUND"),
            values: no_reason,
        },
        Expected {
            key: key("2026-01-01 00:00:00", "billing", "VOICE", "INBOUND"),
            values: vec![
                ("offered", some(6.0)),
                ("handled", some(5.0)),
                ("resolved", some(4.0)),
                ("repeats", some(2.0)),
                ("fcr_pct", some(75.0)),                // 100·3 / 4
                ("repeat_rate_pct", some(100.0 / 3.0)), // 100·2 / 6
                ("art_ms", some(1_800_000.0)),          // 5400000 / 3
                ("nps", some(200.0 / 3.0)),             // 100·(2 − 0) / 3
                ("csat_pct", some(75.0)),               // 100·3 / 4
                ("ces", some(5.5)),                     // 11 / 2
            ],
        },
        Expected {
            key: key("2026-01-01 00:01:00", "billing", "VOICE", "OUTBOUND"),
            values: outbound,
        },
    ]
}

/// `SELECT * FROM <db>.agent_occupancy_1m ORDER BY …` of [`kpi_batch`].
pub fn expected_occupancy() -> Vec<Expected> {
    let key = |minute: &'static str| {
        vec![
            ("tenant_id", "t1"),
            ("window_start", minute),
            ("agent_id", "a1"),
        ]
    };
    vec![
        Expected {
            key: key("2026-01-01 00:00:00"),
            values: vec![
                ("available_ms", some(20_000.0)),
                ("busy_ms", some(30_000.0)),
                ("acw_state_ms", some(10_000.0)),
                ("break_ms", some(0.0)),
                ("occupancy_pct", some(200.0 / 3.0)), // 100·(30000 + 10000) / 60000
            ],
        },
        Expected {
            key: key("2026-01-01 00:01:00"),
            values: vec![("break_ms", some(60_000.0)), ("occupancy_pct", NULL)],
        },
    ]
}

/// The view queries whose answers [`check_kpis`] checks, in the order of its expectations.
pub fn kpi_queries(db: &str) -> [String; 4] {
    [
        format!(
            "SELECT * FROM {db}.queue_kpis_1m \
             ORDER BY tenant_id, window_start, queue_id, channel, direction"
        ),
        format!(
            "SELECT * FROM {db}.agent_kpis_1m ORDER BY tenant_id, window_start, agent_id, channel"
        ),
        format!("SELECT * FROM {db}.agent_occupancy_1m ORDER BY tenant_id, window_start, agent_id"),
        format!(
            "SELECT * FROM {db}.reason_kpis_1m \
             ORDER BY tenant_id, window_start, reason, channel, direction"
        ),
    ]
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Checks the answers to [`kpi_queries`] against the hand-computed rows; `engine` names the
/// server in messages.
pub fn check_kpis(engine: &str, answers: &[Vec<Value>]) {
    let expected = [
        ("queue_kpis_1m", expected_queue_kpis()),
        ("agent_kpis_1m", expected_agent_kpis()),
        ("agent_occupancy_1m", expected_occupancy()),
        ("reason_kpis_1m", expected_reason_kpis()),
    ];
    assert_eq!(answers.len(), expected.len(), "{engine}: answers");
    for ((view, rows), answer) in expected.iter().zip(answers) {
        assert_eq!(
            answer.len(),
            rows.len(),
            "{engine}: {view} has {} rows: {answer:#?}",
            answer.len()
        );
        for (want, got) in rows.iter().zip(answer) {
            for (column, value) in &want.key {
                assert_eq!(got[column], *value, "{engine}: {view}.{column} in {got}");
            }
            for (column, value) in &want.values {
                let actual = &got[column];
                match value {
                    None => assert!(
                        actual.is_null(),
                        "{engine}: {view}.{column} should be NULL in {got}"
                    ),
                    Some(v) => {
                        let a = number(actual).unwrap_or_else(|| {
                            panic!("{engine}: {view}.{column} should be {v} in {got}")
                        });
                        assert!(
                            (a - v).abs() <= 1e-9 * v.abs().max(1.0),
                            "{engine}: {view}.{column} = {a}, expected {v} in {got}"
                        );
                    }
                }
            }
        }
    }
}

/// A contact event of the round-trip tests.
pub fn event(tenant: &str, id: &str, kind: EventType, at_ms: i64) -> Event {
    Event {
        event_id: id.into(),
        tenant_id: tenant.into(),
        r#type: kind as i32,
        occurred_at: Some(ms_timestamp(at_ms)),
        contact_id: format!("contact-{id}"),
        customer_id: "cust-1".into(),
        channel: Channel::Voice as i32,
        direction: Direction::Inbound as i32,
        queue_id: "q1".into(),
        ..Default::default()
    }
}

/// A survey answer event (an optional field set, agent present).
pub fn survey(tenant: &str, id: &str, at_ms: i64) -> Event {
    Event {
        agent_id: "a1".into(),
        survey_type: SurveyType::Nps as i32,
        score: Some(3),
        ..event(tenant, id, EventType::SurveyResponded, at_ms)
    }
}

/// A churn alert of the round-trip tests.
pub fn alert(tenant: &str, n: u32, at_ms: i64) -> ChurnAlert {
    ChurnAlert {
        tenant_id: tenant.into(),
        alert_id: format!("{tenant}:cust-{n}:e{n}"),
        customer_id: format!("cust-{n}"),
        score: 60 + n,
        reasons: vec!["NPS_DETRACTOR".into(), "REPEAT_CONTACT".into()],
        triggered_at: at_ms,
        contact_id: format!("contact-{n}"),
        channel: "VOICE".into(),
        queue_id: "q1".into(),
        agent_id: if n == 2 { String::new() } else { "a1".into() },
    }
}

/// A `queue_now` row.
pub fn queue_now(tenant: &str, queue: &str, channel: &str, waiting: u64, as_of: i64) -> QueueNow {
    QueueNow {
        tenant_id: tenant.into(),
        queue_id: queue.into(),
        channel: channel.into(),
        waiting,
        longest_wait_ms: waiting * 1_500,
        agents_needed: (waiting > 0).then_some(waiting as u32 + 2),
        as_of,
    }
}

/// An `agent_now` row (on `contact`, in q1 by voice, when there is one).
pub fn agent_now(
    tenant: &str,
    agent: &str,
    state: &str,
    contact: &str,
    on_hold: bool,
    as_of: i64,
) -> AgentNow {
    let on_contact = |s: &str| {
        if contact.is_empty() {
            String::new()
        } else {
            s.into()
        }
    };
    AgentNow {
        tenant_id: tenant.into(),
        agent_id: agent.into(),
        state: state.into(),
        state_since: as_of - 61_234,
        contact_id: contact.into(),
        queue_id: on_contact("q1"),
        channel: on_contact("VOICE"),
        on_hold,
        as_of,
    }
}

/// A batch touching every table, for two tenants.
/// The time zone of each tenant of the scenarios: t2's days are Rome's.
pub fn tz_of(tenant: &str) -> chrono_tz::Tz {
    if tenant == "t2" {
        chrono_tz::Europe::Rome
    } else {
        chrono_tz::UTC
    }
}

/// `batch` with hourly and daily rollups that sum its queue, agent and reason rows.
pub fn with_rollups(mut batch: RowBatch) -> RowBatch {
    let minutes = FinalRows {
        queue: batch.queue.iter().cloned().collect(),
        agent: batch.agent.iter().cloned().collect(),
        reason: batch.reason.iter().cloned().collect(),
        ..FinalRows::default()
    };
    (batch.hourly, batch.daily) = ccx_model::rollup::roll_up(&minutes, tz_of);
    batch
}

pub fn full_batch(version: u64) -> RowBatch {
    with_rollups(full_minutes(version))
}

fn full_minutes(version: u64) -> RowBatch {
    let mut batch = kpi_batch(version);
    batch.queue.push((
        queue_key("t2", 0, "sales", "EMAIL", "OUTBOUND"),
        Components {
            offered: 3,
            sentiment_count: 1,
            sentiment_milli_sum: -900,
            sentiment_negative: 1,
            ..Default::default()
        },
    ));
    batch.agent.push((
        agent_key("t2", 5, "b7", "EMAIL"),
        Components {
            handled: 1,
            talk_ms: 12_345,
            ..Default::default()
        },
    ));
    batch.reason.extend([
        // Outside the minutes [T0, T0 + 2 min) a backfill test reads.
        (
            reason_key("t1", 4, "delivery", "EMAIL", "INBOUND"),
            Components {
                offered: 1,
                case_resolution_ms: 1,
                cases_resolved: 1,
                ..Default::default()
            },
        ),
        (
            reason_key("t2", 0, "billing", "VOICE", "INBOUND"),
            billing_minute(),
        ),
    ]);
    batch.agent_state.push((
        agent_minute("t2", 5, "b7"),
        StateTimes {
            available_ms: 59_999,
            busy_ms: 1,
            ..Default::default()
        },
    ));
    batch.quality = vec![
        (
            ("t1".into(), T0),
            Quality {
                duplicates: 2,
                out_of_sequence: 1,
                late_dropped: 0,
            },
        ),
        (
            ("t2".into(), T0 + 3 * MINUTE),
            Quality {
                late_dropped: 4,
                ..Default::default()
            },
        ),
    ];
    // Millisecond instants that are not whole seconds.
    batch.alerts = vec![
        alert("t1", 2, T0 + 1_234),
        alert("t1", 1, T0 + 61_999),
        alert("t2", 3, T0 + 7),
    ];
    batch.queue_now = vec![
        queue_now("t1", "q1", "VOICE", 3, T0 + 120_500),
        queue_now("t1", "q1", "CHAT", 0, T0 + 120_500),
        queue_now("t2", "sales", "EMAIL", 1, T0 + 120_500),
    ];
    batch.agent_now = vec![
        agent_now("t1", "a1", "BUSY", "c7", true, T0 + 120_500),
        agent_now("t1", "a2", "AVAILABLE", "", false, T0 + 120_500),
        agent_now("t2", "a1", "UNKNOWN", "c9", false, T0 + 60_250),
    ];
    let interval = |tenant: &str, queue: &str, direction: &str, minutes: i64| QueueKey {
        tenant_id: tenant.into(),
        window_start: T0 + minutes * MINUTE,
        queue_id: queue.into(),
        channel: "VOICE".into(),
        direction: direction.into(),
    };
    let staffed = |offered, handled, agents_needed, predicted_asa_ms| StaffingRow {
        offered,
        handled,
        handle_ms: handled * 240_000,
        agents_needed,
        predicted_asa_ms,
    };
    batch.staffing = vec![
        (
            interval("t1", "q1", "INBOUND", 0),
            staffed(90, 45, Some(29), Some(11_629)),
        ),
        (
            interval("t1", "q1", "INBOUND", 15),
            staffed(3, 0, None, None),
        ),
        (
            interval("t2", "sales", "OUTBOUND", 0),
            staffed(0, 2, Some(0), None),
        ),
    ];
    batch.events = vec![
        event("t1", "e1", EventType::ContactOffered, T0 + 17),
        survey("t1", "e2", T0 + 90_001),
        event("t2", "e1", EventType::ContactOffered, T0 + 999),
    ];
    batch.progress = vec![
        TenantProgress {
            tenant_id: "t1".into(),
            watermark: T0 + 120_500,
        },
        TenantProgress {
            tenant_id: "t2".into(),
            watermark: T0 + 60_001,
        },
    ];
    batch
}

/// What [`Store::read_final`] must return after `batch` was written.
pub fn expected_final(batch: &RowBatch, tenant: Option<&str>) -> FinalRows {
    let keep = |t: &str| tenant.is_none() || tenant == Some(t);
    FinalRows {
        reason: batch
            .reason
            .iter()
            .filter(|(k, _)| keep(&k.tenant_id))
            .cloned()
            .collect(),
        queue: batch
            .queue
            .iter()
            .filter(|(k, _)| keep(&k.tenant_id))
            .cloned()
            .collect(),
        agent: batch
            .agent
            .iter()
            .filter(|(k, _)| keep(&k.tenant_id))
            .cloned()
            .collect(),
        agent_state: batch
            .agent_state
            .iter()
            .filter(|(k, _)| keep(&k.tenant_id))
            .cloned()
            .collect(),
        quality: batch
            .quality
            .iter()
            .filter(|(k, _)| keep(&k.0))
            .cloned()
            .collect(),
        alerts: batch
            .alerts
            .iter()
            .filter(|a| keep(&a.tenant_id))
            .cloned()
            .collect(),
    }
    .without_zero_rows()
}

/// [`full_batch`] with other values for the same keys.
pub fn replaced(version: u64) -> RowBatch {
    let mut batch = full_minutes(version);
    for c in batch
        .queue
        .iter_mut()
        .map(|(_, c)| c)
        .chain(batch.agent.iter_mut().map(|(_, c)| c))
    {
        c.handled += 100;
        c.sentiment_milli_sum -= 7;
        c.mos_count += 1;
        c.mos_milli_sum += 4_321;
    }
    for (_, c) in &mut batch.reason {
        c.handled += 100;
        c.repeats += 1;
    }
    for (_, s) in &mut batch.agent_state {
        s.break_ms += 1;
    }
    for (_, q) in &mut batch.quality {
        q.duplicates += 1;
    }
    for a in &mut batch.alerts {
        a.score = 99;
        a.reasons.push("TRANSFER_BOUNCE".into());
    }
    for q in &mut batch.queue_now {
        q.waiting += 1;
        q.as_of += 1_000;
    }
    for e in &mut batch.events {
        e.reason = "billing".into();
    }
    for p in &mut batch.progress {
        p.watermark += 60_000;
    }
    with_rollups(batch)
}

/// [`full_batch`] with yet other values, meant to be written with a lower version.
pub fn stale(version: u64) -> RowBatch {
    let mut batch = full_minutes(version);
    for (_, c) in &mut batch.queue {
        c.offered += 1_000;
        c.first_call_closes += 1_000;
    }
    for (_, c) in &mut batch.agent {
        c.qa_evaluations += 1_000;
    }
    for (_, c) in &mut batch.reason {
        c.offered += 1_000;
    }
    for q in &mut batch.queue_now {
        q.waiting = 77;
    }
    for e in &mut batch.events {
        e.queue_id = "stale".into();
    }
    for p in &mut batch.progress {
        p.watermark = 1;
    }
    with_rollups(batch)
}

/// Zero rows for the first queue key and the first reason key of [`full_batch`]: the keys
/// were retracted.
pub fn retraction(version: u64) -> RowBatch {
    let full = full_batch(0);
    RowBatch {
        version,
        queue: vec![(full.queue[0].0.clone(), Components::default())],
        reason: vec![(full.reason[0].0.clone(), Components::default())],
        ..Default::default()
    }
}

/// The KPI example written at version 1, then a stale copy with other numbers at version 0
/// that must not leak into the views.
pub fn kpi_scenario() -> Vec<RowBatch> {
    let mut stale = kpi_batch(0);
    for c in stale
        .queue
        .iter_mut()
        .map(|(_, c)| c)
        .chain(stale.agent.iter_mut().map(|(_, c)| c))
    {
        c.handled += 50;
        c.answered += 50;
        c.mos_count += 50;
    }
    for (_, c) in &mut stale.reason {
        c.offered += 50;
        c.cases_resolved += 50;
    }
    stale.agent_state[1].1.busy_ms = 1;
    vec![kpi_batch(1), stale]
}

/// Every table written, replaced by a higher version, not replaced by a lower one, and one
/// key retracted.
pub fn version_scenario() -> Vec<RowBatch> {
    vec![full_batch(10), replaced(20), stale(15), retraction(30)]
}

/// The batch as a release before migration 4 wrote it: the component columns migration 1
/// created (the others are not written), no reason rows.
pub fn as_v1(batch: &RowBatch) -> RowBatch {
    let mut old = batch.clone();
    for (_, c) in &mut old.queue {
        *c = c.only(V1_QUEUE_COLUMNS);
    }
    for (_, c) in &mut old.agent {
        *c = c.only(V1_AGENT_COLUMNS);
    }
    old.reason.clear();
    old.hourly = Default::default();
    old.daily = Default::default();
    old.agent_now.clear();
    old.staffing.clear();
    for q in &mut old.queue_now {
        q.agents_needed = None;
    }
    old
}

/// The `(statement, rows)` of the inserts a release before migration 4 sent for `batch`:
/// those of [`as_v1`] without the columns it did not know (nor migration 5's).
pub fn v1_inserts(batch: &RowBatch, db: &str) -> Vec<(String, String)> {
    as_v1(batch)
        .inserts(db)
        .into_iter()
        .map(|insert| {
            let v1 = match insert.table {
                "queue_metrics_1m" => Some(V1_QUEUE_COLUMNS),
                "agent_metrics_1m" => Some(V1_AGENT_COLUMNS),
                _ => None,
            };
            let known = |column: &str| match v1 {
                None => !(insert.table == "queue_now" && column == "agents_needed"),
                Some(v1) => {
                    ccx_model::rows::component_index(column).is_none() || v1.contains(&column)
                }
            };
            let columns: Vec<&str> = insert
                .query
                .split_once('(')
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(list, _)| list.split(", ").filter(|c| known(c)).collect())
                .unwrap_or_default();
            let query = format!(
                "INSERT INTO {db}.{} ({}) FORMAT JSONEachRow",
                insert.table,
                columns.join(", ")
            );
            let body: String = insert
                .body
                .lines()
                .map(|line| {
                    let mut row: serde_json::Map<String, Value> =
                        serde_json::from_str(line).unwrap();
                    row.retain(|c, _| known(c));
                    format!("{}\n", Value::Object(row))
                })
                .collect();
            (query, body)
        })
        .collect()
}

/// The rows of `old` with those of `new` written over them (same key: `new`'s).
pub fn overlay(old: &FinalRows, new: &FinalRows) -> FinalRows {
    let mut out = old.clone();
    out.queue.extend(new.queue.clone());
    out.agent.extend(new.agent.clone());
    out.reason.extend(new.reason.clone());
    out.agent_state.extend(new.agent_state.clone());
    out.quality.extend(new.quality.clone());
    let mut alerts: std::collections::BTreeMap<(String, String), ChurnAlert> = old
        .alerts
        .iter()
        .chain(&new.alerts)
        .map(|a| ((a.tenant_id.clone(), a.alert_id.clone()), a.clone()))
        .collect();
    out.alerts = std::mem::take(&mut alerts).into_values().collect();
    out.without_zero_rows()
}

/// A database written before migration 4 and after it: the old rows (version 10, old
/// columns), then t1's rows again with every component and reason rows (version 20), then a
/// stale copy of those (version 15) that must not win.
pub fn upgrade_scenario() -> (RowBatch, Vec<RowBatch>) {
    let old = full_batch(10);
    let only_t1 = |mut b: RowBatch| {
        b.queue.retain(|(k, _)| k.tenant_id == "t1");
        b.agent.retain(|(k, _)| k.tenant_id == "t1");
        b.reason.retain(|(k, _)| k.tenant_id == "t1");
        with_rollups(b)
    };
    (old, vec![only_t1(replaced(20)), only_t1(stale(15))])
}

/// What `read_final` returns after [`upgrade_scenario`]: t2's queue and agent rows as
/// written before the upgrade (zeros in the new columns), the rest as written after it.
pub fn expected_after_upgrade() -> FinalRows {
    let (old, new) = upgrade_scenario();
    overlay(
        &expected_final(&as_v1(&old), None),
        &expected_final(&new[0], None),
    )
}

/// Alert transitions of two tenants: a churn alert opened, acknowledged and resolved, a
/// threshold alert opened and resolved by the stream (`acme`), and one open alert of `other`.
pub fn alert_events_scenario() -> Vec<ccx_store::AlertEvent> {
    let e = |tenant: &str, alert: &str, kind: &str, status: &str, at: i64, by: &str, note: &str| {
        ccx_store::AlertEvent {
            tenant_id: tenant.into(),
            alert_id: alert.into(),
            kind: kind.into(),
            status: status.into(),
            at_ms: T0 + at,
            by: by.into(),
            note: note.into(),
        }
    };
    vec![
        e(
            "acme",
            "acme:c1:e1",
            "CHURN",
            "OPEN",
            1_001,
            "ccx-stream",
            "score 70: NPS_DETRACTOR",
        ),
        e(
            "acme",
            "acme:c1:e1",
            "CHURN",
            "ACKNOWLEDGED",
            60_002,
            "kim",
            "calling back",
        ),
        e(
            "acme",
            "acme:sl:q1::1",
            "THRESHOLD",
            "OPEN",
            61_003,
            "ccx-stream",
            "it's 'low'",
        ),
        e(
            "acme",
            "acme:c1:e1",
            "CHURN",
            "RESOLVED",
            120_004,
            "sam",
            "refund issued",
        ),
        e(
            "acme",
            "acme:sl:q1::1",
            "THRESHOLD",
            "RESOLVED",
            180_005,
            "ccx",
            "condition cleared",
        ),
        e(
            "other",
            "other:c9:e9",
            "CHURN",
            "OPEN",
            2_000,
            "ccx-stream",
            "",
        ),
    ]
}
