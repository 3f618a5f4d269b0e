//! The live floor of SPEC §7.4: who waits and what each agent does *now*, from every event
//! received (buffered for the watermark, or late), not as of the watermark.
//!
//! Each contact keeps only the newest event (event time, then type order) of two kinds: the
//! one that placed it (offer or transfer: waiting in a queue; answer: with an agent; abandon,
//! callback request or end: gone, for good) and the newest hold event. For a contact's valid
//! sequence that is the state the sequence leads to, whatever order its events arrive in; an
//! out-of-sequence event can mislead "now" until a newer event of the contact, never the
//! minute rows. Agents keep their newest state change and the contact they last answered.

use super::*;

/// Placed by an event of this type: where the contact is.
fn placement(kind: EventType) -> Option<Place> {
    match kind {
        EventType::ContactOffered | EventType::ContactTransferred => Some(Place::Waiting),
        EventType::ContactAnswered => Some(Place::WithAgent),
        EventType::ContactAbandoned | EventType::ContactEnded | EventType::CallbackRequested => {
            Some(Place::Gone)
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Place {
    Waiting,
    WithAgent,
    Gone,
}

/// Event time and type order: which of two events of one contact is newer (SPEC §2 order).
type Order = (i64, u8);

/// One contact as the newest events received place it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LiveContact {
    /// The event that placed it; waiting since its time.
    placed: Order,
    place: Place,
    queue: Sym,
    channel: u8,
    /// The agent of an answer (0 otherwise).
    agent: Sym,
    /// The newest hold event (time 0: none).
    hold: Order,
    on_hold: bool,
}

/// One agent as the newest events received show it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct LiveAgent {
    /// Its newest `AGENT_STATE_CHANGED` (0: none yet).
    state: u8,
    state_since: i64,
    /// When any event first named the agent (its time in an unknown state).
    first_seen: i64,
    /// The contact it answered last and still has, and that contact's id as sent.
    contact: Id,
    contact_id: Box<str>,
    answered_at: i64,
    /// Changed since the last hand-over.
    changed: bool,
}

/// The live floor of one tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Live {
    pub(super) contacts: IdMap<LiveContact>,
    /// The contacts placed waiting: (queue, channel, since). Most open contacts are with an
    /// agent, so the flush counts waits from this alone.
    waiting: IdMap<(Sym, u8, i64)>,
    agents: FastMap<Sym, LiveAgent>,
    /// Agents with `changed` set.
    changed: Vec<Sym>,
}

impl Live {
    /// Takes one received event (not a duplicate; names interned). `known_ended`: the engine
    /// holds the contact as ended (its events were applied before the watermark).
    pub(super) fn receive(&mut self, ev: &Ev, late: bool, known_ended: impl Fn(Id) -> bool) {
        let kind = ev.kind();
        if kind == EventType::AgentStateChanged {
            let agent = self.agent(ev.agent, ev.t);
            if agent.state == 0 || ev.t >= agent.state_since {
                agent.state = ev.agent_state;
                agent.state_since = ev.t;
                self.mark(ev.agent);
            }
            return;
        }
        let place = placement(kind);
        let hold = matches!(kind, EventType::HoldStarted | EventType::HoldEnded);
        if place.is_none() && !hold {
            return;
        }
        let id = ev.contact();
        let order = (ev.t, ev.kind);
        let contact = match self.contacts.entry(id) {
            Entry::Occupied(slot) => slot.into_mut(),
            // A late event of a contact not held here belongs to one that ended (and was
            // forgotten) or to history: it places nothing now.
            Entry::Vacant(_) if late || known_ended(id) => return,
            // A hold before anything that places the contact: it is with the holding agent.
            Entry::Vacant(slot) => slot.insert(LiveContact {
                placed: (i64::MIN, 0),
                place: place.unwrap_or(Place::WithAgent),
                queue: ev.queue,
                channel: ev.channel,
                agent: if hold { ev.agent } else { 0 },
                hold: (i64::MIN, 0),
                on_hold: false,
            }),
        };
        if contact.place == Place::Gone {
            return;
        }
        if hold {
            if order > contact.hold {
                contact.hold = order;
                contact.on_hold = kind == EventType::HoldStarted;
                let agent = contact.agent;
                self.mark(agent);
            }
            return;
        }
        let Some(place) = place else { return };
        if order <= contact.placed {
            return;
        }
        let left = contact.agent;
        contact.placed = order;
        contact.place = place;
        contact.channel = ev.channel;
        contact.agent = 0;
        match kind {
            EventType::ContactTransferred if ev.to_queue != 0 => contact.queue = ev.to_queue,
            EventType::ContactAnswered => {
                contact.agent = ev.agent;
                contact.queue = ev.queue;
            }
            _ => contact.queue = ev.queue,
        }
        if place == Place::Waiting {
            let at = (contact.queue, contact.channel, order.0);
            self.waiting.insert(id, at);
        } else {
            self.waiting.remove(&id);
        }
        if left != 0 && left != contact.agent {
            self.release(left, id);
        }
        if kind == EventType::ContactAnswered && ev.agent != 0 {
            let agent = self.agent(ev.agent, ev.t);
            if ev.t >= agent.answered_at || agent.contact == NO_ID {
                agent.contact = id;
                agent.contact_id = Box::from(
                    std::str::from_utf8(ev.bytes(ev.spans.contact_id)).unwrap_or_default(),
                );
                agent.answered_at = ev.t;
            }
            self.mark(ev.agent);
        }
    }

