//! The discrete-event model of one tenant's center: a clock, the steps scheduled ahead of it
//! (an arrival, a customer's patience running out, the end of a talk or of a break...), and
//! the state they change. Steps run in time order (ties in the order they were scheduled), so
//! a seed gives the same events every time. The contact journey is in `flow`, agents'
//! breaks and shifts in `duty`.

pub(crate) mod agents;
mod close;
pub(crate) mod contacts;
mod duty;
mod flow;
mod waiting;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use ccx_model::Event;

use crate::config::{CenterConfig, MediaKind};
use crate::customers::Customers;
use crate::emit::Output;
use crate::rng::Rng;
use agents::{Agent, Agents, Duty};
use contacts::Contacts;
use waiting::Waiting;

/// A step scheduled for a time. Contacts are named by slot; steps that a contact may outrun
/// (its patience, a callback offer) also carry its line ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// A contact of stream `stream`; `live` streams schedule their next arrival.
    Arrive {
        stream: usize,
        live: bool,
    },
    Pickup(u32),
    NoAnswer(u32),
    IvrEnd(u32),
    Patience {
        slot: u32,
        ticket: u64,
    },
    OfferCallback {
        slot: u32,
        ticket: u64,
    },
    DialBack(u32),
    Requeue(u32),
    Connect(u32),
    SegmentEnd(u32),
    WrapEnd(u32),
    /// An agent leaves for a break or the end of the shift (once its contacts are done).
    Leave {
        agent: usize,
        to: DutyTo,
    },
    /// An agent back from a break or starting a shift (ignored if it is no longer there).
    Back {
        agent: usize,
        from: DutyTo,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DutyTo {
    Break,
    Offline,
}

/// One tenant's simulated contact center. [`Center::start`] then [`Center::run_until`] runs it
/// live from its own arrival streams; [`Center::inject`] then [`Center::drain`] runs given
/// arrivals to completion.
pub struct Center {
    config: CenterConfig,
    rng: Rng,
    clock: i64,
    seq: u64,
    steps: BinaryHeap<Reverse<(i64, u64, Step)>>,
    /// The next arrival of each live stream, fractional ms.
    next_arrival: Vec<f64>,
    /// Injected arrivals not yet run.
    injected: usize,
    contacts: Contacts,
    waiting: Waiting,
    agents: Agents,
    customers: Customers,
    out: Output,
    prefix: String,
    offered: u64,
    tickets: u64,
    /// Per queue × media kind: some agent has the skill (a transfer only goes where it can
    /// be answered).
    served: Vec<bool>,
    /// [`Center::end_of_shift`] sent everyone home.
    day_over: bool,
}

impl Center {
    pub fn new(config: CenterConfig) -> Center {
        let queues = config.queues.len().max(1);
        let mut list = Vec::new();
        let mut served = vec![false; queues * 2];
        for (t, team) in config.teams.iter().enumerate() {
            for &q in &team.skills {
                served[q * 2 + team.media.kind() as usize] = true;
            }
            for rank in 0..team.agents {
                list.push(Agent::new(t, rank, team.skills.clone(), team.media));
            }
        }
        let prefix = format!("c{:x}", config.seed);
        Center {
            rng: Rng::new(config.seed),
            clock: i64::MIN,
            seq: 0,
            steps: BinaryHeap::new(),
            next_arrival: vec![0.0; config.streams.len()],
            injected: 0,
            contacts: Contacts::default(),
            waiting: Waiting::new(queues),
            agents: Agents::new(list, queues),
            customers: Customers::new(config.customers, config.reasons.len()),
            out: Output::new(&config.tenant, &prefix),
            prefix,
            offered: 0,
            tickets: 0,
            served,
            day_over: false,
            config,
        }
    }

    pub fn config(&self) -> &CenterConfig {
        &self.config
    }

    /// The time of the last step run.
    pub fn clock(&self) -> i64 {
        self.clock
    }

    /// Agents in the center.
    pub fn agents(&self) -> usize {
        self.agents.list.len()
    }

    /// Starts the center at `at`: agents log in (or wait for their shift), breaks are
    /// planned, and every stream starts arriving on its own. Once, on a center not run yet
    /// (a second call does nothing).
    pub fn start(&mut self, at: i64) {
        if self.clock != i64::MIN {
            return;
        }
        self.clock = at;
        self.plan_duty(at, true);
        for s in 0..self.config.streams.len() {
            self.next_arrival[s] = at as f64;
            self.schedule_arrival(s);
        }
    }

    /// A contact of stream `stream` arriving at `at` (not before the clock), to be run by
    /// [`Center::drain`] or [`Center::run_until`]. Agents are on duty from the first arrival.
    pub fn inject(&mut self, at: i64, stream: usize) {
        if self.clock == i64::MIN {
            self.clock = at;
            self.plan_duty(at, false);
        }
        if std::mem::take(&mut self.day_over) {
            self.log_back_in(at.max(self.clock));
        }
        self.injected += 1;
        let at = at.max(self.clock);
        self.schedule(
            at,
            Step::Arrive {
                stream,
                live: false,
            },
        );
    }

    /// Runs every step before `until` and returns the events before it, in time order.
    pub fn run_until(&mut self, until: i64) -> Vec<Event> {
        while let Some(&Reverse((at, _, step))) = self.steps.peek() {
            if at >= until {
                break;
            }
            self.steps.pop();
            self.run(at, step);
        }
        self.clock = self.clock.max(until);
        self.out.take_before(until)
    }

    /// Runs until every injected arrival and every contact offered is done, and returns all
    /// the events decided (some, like surveys, later than the last step). With `close_at`,
    /// what is still in progress then ends then ([`Center::close`]).
    pub fn drain(&mut self, close_at: Option<i64>) -> Vec<Event> {
        while self.injected > 0 || self.contacts.open() > 0 {
            let Some(&Reverse((at, _, step))) = self.steps.peek() else {
                break;
            };
            if let Some(close) = close_at.filter(|&close| at >= close) {
                return self.close(close);
            }
            self.steps.pop();
            self.run(at, step);
        }
        self.out.take_all()
    }

    /// Every agent not offline goes offline at `at`, whatever it is doing (the end of the
    /// simulated day: no agent state stays open): those events. Agents without a shift come
    /// back at the next injected arrival.
    pub fn end_of_shift(&mut self, at: i64) -> Vec<Event> {
        self.day_over = true;
        let mut out = Vec::new();
        for a in 0..self.agents.list.len() {
            let agent = &mut self.agents.list[a];
            if agent.duty != Duty::Offline {
                agent.duty = Duty::Offline;
                agent.leaving = None;
                agent.shown = Some(ccx_model::AgentState::Offline);
                out.push(
                    self.out
                        .agent_state_now(a, ccx_model::AgentState::Offline, at),
                );
                self.agents.offer(a);
            }
        }
        out
    }

    fn schedule(&mut self, at: i64, step: Step) {
        self.seq += 1;
        self.steps.push(Reverse((at, self.seq, step)));
    }

    fn schedule_arrival(&mut self, s: usize) {
        let stream = &self.config.streams[s];
        let next = crate::arrivals::next(
            &mut self.rng,
            self.next_arrival[s],
            stream.per_hour,
            self.config.profile.as_ref(),
        );
        if let Some(at) = next {
            self.next_arrival[s] = at;
            self.schedule(
                at as i64,
                Step::Arrive {
                    stream: s,
                    live: true,
                },
            );
        }
    }

    fn run(&mut self, at: i64, step: Step) {
        self.clock = self.clock.max(at);
        let t = self.clock;
        match step {
            Step::Arrive { stream, live } => {
                if live {
                    self.schedule_arrival(stream);
                } else {
                    self.injected -= 1;
                }
                self.arrive(stream, t);
            }
            Step::Pickup(slot) => self.pickup(slot, t),
            Step::NoAnswer(slot) => self.no_answer(slot, t),
            Step::IvrEnd(slot) => self.ivr_end(slot, t),
            Step::Patience { slot, ticket } => {
                if self.contacts.waits(slot, ticket) {
                    self.abandon(slot, t);
                }
            }
            Step::OfferCallback { slot, ticket } => {
                if self.contacts.waits(slot, ticket) {
                    self.offer_callback(slot, t);
                }
            }
            Step::DialBack(slot) => self.dial_back(slot, t),
            Step::Requeue(slot) => self.enqueue(slot, t),
            Step::Connect(slot) => self.connect(slot, t),
            Step::SegmentEnd(slot) => self.segment_end(slot, t),
            Step::WrapEnd(slot) => self.wrap_end(slot, t),
            Step::Leave { agent, to } => self.leave(agent, to, t),
            Step::Back { agent, from } => self.back(agent, from, t),
        }
    }

    /// Reports agent `a`'s state if it changed.
    fn show(&mut self, a: usize, t: i64) {
        let agent = &mut self.agents.list[a];
        let state = agent.state();
        if agent.shown != Some(state) {
            agent.shown = Some(state);
            self.out.agent_state(a, state, t);
        }
    }

    fn kind_of(&self, slot: u32) -> MediaKind {
        crate::config::Media::of(self.contacts.get(slot).expect("live").channel)
    }
}
