//! The metric engine of SPEC §3, for any number of tenants.
//!
//! Events go in through [`Engine::ingest`] (or, read from their records into the compact
//! [`Ev`], [`Engine::ingest_event`]) in any order: a copy of an event already seen is a
//! duplicate, an event behind the watermark is late; the rest wait in a buffer. When the
//! watermark advances ([`Engine::advance`]), the buffered events before it are applied in
//! event-time order (ties by type order, then eventId), so the result does not depend on the
//! arrival order. Applying an event updates per-contact state, per-customer FCR and churn
//! state, per-agent state time, and the rows it completes; [`Engine::take_output`] hands over
//! the rows changed since the last call, with their full values.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::AddAssign;
use std::sync::Arc;

use ccx_model::rows::{
    minute_of, AgentKey, AgentMinute, AgentNow, ChurnAlert, Components, FinalRows, Quality,
    QueueKey, QueueNow, ReasonKey, RollupRows, StaffingRow, StateTimes, TenantProgress,
    ThresholdAlert, STAFFING_INTERVAL_MS, UNKNOWN_STATE,
};
use ccx_model::settings::{Signal, TenantSettings};
use ccx_model::view::{DecodeError, EventView, Text};
use ccx_model::{timestamp_ms, AgentState, Channel, Direction, Event, EventType, SurveyType};
use ccx_proto::prost::Message as _;
use serde::{Deserialize, Serialize};

/// Metric settings: SPEC defaults, overridden per tenant.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub default: TenantSettings,
    pub tenants: HashMap<String, TenantSettings>,
    /// How long event ids are remembered behind the watermark for deduplication; a copy that
    /// arrives later is counted as late instead (it is never applied twice either way).
    pub dedup_horizon_ms: i64,
    /// Tenant settings that change while the stream runs (the control plane's); applied at
    /// the next watermark advance.
    pub shared: Option<std::sync::Arc<SharedSettings>>,
    /// Hand over provisional queue and agent rows that include the events still waiting for
    /// the watermark (applied speculatively, in event-time order, to copies of their
    /// contacts); the final values replace them once the watermark passes.
    pub provisional: bool,
    /// How often [`Engine::take_output_at`] brings every agent's state time up to the
    /// watermark, in `as_of` ms: 0 at every output; otherwise at most this often, and at the
    /// first output after a tenant's watermark enters a new minute (so a passed minute is
    /// complete at once). An agent's state change accrues its time whenever it comes.
    pub state_accrual_ms: i64,
    /// How often [`Engine::take_output_at`] hands over the minute tables' changes (with
    /// their provisional speculation, a pass over every event waiting for the watermark),
    /// their rollups and each tenant's progress, in `as_of` ms: 0 at every output; otherwise
    /// at most this often. The live floor and alerts go at every output;
    /// [`Engine::take_all_output`] hands over everything.
    pub minutes_every_ms: i64,
}

impl Settings {
    pub fn new(default: TenantSettings) -> Settings {
        Settings {
            default,
            tenants: HashMap::new(),
            dedup_horizon_ms: 10 * 60_000,
            shared: None,
            provisional: false,
            state_accrual_ms: 0,
            minutes_every_ms: 0,
        }
    }

    pub fn for_tenant(&self, tenant: &str) -> &TenantSettings {
        self.tenants.get(tenant).unwrap_or(&self.default)
    }
}

/// What became of an ingested event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Waiting for the watermark, then applied.
    Buffered,
    /// A copy of an event already seen: counted in `duplicates`, nothing else.
    Duplicate,
    /// Behind the watermark: counted in `late_dropped`, not applied.
    Late,
}

/// Per-tenant settings published by another thread (a control-plane poller).
#[derive(Debug, Default)]
pub struct SharedSettings {
    version: std::sync::atomic::AtomicU64,
    tenants: std::sync::RwLock<HashMap<String, TenantSettings>>,
}

