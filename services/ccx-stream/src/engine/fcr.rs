//! First-contact resolution: a contact's verdict once the customer's FCR window passes
//! without a repeat.

use super::tenant::*;
use super::*;

impl TenantState {
    /// An inbound offer of a customer: whether it is a repeat (SPEC §3), and the verdict
    /// of every pending contact it repeats (a failure, added now).
    pub(super) fn fcr_offered(&mut self, s: &TenantSettings, ev: &Ev) -> bool {
        let customer = self.customers.entry(ev.customer()).or_default();
        let window = s.fcr_window_ms;
        let matches = |a: Sym, b: Sym| a == 0 || b == 0 || a == b;
        let within = |end: i64| end < ev.t && ev.t <= end + window;
        let repeat = customer
            .ended
            .iter()
            .any(|e| within(e.at) && matches(e.reason, ev.reason));
        let mut failed = Vec::new();
        for e in customer.ended.iter_mut() {
            if e.pending && within(e.at) && matches(e.reason, ev.reason) {
                e.pending = false;
                failed.push(e.dims());
            }
        }
        let failure = Components {
            fcr_eligible: 1,
            ..Components::default()
        };
        for dims in failed {
            self.add(dims, &failure, true);
        }
        repeat
    }

    pub(super) fn fcr_end(
        &mut self,
        customer_id: Id,
        reason: Sym,
        repeat: bool,
        ev: &Ev,
        dims: Dims,
    ) {
        let customer = self.customers.entry(customer_id).or_default();
        let pending = !repeat && ev.resolved;
        let ended = Ended {
            at: ev.t,
            reason,
            queue: dims.queue,
            agent: dims.agent,
            channel: dims.channel,
            direction: dims.direction,
            pending,
        };
        push(&mut customer.ended, ended);
        if pending {
            self.fcr_queue.push_back((ev.t, customer_id));
        } else if !repeat {
            let c = Components {
                fcr_eligible: 1,
                ..Components::default()
            };
            self.add(dims, &c, true);
        }
    }

    pub(super) fn fcr_successes(&mut self, s: &TenantSettings, watermark: i64) {
        let mut done = Vec::new();
        while let Some(&(ended_at, customer_id)) = self.fcr_queue.front() {
            if ended_at + s.fcr_window_ms >= watermark {
                break;
            }
            self.fcr_queue.pop_front();
            if let Some(customer) = self.customers.get_mut(&customer_id) {
                for e in customer.ended.iter_mut() {
                    if e.pending && e.at + s.fcr_window_ms < watermark {
                        e.pending = false;
                        done.push(e.dims());
                    }
                }
            }
        }
        for dims in done {
            let c = Components {
                fcr_eligible: 1,
                fcr_success: 1,
                ..Components::default()
            };
            self.add(dims, &c, true);
        }
    }
}
