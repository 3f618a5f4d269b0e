//! Outbound campaigns (SPEC §7.2): accounts attempted (a customer's first outbound offer on
//! a queue within the campaign window) and first-call closes (a conversion on the customer's
//! first answered outbound contact on that queue within the window).

use super::*;

/// What `campaign` remembers of `customer` on the queue of `ev`.
fn attempts<'a>(campaign: &'a mut IdMap<Attempts>, customer: &str, ev: &Ev) -> &'a mut Attempts {
    let key = customer_key(id_of(customer.as_bytes()), id_of(ev.bytes(ev.spans.queue)));
    campaign.entry(key).or_insert(Attempts {
        offered: NONE,
        answered: NONE,
    })
}

/// An outbound offer: an account attempted unless the customer had an outbound offer on this
/// queue within the window before.
pub(super) fn outbound_offered(
    campaign: &mut IdMap<Attempts>,
    s: &TenantSettings,
    ev: &Ev,
    c: &mut Components,
) {
    let t = ev.t;
    let attempts = attempts(campaign, ev.customer_id(), ev);
    let recent = attempts.offered != NONE && attempts.offered >= t - s.campaign_window_ms;
    c.accounts_attempted = u64::from(!recent);
    attempts.offered = attempts.offered.max(t);
}

/// The first answer of an outbound contact: whether it is the customer's first answered
/// outbound contact on this queue within the window.
pub(super) fn outbound_answered(
    campaign: &mut IdMap<Attempts>,
    s: &TenantSettings,
    ev: &Ev,
    customer: &str,
) -> bool {
    let t = ev.t;
    let attempts = attempts(campaign, customer, ev);
    let first = attempts.answered == NONE || attempts.answered < t - s.campaign_window_ms;
    attempts.answered = attempts.answered.max(t);
    first
}
