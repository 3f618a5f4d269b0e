//! The KPI views (SPEC §3 and §7.2 ratios over summed components), as the migrations create
//! and replace them. A KPI with a zero (or, per minute, negative) denominator is NULL.

use crate::schema::{table_key, V1_AGENT_COLUMNS, V1_QUEUE_COLUMNS};

/// `scale · num / den`, NULL unless `den` > 0. A per-minute denominator such as
/// `offered − abandoned_short` can be negative when the offer and the short abandon fall in
/// different minutes; such a ratio is meaningless, so it is NULL like a zero denominator.
pub(crate) fn ratio(scale: &str, num: &str, den: &str) -> String {
    format!("{scale}{num} / if({den} > 0, {den}, NULL)")
}

pub(crate) fn kpi_view(
    db: &str,
    name: &str,
    source: &str,
    key: &str,
    summed: &[&str],
    exposed: &[&str],
    kpis: &[(&str, String)],
) -> String {
    let sums: String = summed
        .iter()
        .map(|c| format!(",\n        sum({c}) AS s_{c}"))
        .collect();
    let exposed: String = exposed
        .iter()
        .map(|c| format!(",\n    s_{c} AS {c}"))
        .collect();
    let kpis: String = kpis
        .iter()
        .map(|(alias, expr)| format!(",\n    {expr} AS {alias}"))
        .collect();
    format!(
        "CREATE VIEW IF NOT EXISTS {db}.{name} AS\nSELECT\n    {key}{exposed}{kpis}\nFROM\n(\n    \
         SELECT\n        {key}{sums}\n    FROM {db}.{source} FINAL\n    GROUP BY {key}\n)"
    )
}

pub(crate) const PCT: &str = "100 * ";

/// The KPIs of `queue_kpis_1m` as migration 2 created it (SPEC §3).
pub(crate) fn queue_kpis_v1() -> Vec<(&'static str, String)> {
    vec![
        ("asa_ms", ratio("", "s_wait_answered_ms", "s_answered")),
        (
            "service_level_pct",
            ratio(
                PCT,
                "s_answered_in_sl",
                "(toInt64(s_answered) + toInt64(s_abandoned) - toInt64(s_abandoned_short))",
            ),
        ),
        (
            "abandonment_pct",
            ratio(
                PCT,
                "(toInt64(s_abandoned) - toInt64(s_abandoned_short))",
                "(toInt64(s_offered) - toInt64(s_abandoned_short))",
            ),
        ),
        (
            "aht_ms",
            ratio("", "(s_talk_ms + s_hold_ms + s_acw_ms)", "s_handled"),
        ),
        ("avg_hold_ms", ratio("", "s_hold_ms", "s_holds")),
        ("transfer_rate_pct", ratio(PCT, "s_transfers", "s_handled")),
        ("fcr_pct", ratio(PCT, "s_fcr_success", "s_fcr_eligible")),
        (
            "nps",
            ratio(
                PCT,
                "(toInt64(s_nps_promoters) - toInt64(s_nps_detractors))",
                "s_nps_responses",
            ),
        ),
        (
            "csat_pct",
            ratio(PCT, "s_csat_satisfied", "s_csat_responses"),
        ),
        ("ces", ratio("", "s_ces_score_sum", "s_ces_responses")),
        ("answer_rate_pct", ratio(PCT, "s_answered", "s_offered")),
        (
            "conversion_rate_pct",
            ratio(PCT, "s_conversions", "s_answered"),
        ),
        (
            "sentiment",
            ratio("", "s_sentiment_milli_sum / 1000", "s_sentiment_count"),
        ),
    ]
}

/// The KPIs of `agent_kpis_1m` as migration 2 created it: the queue KPIs an agent row has
/// the components of.
pub(crate) fn agent_kpis_v1() -> Vec<(&'static str, String)> {
    // Agent rows carry no `answered` (SPEC §5): an agent's conversion rate is over the
    // contacts it ended (segments ended by CONTACT_ENDED = handled − transfers).
    queue_kpis_v1()
        .into_iter()
        .filter(|(name, _)| {
            ![
                "asa_ms",
                "service_level_pct",
                "abandonment_pct",
                "answer_rate_pct",
                "conversion_rate_pct",
            ]
            .contains(name)
        })
        .chain([(
            "conversion_rate_pct",
            ratio(
                PCT,
                "s_conversions",
                "(toInt64(s_handled) - toInt64(s_transfers))",
            ),
        )])
        .collect()
}

