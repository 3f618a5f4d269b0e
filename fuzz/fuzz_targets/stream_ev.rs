//! The stream's record reader `Ev::read` and the engine behind it. The input is a sequence of
//! records, each a 2-byte little-endian length and that many bytes (the last one cut short
//! by the end of the input). Each record: reading it never panics; a record read agrees with
//! prost on its time and tenant; and the engine, fed the records read (within the span of
//! event times the collector admits), advancing its watermark behind them and handing over
//! its output, never panics.

#![no_main]

use ccx_fuzz::records;
use ccx_model::settings::TenantSettings;
use ccx_proto::prost::Message;
use ccx_proto::v1::Event;
use ccx_stream::engine::{Ev, NO_WATERMARK};
use ccx_stream::{Engine, Settings};
use libfuzzer_sys::fuzz_target;

/// The span of event times fed to the engine.
const MAX_SPAN_MS: u64 = 7 * 24 * 3600 * 1000;

/// How far the watermark stays behind the newest event time.
const LATENESS_MS: i64 = 60_000;

fuzz_target!(|data: &[u8]| {
    let mut engine = Engine::new(Settings::new(TenantSettings::default()), NO_WATERMARK);
    let mut newest = i64::MIN;
    let mut first = None;
    for (i, record) in records(data).enumerate() {
        let read = Ev::read(record.into());
        let Ok(ev) = read else {
            continue;
        };
        let event = Event::decode(&ev.record()[..]).expect("prost decodes what Ev::read read");
        let ms = event
            .occurred_at
            .as_ref()
            .map(ccx_model::timestamp_ms)
            .unwrap_or(0);
        assert_eq!(ev.time(), ms);
        assert_eq!(ev.tenant(), event.tenant_id.as_bytes());
        // The engine is fed what the collector lets in: event times within 7 days of each
        // other (`validate` admits now - 7 d ..= now + 5 min).
        let first = *first.get_or_insert(ev.time());
        if ev.time().abs_diff(first) > MAX_SPAN_MS {
            continue;
        }
        newest = newest.max(ev.time());
        engine.ingest_event(ev);
        if i % 4 == 3 {
            engine.advance(newest.saturating_sub(LATENESS_MS));
            let _ = engine.take_output();
        }
    }
    if newest != i64::MIN {
        engine.advance(newest.saturating_sub(LATENESS_MS));
        let _ = engine.take_output();
        engine.advance(newest.saturating_add(LATENESS_MS));
        let _ = engine.take_output();
    }
});
