//! Callbacks (SPEC §7.2): a waiting customer asks to be called back (the wait ends, not as an
//! abandon); an outbound attempt naming that contact in `callbackOf` is matched to the request
//! within the callback window; its first answer connects the callback.

use super::*;

/// CALLBACK_REQUESTED of an unanswered contact (checked by the caller): terminal.
pub(super) fn callback_requested(
    requests: &mut IdMap<i64>,
    ev: &Ev,
    contact: &mut Contact,
    c: &mut Components,
) {
    c.callbacks_requested = 1;
    c.wait_callback_ms = (ev.t - contact.offered_at) as u64;
    contact.terminal = true;
    requests.insert(ev.contact(), ev.t);
}

impl TenantState {
    /// The callback components of an outbound offer naming `callbackOf`.
    pub(super) fn callback_attempt(&self, s: &TenantSettings, ev: &Ev, c: &mut Components) {
        c.callbacks_attempted = 1;
        if let Some(&requested) = self.callback_requests.get(&ev.callback_of()) {
            let delay = ev.t - requested;
            if (0..=s.callback_window_ms).contains(&delay) {
                c.callbacks_matched = 1;
                c.callback_delay_ms = delay as u64;
            }
        }
    }
}
