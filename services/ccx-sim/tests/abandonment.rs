//! With impatient customers, fewer agents for the same traffic means longer waits and more
//! abandons, as read from the events.

mod common;

use ccx_sim::Center;
use common::{plain_center, run, Waits, HOUR, START};

#[test]
fn abandonment_rises_as_staffing_falls() {
    // 8 Erlangs of 3-minute calls; customers wait 90 s on average before hanging up.
    let (erlangs, aht_s) = (8.0, 180.0);
    let per_hour = erlangs / aht_s * 3600.0;
    let mut last: Option<(usize, f64, f64)> = None;
    for agents in [13, 11, 10, 9, 8, 7] {
        let mut center = Center::new(plain_center(5, agents, per_hour, aht_s, Some(90.0)));
        let mut waits = Waits::from(START + HOUR);
        run(&mut center, 300, |e| waits.add(e));
        let (abandon, asa) = (waits.abandon_pct(), waits.asa_s());
        println!("{agents} agents: {abandon:.2} % abandoned, ASA {asa:.1} s");
        assert!(waits.offered > 40_000, "{waits:?}");
        if let Some((more, abandon_with_more, asa_with_more)) = last {
            assert!(
                abandon > abandon_with_more && asa > asa_with_more,
                "{agents} agents: {abandon} % abandoned, ASA {asa} s; {more} agents: \
                 {abandon_with_more} %, {asa_with_more} s"
            );
        }
        last = Some((agents, abandon, asa));
    }
    let (_, abandon_understaffed, _) = last.unwrap();
    assert!(abandon_understaffed > 10.0, "{abandon_understaffed}");
}
