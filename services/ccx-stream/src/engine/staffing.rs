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

impl TenantState {
    /// The `staffing_15m` rows of the 15-minute intervals the watermark completed since the
    /// last call: an interval's offers and handle times are final once the watermark passed
    /// its end. Intervals without offers or handled contacts have no row.
    pub(super) fn final_intervals(
        &mut self,
        tenant: &str,
        s: &TenantSettings,
    ) -> Vec<(QueueKey, StaffingRow)> {
        if self.watermark == NO_WATERMARK {
            return Vec::new();
        }
        let done = self.watermark.div_euclid(STAFFING_INTERVAL_MS) * STAFFING_INTERVAL_MS;
        if done <= self.staffed_until {
            return Vec::new();
        }
        let from = self.staffed_until;
        let mut sums: BTreeMap<(i64, u8, u8, Sym), StaffingRow> = BTreeMap::new();
        for ((minute, channel, direction), queue, c) in self.queue_rows.all() {
            if (from..done).contains(&minute) && (c.offered > 0 || c.handled > 0) {
                let start = minute.div_euclid(STAFFING_INTERVAL_MS) * STAFFING_INTERVAL_MS;
                let row = sums.entry((start, channel, direction, queue)).or_default();
                row.offered += c.offered;
                row.handled += c.handled;
                row.handle_ms += c.talk_ms + c.hold_ms + c.acw_ms;
            }
        }
        self.staffed_until = done;
        sums.into_iter()
            .map(|((start, channel, direction, queue), mut row)| {
                let queue_id = self.names.name(queue);
                let needed = interval(
                    row.offered,
                    row.handled,
                    row.handle_ms,
                    STAFFING_INTERVAL_MS,
                    s.sl_threshold_of(queue_id),
                    s.sl_target_of(queue_id),
                );
                row.agents_needed = needed.agents_needed;
                row.predicted_asa_ms = needed.predicted_asa_ms;
                (
                    queue_key(tenant, (start, channel, direction), queue_id),
                    row,
                )
            })
            .collect()
    }
}
