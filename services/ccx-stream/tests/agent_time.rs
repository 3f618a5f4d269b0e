//! Agent-state minutes with `state_accrual_ms`: an agent's time in its state is brought up
//! to the watermark at most that often (in `as_of` time), at once when the watermark enters
//! a new minute (a passed minute is complete), and exactly on demand; a state change accrues
//! whenever it comes.

use ccx_model::settings::TenantSettings;
use ccx_model::{ms_timestamp, AgentState, Event, EventType};
use ccx_stream::engine::{Engine, Settings};

/// A minute's start.
const M0: i64 = 1_790_000_040_000;

fn state(id: &str, s: AgentState, t: i64) -> Event {
    Event {
        event_id: id.into(),
        tenant_id: "t1".into(),
        r#type: EventType::AgentStateChanged as i32,
        occurred_at: Some(ms_timestamp(t)),
        agent_id: "a1".into(),
        agent_state: s as i32,
        ..Event::default()
    }
}

/// (minute offset from M0 in minutes, busy ms, available ms) of the agent-state rows written.
fn written(e: &mut Engine, as_of: i64) -> Vec<(i64, u64, u64)> {
    e.take_output_at(as_of)
        .agent_state
        .iter()
        .map(|(k, v)| ((k.window_start - M0) / 60_000, v.busy_ms, v.available_ms))
        .collect()
}

#[test]
fn agent_time_is_brought_to_the_watermark_at_its_cadence_and_at_each_new_minute() {
    let mut settings = Settings::new(TenantSettings::default());
    settings.state_accrual_ms = 5_000;
    let mut e = Engine::new(settings, M0 - 60_000);
    e.ingest(&state("busy", AgentState::Busy, M0));

    e.advance(M0 + 1_000);
    assert_eq!(
        written(&mut e, 0),
        [(0, 1_000, 0)],
        "the first output accrues"
    );
    e.advance(M0 + 2_000);
    assert_eq!(written(&mut e, 1_000), [], "1 s later: not yet");
    e.advance(M0 + 3_000);
    assert_eq!(written(&mut e, 4_999), [], "4.999 s later: not yet");
    e.advance(M0 + 4_000);
    assert_eq!(
        written(&mut e, 5_000),
        [(0, 4_000, 0)],
        "5 s later: up to the watermark"
    );

    // The watermark enters the next minute: the passed one is completed at once.
    e.advance(M0 + 60_500);
    assert_eq!(
        written(&mut e, 5_100),
        [(0, 60_000, 0), (1, 500, 0)],
        "a new minute"
    );

    // A state change accrues its time whenever it comes.
    e.ingest(&state("free", AgentState::Available, M0 + 61_000));
    e.advance(M0 + 62_000);
    assert_eq!(written(&mut e, 5_200), [(1, 1_000, 0)]);

    // On demand (a stopping stream's last output): exact to the watermark.
    e.advance(M0 + 62_750);
    e.accrue_agent_time();
    assert_eq!(written(&mut e, 5_300), [(1, 1_000, 1_750)]);
}
