//! The ccx event contract (SPEC §2) as pure functions.
//!
//! This crate owns: the validation rules of every event field ([`validate()`]), the proto3 JSON
//! mapping of [`Event`] in both directions ([`json`]), and the Kafka record key ([`kafka_key`]).
//! It also defines the rows ccx computes ([`rows`]) and the per-tenant metric settings
//! ([`settings`]). It performs no I/O and keeps no state, so the collector, the stream, the demo and the tests
//! all share one definition of a valid event.

pub mod json;
pub mod kpi;
pub mod log;
pub mod rollup;
pub mod rows;
pub mod settings;
pub mod staffing;
pub mod sync;
pub mod token;
pub mod validate;
pub mod view;

pub use ccx_proto::v1::{AgentState, Channel, Direction, Event, EventType, SurveyType};
pub use token::hash_token;
pub use validate::{validate, Limits, RejectCode, Rejection};

/// True for the event types about an agent rather than a contact: a state change, and a QA
/// evaluation (SPEC §7.1), keyed and counted by the agent.
pub fn is_agent_event(kind: EventType) -> bool {
    matches!(kind, EventType::AgentStateChanged | EventType::QaScored)
}

/// The Kafka record key of SPEC §2: `tenantId/customerId`; agent events `tenantId/agentId`.
/// A contact event without a customer (allowed after its `CONTACT_OFFERED`) is keyed by
/// `tenantId/contactId`, so all its events stay together.
pub fn kafka_key(event: &Event) -> String {
    let kind = EventType::try_from(event.r#type).unwrap_or(EventType::TypeUnspecified);
    let id = if is_agent_event(kind) {
        &event.agent_id
    } else if !event.customer_id.is_empty() {
        &event.customer_id
    } else {
        &event.contact_id
    };
    let mut key = String::with_capacity(event.tenant_id.len() + 1 + id.len());
    key.push_str(&event.tenant_id);
    key.push('/');
    key.push_str(id);
    key
}

/// The wall clock: milliseconds since the Unix epoch (0 before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Milliseconds since the Unix epoch of a protobuf timestamp (sub-millisecond part dropped).
pub fn timestamp_ms(ts: &ccx_proto::prost_types::Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos.div_euclid(1_000_000)))
}

/// The protobuf timestamp of a millisecond instant.
pub fn ms_timestamp(ms: i64) -> ccx_proto::prost_types::Timestamp {
    ccx_proto::prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_spec() {
        let mut e = Event {
            tenant_id: "t1".into(),
            r#type: EventType::ContactOffered as i32,
            customer_id: "c9".into(),
            contact_id: "k1".into(),
            agent_id: "a1".into(),
            ..Default::default()
        };
        assert_eq!(kafka_key(&e), "t1/c9");
        e.customer_id.clear();
        assert_eq!(kafka_key(&e), "t1/k1");
        e.r#type = EventType::AgentStateChanged as i32;
        assert_eq!(kafka_key(&e), "t1/a1");
    }

    #[test]
    fn timestamps_round_trip_in_ms() {
        for ms in [0, 1, 999, 1000, -1, -1001, 1_790_000_000_123] {
            assert_eq!(timestamp_ms(&ms_timestamp(ms)), ms);
        }
    }
}
