//! SPEC §7.6 on the live floor: the agents each queue's last 30 minutes of inbound traffic
//! need (`queue_now.agents_needed`).

use ccx_model::staffing::interval;

use super::*;

/// The traffic `queue_now.agents_needed` is computed from.
const WINDOW_MS: i64 = 30 * 60_000;

/// Agents needed per (queue, channel), as of one watermark minute.
#[derive(Debug, Clone, Default)]
pub(super) struct LiveStaffing {
    minute: Option<i64>,
    pub(super) needed: BTreeMap<(Sym, u8), Option<u32>>,
}

impl TenantState {
    /// Brings `agents_needed` to the 30 whole minutes before the watermark's minute. Their
    /// offers and handle times are final once the watermark passed them (later verdicts
    /// change other components), so this is recomputed once per minute. A watermark more
    /// than the window behind `as_of` (a backlog being read, a silent source) is history,
    /// not the floor's traffic now: nothing is needed for it.
    pub(super) fn refresh_staffing(&mut self, s: &TenantSettings, as_of: i64) {
        if self.watermark == NO_WATERMARK || as_of.saturating_sub(self.watermark) > WINDOW_MS {
            self.staffing = LiveStaffing::default();
            return;
        }
        let minute = minute_of(self.watermark);
        if self.staffing.minute == Some(minute) {
            return;
        }
        let inbound = Direction::Inbound as u8;
        let mut traffic: BTreeMap<(Sym, u8), (u64, u64, u64)> = BTreeMap::new();
        for ((m, channel, direction), queue, c) in self.queue_rows.all() {
            if direction == inbound && (minute - WINDOW_MS..minute).contains(&m) {
                let t = traffic.entry((queue, channel)).or_default();
                t.0 += c.offered;
                t.1 += c.handled;
                t.2 += c.talk_ms + c.hold_ms + c.acw_ms;
            }
        }
        let names = &self.names;
        self.staffing.needed = traffic
            .into_iter()
            .map(|(key, (offered, handled, handle_ms))| {
                let queue = names.name(key.0);
                let needed = interval(
                    offered,
                    handled,
                    handle_ms,
                    WINDOW_MS,
                    s.sl_threshold_of(queue),
                    s.sl_target_of(queue),
                );
                (key, needed.agents_needed)
            })
            .collect();
        self.staffing.minute = Some(minute);
    }
}
