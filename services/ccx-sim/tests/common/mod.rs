//! What the tests share: a plain one-queue voice center, and the figures consumers compute
//! from its events (waits from `CONTACT_OFFERED` to the first `CONTACT_ANSWERED` or to the
//! abandon), read from the event stream, not from the model's insides.

#![allow(dead_code)]

use std::collections::HashMap;

use ccx_model::{timestamp_ms, Channel, Direction, Event, EventType};
use ccx_sim::{Behaviour, Center, CenterConfig, Dist, Media, Stream, Team};

pub const START: i64 = 1_790_000_000_000;
pub const HOUR: i64 = 3_600_000;

pub fn time(e: &Event) -> i64 {
    e.occurred_at.as_ref().map_or(0, timestamp_ms)
}

pub fn kind(e: &Event) -> EventType {
    EventType::try_from(e.r#type).unwrap()
}

/// One inbound voice queue, `agents` agents always on duty, `per_hour` arrivals with
/// exponential handle times of `aht_s` and no after-contact work: an M/M/N queue, with
/// exponential patience of `patience_s` if given.
pub fn plain_center(
    seed: u64,
    agents: usize,
    per_hour: f64,
    aht_s: f64,
    patience_s: Option<f64>,
) -> CenterConfig {
    CenterConfig {
        tenant: "plain".into(),
        seed,
        queues: vec!["q".into()],
        streams: vec![Stream {
            queue: 0,
            channel: Channel::Voice,
            direction: Direction::Inbound,
            per_hour,
            talk: Dist::Exponential {
                mean_ms: aht_s * 1000.0,
            },
            wrap: Dist::Fixed(0.0),
            patience: patience_s.map(|s| Dist::Exponential {
                mean_ms: s * 1000.0,
            }),
        }],
        teams: vec![Team {
            agents,
            skills: vec![0],
            media: Media::Voice,
            shift: None,
            breaks: None,
        }],
        customers: 10_000,
        reasons: vec![String::new()],
        profile: None,
        behaviour: Behaviour::queueing_only(),
    }
}

/// Queue figures from events: offers, first answers and abandons of contacts offered at or
/// after `from`.
#[derive(Debug, Default)]
pub struct Waits {
    offered_at: HashMap<String, i64>,
    pub offered: u64,
    pub answered: u64,
    pub answered_in_20s: u64,
    pub wait_answered_ms: u64,
    pub abandoned: u64,
    from: i64,
}

impl Waits {
    pub fn from(from: i64) -> Waits {
        Waits {
            from,
            ..Waits::default()
        }
    }

    pub fn add(&mut self, e: &Event) {
        match kind(e) {
            EventType::ContactOffered if time(e) >= self.from => {
                self.offered += 1;
                self.offered_at.insert(e.contact_id.clone(), time(e));
            }
            EventType::ContactAnswered | EventType::ContactAbandoned => {
                let Some(at) = self.offered_at.remove(&e.contact_id) else {
                    return;
                };
                if kind(e) == EventType::ContactAbandoned {
                    self.abandoned += 1;
                    return;
                }
                let wait = time(e) - at;
                self.answered += 1;
                self.wait_answered_ms += wait as u64;
                self.answered_in_20s += u64::from(wait <= 20_000);
            }
            _ => {}
        }
    }

    pub fn asa_s(&self) -> f64 {
        self.wait_answered_ms as f64 / 1000.0 / self.answered as f64
    }

    pub fn sl_pct(&self) -> f64 {
        100.0 * self.answered_in_20s as f64 / (self.answered + self.abandoned) as f64
    }

    pub fn abandon_pct(&self) -> f64 {
        100.0 * self.abandoned as f64 / (self.answered + self.abandoned) as f64
    }
}

/// Runs `center` live for `hours` hours, feeding every event to `each`, an hour at a time
/// (a long run never holds all its events at once).
pub fn run(center: &mut Center, hours: i64, mut each: impl FnMut(&Event)) {
    center.start(START);
    for h in 1..=hours {
        for e in center.run_until(START + h * HOUR) {
            each(&e);
        }
    }
}
