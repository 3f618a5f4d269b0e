//! Writing the events: the fields SPEC §2 asks of each type, ids unique within the tenant,
//! and a buffer that hands them out in time order. The model decides some events ahead of
//! their time (a hold inside a segment, a survey after the end), so the buffer keeps what is
//! not due yet for the next call.

use ccx_model::{ms_timestamp, AgentState, Channel, Event, EventType};

use crate::model::contacts::Contact;

pub struct Output {
    tenant: String,
    /// Starts agent-event ids: unique per center.
    prefix: String,
    seq: u64,
    buf: Vec<(i64, u64, Event)>,
}

pub fn agent_id(a: usize) -> String {
    format!("agent-{a}")
}

impl Output {
    pub fn new(tenant: &str, prefix: &str) -> Output {
        Output {
            tenant: tenant.to_string(),
            prefix: prefix.to_string(),
            seq: 0,
            buf: Vec::new(),
        }
    }

    fn push(&mut self, at: i64, mut event: Event) -> &mut Event {
        self.seq += 1;
        event.tenant_id.clone_from(&self.tenant);
        event.occurred_at = Some(ms_timestamp(at));
        self.buf.push((at, self.seq, event));
        &mut self.buf.last_mut().expect("just pushed").2
    }

    /// An event of contact `c` (in its current queue), with its contact fields set.
    pub fn contact(
        &mut self,
        c: &mut Contact,
        queue: &str,
        kind: EventType,
        at: i64,
    ) -> &mut Event {
        c.events += 1;
        let event = Event {
            event_id: format!("{}-{}", c.id, c.events),
            r#type: kind as i32,
            contact_id: c.id.clone(),
            channel: c.channel as i32,
            direction: c.direction as i32,
            queue_id: queue.to_string(),
            agent_id: c.agent.map(agent_id).unwrap_or_default(),
            ..Event::default()
        };
        self.push(at, event)
    }

    pub fn agent_state(&mut self, agent: usize, state: AgentState, at: i64) {
        let event = self.agent_state_now(agent, state, at);
        self.buf.push((at, self.seq, event));
    }

    /// An agent's state change handed out at once rather than buffered.
    pub fn agent_state_now(&mut self, agent: usize, state: AgentState, at: i64) -> Event {
        self.seq += 1;
        // Zero-padded: two changes of one agent in the same millisecond keep their order
        // under the event-id tie-break.
        Event {
            event_id: format!("{}-s{:012}", self.prefix, self.seq),
            tenant_id: self.tenant.clone(),
            r#type: EventType::AgentStateChanged as i32,
            occurred_at: Some(ms_timestamp(at)),
            agent_id: agent_id(agent),
            agent_state: state as i32,
            ..Event::default()
        }
    }

    pub fn qa(&mut self, agent: usize, channel: Channel, contact: &str, score: i32, at: i64) {
        let event = Event {
            event_id: format!("{}-q{}", self.prefix, self.seq + 1),
            r#type: EventType::QaScored as i32,
            agent_id: agent_id(agent),
            channel: channel as i32,
            contact_id: contact.to_string(),
            score: Some(score),
            ..Event::default()
        };
        self.push(at, event);
    }

    /// The events before `until`, in time order (ties in the order they were decided).
    pub fn take_before(&mut self, until: i64) -> Vec<Event> {
        self.buf.sort_unstable_by_key(|(at, seq, _)| (*at, *seq));
        let due = self.buf.partition_point(|(at, _, _)| *at < until);
        self.buf.drain(..due).map(|(_, _, e)| e).collect()
    }

    /// Forgets the events decided for `from` on (the center closed before them).
    pub fn drop_from(&mut self, from: i64) {
        self.buf.retain(|(at, _, _)| *at < from);
    }

    pub fn take_all(&mut self) -> Vec<Event> {
        self.take_before(i64::MAX)
    }
}
