//! One tenant's state and the rules of SPEC §3 applied to it: deduplication and lateness,
//! the contact state machine, FCR verdicts, churn scoring, agent-state time, expiry and
//! provisional rows.

use super::*;

/// Everything the engine keeps for one tenant (checkpointed as a unit).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TenantState {
    /// Events before it are applied (or late); later ones wait in `buffer`.
    pub(super) watermark: i64,
    pub(super) names: Names,
    /// Events waiting for the watermark.
    pub(super) buffer: Buffer,
    /// Times of duplicates not yet behind the watermark.
    pub(super) pending_duplicates: Vec<i64>,
    pub(super) seen: IdMap<i64>,
    pub(super) contacts: IdMap<Contact>,
    pub(super) customers: IdMap<Customer>,
    pub(super) agents: FastMap<Sym, AgentClock>,
    pub(super) waiting: IdMap<Waiting>,
    pub(super) queue_rows: RowTable<Components>,
    pub(super) agent_rows: RowTable<Components>,
    pub(super) reason_rows: RowTable<Components>,
    /// Hourly and daily sums of the queue, agent and reason rows handed over.
    pub(super) rollups: Rollups,
    pub(super) state_rows: RowTable<StateTimes>,
    pub(super) quality_rows: BTreeMap<i64, Quality>,
    /// Keys of the provisional rows last handed over (re-sent with final values when the
    /// speculation behind them is gone).
    pub(super) provisional_queue: BTreeSet<(RowNum, Sym)>,
    pub(super) provisional_agent: BTreeSet<(RowNum, Sym)>,
    /// Keys of `queue_now` rows last reported with contacts waiting or traffic.
    pub(super) queue_now_keys: BTreeSet<(Sym, u8)>,
    /// The live floor: every event received, not as of the watermark.
    pub(super) live: Live,
    #[serde(skip)]
    pub(super) staffing: LiveStaffing,
    /// `staffing_15m` rows are written for the intervals before this instant.
    pub(super) staffed_until: i64,
    /// Threshold rules' states, and when they were last evaluated (wall clock).
    pub(super) rule_states: RuleStates,
    pub(super) rules_checked_at: i64,
    /// (ended_at, customer) of pending FCR verdicts in time order (contacts end in event-time
    /// order, so appending keeps it sorted).
    pub(super) fcr_queue: VecDeque<(i64, Id)>,
    pub(super) next_expiry: i64,
    /// Open cases by [`case_key`], and how many openings were made (numbers them).
    pub(super) cases: IdMap<Case>,
    pub(super) case_openings: u32,
    /// The case key of each held contact whose case is in `cases`.
    pub(super) case_keys: IdMap<Id>,
    /// Outbound attempts by (customer, queue), within the campaign window.
    pub(super) campaign: IdMap<Attempts>,
    /// Callback requests by contact, within the callback window: the request's time.
    pub(super) callback_requests: IdMap<i64>,
    pub(super) dirty_quality: BTreeSet<i64>,
    /// The minute of the watermark last handed over as progress (again after a restart); a
    /// watermark in a new minute also brings agent-state time up to it.
    #[serde(skip)]
    pub(super) reported_minute: Option<i64>,
    pub(super) alerts: Vec<ChurnAlert>,
}

/// The watermark of a tenant whose events are not yet known to have progressed anywhere.
pub const NO_WATERMARK: i64 = i64::MIN;

/// How often (in event time) state that can no longer change is dropped.
pub(super) const EXPIRY_EVERY_MS: i64 = 5 * 60_000;

/// Above this many events of a tenant waiting for its watermark (a backlog being read), no
/// provisional rows are made: speculating costs the whole buffer at every flush, and a
/// backlog's rows are not live anyway (docs/benchmarks.md, catch-up).
pub(super) const PROVISIONAL_MAX_WAITING: usize = 100_000;

/// An ended contact is kept this long after its last event: wrap-up, surveys and sentiment
/// still find it.
pub(super) const ENDED_CONTACT_KEPT_MS: i64 = 3_600_000;

/// A minute's rows stay changeable this long past the FCR window: a verdict reaches back to
/// its contact's minute, and a contact may last that long.
pub(super) const ROWS_KEPT_PAST_FCR_MS: i64 = 2 * 3_600_000;

