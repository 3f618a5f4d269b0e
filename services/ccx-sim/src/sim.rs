//! [`Sim`]: the tenants' centers behind the simple calls the demo, tests and benchmarks use.
//! The centers are planned (queues, streams, staffing) from [`SimConfig`] and the traffic of
//! the first call, then kept: later calls continue the same simulated day.

use ccx_model::{ms_timestamp, AgentState, Event, EventType};

use crate::config::SimConfig;
use crate::model::Center;
use crate::plan;
use crate::rng::Rng;

pub struct Sim {
    config: SimConfig,
    rng: Rng,
    centers: Vec<Center>,
    /// Single contacts made by [`Sim::contact`] (seeds their scratch centers).
    singles: u64,
}

fn time(e: &Event) -> i64 {
    e.occurred_at.as_ref().map_or(0, ccx_model::timestamp_ms)
}

/// Merges the centers' event lists (each in time order) into one in time order.
fn by_time(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by_key(time);
    events
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        let rng = Rng::new(config.seed);
        Sim {
            config,
            rng,
            centers: Vec::new(),
            singles: 0,
        }
    }

    /// The tenants' centers (planned by the first call that simulates).
    pub fn centers(&self) -> &[Center] {
        &self.centers
    }

    fn plan(&mut self, per_second: f64) {
        if self.centers.is_empty() {
            self.centers = (0..self.config.tenants.len())
                .map(|t| Center::new(plan::center(&self.config, t, per_second)))
                .collect();
        }
    }

    /// `contacts` contacts offered at `per_second` on average (a Poisson process over all
    /// tenants) from `start_ms`, run until each is done — or, with [`SimConfig::close_after_ms`],
    /// until the centers close that long after the last arrival and what is in progress ends:
    /// all their events and the agents' state changes, sorted by time. The first call staffs the centers for `per_second`; a
    /// later call continues the same centers, its arrivals starting no earlier than where the
    /// previous call stopped (for a live feed, use [`Sim::start`] and [`Sim::run_until`]).
    pub fn generate(&mut self, start_ms: i64, contacts: usize, per_second: f64) -> Vec<Event> {
        self.plan(per_second);
        let clock = self
            .centers
            .iter()
            .map(Center::clock)
            .max()
            .unwrap_or(start_ms);
        // Which stream of which center an arrival belongs to: by the streams' rates, so
        // that each stream is a Poisson process of its own.
        let mut weights = Vec::new();
        for (c, center) in self.centers.iter().enumerate() {
            for (s, stream) in center.config().streams.iter().enumerate() {
                weights.push((c, s, stream.per_hour));
            }
        }
        let total: f64 = weights.iter().map(|w| w.2).sum();
        let gap = 1000.0 / per_second.max(0.001);
        let mut at = start_ms.max(clock) as f64;
        let mut last = at as i64;
        for _ in 0..contacts {
            at += self.rng.exponential(gap);
            let mut pick = self.rng.unit() * total;
            let mut chosen = weights[weights.len() - 1];
            for &w in &weights {
                if pick < w.2 {
                    chosen = w;
                    break;
                }
                pick -= w.2;
            }
            last = at as i64;
            self.centers[chosen.0].inject(last, chosen.1);
        }
        let close = self.config.close_after_ms.map(|after| last + after);
        by_time(
            self.centers
                .iter_mut()
                .flat_map(|c| c.drain(close))
                .collect(),
        )
    }

    /// Starts a live feed at `at`: `per_second` contacts a second over all tenants on average
    /// (times [`SimConfig::profile`] by hour), arriving on their own; read with
    /// [`Sim::run_until`].
    pub fn start(&mut self, at: i64, per_second: f64) {
        self.plan(per_second);
        for center in &mut self.centers {
            center.start(at);
        }
    }

    /// The live feed's events before `until`, sorted by time; the model keeps running from
    /// there on the next call, so it can go on forever in chunks.
    pub fn run_until(&mut self, until: i64) -> Vec<Event> {
        by_time(
            self.centers
                .iter_mut()
                .flat_map(|c| c.run_until(until))
                .collect(),
        )
    }

    /// Closes the live feed at `at`: its events before `at`, then everything in progress ends
    /// at `at` (see [`Center::close`]).
    pub fn close(&mut self, at: i64) -> Vec<Event> {
        by_time(self.centers.iter_mut().flat_map(|c| c.close(at)).collect())
    }

    /// Every agent of every tenant goes OFFLINE at `at` (the end of a simulated shift): no
    /// agent state stays open, so agent-state rows no longer grow with the watermark.
    pub fn end_of_shift(&mut self, at: i64) -> Vec<Event> {
        if self.centers.is_empty() {
            // Nothing simulated yet: the agents `SimConfig::agents` names.
            let mut out = Vec::new();
            for tenant in &self.config.tenants {
                for a in 0..self.config.agents.max(2) {
                    out.push(Event {
                        event_id: format!("shift-end-{}-{a}-{at}", self.config.seed),
                        tenant_id: tenant.clone(),
                        r#type: EventType::AgentStateChanged as i32,
                        occurred_at: Some(ms_timestamp(at)),
                        agent_id: crate::emit::agent_id(a),
                        agent_state: AgentState::Offline as i32,
                        ..Event::default()
                    });
                }
            }
            return out;
        }
        by_time(
            self.centers
                .iter_mut()
                .flat_map(|c| c.end_of_shift(at))
                .collect(),
        )
    }

    /// One tenant's contact center running from `start` for `minutes` (a contact every 2 s
    /// on average, 40 customers, at least 6 agents), closing then (what is in progress ends)
    /// and every agent offline a minute later, in the order its source sends it: each
    /// event up to `disorder_ms` after its time.
    pub fn source_history(
        tenant: &str,
        seed: u64,
        start: i64,
        minutes: i64,
        disorder_ms: i64,
    ) -> Vec<Event> {
        let mut sim = Sim::new(SimConfig {
            tenants: vec![tenant.to_string()],
            seed,
            customers: 40,
            agents: 6,
            ..SimConfig::default()
        });
        sim.start(start, 0.5);
        let end = start + minutes * 60_000;
        let mut events = sim.close(end);
        events.extend(sim.end_of_shift(end + 60_000));
        let mut rng = Rng::new(seed);
        let mut sent: Vec<(i64, Event)> = events
            .into_iter()
            .map(|e| (time(&e) + rng.range(0, disorder_ms), e))
            .collect();
        sent.sort_by_key(|(at, _)| *at);
        sent.into_iter().map(|(_, e)| e).collect()
    }

    /// The events of one contact offered at `at` to a quiet center of its own (its tenant
    /// drawn from the config), with its agent's state changes: a sample of the event shapes.
    pub fn contact(&mut self, at: i64) -> Vec<Event> {
        self.singles += 1;
        let mut single = Sim::new(SimConfig {
            seed: self.config.seed ^ self.singles.rotate_right(16) ^ self.rng.next_u64(),
            ..self.config.clone()
        });
        single.generate(at, 1, 1.0 / 60.0)
    }
}
