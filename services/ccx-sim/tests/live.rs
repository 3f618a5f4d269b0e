//! The live feed the demo reads a minute at a time: chunking does not change the events, the
//! arrival rate holds hour after hour, and the centers do not pile up contacts.

mod common;

use ccx_model::EventType;
use ccx_sim::{Sim, SimConfig};
use common::{kind, time, HOUR, START};

fn live(chunk_ms: i64, hours: i64) -> Vec<ccx_model::Event> {
    let mut sim = Sim::new(SimConfig::default());
    sim.start(START, 2.0);
    let mut events = Vec::new();
    let mut until = START;
    while until < START + hours * HOUR {
        until += chunk_ms;
        let chunk = sim.run_until(until);
        assert!(chunk
            .iter()
            .all(|e| time(e) < until && time(e) >= until - chunk_ms));
        events.extend(chunk);
    }
    events
}

#[test]
fn a_minute_at_a_time_is_the_same_feed_and_it_keeps_its_rate() {
    let by_minute = live(60_000, 6);
    assert_eq!(by_minute, live(6 * HOUR, 6));
    let mut offered = [0u32; 6];
    let mut open: i64 = 0;
    for e in &by_minute {
        let hour = ((time(e) - START) / HOUR) as usize;
        match kind(e) {
            EventType::ContactOffered => {
                offered[hour] += 1;
                open += 1;
            }
            EventType::ContactAbandoned | EventType::CallbackRequested | EventType::WrapupEnded => {
                open -= 1
            }
            EventType::ContactEnded if e.agent_id.is_empty() => open -= 1,
            _ => {}
        }
    }
    println!("offered per hour {offered:?}, {open} open at the end");
    // 2 contacts a second, callback attempts on top.
    for n in offered {
        assert!((7_000..7_700).contains(&n), "{offered:?}");
    }
    // In progress at the end: about the traffic's Erlangs, not a backlog.
    assert!(open < 1_500, "{open} contacts open");
}
