//! How fast the simulator writes events on one core: `cargo run --release -p ccx-sim
//! --example sim_rate [contacts]`. A figure to print, not a test.

use std::time::Instant;

use ccx_sim::{Sim, SimConfig};

fn main() {
    let contacts: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    // The stream benchmark's shape: 8 tenants, 200 contacts a second.
    let config = SimConfig {
        tenants: (0..8).map(|i| format!("tenant-{i}")).collect(),
        customers: 50_000,
        agents: 200,
        ..SimConfig::default()
    };
    let started = Instant::now();
    let events = Sim::new(config).generate(1_790_000_000_000, contacts, 200.0);
    let took = started.elapsed().as_secs_f64();
    println!(
        "generate: {contacts} contacts, {} events in {took:.2} s: {:.0} events/s",
        events.len(),
        events.len() as f64 / took
    );

    // A live feed in one-minute chunks, as the demo reads it.
    let mut sim = Sim::new(SimConfig::default());
    let start = 1_790_000_000_000;
    sim.start(start, 20.0);
    let started = Instant::now();
    let mut n = 0;
    for minute in 1..=120 {
        n += sim.run_until(start + minute * 60_000).len();
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "live: 2 simulated hours at 20 contacts/s, {n} events in {took:.2} s: {:.0} events/s",
        n as f64 / took
    );
}
