//! `json::parse_batch` and `validate` on arbitrary bodies: never panic, and every accepted
//! event prints as JSON that parses back to the same event.

#![no_main]

use ccx_model::json::{event_to_json, parse_batch};
use ccx_model::{timestamp_ms, validate, Limits};
use libfuzzer_sys::fuzz_target;

/// A fixed "now" (2026-03-02T09:00:00Z, the fixtures' morning).
const NOW_MS: i64 = 1_772_442_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = parse_batch(data) else {
        return;
    };
    let limits = Limits::default();
    for event in batch.into_iter().flatten() {
        let fixed = validate(&event, &limits, NOW_MS);
        // Also as if it had been sent at its own time, so that every other rule runs
        // whatever the time is.
        let own = event.occurred_at.as_ref().map(timestamp_ms);
        let at_own_time = own.map(|now| validate(&event, &limits, now));
        if fixed.is_err() && !matches!(at_own_time, Some(Ok(()))) {
            continue;
        }
        let line = serde_json::to_vec(&event_to_json(&event)).expect("JSON prints");
        let back = parse_batch(&line)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", String::from_utf8_lossy(&line)));
        assert_eq!(back.len(), 1, "{}", String::from_utf8_lossy(&line));
        match &back[0] {
            Ok(again) => assert_eq!(*again, event, "{}", String::from_utf8_lossy(&line)),
            Err(r) => panic!("{} is rejected: {r:?}", String::from_utf8_lossy(&line)),
        }
    }
});
