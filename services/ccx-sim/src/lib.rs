//! A simulated contact center: a discrete-event model whose events are realistic and
//! reproducible (the same seed gives the same events), for the demo, tests and benchmarks.
//!
//! Contacts arrive per queue and channel (Poisson, optionally shaped by the hour of the day),
//! wait in line first-in-first-out, and are answered by agents with the skills for their
//! queue — one voice contact at a time, a few digital ones — so waits, service level and
//! abandonment come from the staffing, as in a real center. Customers give up, ask for a
//! callback, self-serve in the IVR, get held and transferred, come back about unresolved
//! issues (cases spanning contacts), answer surveys; outbound campaigns retry; agents take
//! breaks and work shifts, and their state changes follow the contacts they handle. Every
//! event is valid per SPEC §2 and §7.1.
//!
//! - `config`: what a center is made of (queues, streams, teams, behaviour), with defaults
//! - `plan`: a center sized by Erlang C from the few knobs of [`SimConfig`]
//! - `model`: the event loop and its state (contacts, lines, agents, duty)
//! - `arrivals`, `customers`, `outcomes`: when contacts come, who and why, how they end
//! - `emit`: the events written, in time order
//! - `sim`: [`Sim`], the tenants' centers behind the calls the rest of ccx makes

pub mod arrivals;
pub mod config;
pub mod customers;
mod emit;
pub mod model;
pub mod outcomes;
pub mod plan;
pub mod rng;
mod sim;

pub use config::{
    Behaviour, Breaks, CenterConfig, Dist, Media, MediaKind, Shift, SimConfig, Stream, Team,
    DAY_PROFILE,
};
pub use model::Center;
pub use rng::Rng;
pub use sim::Sim;

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