impl SharedSettings {
    /// Replaces every tenant's settings; engines pick them up at their next advance.
    pub fn replace(&self, tenants: HashMap<String, TenantSettings>) {
        let mut current = ccx_model::sync::write(&self.tenants);
        if *current != tenants {
            *current = tenants;
            self.version
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }

    /// The settings of one tenant, if the control plane holds them.
    pub fn get(&self, tenant: &str) -> Option<TenantSettings> {
        let tenants = ccx_model::sync::read(&self.tenants);
        tenants.get(tenant).cloned()
    }

    fn snapshot(&self) -> (u64, HashMap<String, TenantSettings>) {
        let tenants = ccx_model::sync::read(&self.tenants);
        let version = self.version.load(std::sync::atomic::Ordering::Acquire);
        (version, tenants.clone())
    }
}

/// Rows changed since the previous [`Engine::take_output`], with their full current values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub queue: Vec<(QueueKey, Components)>,
    pub agent: Vec<(AgentKey, Components)>,
    pub reason: Vec<(ReasonKey, Components)>,
    /// The hourly and daily rollup rows the changes above changed, with their full values:
    /// each the sum of its minute rows as handed over (docs/metrics.md, "Rollups").
    pub hourly: RollupRows,
    pub daily: RollupRows,
    pub agent_state: Vec<(AgentMinute, StateTimes)>,
    pub quality: Vec<((String, i64), Quality)>,
    pub alerts: Vec<ChurnAlert>,
    pub queue_now: Vec<QueueNow>,
    /// Agents whose doings changed since the previous output.
    pub agent_now: Vec<AgentNow>,
    /// `staffing_15m` rows of the intervals completed since the previous output.
    pub staffing: Vec<(QueueKey, StaffingRow)>,
    /// THRESHOLD alerts fired or cleared since the previous output.
    pub thresholds: Vec<ThresholdAlert>,
    /// Tenants whose watermark entered a new minute.
    pub progress: Vec<TenantProgress>,
}

impl Output {
    /// Folds these rows into `rows` (newer values replace older ones, alerts append), as
    /// `SELECT … FINAL` sees successive writes.
    pub fn merge_into(self, rows: &mut FinalRows) {
        rows.queue.extend(self.queue);
        rows.agent.extend(self.agent);
        rows.reason.extend(self.reason);
        rows.agent_state.extend(self.agent_state);
        rows.quality.extend(self.quality);
        rows.alerts.extend(self.alerts);
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
            && self.agent.is_empty()
            && self.reason.is_empty()
            && self.hourly.is_empty()
            && self.daily.is_empty()
            && self.agent_state.is_empty()
            && self.quality.is_empty()
            && self.alerts.is_empty()
            && self.queue_now.is_empty()
            && self.agent_now.is_empty()
            && self.staffing.is_empty()
            && self.thresholds.is_empty()
            && self.progress.is_empty()
    }
}

mod agents;
mod buffer;
mod callbacks;
mod campaign;
mod cases;
mod churn;
mod contact;
mod event;
mod fcr;
mod intern;
mod lifecycle;
mod live;
mod persist;
mod provisional;
mod rollups;
mod rows;
mod staffing;
mod tenant;
mod thresholds;

use self::buffer::*;
use self::contact::*;
use self::event::*;
pub use self::event::{Ev, MAX_RECORD_BYTES};
pub use self::intern::FastMap;
use self::intern::*;
use self::live::*;
use self::rollups::*;
use self::rows::*;
use self::staffing::*;
pub use self::tenant::{history_needed_ms, rows_final_before, TenantState, NO_WATERMARK};
use self::thresholds::*;

/// The engine: state of every tenant routed to it, each with its own watermark.
#[derive(Debug, Clone)]
pub struct Engine {
    settings: Settings,
    settings_version: u64,
    /// The watermark a tenant starts with when its first event arrives (raised by
    /// [`Engine::advance`]).
    floor: i64,
    tenants: BTreeMap<String, TenantState>,
    /// When agent-state time was last brought up to the watermarks (`as_of` ms).
    accrued_at: i64,
    /// When the minute tables were last handed over (`as_of` ms).
    minutes_at: i64,
}

