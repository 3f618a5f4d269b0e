//! The contact state machine of SPEC §3: offer, queue, answer or abandon, holds, transfers,
//! end and wrap-up, each event checked against its contact's sequence.

use super::callbacks::callback_requested;
use super::campaign::{outbound_answered, outbound_offered};
use super::cases::case_resolved;
use super::churn::signal_customer;
use super::tenant::*;
use super::*;

impl TenantState {
    pub(super) fn offered(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        let contact_id = ev.contact();
        if self.contacts.contains_key(&contact_id) {
            return self.out_of_sequence(ev);
        }
        let mut contact = Contact {
            customer: Box::from(ev.customer_id()),
            offered_at: ev.t,
            last_at: ev.t,
            ended_at: NONE,
            seg_start: NONE,
            hold_since: NONE,
            hold_ms: 0,
            holds: 0,
            seg_agent: 0,
            reason: ev.reason,
            transfers: 0,
            case_opening: 0,
            case_shared: false,
            case_closed: false,
            inbound: ev.inbound(),
            answered: false,
            repeat: false,
            callback: ev.spans.callback_of.1 > 0,
            first_call: false,
            terminal: false,
            wrapped: false,
        };
        self.waiting.insert(
            contact_id,
            Waiting {
                queue: ev.queue,
                channel: ev.channel,
                since: ev.t,
            },
        );
        let mut offered = Components {
            offered: 1,
            ..Components::default()
        };
        if contact.callback {
            self.callback_attempt(s, ev, &mut offered);
        }
        if !contact.inbound {
            outbound_offered(&mut self.campaign, s, ev, &mut offered);
        }
        if ev.has_customer() {
            self.case_offered(s, ev, &mut contact);
        }
        if contact.inbound && ev.has_customer() {
            contact.repeat = self.fcr_offered(s, ev);
            offered.repeats = u64::from(contact.repeat);
        }
        self.add(Dims::of(ev, ev.agent, ev.reason), &offered, false);
        if contact.repeat {
            self.signal(tenant, s, &contact.customer, Signal::RepeatContact, ev);
        }
        self.contacts.insert(contact_id, contact);
    }

