//! Outbound campaigns (SPEC §7.2): accounts attempted (a customer's first outbound offer on
//! a queue within the campaign window) and first-call closes (a conversion on the customer's
//! first answered outbound contact on that queue within the window).

use super::*;

/// What `campaign` remembers of `customer` on `queue` (the queue of its offers).
fn attempts<'a>(
    campaign: &'a mut IdMap<Attempts>,
    customer: &str,
    queue: &[u8],
) -> &'a mut Attempts {
    let key = customer_key(id_of(customer.as_bytes()), id_of(queue));
    campaign.entry(key).or_insert(Attempts::NEW)
}

/// An outbound offer: an account attempted unless the customer had an outbound offer on this
/// queue within the window before (one in the same millisecond is not before).
pub(super) fn outbound_offered(
    campaign: &mut IdMap<Attempts>,
    s: &TenantSettings,
    ev: &Ev,
    c: &mut Components,
) {
    let t = ev.t;
    let attempts = attempts(campaign, ev.customer_id(), ev.bytes(ev.spans.queue));
    let before = attempts.previous_offer(t);
    let recent = before != NONE && before >= t - s.campaign_window_ms;
    c.accounts_attempted = u64::from(!recent);
    attempts.record_offer(t);
}

/// The first answer of an outbound contact offered on `queue`: whether it is the customer's
/// first answered outbound contact on that queue within the window (an answer in the same
/// millisecond is not before).
pub(super) fn outbound_answered(
    campaign: &mut IdMap<Attempts>,
    s: &TenantSettings,
    t: i64,
    customer: &str,
    queue: &str,
) -> bool {
    let attempts = attempts(campaign, customer, queue.as_bytes());
    let before = attempts.previous_answer(t);
    let first = before == NONE || before < t - s.campaign_window_ms;
    attempts.record_answer(t);
    first
}
