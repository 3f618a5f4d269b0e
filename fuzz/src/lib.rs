//! Helpers shared by the fuzz targets and the seed corpus writer.

use ccx_model::view::EventView;
use ccx_proto::v1::Event;

/// An owned [`Event`] with the fields of `v`.
pub fn owned(v: &EventView<'_>) -> Event {
    Event {
        event_id: v.event_id.to_string(),
        tenant_id: v.tenant_id.to_string(),
        r#type: v.kind,
        occurred_at: v
            .occurred_at
            .map(|(seconds, nanos)| ccx_proto::prost_types::Timestamp { seconds, nanos }),
        contact_id: v.contact_id.to_string(),
        customer_id: v.customer_id.to_string(),
        channel: v.channel,
        direction: v.direction,
        queue_id: v.queue_id.to_string(),
        agent_id: v.agent_id.to_string(),
        reason: v.reason.to_string(),
        resolved: v.resolved,
        converted: v.converted,
        to_queue_id: v.to_queue_id.to_string(),
        to_agent_id: v.to_agent_id.to_string(),
        survey_type: v.survey_type,
        score: v.score,
        sentiment: v.sentiment,
        agent_state: v.agent_state,
        case_id: v.case_id.to_string(),
        callback_of: v.callback_of.to_string(),
        mos: v.mos,
    }
}

/// The records of a `stream_ev` input: each a 2-byte little-endian length and that many
/// bytes, the last one cut short by the end of the input.
pub fn records(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&[lo, hi], rest) = data.split_first_chunk::<2>()?;
        let n = usize::from(u16::from_le_bytes([lo, hi])).min(rest.len());
        let (record, rest) = rest.split_at(n);
        data = rest;
        Some(record)
    })
}
