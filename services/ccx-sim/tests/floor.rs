//! A few simulated days of a whole floor — several queues and channels, outbound campaigns,
//! shifts, breaks, a time-of-day profile — checked through its events: every event valid,
//! one voice contact per agent at a time (a chat agent within its concurrency), agents'
//! states agreeing with the contacts they handle, every kind of event present, and the same
//! seed giving the same events.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use ccx_model::{validate, AgentState, Channel, Event, EventType, Limits};
use ccx_sim::{plan, Center, Shift, SimConfig, DAY_PROFILE};
use common::{kind, time, HOUR, START};

const CONCURRENCY: u32 = 3;

/// Two tenants' centers planned for 0.1 contact/s, their teams split into an early and a
/// late shift, arrivals following the day's profile, run `hours` and closed.
fn floor(seed: u64, hours: i64) -> Vec<Event> {
    let config = SimConfig {
        seed,
        chat_concurrency: CONCURRENCY,
        ..SimConfig::default()
    };
    let mut events = Vec::new();
    for t in 0..config.tenants.len() {
        let mut center = plan::center(&config, t, 0.1);
        center.profile = Some(DAY_PROFILE);
        let teams = std::mem::take(&mut center.teams);
        for (i, mut team) in teams.into_iter().enumerate() {
            team.shift = Some(Shift {
                start_of_day_ms: if i % 2 == 0 { 6 } else { 12 } * HOUR,
                length_ms: 9 * HOUR,
            });
            team.agents += 1;
            center.teams.push(team);
        }
        let mut center = Center::new(center);
        center.start(START);
        events.extend(center.close(START + hours * HOUR));
        events.extend(center.end_of_shift(START + hours * HOUR + 60_000));
    }
    events.sort_by_key(time);
    events
}

#[test]
fn the_floor_is_valid_consistent_and_reproducible() {
    let events = floor(11, 72);
    assert!(events.len() > 50_000, "{}", events.len());
    let now = events.iter().map(time).max().unwrap();
    for e in &events {
        validate(e, &Limits::default(), now).unwrap_or_else(|r| panic!("{r}: {e:?}"));
    }
    agents_agree_with_their_contacts(&events);
    every_feature_shows(&events);
    assert_eq!(events, floor(11, 72), "the same seed, the same events");
    assert_ne!(events, floor(12, 72));
}

#[derive(Default)]
struct Seen {
    /// Contacts in a segment with the agent, and in its after-contact work.
    talking: HashSet<String>,
    wrapping: HashSet<String>,
    voice: bool,
    state: Option<AgentState>,
}

