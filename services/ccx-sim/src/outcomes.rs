//! How a contact turns out for the customer: resolution, satisfaction and what the survey,
//! speech analytics, the media platform and QA report. Satisfaction falls with the wait,
//! transfers and an unresolved issue, so long queues show up in NPS, CSAT, CES and
//! sentiment the way they do on a real floor.

use ccx_model::SurveyType;

use crate::config::Behaviour;
use crate::rng::Rng;

/// Whether the issue was resolved: less likely after transfers.
pub fn resolved(rng: &mut Rng, b: &Behaviour, transfers: u32) -> bool {
    rng.chance(b.resolve - 0.15 * f64::from(transfers))
}

/// Satisfaction in 0..=1 after waiting `wait_ms` for an agent.
pub fn satisfaction(rng: &mut Rng, wait_ms: i64, resolved: bool, transfers: u32) -> f64 {
    let mut s = 0.8;
    s -= 0.35 * (wait_ms as f64 / 300_000.0).min(1.0);
    s -= 0.1 * f64::from(transfers);
    if !resolved {
        s -= 0.3;
    }
    (s + 0.5 * (rng.unit() - 0.5)).clamp(0.0, 1.0)
}

/// A survey answer for this satisfaction: NPS 0..10, CSAT 1..5 or CES 1..7.
pub fn survey(rng: &mut Rng, s: f64) -> (SurveyType, i32) {
    match rng.range(0, 2) {
        0 => (SurveyType::Nps, (s * 10.0).round() as i32),
        1 => (SurveyType::Csat, 1 + (s * 4.0).round() as i32),
        _ => (SurveyType::Ces, 1 + (s * 6.0).round() as i32),
    }
}

/// Sentiment of the conversation in −1..1, to 3 decimals.
pub fn sentiment(rng: &mut Rng, s: f64) -> f64 {
    let v = (2.0 * s - 1.0 + 0.4 * (rng.unit() - 0.5)).clamp(-1.0, 1.0);
    (v * 1000.0).round() / 1000.0
}

/// Call quality: mostly good, a tenth of calls degraded.
pub fn mos(rng: &mut Rng) -> f64 {
    let v = if rng.chance(0.1) {
        2.0 + 1.6 * rng.unit()
    } else {
        3.8 + 0.7 * rng.unit()
    };
    (v * 100.0).round() / 100.0
}

/// A QA evaluation, 0..100, most agents doing fine.
pub fn qa_score(rng: &mut Rng) -> i32 {
    (100.0 - rng.exponential(15.0)).clamp(0.0, 100.0).round() as i32
}