    pub(super) fn contact_event(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        let contact_id = ev.contact();
        let Some(contact) = self.contacts.get_mut(&contact_id) else {
            return self.out_of_sequence(ev);
        };
        let kind = ev.kind();
        let fits = match kind {
            EventType::WrapupEnded => contact.ended_at != NONE && !contact.wrapped,
            _ if contact.terminal => false,
            EventType::ContactAnswered => !contact.in_segment(),
            EventType::ContactAbandoned | EventType::CallbackRequested => !contact.answered,
            EventType::HoldStarted => contact.in_segment() && contact.hold_since == NONE,
            EventType::HoldEnded => contact.in_segment() && contact.hold_since != NONE,
            EventType::ContactTransferred => contact.in_segment(),
            EventType::ContactEnded => true,
            _ => false,
        };
        if !fits {
            return self.out_of_sequence(ev);
        }
        contact.last_at = ev.t;
        let mut c = Components::default();
        let mut agent = ev.agent;
        let mut signal = None;
        let mut fcr_end = None;
        match kind {
            EventType::ContactAnswered => {
                let queued = self.waiting.remove(&contact_id);
                if !contact.answered {
                    contact.answered = true;
                    let wait = ev.t - contact.offered_at;
                    let threshold = s.sl_threshold_of(self.names.name(ev.queue));
                    c.answered = 1;
                    c.answered_in_sl = u64::from(wait <= threshold);
                    c.wait_answered_ms = wait as u64;
                    c.callbacks_connected = u64::from(contact.callback);
                    if !contact.inbound {
                        // The queue of its offer (where it waited until now).
                        let queue = queued.as_ref().map_or(ev.queue, |w| w.queue);
                        let queue = self.names.name(queue);
                        contact.first_call = outbound_answered(
                            &mut self.campaign,
                            s,
                            ev.t,
                            &contact.customer,
                            queue,
                        );
                    }
                } else if let Some(requeued) = queued {
                    // An answer after a transfer: the transfer's wait.
                    c.transfer_answered = 1;
                    c.transfer_wait_ms = (ev.t - requeued.since).max(0) as u64;
                }
                contact.seg_start = ev.t;
                contact.seg_agent = ev.agent;
            }
            EventType::ContactAbandoned => {
                let wait = ev.t - contact.offered_at;
                c.abandoned = 1;
                c.abandoned_short = u64::from(wait < s.short_abandon_ms);
                c.wait_abandoned_ms = wait as u64;
                contact.terminal = true;
                if contact.inbound && wait >= s.churn.long_abandon_ms {
                    signal = Some(Signal::LongAbandon);
                }
                self.waiting.remove(&contact_id);
            }
            EventType::CallbackRequested => {
                callback_requested(&mut self.callback_requests, ev, contact, &mut c);
                self.waiting.remove(&contact_id);
            }
            EventType::HoldStarted => {
                contact.hold_since = ev.t;
                contact.holds += 1;
            }
            EventType::HoldEnded => {
                contact.hold_ms += ev.t - contact.hold_since;
                contact.hold_since = NONE;
            }
            EventType::ContactTransferred => {
                contact.close_segment(ev.t, &mut c);
                c.transfers = 1;
                contact.transfers = contact.transfers.saturating_add(1);
                if contact.transfers == 2 {
                    signal = Some(Signal::TransferBounce);
                }
                let queue = if ev.to_queue == 0 {
                    ev.queue
                } else {
                    ev.to_queue
                };
                let waiting = Waiting {
                    queue,
                    channel: ev.channel,
                    since: ev.t,
                };
                self.waiting.insert(contact_id, waiting);
            }
            EventType::ContactEnded => {
                if contact.in_segment() {
                    if ev.agent == 0 {
                        agent = contact.seg_agent;
                    }
                    contact.close_segment(ev.t, &mut c);
                }
                c.resolved = u64::from(ev.resolved);
                c.self_served = u64::from(ev.resolved && !contact.answered);
                c.conversions = u64::from(ev.converted);
                c.first_call_closes =
                    u64::from(ev.converted && contact.answered && contact.first_call);
                if ev.number > 0.0 {
                    call_quality(ev.number, &mut c);
                }
                if ev.resolved && !contact.customer.is_empty() {
                    case_resolved(&mut self.cases, &self.case_keys, s, ev, contact, &mut c);
                }
                contact.ended_at = ev.t;
                contact.terminal = true;
                if contact.inbound && !contact.customer.is_empty() {
                    fcr_end = Some((
                        id_of(contact.customer.as_bytes()),
                        contact.reason,
                        contact.repeat,
                    ));
                }
                self.waiting.remove(&contact_id);
            }
            EventType::WrapupEnded => {
                c.acw_ms = (ev.t - contact.ended_at) as u64;
                c.acw_count = 1;
                contact.wrapped = true;
            }
            _ => {}
        }
        let reason = contact.reason;
        let signal = signal.map(|signal| (signal, signal_customer(ev, Some(contact))));
        let dims = Dims::of(ev, agent, reason);
        if !c.is_zero() {
            self.add(dims, &c, true);
        }
        if let Some((customer_id, reason, repeat)) = fcr_end {
            self.fcr_end(customer_id, reason, repeat, ev, dims);
        }
        if let Some((signal, customer)) = signal {
            self.signal(tenant, s, &customer, signal, ev);
        }
    }
}

/// SPEC §7.2 call quality of a CONTACT_ENDED: a MOS below 3.5 is poor.
fn call_quality(mos: f64, c: &mut Components) {
    c.mos_count = 1;
    c.mos_milli_sum = (mos * 1000.0).round() as u64;
    c.mos_poor = u64::from(mos < POOR_MOS);
}

/// The MOS below which a call's quality is poor (SPEC §7.2).
const POOR_MOS: f64 = 3.5;
