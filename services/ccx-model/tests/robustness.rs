//! Arbitrary bytes and arbitrary JSON through decode + validate: never a panic, and every
//! failure is a precise error (a position for malformed JSON, a named field otherwise).

use ccx_model::json::{event_from_json, parse_batch};
use ccx_model::{validate, Limits};
use proptest::prelude::*;
use serde_json::{Map, Value};

const NOW: i64 = 1_790_000_000_000;

const NAMES: [&str; 21] = [
    "eventId",
    "tenantId",
    "type",
    "occurredAt",
    "contactId",
    "customerId",
    "channel",
    "direction",
    "queueId",
    "agentId",
    "reason",
    "resolved",
    "converted",
    "toQueueId",
    "toAgentId",
    "surveyType",
    "score",
    "sentiment",
    "agentState",
    "event_id",
    "bogus",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[A-Z_]{0,20}".prop_map(Value::String),
        ".{0,140}".prop_map(Value::String),
        Just(Value::String("2026-11-24T07:00:00Z".into())),
        Just(Value::String("CONTACT_OFFERED".into())),
        Just(Value::String("SURVEY_RESPONDED".into())),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn event_like() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(&NAMES[..]), leaf(), 0..21)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn check(value: &Value) {
    match event_from_json(value) {
        Ok(event) => {
            if let Err(r) = validate(&event, &Limits::default(), NOW) {
                assert!(r.message.starts_with(&format!("{}: ", r.field)), "{r:?}");
                assert!(r.message.len() > r.field.len() + 2);
            }
        }
        Err(r) => {
            let named = r.message.split(": ").next().unwrap_or_default();
            assert!(
                !named.is_empty() && r.message.len() > named.len() + 2,
                "{r:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        match parse_batch(&body) {
            Ok(events) => for e in events.into_iter().flatten() {
                let _ = validate(&e, &Limits::default(), NOW);
            },
            Err(e) => prop_assert!(e.line >= 1 && !e.reason.is_empty()),
        }
    }

    #[test]
    fn arbitrary_json_never_panics(value in json()) {
        check(&value);
        let body = serde_json::to_vec(&value).unwrap();
        let _ = parse_batch(&body);
    }

    #[test]
    fn event_shaped_json_gets_precise_errors(value in event_like()) {
        check(&value);
    }
}