impl Engine {
    /// An engine whose tenants' watermarks start at `watermark` (events before it are late);
    /// [`NO_WATERMARK`] lets every tenant's first events in, however old.
    pub fn new(settings: Settings, watermark: i64) -> Engine {
        Engine {
            settings,
            settings_version: 0,
            floor: watermark,
            tenants: BTreeMap::new(),
            accrued_at: i64::MIN,
            minutes_at: i64::MIN,
        }
    }

    /// The lowest watermark of the tenants held ([`NO_WATERMARK`] while one has none yet;
    /// the starting watermark when there are none).
    pub fn watermark(&self) -> i64 {
        self.tenants
            .values()
            .map(|t| t.watermark)
            .min()
            .unwrap_or(self.floor)
    }

    /// The watermark of each tenant held.
    pub fn watermarks(&self) -> impl Iterator<Item = (&str, i64)> {
        self.tenants
            .iter()
            .map(|(id, t)| (id.as_str(), t.watermark))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Accepts one event in any order: duplicates and late events are counted, others buffered.
    pub fn ingest(&mut self, event: &Event) -> Ingested {
        let ev = Ev::read(event.encode_to_vec().into()).expect("an encoded event decodes");
        self.ingest_event(ev)
    }

    /// [`Engine::ingest`] for an event the source read already.
    pub fn ingest_event(&mut self, ev: Ev) -> Ingested {
        let mut outcome = Ingested::Buffered;
        self.ingest_events(vec![ev], |_, o| outcome = o);
        outcome
    }

    /// [`Engine::ingest_event`] for each of `events`, all of one tenant (the dataflow's
    /// batches are), telling `outcome` what became of each. The events are deduplicated
    /// first, in one tight pass (the table look-ups of consecutive events overlap in the CPU),
    /// then buffered.
    pub(crate) fn ingest_events(
        &mut self,
        mut events: Vec<Ev>,
        mut outcome: impl FnMut(&Ev, Ingested),
    ) {
        let Some(first) = events.first() else {
            return;
        };
        debug_assert!(events.iter().all(|ev| ev.tenant() == first.tenant()));
        let tenant = self.tenant_mut(first.tenant());
        let outcomes: Vec<Ingested> = events.iter().map(|ev| tenant.ingest(ev)).collect();
        for (ev, o) in events.iter_mut().zip(&outcomes) {
            outcome(ev, *o);
            if *o != Ingested::Duplicate {
                ev.intern(&mut tenant.names);
                let contacts = &tenant.contacts;
                let ended = |id| contacts.get(&id).is_some_and(|c| c.terminal);
                tenant.live.receive(ev, *o == Ingested::Late, ended);
            }
        }
        // Moved into the buffer apart from the loop above: moving each event out of a zip
        // compiled to copies through the stack that stalled on themselves.
        let mut kept = outcomes.iter();
        events.retain(|_| kept.next() == Some(&Ingested::Buffered));
        for ev in events {
            tenant.buffer.push(ev);
        }
    }

    /// The state of the tenant whose id is `tenant` (new if it is the tenant's first event).
    fn tenant_mut(&mut self, tenant: &[u8]) -> &mut TenantState {
        let tenant = std::str::from_utf8(tenant).unwrap_or_default();
        if !self.tenants.contains_key(tenant) {
            let state = TenantState {
                watermark: self.floor,
                ..TenantState::default()
            };
            self.tenants.insert(tenant.to_string(), state);
        }
        self.tenants.get_mut(tenant).expect("inserted above")
    }

    /// Number of events waiting for the watermark.
    pub fn buffered(&self) -> usize {
        self.tenants.values().map(|t| t.buffer.len).sum()
    }

    /// Advances every tenant, and the watermark later tenants start with, to `watermark`
    /// (the batch form used by tests and benchmarks).
    pub fn advance(&mut self, watermark: i64) {
        self.floor = self.floor.max(watermark);
        self.advance_tenants(|_, _| watermark);
    }

    /// Advances each tenant to `target(tenant, its settings)`, with the newest settings.
    pub fn advance_tenants(&mut self, mut target: impl FnMut(&str, &TenantSettings) -> i64) {
        self.refresh_settings();
        let dedup_horizon_ms = self.settings.dedup_horizon_ms;
        for (tenant_id, tenant) in self.tenants.iter_mut() {
            let settings = self.settings.for_tenant(tenant_id);
            let watermark = target(tenant_id, settings);
            tenant.advance(tenant_id, settings, watermark, dedup_horizon_ms);
        }
    }

    /// Takes the newest tenant settings the control plane sent, if they changed.
    pub fn refresh_settings(&mut self) {
        if let Some(shared) = &self.settings.shared {
            let (version, tenants) = shared.snapshot();
            if version != self.settings_version {
                self.settings_version = version;
                self.settings.tenants = tenants;
            }
        }
    }

    /// [`Engine::take_output_at`] the wall clock's now.
    pub fn take_output(&mut self) -> Output {
        self.take_output_at(ccx_model::now_ms())
    }

    /// [`Engine::take_output`] with every changed row, whenever the minute tables were last
    /// handed over (before a checkpoint, and at the end).
    pub fn take_all_output(&mut self) -> Output {
        self.minutes_at = i64::MIN;
        self.take_output()
    }

    /// The rows changed since the last call (full values), new alerts, and the live floor as
    /// of `as_of`: every `queue_now` row, the `agent_now` rows of agents that changed; the
    /// minute tables' rows as [`Settings::minutes_every_ms`] says.
    pub fn take_output_at(&mut self, as_of: i64) -> Output {
        self.settle(Some(as_of));
        let every = self.settings.minutes_every_ms;
        let minutes = every <= 0 || as_of.saturating_sub(self.minutes_at) >= every;
        if minutes {
            self.minutes_at = as_of;
        }
        let mut out = Output::default();
        for (tenant_id, t) in self.tenants.iter_mut() {
            let settings = self.settings.for_tenant(tenant_id);
            out.alerts.append(&mut t.alerts);
            out.queue_now
                .extend(t.queue_now(tenant_id, settings, as_of));
            out.agent_now
                .extend(t.live.take_agents(tenant_id, &t.names, as_of));
            out.thresholds
                .extend(t.evaluate_rules(tenant_id, settings, as_of));
            if !minutes {
                continue;
            }
            let tz = settings.tz();
            let queue_changes = t.queue_rows.take_changes();
            let agent_changes = t.agent_rows.take_changes();
            let reason_changes = t.reason_rows.take_changes();
            t.rollups.apply(Rolled::Queue, tz, &queue_changes);
            t.rollups.apply(Rolled::Agent, tz, &agent_changes);
            t.rollups.apply(Rolled::Reason, tz, &reason_changes);
            let values = |changes: Vec<(RowNum, Sym, Components, Components)>| {
                changes
                    .into_iter()
                    .map(|(num, id, value, _)| (num, id, value))
                    .collect::<Vec<_>>()
            };
            let (mut queue, mut agent) = (values(queue_changes), values(agent_changes));
            let rollups = if self.settings.provisional {
                let scratch = t.provisional(tenant_id, settings, &mut queue, &mut agent);
                t.rollups
                    .take(tz, Some([&scratch.queue_rows, &scratch.agent_rows]))
            } else {
                t.rollups.take(tz, None)
            };
            for start in rollups.day_starts() {
                out.daily
                    .days
                    .insert((tenant_id.clone(), start), t.rollups.date(start));
            }
            rollups.name_into(tenant_id, &t.names, &mut out.hourly, &mut out.daily);
            t.rollups.forget();
            for (num, queue_id, value) in queue {
                out.queue
                    .push((queue_key(tenant_id, num, t.names.name(queue_id)), value));
            }
            for (num, agent_id, value) in agent {
                out.agent
                    .push((agent_key(tenant_id, num, t.names.name(agent_id)), value));
            }
            for (num, reason, value) in values(reason_changes) {
                out.reason
                    .push((reason_key(tenant_id, num, t.names.name(reason)), value));
            }
            for (num, agent_id, value) in t.state_rows.take_dirty() {
                out.agent_state
                    .push((agent_minute(tenant_id, num, t.names.name(agent_id)), value));
            }
            for minute in std::mem::take(&mut t.dirty_quality) {
                let value = t.quality_rows.get(&minute).copied().unwrap_or_default();
                out.quality.push(((tenant_id.clone(), minute), value));
            }
            out.staffing.extend(t.final_intervals(tenant_id, settings));
            if t.watermark != NO_WATERMARK {
                let watermark = t.watermark;
                if t.reported_minute != Some(minute_of(watermark)) {
                    t.reported_minute = Some(minute_of(watermark));
                    out.progress.push(TenantProgress {
                        tenant_id: tenant_id.clone(),
                        watermark,
                    });
                }
            }
        }
        out
    }

    /// Brings agent-state time up to the watermark (additive, so how often does not matter
    /// to the final rows): at every call for `None`, else as [`Settings::state_accrual_ms`]
    /// says.
    fn settle(&mut self, as_of: Option<i64>) {
        let due = match as_of {
            Some(as_of) if self.settings.state_accrual_ms > 0 => {
                let due = as_of.saturating_sub(self.accrued_at) >= self.settings.state_accrual_ms;
                if due {
                    self.accrued_at = as_of;
                }
                due
            }
            _ => true,
        };
        for t in self.tenants.values_mut() {
            if t.watermark == NO_WATERMARK {
                continue;
            }
            // The minute last reported as progress, which `take_output_at` moves on after
            // this: a watermark in another minute entered a new one.
            let entered = t.reported_minute != Some(minute_of(t.watermark));
            if due || entered {
                t.accrue_agents(t.watermark);
            }
        }
    }

    /// Brings every agent's state time up to the watermark now (a stopping stream's last
    /// output is exact whatever [`Settings::state_accrual_ms`] says).
    pub fn accrue_agent_time(&mut self) {
        self.settle(None);
    }

    /// Every row currently held, as final rows (for tests and the reference comparison).
    pub fn final_rows(&mut self) -> FinalRows {
        self.settle(None);
        let mut rows = FinalRows::default();
        for (tenant_id, t) in &self.tenants {
            let name = |sym| t.names.name(sym);
            for (num, id, v) in t.queue_rows.all() {
                rows.queue.insert(queue_key(tenant_id, num, name(id)), v);
            }
            for (num, id, v) in t.agent_rows.all() {
                rows.agent.insert(agent_key(tenant_id, num, name(id)), v);
            }
            for (num, id, v) in t.reason_rows.all() {
                rows.reason.insert(reason_key(tenant_id, num, name(id)), v);
            }
            for (num, id, v) in t.state_rows.all() {
                rows.agent_state
                    .insert(agent_minute(tenant_id, num, name(id)), v);
            }
            rows.quality.extend(
                t.quality_rows
                    .iter()
                    .map(|(m, q)| ((tenant_id.clone(), *m), *q)),
            );
        }
        rows
    }

    /// Every hourly and daily rollup row held (final values, all-zero rows dropped), for tests
    /// and the reference comparison.
    pub fn rollup_rows(&self) -> (RollupRows, RollupRows) {
        let (mut hourly, mut daily) = (RollupRows::default(), RollupRows::default());
        for (tenant_id, t) in &self.tenants {
            let all = t.rollups.all();
            for start in all.day_starts() {
                daily
                    .days
                    .insert((tenant_id.clone(), start), t.rollups.date(start));
            }
            all.name_into(tenant_id, &t.names, &mut hourly, &mut daily);
        }
        (hourly.without_zero_rows(), daily.without_zero_rows())
    }

    /// The state of one tenant, for checkpoints.
    pub fn tenant_state(&self, tenant: &str) -> Option<&TenantState> {
        self.tenants.get(tenant)
    }

    pub fn tenant_ids(&self) -> impl Iterator<Item = &String> {
        self.tenants.keys()
    }

    /// Restores a tenant's state from a checkpoint.
    pub fn restore_tenant(&mut self, tenant: String, state: TenantState) {
        self.tenants.insert(tenant, state);
    }

    /// Counts of the state held, for the memory benchmark.
    pub fn state_counts(&self) -> StateCounts {
        let mut c = StateCounts::default();
        for t in self.tenants.values() {
            c.open_contacts += t.contacts.values().filter(|c| !c.terminal).count();
            c.contacts += t.contacts.len();
            c.customers += t.customers.len();
            c.buffered += t.buffer.len;
            c.seen_ids += t.seen.len();
            c.cases += t.cases.len();
            c.campaign += t.campaign.len();
            c.callback_requests += t.callback_requests.len();
        }
        c
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub open_contacts: usize,
    pub contacts: usize,
    pub customers: usize,
    pub buffered: usize,
    pub seen_ids: usize,
    /// Open cases held apart from their contacts, outbound customers on a queue, callback
    /// requests: each forgotten after its window.
    pub cases: usize,
    pub campaign: usize,
    pub callback_requests: usize,
}

/// Runs a whole set of events through an engine and returns the final rows as of
/// `watermark` (the batch form used by golden tests and the demo's checks).
pub fn compute_final(events: &[Event], settings: &TenantSettings, watermark: i64) -> FinalRows {
    let start = events
        .iter()
        .filter_map(|e| e.occurred_at.as_ref().map(timestamp_ms))
        .min()
        .unwrap_or(0);
    let mut engine = Engine::new(Settings::new(settings.clone()), start);
    for e in events {
        engine.ingest(e);
    }
    engine.advance(watermark);
    let alerts = engine.take_output().alerts;
    let mut rows = engine.final_rows();
    rows.alerts = alerts;
    rows.without_zero_rows()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn events_in_flight_stay_small() {
        assert!(
            std::mem::size_of::<Ev>() <= 104,
            "{}",
            std::mem::size_of::<Ev>()
        );
    }

    fn at(t: i64, id: usize) -> Ev {
        let event = Event {
            event_id: format!("e-{id}"),
            tenant_id: "t".into(),
            r#type: (id % 12) as i32,
            occurred_at: Some(ccx_model::ms_timestamp(t)),
            ..Event::default()
        };
        Ev::read(event.encode_to_vec().into()).unwrap()
    }

    proptest::proptest! {
        /// Whatever the times (near, far ahead, out of order), each advance hands over
        /// exactly the events before the watermark, in order, once (emptied buckets reused).
        #[test]
        fn the_buffer_hands_over_every_event_once_in_order(
            offsets in proptest::collection::vec(
                proptest::prop_oneof![0i64..5_000, 0i64..2_000_000, 0i64..20_000_000],
                1..300,
            ),
            steps in proptest::collection::vec(1i64..3_000_000, 1..12),
        ) {
            let start = 1_790_000_000_000;
            let mut buffer = Buffer::default();
            let mut waiting: Vec<Ev> = Vec::new();
            let mut watermark = start;
            let mut pushed = offsets.iter().enumerate();
            for step in steps {
                // Some events arrive (never behind the watermark), then the watermark moves.
                for (id, offset) in pushed.by_ref().take(offsets.len() / 4 + 1) {
                    let ev = at(watermark + offset, id);
                    waiting.push(ev.clone());
                    buffer.push(ev);
                }
                watermark += step;
                let ready = buffer.take_before(watermark);
                let got: Vec<Ev> = ready.iter().cloned().collect();
                buffer.recycle(ready);
                let (mut due, rest): (Vec<Ev>, Vec<Ev>) =
                    waiting.into_iter().partition(|ev| ev.t < watermark);
                due.sort_by(Ev::cmp_order);
                proptest::prop_assert_eq!(got, due);
                proptest::prop_assert_eq!(buffer.len, rest.len());
                proptest::prop_assert_eq!(buffer.iter().count(), rest.len());
                waiting = rest;
            }
        }
    }

    proptest::proptest! {
        /// Adds, hand-overs and forgetting give what a plain map of rows gives.
        #[test]
        fn a_row_table_keeps_what_a_map_keeps(
            steps in proptest::collection::vec((0i64..6, 0u32..4, 1u64..9, 0u8..8), 1..200),
        ) {
            let mut table = RowTable::<u64>::default();
            let mut model: BTreeMap<(RowNum, Sym), (u64, bool)> = BTreeMap::new();
            for (minute, id, value, action) in steps {
                let key = ((minute, 1, 0), id);
                match action {
                    0 => {
                        let mut got = table.take_dirty();
                        got.sort_unstable();
                        let mut want = Vec::new();
                        for ((num, id), (v, dirty)) in model.iter_mut() {
                            if std::mem::take(dirty) {
                                want.push((*num, *id, *v));
                            }
                        }
                        proptest::prop_assert_eq!(got, want);
                    }
                    1 => {
                        table.forget_before(minute);
                        model.retain(|((m, _, _), _), (_, dirty)| *m >= minute || *dirty);
                    }
                    _ => {
                        table.add(key.0, key.1, value);
                        let (v, dirty) = model.entry(key).or_default();
                        (*v, *dirty) = (*v + value, true);
                    }
                }
                proptest::prop_assert_eq!(table.get(&key), model.get(&key).map_or(0, |r| r.0));
                let mut all: Vec<_> = table.all().collect();
                all.sort_unstable();
                let want: Vec<_> = model.iter().map(|((n, i), (v, _))| (*n, *i, *v)).collect();
                proptest::prop_assert_eq!(all, want);
            }
        }
    }

    proptest::proptest! {
        /// Names of every length, short (held as words) and long, that differ in a byte,
        /// in a trailing zero or only in their length get different symbols.
        #[test]
        fn each_name_has_one_symbol(
            names in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(vec![0u8, b'a', b'b']), 0..20),
                1..60,
            ),
        ) {
            let mut interned = Names::default();
            let syms: Vec<Sym> = names.iter().map(|n| interned.intern(n)).collect();
            for (a, sym_a) in names.iter().zip(&syms) {
                proptest::prop_assert_eq!(interned.intern(a), *sym_a);
                proptest::prop_assert_eq!(interned.name(*sym_a).as_bytes(), &a[..]);
                for (b, sym_b) in names.iter().zip(&syms) {
                    proptest::prop_assert_eq!(a == b, sym_a == sym_b);
                }
            }
        }
    }

