//! A queue staffed below its target ([`SimConfig::understaffed`]) shows it in the events: its
//! inbound voice calls and chats wait longer and are abandoned more than the other queues',
//! and more than the same queue's when fully staffed.

mod common;

use std::collections::BTreeMap;

use ccx_model::{Channel, Direction};
use ccx_sim::{Sim, SimConfig};
use common::{Waits, HOUR, START};

/// Inbound `channel` figures per queue over two hours of `config`'s centers (the first half
/// hour, while queues form, left out).
fn waits(config: SimConfig, channel: Channel) -> BTreeMap<String, Waits> {
    let mut sim = Sim::new(config);
    sim.start(START, 2.0);
    let mut waits: BTreeMap<String, Waits> = BTreeMap::new();
    for e in sim.run_until(START + 2 * HOUR) {
        if e.channel != channel as i32 || e.direction != Direction::Inbound as i32 {
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
    let full_sales = short_queue_shows(Channel::Voice, 500);
    assert!(full_sales > 60.0, "fully staffed sales: SL {full_sales} %");
}

#[test]
fn an_understaffed_queue_also_answers_its_chats_later() {
    short_queue_shows(Channel::Chat, 150);
}

/// Sales staffed at 60 % of its target: its `channel` contacts (at least `offered` per queue)
/// are answered in time less often and abandoned more than the other queues', and than when
/// sales is fully staffed (whose service level it returns).
fn short_queue_shows(channel: Channel, offered: u64) -> f64 {
    let base = SimConfig {
        tenants: vec!["t".into()],
        seed: 11,
        ..SimConfig::default()
    };
    let short = waits(
        SimConfig {
            understaffed: vec![("sales".into(), 0.6)],
            ..base.clone()
        },
        channel,
    );
    let full = waits(base, channel);
    for (queue, w) in &short {
        println!(
            "{channel:?} {queue}: SL {:.1} %, ASA {:.1} s, abandoned {:.1} % (fully staffed: SL {:.1} %)",
            w.sl_pct(),
            w.asa_s(),
            w.abandon_pct(),
            full[queue].sl_pct()
        );
        assert!(w.offered > offered, "{queue}: {w:?}");
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
    full["sales"].sl_pct()
}
