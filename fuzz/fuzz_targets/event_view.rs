//! `EventView::decode` on arbitrary bytes: never panics, and accepts exactly what prost
//! accepts, with the same fields.

#![no_main]

use ccx_model::view::EventView;
use ccx_proto::prost::Message;
use ccx_proto::v1::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ours = EventView::decode(data);
    let theirs = Event::decode(data);
    match (&ours, &theirs) {
        (Ok(view), Ok(event)) => {
            // Doubles compare by their bits (a NaN is read as the same NaN).
            let bits = |e: &Event| (e.sentiment.map(f64::to_bits), e.mos.map(f64::to_bits));
            let mut ours = view.to_event();
            assert_eq!(bits(&ours), bits(event));
            ours.sentiment = event.sentiment;
            ours.mos = event.mos;
            if ours != *event {
                // Unequal other than through a NaN.
                let unset = |e: &Event| Event {
                    sentiment: None,
                    mos: None,
                    ..e.clone()
                };
                assert_eq!(unset(&ours), unset(event));
            }
            // The time the stream orders by is that of the decoded timestamp.
            let ms = event
                .occurred_at
                .as_ref()
                .map(ccx_model::timestamp_ms)
                .unwrap_or(0);
            assert_eq!(view.time_ms(), ms);
        }
        (Err(_), Err(_)) => {}
        _ => panic!("the view and prost disagree: {ours:?} / {theirs:?}"),
    }
});