    #[test]
    fn cases_campaigns_and_callback_requests_are_forgotten_after_their_windows() {
        let start = 1_790_000_000_000;
        let hour = 3_600_000;
        let s = TenantSettings {
            callback_window_ms: hour,
            campaign_window_ms: 2 * hour,
            case_window_ms: 3 * hour,
            ..TenantSettings::default()
        };
        let event = |id: &str, kind: EventType, t: i64, f: &dyn Fn(&mut Event)| {
            let mut e = Event {
                event_id: format!("{id}-{}", kind as i32),
                tenant_id: "t".into(),
                r#type: kind as i32,
                occurred_at: Some(ccx_model::ms_timestamp(t)),
                contact_id: id.into(),
                customer_id: "cu".into(),
                channel: Channel::Voice as i32,
                direction: Direction::Inbound as i32,
                queue_id: "q".into(),
                ..Event::default()
            };
            f(&mut e);
            e
        };
        let mut engine = Engine::new(Settings::new(s), start);
        // A named case left open, a callback request, an outbound attempt.
        engine.ingest(&event("a", EventType::ContactOffered, start, &|e| {
            e.case_id = "k".into()
        }));
        engine.ingest(&event("b", EventType::ContactOffered, start, &|_| {}));
        engine.ingest(&event(
            "b",
            EventType::CallbackRequested,
            start + 1_000,
            &|_| {},
        ));
        engine.ingest(&event("o", EventType::ContactOffered, start, &|e| {
            e.direction = Direction::Outbound as i32
        }));
        engine.advance(start + 60_000);
        let held = engine.state_counts();
        assert_eq!(
            (held.cases, held.campaign, held.callback_requests),
            (1, 1, 1)
        );
        let at = |hours: i64| start + hours * hour + 10 * 60_000;
        engine.advance(at(1));
        assert_eq!(engine.state_counts().callback_requests, 0);
        engine.advance(at(2));
        assert_eq!(engine.state_counts().campaign, 0);
        // The named case, and b's case of its own, moved in when b (terminal) was dropped.
        assert_eq!(engine.state_counts().cases, 2);
        engine.advance(at(3));
        assert_eq!(engine.state_counts().cases, 0);
    }

