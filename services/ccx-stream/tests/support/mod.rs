//! Events the engine's tests write by hand: an inbound voice contact of customer `x-<contact>`
//! on queue `q1` of tenant `t1`, and an agent's state changes.

#![allow(dead_code)] // each test file uses its own part

use ccx_model::{ms_timestamp, AgentState, Channel, Direction, Event, EventType};

/// 40 s into a minute.
pub const T0: i64 = 1_790_000_040_000;

/// An event of `kind` of inbound voice contact `contact`, with event id `id`, at `t`.
pub fn contact_event(id: &str, contact: &str, kind: EventType, t: i64) -> Event {
    Event {
        event_id: id.into(),
        tenant_id: "t1".into(),
        r#type: kind as i32,
        occurred_at: Some(ms_timestamp(t)),
        contact_id: contact.into(),
        customer_id: format!("x-{contact}"),
        channel: Channel::Voice as i32,
        direction: Direction::Inbound as i32,
        queue_id: "q1".into(),
        ..Event::default()
    }
}

/// `e` with `agent` on it.
pub fn by(agent: &str, mut e: Event) -> Event {
    e.agent_id = agent.into();
    e
}

/// `agent` changing to `state` at `t`.
pub fn state_change(id: &str, agent: &str, state: AgentState, t: i64) -> Event {
    Event {
        event_id: id.into(),
        tenant_id: "t1".into(),
        r#type: EventType::AgentStateChanged as i32,
        occurred_at: Some(ms_timestamp(t)),
        agent_id: agent.into(),
        agent_state: state as i32,
        ..Event::default()
    }
}
