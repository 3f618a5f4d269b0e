//! A simulated contact center. It produces the events of whole contacts — offer, wait, answer
//! or abandon, holds, transfers, end, wrap-up, survey, sentiment — and the agents' state
//! changes, for several tenants, from a seed (the same seed gives the same events). Customers
//! come back (repeat contacts), some are unhappy (churn alerts). Every event is valid.

use ccx_model::{ms_timestamp, AgentState, Channel, Direction, Event, EventType, SurveyType};

/// A small, fast, reproducible random source (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub tenants: Vec<String>,
    pub queues: Vec<String>,
    pub agents: usize,
    pub customers: usize,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            tenants: vec!["tenant-0".into(), "tenant-1".into()],
            queues: vec!["support".into(), "billing".into(), "sales".into()],
            agents: 12,
            customers: 200,
            seed: 7,
        }
    }
}

const REASONS: [&str; 4] = ["billing", "outage", "", "upgrade"];
const CHANNELS: [Channel; 5] = [
    Channel::Voice,
    Channel::Voice,
    Channel::Chat,
    Channel::Email,
    Channel::Messaging,
];

/// The simulator: call [`Sim::contact`] per contact, or [`Sim::generate`] for a stream.
pub struct Sim {
    config: SimConfig,
    rng: Rng,
    contacts: u64,
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        let rng = Rng::new(config.seed);
        Sim {
            config,
            rng,
            contacts: 0,
        }
    }

    /// `contacts` contacts offered at `per_second` on average from `start_ms`, all events
    /// sorted by time (agent state changes included).
    pub fn generate(&mut self, start_ms: i64, contacts: usize, per_second: f64) -> Vec<Event> {
        // Exponential-like spacing around the mean gap, kept in fractional milliseconds so
        // that rates above 1,000 contacts/s are exact on average.
        let gap = 1000.0 / per_second.max(0.001);
        let mut at = start_ms as f64;
        let mut events = Vec::new();
        for _ in 0..contacts {
            at += gap * 2.0 * (self.rng.range(0, 1_000_000) as f64 / 1_000_000.0);
            events.extend(self.contact(at as i64));
        }
        events.sort_by_key(|e| e.occurred_at.as_ref().map(ccx_model::timestamp_ms));
        events
    }

    /// Every agent of every tenant goes OFFLINE at `at` (the end of a simulated shift): no
    /// agent state stays open, so agent-state rows no longer grow with the watermark.
    pub fn end_of_shift(&mut self, at: i64) -> Vec<Event> {
        let mut out = Vec::new();
        for tenant in &self.config.tenants {
            for a in 0..self.config.agents.max(2) {
                out.push(Event {
                    event_id: format!("shift-end-{}-{a}-{at}", self.config.seed),
                    tenant_id: tenant.clone(),
                    r#type: EventType::AgentStateChanged as i32,
                    occurred_at: Some(ms_timestamp(at)),
                    agent_id: format!("agent-{a}"),
                    agent_state: AgentState::Offline as i32,
                    ..Event::default()
                });
            }
        }
        out
    }

    /// One tenant's contact center from `start`, `minutes` long (a contact every 2 s, 40
    /// customers, 6 agents), ending with every agent offline, in the order its source sends
    /// it: each event up to `disorder_ms` after its time.
    pub fn source_history(
        tenant: &str,
        seed: u64,
        start: i64,
        minutes: i64,
        disorder_ms: i64,
    ) -> Vec<Event> {
        let time = |e: &Event| e.occurred_at.as_ref().map_or(0, ccx_model::timestamp_ms);
        let mut sim = Sim::new(SimConfig {
            tenants: vec![tenant.to_string()],
            seed,
            customers: 40,
            agents: 6,
            ..SimConfig::default()
        });
        let per_second = 0.5;
        let contacts = (minutes * 60) as usize / 2;
        let mut events = sim.generate(start, contacts, per_second);
        let end = events.iter().map(time).max().unwrap_or(start) + 60_000;
        events.extend(sim.end_of_shift(end));
        let mut rng = Rng::new(seed);
        let mut sent: Vec<(i64, Event)> = events
            .into_iter()
            .map(|e| (time(&e) + rng.range(0, disorder_ms), e))
            .collect();
        sent.sort_by_key(|(at, _)| *at);
        sent.into_iter().map(|(_, e)| e).collect()
    }

    /// The events of one contact offered at `at` (and its agents' state changes).
    pub fn contact(&mut self, at: i64) -> Vec<Event> {
        self.contacts += 1;
        let r = &mut self.rng;
        let tenant = r.pick(&self.config.tenants).clone();
        let contact_id = format!("c{}-{}", self.config.seed, self.contacts);
        let customer = format!("cust-{}", r.range(0, self.config.customers as i64 - 1));
        let queue = r.pick(&self.config.queues).clone();
        let channel = *r.pick(&CHANNELS);
        let inbound = r.chance(0.85);
        let reason = r.pick(&REASONS).to_string();
        // A third of contacts name a case: the customer's issue, shared with their other
        // contacts about it.
        let case = r
            .chance(0.33)
            .then(|| format!("case-{customer}-{}", r.range(0, 1)));
        let mos = |r: &mut Rng| r.range(1000, 5000) as f64 / 1000.0;
        let media = matches!(channel, Channel::Voice | Channel::Video);
        let mut out = Vec::new();
        let mut n = 0;
        let base = Event {
            tenant_id: tenant.clone(),
            contact_id: contact_id.clone(),
            channel: channel as i32,
            direction: if inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            } as i32,
            queue_id: queue,
            ..Event::default()
        };
        let mut push = |kind: EventType, t: i64, f: &dyn Fn(&mut Event)| {
            n += 1;
            let mut e = base.clone();
            e.event_id = format!("{contact_id}-{n}");
            e.r#type = kind as i32;
            e.occurred_at = Some(ms_timestamp(t));
            f(&mut e);
            out.push(e);
        };
        push(EventType::ContactOffered, at, &|e| {
            e.customer_id = customer.clone();
            e.reason = reason.clone();
            e.case_id = case.clone().unwrap_or_default();
        });
        let r = &mut self.rng;
        let agents = self.config.agents.max(2) as i64;
        let agent = format!("agent-{}", r.range(0, agents - 1));
        if r.chance(0.12) {
            let wait = r.range(500, 120_000);
            push(EventType::ContactAbandoned, at + wait, &|_| {});
            return out;
        }
        if inbound && r.chance(0.04) {
            // The customer asks to be called back; an outbound attempt follows within minutes
            // (attempts outside the callback window are the golden fixtures' business: here
            // they would stretch every simulated history by a day).
            let asked = at + r.range(20_000, 180_000);
            push(EventType::CallbackRequested, asked, &|_| {});
            let back = asked + r.range(60_000, 300_000);
            let attempt = format!("{contact_id}-cb");
            let outbound = |kind: EventType, t: i64, f: &dyn Fn(&mut Event)| {
                let mut e = base.clone();
                e.event_id = format!("{attempt}-{}", kind as i32);
                e.contact_id = attempt.clone();
                e.direction = Direction::Outbound as i32;
                e.r#type = kind as i32;
                e.occurred_at = Some(ms_timestamp(t));
                f(&mut e);
                e
            };
            out.push(outbound(EventType::ContactOffered, back, &|e| {
                e.customer_id = customer.clone();
                e.callback_of = contact_id.clone();
                e.case_id = case.clone().unwrap_or_default();
            }));
            if r.chance(0.7) {
                let talk = r.range(30_000, 300_000);
                out.push(outbound(EventType::ContactAnswered, back + 5_000, &|e| {
                    e.agent_id = agent.clone()
                }));
                let quality = media.then(|| mos(r));
                out.push(outbound(
                    EventType::ContactEnded,
                    back + 5_000 + talk,
                    &|e| {
                        e.agent_id = agent.clone();
                        e.resolved = true;
                        e.mos = quality;
                    },
                ));
            } else {
                out.push(outbound(
                    EventType::ContactAbandoned,
                    back + 30_000,
                    &|_| {},
                ));
            }
            return out;
        }
        if r.chance(0.03) {
            // Served by self-service before reaching an agent.
            let t = at + r.range(2_000, 60_000);
            push(EventType::ContactEnded, t, &|e| e.resolved = true);
            return out;
        }
        let mut t = at + r.range(1_000, 45_000);
        let mut current = agent.clone();
        push(EventType::ContactAnswered, t, &|e| {
            e.agent_id = current.clone()
        });
        let mut states = vec![(current.clone(), t, AgentState::Busy)];
        let transfers = if r.chance(0.12) { r.range(1, 2) } else { 0 };
        for segment in 0..=transfers {
            let talk = r.range(20_000, 400_000);
            if r.chance(0.3) {
                let hold_at = t + r.range(1_000, talk / 2);
                push(EventType::HoldStarted, hold_at, &|e| {
                    e.agent_id = current.clone()
                });
                if r.chance(0.85) {
                    let back = hold_at + r.range(2_000, talk / 3);
                    push(EventType::HoldEnded, back, &|e| {
                        e.agent_id = current.clone()
                    });
                }
            }
            t += talk;
            if segment < transfers {
                let next = format!("agent-{}", r.range(0, agents - 1));
                push(EventType::ContactTransferred, t, &|e| {
                    e.agent_id = current.clone();
                    e.to_queue_id = "escalations".into();
                });
                states.push((current.clone(), t, AgentState::Available));
                t += r.range(2_000, 60_000);
                current = next;
                push(EventType::ContactAnswered, t, &|e| {
                    e.agent_id = current.clone()
                });
                states.push((current.clone(), t, AgentState::Busy));
            }
        }
        let resolved = r.chance(0.7);
        let converted = !inbound && r.chance(0.2);
        let quality = (media && r.chance(0.8)).then(|| mos(r));
        push(EventType::ContactEnded, t, &|e| {
            e.agent_id = current.clone();
            e.resolved = resolved;
            e.converted = converted;
            e.mos = quality;
        });
        states.push((current.clone(), t, AgentState::AfterContactWork));
        let wrap = t + r.range(5_000, 90_000);
        push(EventType::WrapupEnded, wrap, &|e| {
            e.agent_id = current.clone()
        });
        states.push((current.clone(), wrap, AgentState::Available));
        if r.chance(0.35) {
            let (survey, score) = match r.range(0, 2) {
                0 => (SurveyType::Nps, r.range(0, 10)),
                1 => (SurveyType::Csat, r.range(1, 5)),
                _ => (SurveyType::Ces, r.range(1, 7)),
            };
            push(
                EventType::SurveyResponded,
                wrap + r.range(1_000, 30_000),
                &|e| {
                    e.survey_type = survey as i32;
                    e.score = Some(score as i32);
                    e.agent_id = current.clone();
                },
            );
        }
        if r.chance(0.5) {
            let sentiment = r.range(-1000, 1000) as f64 / 1000.0;
            push(
                EventType::SentimentScored,
                t + r.range(1_000, 20_000),
                &|e| {
                    e.sentiment = Some(sentiment);
                },
            );
        }
        if r.chance(0.1) {
            // A coach scores the agent's handling of this contact.
            let score = r.range(0, 100) as i32;
            n += 1;
            out.push(Event {
                event_id: format!("{contact_id}-qa{n}"),
                tenant_id: tenant.clone(),
                r#type: EventType::QaScored as i32,
                occurred_at: Some(ms_timestamp(wrap + r.range(10_000, 120_000))),
                agent_id: current.clone(),
                channel: channel as i32,
                contact_id: contact_id.clone(),
                score: Some(score),
                ..Event::default()
            });
        }
        for (agent_id, at, state) in states {
            n += 1;
            out.push(Event {
                event_id: format!("{contact_id}-s{n}"),
                tenant_id: tenant.clone(),
                r#type: EventType::AgentStateChanged as i32,
                occurred_at: Some(ms_timestamp(at)),
                agent_id,
                agent_state: state as i32,
                ..Event::default()
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccx_model::{validate, Limits};

    #[test]
    fn every_simulated_event_is_valid_and_the_seed_reproduces() {
        let start = 1_790_000_000_000;
        let events = Sim::new(SimConfig::default()).generate(start, 500, 5.0);
        assert!(events.len() > 2_000, "{}", events.len());
        let last = events
            .last()
            .and_then(|e| e.occurred_at.as_ref())
            .map(ccx_model::timestamp_ms);
        for e in &events {
            validate(e, &Limits::default(), last.unwrap_or(start)).unwrap();
        }
        let again = Sim::new(SimConfig::default()).generate(start, 500, 5.0);
        assert_eq!(events, again);
    }
}