    #[test]
    fn batches_of_one_tenant_are_ingested_as_event_by_event() {
        let start = 1_790_000_000_000;
        let offer = |tenant: &str, n: usize| Event {
            event_id: format!("{tenant}-{}", n % 5),
            tenant_id: tenant.into(),
            r#type: EventType::ContactOffered as i32,
            occurred_at: Some(ccx_model::ms_timestamp(start + 1_000 * n as i64)),
            contact_id: format!("c-{}", n % 5),
            customer_id: "cu-1".into(),
            queue_id: "q".into(),
            direction: Direction::Inbound as i32,
            ..Event::default()
        };
        // Runs of different tenants, duplicates within and across runs.
        let events: Vec<Event> = (0..12)
            .map(|n| offer(["a", "a", "b", "a", "b", "b"][n % 6], n))
            .collect();
        let read = |e: &Event| Ev::read(e.encode_to_vec().into()).unwrap();
        let settings = || Settings::new(TenantSettings::default());
        let mut batched = Engine::new(settings(), start);
        let mut seen = Vec::new();
        for run in events.chunk_by(|a, b| a.tenant_id == b.tenant_id) {
            batched.ingest_events(run.iter().map(read).collect(), |_, o| seen.push(o));
        }
        let mut single = Engine::new(settings(), start);
        let one_by_one: Vec<Ingested> = events
            .iter()
            .map(|e| single.ingest_event(read(e)))
            .collect();
        assert_eq!(seen, one_by_one);
        assert!(seen.contains(&Ingested::Duplicate) && seen.contains(&Ingested::Buffered));
        batched.advance(start + 60_000);
        single.advance(start + 60_000);
        assert_eq!(batched.final_rows(), single.final_rows());
    }