pub(crate) fn views(db: &str) -> Vec<String> {
    let occupancy = vec![(
        "occupancy_pct",
        ratio(
            PCT,
            "(s_busy_ms + s_acw_state_ms)",
            "(s_busy_ms + s_acw_state_ms + s_available_ms)",
        ),
    )];
    let state = ["available_ms", "busy_ms", "acw_state_ms", "break_ms"];
    vec![
        kpi_view(
            db,
            "queue_kpis_1m",
            "queue_metrics_1m",
            table_key("queue_metrics_1m"),
            V1_QUEUE_COLUMNS,
            &["offered", "answered", "abandoned", "handled"],
            &queue_kpis_v1(),
        ),
        kpi_view(
            db,
            "agent_kpis_1m",
            "agent_metrics_1m",
            table_key("agent_metrics_1m"),
            V1_AGENT_COLUMNS,
            &["handled"],
            &agent_kpis_v1(),
        ),
        kpi_view(
            db,
            "agent_occupancy_1m",
            "agent_state_1m",
            table_key("agent_state_1m"),
            &state,
            &state,
            &occupancy,
        ),
    ]
}

/// `100 · repeats / offered` over inbound contacts only (SPEC §7.2): NULL on outbound rows.
pub(crate) fn repeat_rate() -> (&'static str, String) {
    (
        "repeat_rate_pct",
        ratio(PCT, "s_repeats", "if(direction = 'INBOUND', s_offered, 0)"),
    )
}

/// ART: average resolution time of the cases resolved.
pub(crate) fn art() -> (&'static str, String) {
    (
        "art_ms",
        ratio("", "s_case_resolution_ms", "s_cases_resolved"),
    )
}

/// MOS and poor-quality % (SPEC §7.2), on queue and agent rows.
pub(crate) fn call_quality() -> [(&'static str, String); 2] {
    [
        ("mos", ratio("", "s_mos_milli_sum / 1000", "s_mos_count")),
        ("poor_quality_pct", ratio(PCT, "s_mos_poor", "s_mos_count")),
    ]
}

/// The KPIs of `queue_kpis_1m` since migration 4: SPEC §3 and §7.2.
pub(crate) fn queue_kpis_v2() -> Vec<(&'static str, String)> {
    let mut kpis = queue_kpis_v1();
    kpis.extend([
        (
            "callback_connect_pct",
            ratio(PCT, "s_callbacks_connected", "s_callbacks_attempted"),
        ),
        (
            "avg_callback_delay_ms",
            ratio("", "s_callback_delay_ms", "s_callbacks_matched"),
        ),
        (
            "transfer_speed_ms",
            ratio("", "s_transfer_wait_ms", "s_transfer_answered"),
        ),
        repeat_rate(),
        art(),
        (
            "contacts_per_resolution",
            ratio("", "s_case_contacts", "s_cases_resolved"),
        ),
    ]);
    kpis.extend(call_quality());
    kpis.extend([
        // Outbound: accounts_attempted and first_call_closes only count outbound contacts.
        (
            "calls_per_account",
            ratio("", "s_offered", "s_accounts_attempted"),
        ),
        (
            "first_call_close_pct",
            ratio(
                PCT,
                "s_first_call_closes",
                "if(direction = 'OUTBOUND', s_conversions, 0)",
            ),
        ),
        ("self_service_pct", ratio(PCT, "s_self_served", "s_offered")),
    ]);
    kpis
}

/// The KPIs of `agent_kpis_1m` since migration 4.
pub(crate) fn agent_kpis_v2() -> Vec<(&'static str, String)> {
    let mut kpis = agent_kpis_v1();
    kpis.extend(call_quality());
    kpis.push(("qa_score", ratio("", "s_qa_score_sum", "s_qa_evaluations")));
    kpis
}

/// The KPIs of `reason_kpis_1m` (SPEC §7.2, why customers contact).
pub(crate) fn reason_kpis() -> Vec<(&'static str, String)> {
    let v1 = queue_kpis_v1();
    let of = |name: &str| {
        v1.iter()
            .find(|(n, _)| *n == name)
            .cloned()
            .unwrap_or_else(|| panic!("no KPI {name}"))
    };
    vec![
        of("fcr_pct"),
        repeat_rate(),
        art(),
        of("nps"),
        of("csat_pct"),
        of("ces"),
    ]
}

/// A view replaced: 18.16 has neither `CREATE OR REPLACE VIEW` nor `DROP VIEW`, and
/// `DROP TABLE` drops a view too.
pub(crate) fn replace_view(db: &str, name: &str, create: String) -> [String; 2] {
    [format!("DROP TABLE IF EXISTS {db}.{name}"), create]
}
