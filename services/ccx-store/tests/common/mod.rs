//! Rows and hand-computed expectations shared by the store tests.
#![allow(dead_code)]

use ccx_model::rows::{
    AgentKey, AgentMinute, ChurnAlert, Components, QueueKey, QueueNow, StateTimes,
};
use ccx_model::rows::{FinalRows, Quality, TenantProgress};
use ccx_model::{ms_timestamp, Channel, Direction, Event, EventType, SurveyType};
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
        self_served: 0,
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
                    ..Default::default()
                },
            ),
        ],
        agent: vec![
            (agent_key("t1", 0, "a1", "VOICE"), busy_agent_minute()),
            // Wrap-up time only: no handled contact in this minute.
            (
                agent_key("t1", 0, "a1", "CHAT"),
                Components {
                    acw_ms: 30_000,
                    acw_count: 1,
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
            ],
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
pub fn kpi_queries(db: &str) -> [String; 3] {
    [
        format!(
            "SELECT * FROM {db}.queue_kpis_1m \
             ORDER BY tenant_id, window_start, queue_id, channel, direction"
        ),
        format!(
            "SELECT * FROM {db}.agent_kpis_1m ORDER BY tenant_id, window_start, agent_id, channel"
        ),
        format!("SELECT * FROM {db}.agent_occupancy_1m ORDER BY tenant_id, window_start, agent_id"),
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
    ];
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
        as_of,
    }
}

/// A batch touching every table, for two tenants.
pub fn full_batch(version: u64) -> RowBatch {
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
        reason: Default::default(),
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
    let mut batch = full_batch(version);
    for c in batch
        .queue
        .iter_mut()
        .map(|(_, c)| c)
        .chain(batch.agent.iter_mut().map(|(_, c)| c))
    {
        c.handled += 100;
        c.sentiment_milli_sum -= 7;
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
    batch
}

/// [`full_batch`] with yet other values, meant to be written with a lower version.
pub fn stale(version: u64) -> RowBatch {
    let mut batch = full_batch(version);
    for (_, c) in &mut batch.queue {
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
    batch
}

/// A zero row for the first queue key of [`full_batch`]: the key was retracted.
pub fn retraction(version: u64) -> RowBatch {
    RowBatch {
        version,
        queue: vec![(full_batch(0).queue[0].0.clone(), Components::default())],
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
    }
    stale.agent_state[1].1.busy_ms = 1;
    vec![kpi_batch(1), stale]
}

/// Every table written, replaced by a higher version, not replaced by a lower one, and one
/// key retracted.
pub fn version_scenario() -> Vec<RowBatch> {
    vec![full_batch(10), replaced(20), stale(15), retraction(30)]
}