    #[test]
    fn the_largest_event_the_collector_accepts_fits_the_record_limit() {
        // Every string at the collector's limit of characters, each of 4 bytes.
        let longest = "\u{1D11E}".repeat(ccx_model::validate::MAX_ID_CHARS);
        let event = Event {
            event_id: longest.clone(),
            tenant_id: longest.clone(),
            contact_id: longest.clone(),
            customer_id: longest.clone(),
            queue_id: longest.clone(),
            agent_id: longest.clone(),
            reason: longest.clone(),
            to_queue_id: longest.clone(),
            to_agent_id: longest,
            occurred_at: Some(ccx_model::ms_timestamp(i64::MAX / 2)),
            score: Some(i32::MIN),
            sentiment: Some(-1.0),
            ..Event::default()
        };
        let record = event.encode_to_vec();
        assert!(record.len() < MAX_RECORD_BYTES / 10, "{}", record.len());
        assert!(Ev::read(record.into()).is_ok());
    }

    #[test]
    fn records_up_to_the_limit_are_read_and_longer_ones_refused() {
        let event = |reason_len: usize| Event {
            event_id: "e-1".into(),
            tenant_id: "t".into(),
            reason: "r".repeat(reason_len),
            to_queue_id: "q-last".into(),
            ..Event::default()
        };
        let fits = event(MAX_RECORD_BYTES - 64).encode_to_vec();
        assert!(fits.len() <= MAX_RECORD_BYTES && fits.len() > MAX_RECORD_BYTES - 100);
        let ev = Ev::read(fits.into()).unwrap();
        assert_eq!(ev.bytes(ev.spans.to_queue), b"q-last");
        assert_eq!(ev.bytes(ev.spans.reason).len(), MAX_RECORD_BYTES - 64);
        let long = event(MAX_RECORD_BYTES).encode_to_vec();
        assert_eq!(
            Ev::read(long.into()).unwrap_err(),
            DecodeError("record longer than 65,535 bytes")
        );
    }
}