/// A contact that has not ended is forgotten after this long without an event.
pub(super) fn open_contact_kept_ms(s: &TenantSettings) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    s.fcr_window_ms.max(DAY_MS)
}

/// Rows of minutes before this one are final once a tenant's watermark is at `watermark`:
/// no event after it can change them.
pub fn rows_final_before(s: &TenantSettings, watermark: i64) -> i64 {
    minute_of(watermark - s.fcr_window_ms - ROWS_KEPT_PAST_FCR_MS)
}

/// How far back from a minute the events its rows and alerts depend on go: open contacts,
/// FCR verdicts and repeats, churn signals and the alert cooldown, open cases, outbound
/// campaigns and callback requests. (An agent's state clock reaches back to the agent's last
/// state change, however old.)
pub fn history_needed_ms(s: &TenantSettings) -> i64 {
    open_contact_kept_ms(s)
        .max(s.fcr_window_ms + ROWS_KEPT_PAST_FCR_MS)
        .max(s.churn.lookback_ms + s.churn.cooldown_ms)
        .max(s.case_window_ms)
        .max(s.campaign_window_ms)
        .max(s.callback_window_ms)
}

impl TenantState {
    /// Applies, in event-time order, every buffered event before `watermark`, then the time
    /// driven rules (agent-state time, FCR successes), then drops expired state. A watermark
    /// never goes back.
    pub(super) fn advance(
        &mut self,
        id: &str,
        s: &TenantSettings,
        watermark: i64,
        dedup_horizon_ms: i64,
    ) {
        if watermark <= self.watermark {
            return;
        }
        let mut duplicates = std::mem::take(&mut self.pending_duplicates);
        duplicates.retain(|t| {
            if *t < watermark {
                self.quality(*t, |q| q.duplicates += 1);
                false
            } else {
                true
            }
        });
        self.pending_duplicates = duplicates;
        let ready = self.buffer.take_before(watermark);
        for ev in ready.iter() {
            self.apply(id, s, ev);
        }
        self.live
            .forget_ended(ready.iter().filter(|ev| ev.ends_contact()).map(Ev::contact));
        self.buffer.recycle(ready);
        self.fcr_successes(s, watermark);
        if watermark >= self.next_expiry {
            self.expire(s, watermark, dedup_horizon_ms);
            self.next_expiry = watermark.saturating_add(EXPIRY_EVERY_MS);
        }
        self.watermark = watermark;
    }

    /// Deduplication and lateness of one of this tenant's events: what becomes of it.
    pub(super) fn ingest(&mut self, ev: &Ev) -> Ingested {
        let watermark = self.watermark;
        let t = ev.t;
        match self.seen.entry(ev.id()) {
            Entry::Occupied(_) => {
                // Counted when the watermark passes it, like everything else about that time.
                if t < watermark {
                    self.quality(t, |q| q.duplicates += 1);
                } else {
                    self.pending_duplicates.push(t);
                }
                Ingested::Duplicate
            }
            Entry::Vacant(_) if t < watermark => {
                self.quality(t, |q| q.late_dropped += 1);
                Ingested::Late
            }
            Entry::Vacant(slot) => {
                slot.insert(t);
                Ingested::Buffered
            }
        }
    }

    pub(super) fn quality(&mut self, t: i64, f: impl FnOnce(&mut Quality)) {
        let minute = minute_of(t);
        f(self.quality_rows.entry(minute).or_default());
        self.dirty_quality.insert(minute);
    }

    /// Adds `c` to the queue row of `dims`, to its reason row and, if `to_agent` and there
    /// is an agent, to the agent row.
    pub(super) fn add(&mut self, dims: Dims, c: &Components, to_agent: bool) {
        let num = (dims.minute, dims.channel, dims.direction);
        self.queue_rows
            .add_with(num, dims.queue, |row| row.add_from(c));
        if c.touches_reason() {
            self.reason_rows
                .add_with(num, dims.reason, |row| row.add_reason_part(c));
        }
        if to_agent && dims.agent != 0 && c.touches_agent() {
            let num = (dims.minute, dims.channel, 0);
            self.agent_rows
                .add_with(num, dims.agent, |row| row.add_agent_part(c));
        }
    }

    pub(super) fn out_of_sequence(&mut self, ev: &Ev) {
        self.quality(ev.t, |q| q.out_of_sequence += 1);
    }