    fn agent(&mut self, agent: Sym, t: i64) -> &mut LiveAgent {
        self.agents.entry(agent).or_insert_with(|| LiveAgent {
            first_seen: t,
            ..LiveAgent::default()
        })
    }

    fn mark(&mut self, agent: Sym) {
        if let Some(a) = self.agents.get_mut(&agent) {
            if !a.changed {
                a.changed = true;
                self.changed.push(agent);
            }
        }
    }

    /// `agent` no longer has `contact` (transferred away, ended, answered by another).
    fn release(&mut self, agent: Sym, contact: Id) {
        if let Some(a) = self.agents.get_mut(&agent) {
            if a.contact == contact {
                a.contact = NO_ID;
                a.contact_id = Box::default();
                self.mark(agent);
            }
        }
    }

    /// Forgets contacts the engine now holds (gone before `watermark`: the engine's ended
    /// contact answers for them), and contacts without an event for `stale_ms`.
    pub(super) fn expire(&mut self, watermark: i64, stale_ms: i64) {
        self.contacts.retain(|_, c| match c.place {
            Place::Gone => c.placed.0 >= watermark,
            _ => c.placed.0.max(c.hold.0) >= watermark.saturating_sub(stale_ms),
        });
        let contacts = &self.contacts;
        self.waiting.retain(|id, _| contacts.contains_key(id));
        shrink(&mut self.contacts);
        shrink(&mut self.waiting);
    }

    /// Forgets the gone contacts among `ended` (events the engine just applied).
    pub(super) fn forget_ended(&mut self, ended: impl Iterator<Item = Id>) {
        for id in ended {
            if let Entry::Occupied(slot) = self.contacts.entry(id) {
                if slot.get().place == Place::Gone {
                    slot.remove();
                }
            }
        }
    }

    /// Agents now available, busy or in after-contact work (SPEC §7.5 `agents_short`).
    pub(super) fn staffed(&self) -> usize {
        let working = ccx_model::staffing::WORKING_STATES.map(|s| s as u8);
        self.agents
            .values()
            .filter(|a| working.contains(&a.state))
            .count()
    }

    /// (queue, channel) → (contacts waiting, earliest wait start).
    pub(super) fn waiting(&self) -> BTreeMap<(Sym, u8), (u64, i64)> {
        let mut now: BTreeMap<(Sym, u8), (u64, i64)> = BTreeMap::new();
        for &(queue, channel, since) in self.waiting.values() {
            let entry = now.entry((queue, channel)).or_insert((0, since));
            entry.0 += 1;
            entry.1 = entry.1.min(since);
        }
        now
    }

    /// The rows of the agents changed since the last call, as of `as_of`.
    pub(super) fn take_agents(&mut self, tenant: &str, names: &Names, as_of: i64) -> Vec<AgentNow> {
        let mut rows = Vec::with_capacity(self.changed.len());
        for sym in std::mem::take(&mut self.changed) {
            let Some(a) = self.agents.get_mut(&sym) else {
                continue;
            };
            a.changed = false;
            let contact = self.contacts.get(&a.contact);
            let (state, state_since) = match AgentState::try_from(i32::from(a.state)) {
                Ok(s) if a.state != 0 => (s.as_str_name().to_string(), a.state_since),
                _ => (UNKNOWN_STATE.to_string(), a.first_seen),
            };
            rows.push(AgentNow {
                tenant_id: tenant.to_string(),
                agent_id: names.name(sym).to_string(),
                state,
                state_since,
                contact_id: a.contact_id.to_string(),
                queue_id: contact.map_or("", |c| names.name(c.queue)).to_string(),
                channel: contact.map_or(String::new(), |c| channel_name(c.channel)),
                on_hold: contact.is_some_and(|c| c.on_hold),
                as_of,
            });
        }
        rows
    }
}