/// Replays the events in their order: an agent's contacts never exceed its slots, a voice
/// agent's answer comes after the end of its previous work (not in the same millisecond,
/// which consumers would order answer first), and once every event of a millisecond is
/// applied each agent's reported state is what its contacts make it (BUSY while talking,
/// AFTER_CONTACT_WORK while wrapping up, else available, on a break or offline).
fn agents_agree_with_their_contacts(events: &[Event]) {
    let mut agents: HashMap<(String, String), Seen> = HashMap::new();
    // The agent of each contact's current segment or wrap-up.
    let mut with: HashMap<(String, String), String> = HashMap::new();
    let mut touched: HashSet<(String, String)> = HashSet::new();
    // When each agent last finished a segment or a wrap-up.
    let mut released: HashMap<(String, String), i64> = HashMap::new();
    let (mut checked, mut i) = (0, 0);
    while i < events.len() {
        let at = time(&events[i]);
        while i < events.len() && time(&events[i]) == at {
            let e = &events[i];
            i += 1;
            let agent = (e.tenant_id.clone(), e.agent_id.clone());
            let contact = (e.tenant_id.clone(), e.contact_id.clone());
            match kind(e) {
                EventType::AgentStateChanged => {
                    agents.entry(agent.clone()).or_default().state =
                        Some(AgentState::try_from(e.agent_state).unwrap());
                }
                EventType::ContactAnswered => {
                    let seen = agents.entry(agent.clone()).or_default();
                    seen.voice = matches!(
                        Channel::try_from(e.channel).unwrap(),
                        Channel::Voice | Channel::Video
                    );
                    seen.talking.insert(e.contact_id.clone());
                    if seen.voice {
                        assert!(released.get(&agent).is_none_or(|&r| r < at), "{e:?}");
                    }
                    let slots = if seen.voice { 1 } else { CONCURRENCY };
                    let held = seen.talking.len() + seen.wrapping.len();
                    assert!(held as u32 <= slots, "{agent:?} holds {held} at {at}");
                    assert!(with.insert(contact, agent.1.clone()).is_none());
                }
                EventType::ContactTransferred => {
                    let seen = agents.get_mut(&agent).unwrap();
                    assert!(seen.talking.remove(&e.contact_id), "{e:?}");
                    with.remove(&contact);
                    released.insert(agent.clone(), at);
                }
                EventType::ContactEnded if !e.agent_id.is_empty() => {
                    let seen = agents.get_mut(&agent).unwrap();
                    assert!(seen.talking.remove(&e.contact_id), "{e:?}");
                    seen.wrapping.insert(e.contact_id.clone());
                }
                EventType::WrapupEnded => {
                    let seen = agents.get_mut(&agent).unwrap();
                    assert!(seen.wrapping.remove(&e.contact_id), "{e:?}");
                    with.remove(&contact);
                    released.insert(agent.clone(), at);
                }
                _ => continue,
            }
            touched.insert(agent);
        }
        for agent in touched.drain() {
            let seen = &agents[&agent];
            let state = seen.state.unwrap_or(AgentState::Available);
            let want = if !seen.talking.is_empty() {
                Some(AgentState::Busy)
            } else if !seen.wrapping.is_empty() {
                Some(AgentState::AfterContactWork)
            } else {
                None
            };
            match want {
                Some(want) => assert_eq!(state, want, "{agent:?} at {at}"),
                None => assert!(
                    matches!(
                        state,
                        AgentState::Available | AgentState::Break | AgentState::Offline
                    ),
                    "{agent:?} at {at}: {state:?} with no contact"
                ),
            }
            checked += 1;
        }
    }
    assert!(checked > 10_000, "{checked}");
    assert!(
        with.is_empty(),
        "contacts left with an agent: {}",
        with.len()
    );
}

/// Every event type, channel and signal the floor is meant to produce shows up.
fn every_feature_shows(events: &[Event]) {
    let mut kinds: BTreeMap<EventType, usize> = BTreeMap::new();
    let mut states = HashSet::new();
    let mut callbacks_asked = HashSet::new();
    let (mut callbacks, mut self_served, mut mos, mut cases) = (0, 0, 0, HashMap::new());
    let mut answered = HashSet::new();
    for e in events {
        *kinds.entry(kind(e)).or_default() += 1;
        match kind(e) {
            EventType::AgentStateChanged => {
                states.insert(e.agent_state);
            }
            EventType::CallbackRequested => {
                callbacks_asked.insert(e.contact_id.clone());
            }
            EventType::ContactOffered => {
                if !e.callback_of.is_empty() {
                    assert!(callbacks_asked.contains(&e.callback_of), "{e:?}");
                    callbacks += 1;
                }
                *cases.entry(e.case_id.clone()).or_insert(0) += 1;
            }
            EventType::ContactAnswered => {
                answered.insert(e.contact_id.clone());
            }
            EventType::ContactEnded => {
                if e.resolved && !answered.contains(&e.contact_id) {
                    self_served += 1;
                }
                if let Some(m) = e.mos {
                    let channel = Channel::try_from(e.channel).unwrap();
                    assert!(matches!(channel, Channel::Voice | Channel::Video), "{e:?}");
                    assert!((1.0..=5.0).contains(&m));
                    mos += 1;
                }
            }
            _ => {}
        }
    }
    for k in 1..=12 {
        let k = EventType::try_from(k).unwrap();
        assert!(
            kinds.get(&k).copied().unwrap_or(0) > 0,
            "no {k:?}: {kinds:?}"
        );
    }
    assert_eq!(states.len(), 5, "every agent state: {states:?}");
    assert!(callbacks > 0 && self_served > 0 && mos > 0);
    let multi = cases.values().filter(|&&n| n > 1).count();
    assert!(multi > 100, "cases spanning contacts: {multi}");
}