    pub(super) fn apply(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        match ev.kind() {
            EventType::AgentStateChanged => self.agent_state(ev),
            EventType::QaScored => self.qa(ev),
            EventType::SurveyResponded => self.survey(tenant, s, ev),
            EventType::SentimentScored => self.sentiment(tenant, s, ev),
            EventType::ContactOffered => self.offered(tenant, s, ev),
            EventType::TypeUnspecified => self.out_of_sequence(ev),
            _ => self.contact_event(tenant, s, ev),
        }
    }

    /// `queue_now` as of `as_of` (wall clock): every queue with contacts waiting or traffic
    /// in the staffing window, and once more (zero) each that no longer has either.
    pub(super) fn queue_now(
        &mut self,
        tenant: &str,
        s: &TenantSettings,
        as_of: i64,
    ) -> Vec<QueueNow> {
        self.refresh_staffing(s, as_of);
        let now = self.live.waiting();
        let needed = &self.staffing.needed;
        let keys: BTreeSet<(Sym, u8)> = now.keys().chain(needed.keys()).copied().collect();
        let mut rows = Vec::new();
        for key in keys.union(&self.queue_now_keys) {
            let (waiting, since) = now.get(key).copied().unwrap_or((0, as_of));
            rows.push(QueueNow {
                tenant_id: tenant.to_string(),
                queue_id: self.names.name(key.0).to_string(),
                channel: channel_name(key.1),
                waiting,
                longest_wait_ms: (as_of - since).max(0) as u64,
                agents_needed: needed.get(key).copied().unwrap_or(Some(0)),
                as_of,
            });
        }
        self.queue_now_keys = keys;
        rows
    }

    /// Drops state no future event can change: old event ids, finished contacts, customers
    /// without pending verdicts or active signals, and rows no verdict can reach any more.
    pub(super) fn expire(&mut self, s: &TenantSettings, watermark: i64, dedup_horizon_ms: i64) {
        self.seen.retain(|_, t| *t >= watermark - dedup_horizon_ms);
        shrink(&mut self.seen);
        let stale = open_contact_kept_ms(s);
        let kept = |c: &Contact| {
            if c.terminal {
                c.last_at >= watermark - ENDED_CONTACT_KEPT_MS
            } else {
                c.last_at >= watermark - stale
            }
        };
        let dropped: Vec<(Id, Contact)> = self.contacts.extract_if(|_, c| !kept(c)).collect();
        self.keep_own_cases(&dropped);
        for (id, _) in &dropped {
            self.case_keys.remove(id);
        }
        shrink(&mut self.case_keys);
        shrink(&mut self.contacts);
        let waiting_contacts = &self.contacts;
        self.waiting
            .retain(|id, _| waiting_contacts.contains_key(id));
        shrink(&mut self.waiting);
        self.live.expire(watermark, stale);
        for customer in self.customers.values_mut() {
            retain(&mut customer.ended, |e| {
                e.pending || e.at + s.fcr_window_ms >= watermark
            });
            retain(&mut customer.signals, |(at, _)| {
                watermark - at < s.churn.lookback_ms
            });
        }
        self.cases
            .retain(|_, case| case.last_offer >= watermark - s.case_window_ms);
        shrink(&mut self.cases);
        self.campaign
            .retain(|_, a| a.newest() >= watermark - s.campaign_window_ms);
        shrink(&mut self.campaign);
        self.callback_requests
            .retain(|_, at| *at >= watermark - s.callback_window_ms);
        shrink(&mut self.callback_requests);
        self.customers.retain(|_, c| {
            !c.ended.is_empty()
                || !c.signals.is_empty()
                || (c.last_alert != NONE && watermark - c.last_alert < s.churn.cooldown_ms)
        });
        shrink(&mut self.customers);
        let horizon = rows_final_before(s, watermark);
        // Rows not yet handed over stay until the next `take_output`.
        self.queue_rows.forget_before(horizon);
        self.agent_rows.forget_before(horizon);
        self.reason_rows.forget_before(horizon);
        self.rollups.final_before(horizon);
        self.state_rows.forget_before(horizon);
        let dirty = &self.dirty_quality;
        self.quality_rows
            .retain(|m, _| *m >= horizon || dirty.contains(m));
    }
}
