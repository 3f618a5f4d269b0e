//! A queue staffed below its target ([`SimConfig::understaffed`]) shows it in the events: its
//! inbound voice calls wait longer and are abandoned more than the other queues', and more
//! than the same queue's when fully staffed.

mod common;

use std::collections::BTreeMap;

use ccx_model::{Channel, Direction};
use ccx_sim::{Sim, SimConfig};
use common::{Waits, HOUR, START};

/// Inbound voice figures per queue over two hours of `config`'s centers (the first half hour,
/// while queues form, left out).
fn voice_waits(config: SimConfig) -> BTreeMap<String, Waits> {
    let mut sim = Sim::new(config);
    sim.start(START, 2.0);
    let mut waits: BTreeMap<String, Waits> = BTreeMap::new();
    for e in sim.run_until(START + 2 * HOUR) {
        if e.channel != Channel::Voice as i32 || e.direction != Direction::Inbound as i32 {
            continue;
        }
        waits
            .entry(e.queue_id.clone())
            .or_insert_with(|| Waits::from(START + HOUR / 2))
            .add(&e);
    }
    waits
}

#[test]
fn an_understaffed_queue_waits_longer_and_loses_more_calls() {
    let base = SimConfig {
        tenants: vec!["t".into()],
        seed: 11,
        ..SimConfig::default()
    };
    let short = voice_waits(SimConfig {
        understaffed: vec![("sales".into(), 0.7)],
        ..base.clone()
    });
    let full = voice_waits(base);
    for (queue, w) in &short {
        println!(
            "{queue}: SL {:.1} %, ASA {:.1} s, abandoned {:.1} % (fully staffed: SL {:.1} %)",
            w.sl_pct(),
            w.asa_s(),
            w.abandon_pct(),
            full[queue].sl_pct()
        );
        assert!(w.offered > 500, "{queue}: {w:?}");
    }
    let sales = &short["sales"];
    for queue in ["support", "billing"] {
        let other = &short[queue];
        assert!(sales.sl_pct() + 20.0 < other.sl_pct(), "{queue}: {other:?}");
        assert!(
            sales.abandon_pct() > other.abandon_pct() + 5.0,
            "{queue}: {other:?}"
        );
    }
    assert!(sales.sl_pct() + 20.0 < full["sales"].sl_pct());
    assert!(full["sales"].sl_pct() > 60.0, "{:?}", full["sales"]);
}
