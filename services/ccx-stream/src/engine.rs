//! The metric engine of SPEC §3, for any number of tenants.
//!
//! Events go in through [`Engine::ingest`] in any order: a copy of an event already seen is a
//! duplicate, an event behind the watermark is late; the rest wait in a buffer. When the
//! watermark advances ([`Engine::advance`]), the buffered events before it are applied in
//! event-time order (ties by type order, then eventId), so the result does not depend on the
//! arrival order. Applying an event updates per-contact state, per-customer FCR and churn
//! state, per-agent state time, and the rows it completes; [`Engine::take_output`] hands over
//! the rows changed since the last call, with their full values.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::AddAssign;

use ccx_model::rows::{
    minute_of, AgentKey, AgentMinute, ChurnAlert, Components, FinalRows, Quality, QueueKey,
    QueueNow, StateTimes,
};
use ccx_model::settings::{Signal, TenantSettings};
use ccx_model::{timestamp_ms, AgentState, Channel, Direction, Event, EventType, SurveyType};
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
}

impl Settings {
    pub fn new(default: TenantSettings) -> Settings {
        Settings {
            default,
            tenants: HashMap::new(),
            dedup_horizon_ms: 10 * 60_000,
            shared: None,
            provisional: false,
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
        let mut current = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        if *current != tenants {
            *current = tenants;
            self.version
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }

    /// The settings of one tenant, if the control plane holds them.
    pub fn get(&self, tenant: &str) -> Option<TenantSettings> {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        tenants.get(tenant).cloned()
    }

    fn snapshot(&self) -> (u64, HashMap<String, TenantSettings>) {
        let tenants = self.tenants.read().unwrap_or_else(|p| p.into_inner());
        let version = self.version.load(std::sync::atomic::Ordering::Acquire);
        (version, tenants.clone())
    }
}

/// Rows changed since the previous [`Engine::take_output`], with their full current values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub queue: Vec<(QueueKey, Components)>,
    pub agent: Vec<(AgentKey, Components)>,
    pub agent_state: Vec<(AgentMinute, StateTimes)>,
    pub quality: Vec<((String, i64), Quality)>,
    pub alerts: Vec<ChurnAlert>,
    pub queue_now: Vec<QueueNow>,
}

impl Output {
    /// Folds these rows into `rows` (newer values replace older ones, alerts append), as
    /// `SELECT … FINAL` sees successive writes.
    pub fn merge_into(self, rows: &mut FinalRows) {
        rows.queue.extend(self.queue);
        rows.agent.extend(self.agent);
        rows.agent_state.extend(self.agent_state);
        rows.quality.extend(self.quality);
        rows.alerts.extend(self.alerts);
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
            && self.agent.is_empty()
            && self.agent_state.is_empty()
            && self.quality.is_empty()
            && self.alerts.is_empty()
            && self.queue_now.is_empty()
    }
}

/// A hash map with a fast, non-cryptographic hasher.
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<rustc_hash::FxHasher>>;

/// The numeric part of a row key: (minute, channel, direction) or (minute, channel, 0).
type RowNum = (i64, i32, i32);

/// Rows of one table of one tenant, keyed by a numeric part and an id (queue or agent), with
/// the keys changed since the last hand-over. Adding to an existing row allocates nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RowTable<V> {
    rows: FastMap<RowNum, FastMap<String, (V, bool)>>,
    dirty: Vec<(RowNum, String)>,
}

impl<V> Default for RowTable<V> {
    fn default() -> Self {
        RowTable {
            rows: FastMap::default(),
            dirty: Vec::new(),
        }
    }
}

impl<V: Copy + Default + AddAssign> RowTable<V> {
    fn add(&mut self, num: RowNum, id: &str, value: V) {
        let inner = self.rows.entry(num).or_default();
        match inner.get_mut(id) {
            Some((row, dirty)) => {
                *row += value;
                if !*dirty {
                    *dirty = true;
                    self.dirty.push((num, id.to_string()));
                }
            }
            None => {
                inner.insert(id.to_string(), (value, true));
                self.dirty.push((num, id.to_string()));
            }
        }
    }

    /// The changed rows with their current values; clears the change marks.
    fn take_dirty(&mut self) -> Vec<(RowNum, String, V)> {
        let mut out = Vec::with_capacity(self.dirty.len());
        for (num, id) in std::mem::take(&mut self.dirty) {
            if let Some((value, dirty)) = self.rows.get_mut(&num).and_then(|r| r.get_mut(&id)) {
                *dirty = false;
                out.push((num, id, *value));
            }
        }
        out
    }

    fn all(&self) -> impl Iterator<Item = (RowNum, &String, V)> {
        self.rows
            .iter()
            .flat_map(|(num, ids)| ids.iter().map(move |(id, (v, _))| (*num, id, *v)))
    }

    /// Drops rows of minutes before `horizon` that were handed over already.
    fn forget_before(&mut self, horizon: i64) {
        self.rows.retain(|(minute, _, _), ids| {
            if *minute >= horizon {
                return true;
            }
            ids.retain(|_, (_, dirty)| *dirty);
            !ids.is_empty()
        });
    }
}

/// The compact form of an event the engine keeps (and the dataflow exchanges).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ev {
    t: i64,
    kind: i32,
    event_id: String,
    contact_id: String,
    customer_id: String,
    channel: i32,
    direction: i32,
    queue_id: String,
    agent_id: String,
    reason: String,
    resolved: bool,
    converted: bool,
    to_queue_id: String,
    survey_type: i32,
    score: i32,
    sentiment: f64,
    agent_state: i32,
}

impl Ev {
    /// The event time in ms.
    pub fn time(&self) -> i64 {
        self.t
    }

    /// Takes the fields of a decoded event without copying them; returns (tenant, event).
    pub fn from_owned(e: Event) -> (String, Ev) {
        let ev = Ev {
            t: e.occurred_at.as_ref().map(timestamp_ms).unwrap_or(0),
            kind: e.r#type,
            event_id: e.event_id,
            contact_id: e.contact_id,
            customer_id: e.customer_id,
            channel: e.channel,
            direction: e.direction,
            queue_id: e.queue_id,
            agent_id: e.agent_id,
            reason: e.reason,
            resolved: e.resolved,
            converted: e.converted,
            to_queue_id: e.to_queue_id,
            survey_type: e.survey_type,
            score: e.score.unwrap_or(0),
            sentiment: e.sentiment.unwrap_or(0.0),
            agent_state: e.agent_state,
        };
        (e.tenant_id, ev)
    }

    pub fn from_event(e: &Event) -> Ev {
        Ev {
            t: e.occurred_at.as_ref().map(timestamp_ms).unwrap_or(0),
            kind: e.r#type,
            event_id: e.event_id.clone(),
            contact_id: e.contact_id.clone(),
            customer_id: e.customer_id.clone(),
            channel: e.channel,
            direction: e.direction,
            queue_id: e.queue_id.clone(),
            agent_id: e.agent_id.clone(),
            reason: e.reason.clone(),
            resolved: e.resolved,
            converted: e.converted,
            to_queue_id: e.to_queue_id.clone(),
            survey_type: e.survey_type,
            score: e.score.unwrap_or(0),
            sentiment: e.sentiment.unwrap_or(0.0),
            agent_state: e.agent_state,
        }
    }

    fn order(&self) -> (i64, i32, &str) {
        (self.t, self.kind, &self.event_id)
    }

    fn kind(&self) -> EventType {
        EventType::try_from(self.kind).unwrap_or(EventType::TypeUnspecified)
    }

    fn inbound(&self) -> bool {
        self.direction == Direction::Inbound as i32
    }
}

fn channel_name(n: i32) -> String {
    Channel::try_from(n)
        .map(|c| c.as_str_name())
        .unwrap_or("CHANNEL_UNSPECIFIED")
        .to_string()
}

fn direction_name(n: i32) -> String {
    Direction::try_from(n)
        .map(|d| d.as_str_name())
        .unwrap_or("DIRECTION_UNSPECIFIED")
        .to_string()
}

/// Where a component lands: the minute and dimensions of the event that completes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Dims {
    minute: i64,
    queue_id: String,
    channel: i32,
    direction: i32,
    agent_id: String,
}

impl Dims {
    fn at(&self) -> At<'_> {
        At {
            minute: self.minute,
            queue_id: &self.queue_id,
            channel: self.channel,
            direction: self.direction,
            agent_id: &self.agent_id,
        }
    }
}

/// [`Dims`] borrowed from the completing event (no copy on the hot path).
#[derive(Debug, Clone, Copy)]
struct At<'a> {
    minute: i64,
    queue_id: &'a str,
    channel: i32,
    direction: i32,
    agent_id: &'a str,
}

impl<'a> At<'a> {
    fn of(ev: &'a Ev, agent_id: &'a str) -> At<'a> {
        At {
            minute: minute_of(ev.t),
            queue_id: &ev.queue_id,
            channel: ev.channel,
            direction: ev.direction,
            agent_id,
        }
    }

    fn owned(&self) -> Dims {
        Dims {
            minute: self.minute,
            queue_id: self.queue_id.to_string(),
            channel: self.channel,
            direction: self.direction,
            agent_id: self.agent_id.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Segment {
    start: i64,
    agent_id: String,
    hold_since: Option<i64>,
    hold_ms: i64,
    holds: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Contact {
    customer_id: String,
    inbound: bool,
    reason: String,
    offered_at: i64,
    answered: bool,
    repeat: bool,
    segment: Option<Segment>,
    transfers: u32,
    /// Set by CONTACT_ENDED; `terminal` also by CONTACT_ABANDONED.
    ended_at: Option<i64>,
    terminal: bool,
    wrapped: bool,
    last_at: i64,
}

/// An eligible, resolved contact waiting for its FCR verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingFcr {
    ended_at: i64,
    reason: String,
    dims: Dims,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Customer {
    /// (ended_at, reason) of inbound contacts that ended within the FCR window.
    ended: Vec<(i64, String)>,
    pending: Vec<PendingFcr>,
    /// (signal index, time) of signals within the lookback.
    signals: Vec<(usize, i64)>,
    last_alert: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgentClock {
    state: i32,
    since: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Waiting {
    queue_id: String,
    channel: i32,
    since: i64,
}

/// Everything the engine keeps for one tenant (checkpointed as a unit).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TenantState {
    /// Events waiting for the watermark, by event time.
    buffer: BTreeMap<i64, Vec<Ev>>,
    /// Times of duplicates not yet behind the watermark.
    pending_duplicates: Vec<i64>,
    seen: FastMap<String, i64>,
    contacts: FastMap<String, Contact>,
    customers: FastMap<String, Customer>,
    agents: FastMap<String, AgentClock>,
    waiting: FastMap<String, Waiting>,
    queue_rows: RowTable<Components>,
    agent_rows: RowTable<Components>,
    state_rows: RowTable<StateTimes>,
    quality_rows: BTreeMap<i64, Quality>,
    /// Keys of the provisional rows last handed over (re-sent with final values when the
    /// speculation behind them is gone).
    provisional_queue: BTreeSet<(RowNum, String)>,
    provisional_agent: BTreeSet<(RowNum, String)>,
    /// Keys of `queue_now` rows last reported non-zero.
    queue_now_keys: BTreeSet<(String, i32)>,
    /// (ended_at, customer) of pending FCR verdicts, in time order.
    fcr_queue: BTreeSet<(i64, String)>,
    next_expiry: i64,
    dirty_quality: BTreeSet<i64>,
    alerts: Vec<ChurnAlert>,
}

/// How often (in event time) state that can no longer change is dropped.
const EXPIRY_EVERY_MS: i64 = 60_000;

/// The engine: state of every tenant routed to it, and the watermark it applied up to.
#[derive(Debug, Clone)]
pub struct Engine {
    settings: Settings,
    settings_version: u64,
    watermark: i64,
    tenants: BTreeMap<String, TenantState>,
}

impl Engine {
    /// An engine whose watermark starts at `watermark` (events before it are late).
    pub fn new(settings: Settings, watermark: i64) -> Engine {
        Engine {
            settings,
            settings_version: 0,
            watermark,
            tenants: BTreeMap::new(),
        }
    }

    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Accepts one event in any order: duplicates and late events are counted, others buffered.
    pub fn ingest(&mut self, event: &Event) -> Ingested {
        self.ingest_compact(&event.tenant_id, Ev::from_event(event))
    }

    /// [`Engine::ingest`] for an event already in compact form.
    pub fn ingest_compact(&mut self, tenant_id: &str, ev: Ev) -> Ingested {
        let watermark = self.watermark;
        if !self.tenants.contains_key(tenant_id) {
            self.tenants
                .insert(tenant_id.to_string(), TenantState::default());
        }
        let tenant = self.tenants.get_mut(tenant_id).expect("inserted above");
        if tenant.seen.contains_key(&ev.event_id) {
            // Counted when the watermark passes it, like everything else about that time.
            if ev.t < watermark {
                tenant.quality(ev.t, |q| q.duplicates += 1);
            } else {
                tenant.pending_duplicates.push(ev.t);
            }
            Ingested::Duplicate
        } else if ev.t < watermark {
            tenant.quality(ev.t, |q| q.late_dropped += 1);
            Ingested::Late
        } else {
            tenant.seen.insert(ev.event_id.clone(), ev.t);
            tenant.buffer.entry(ev.t).or_default().push(ev);
            Ingested::Buffered
        }
    }

    /// Number of events waiting for the watermark.
    pub fn buffered(&self) -> usize {
        self.tenants
            .values()
            .map(|t| t.buffer.values().map(Vec::len).sum::<usize>())
            .sum()
    }

    /// Applies, in event-time order, every buffered event before `watermark`, then the time
    /// driven rules (agent-state time, FCR successes), then drops expired state.
    pub fn advance(&mut self, watermark: i64) {
        if watermark <= self.watermark {
            return;
        }
        if let Some(shared) = &self.settings.shared {
            let (version, tenants) = shared.snapshot();
            if version != self.settings_version {
                self.settings_version = version;
                self.settings.tenants = tenants;
            }
        }
        for (tenant_id, tenant) in self.tenants.iter_mut() {
            let settings = self.settings.for_tenant(tenant_id);
            let later = tenant.buffer.split_off(&watermark);
            let ready = std::mem::replace(&mut tenant.buffer, later);
            let mut duplicates = std::mem::take(&mut tenant.pending_duplicates);
            duplicates.retain(|t| {
                if *t < watermark {
                    tenant.quality(*t, |q| q.duplicates += 1);
                    false
                } else {
                    true
                }
            });
            tenant.pending_duplicates = duplicates;
            for (_, mut same_time) in ready {
                same_time.sort_by(|a, b| a.order().cmp(&b.order()));
                for ev in &same_time {
                    tenant.apply(tenant_id, settings, ev);
                }
            }
            tenant.fcr_successes(settings, watermark);
            if watermark >= tenant.next_expiry {
                tenant.expire(settings, watermark, self.settings.dedup_horizon_ms);
                tenant.next_expiry = watermark + EXPIRY_EVERY_MS;
            }
        }
        self.watermark = watermark;
    }

    /// The rows changed since the last call (full values), new alerts, and `queue_now` as of
    /// the watermark.
    pub fn take_output(&mut self) -> Output {
        self.settle();
        let mut out = Output::default();
        for (tenant_id, t) in self.tenants.iter_mut() {
            let mut queue: BTreeMap<(RowNum, String), Components> = t
                .queue_rows
                .take_dirty()
                .into_iter()
                .map(|(num, id, v)| ((num, id), v))
                .collect();
            let mut agent: BTreeMap<(RowNum, String), Components> = t
                .agent_rows
                .take_dirty()
                .into_iter()
                .map(|(num, id, v)| ((num, id), v))
                .collect();
            if self.settings.provisional {
                let settings = self.settings.for_tenant(tenant_id);
                t.provisional(tenant_id, settings, &mut queue, &mut agent);
            }
            for ((num, queue_id), value) in queue {
                out.queue.push((queue_key(tenant_id, num, queue_id), value));
            }
            for ((num, agent_id), value) in agent {
                out.agent.push((agent_key(tenant_id, num, agent_id), value));
            }
            for (num, agent_id, value) in t.state_rows.take_dirty() {
                out.agent_state
                    .push((agent_minute(tenant_id, num, agent_id), value));
            }
            for minute in std::mem::take(&mut t.dirty_quality) {
                let value = t.quality_rows.get(&minute).copied().unwrap_or_default();
                out.quality.push(((tenant_id.clone(), minute), value));
            }
            out.alerts.append(&mut t.alerts);
            out.queue_now.extend(t.queue_now(tenant_id, self.watermark));
        }
        out
    }

    /// Brings agent-state time up to the watermark (additive, so how often does not matter).
    fn settle(&mut self) {
        for t in self.tenants.values_mut() {
            t.accrue_agents(self.watermark);
        }
    }

    /// Every row currently held, as final rows (for tests and the reference comparison).
    pub fn final_rows(&mut self) -> FinalRows {
        self.settle();
        let mut rows = FinalRows::default();
        for (tenant_id, t) in &self.tenants {
            for (num, id, v) in t.queue_rows.all() {
                rows.queue.insert(queue_key(tenant_id, num, id.clone()), v);
            }
            for (num, id, v) in t.agent_rows.all() {
                rows.agent.insert(agent_key(tenant_id, num, id.clone()), v);
            }
            for (num, id, v) in t.state_rows.all() {
                rows.agent_state
                    .insert(agent_minute(tenant_id, num, id.clone()), v);
            }
            rows.quality.extend(
                t.quality_rows
                    .iter()
                    .map(|(m, q)| ((tenant_id.clone(), *m), *q)),
            );
        }
        rows
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
            c.buffered += t.buffer.values().map(Vec::len).sum::<usize>();
            c.seen_ids += t.seen.len();
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

impl TenantState {
    fn quality(&mut self, t: i64, f: impl FnOnce(&mut Quality)) {
        let minute = minute_of(t);
        f(self.quality_rows.entry(minute).or_default());
        self.dirty_quality.insert(minute);
    }

    /// Adds `c` to the queue row of `dims` and, if `to_agent` and there is an agent, to the
    /// agent row.
    fn add(&mut self, dims: At<'_>, c: Components, to_agent: bool) {
        let num = (dims.minute, dims.channel, dims.direction);
        self.queue_rows.add(num, dims.queue_id, c);
        if to_agent && !dims.agent_id.is_empty() {
            // Agent rows carry the components from `handled` down (SPEC §5).
            let mut c = c;
            (c.offered, c.answered, c.answered_in_sl, c.wait_answered_ms) = (0, 0, 0, 0);
            (c.abandoned, c.abandoned_short, c.wait_abandoned_ms) = (0, 0, 0);
            if !c.is_zero() {
                self.agent_rows
                    .add((dims.minute, dims.channel, 0), dims.agent_id, c);
            }
        }
    }

    /// Applies the buffered events to a scratch copy of the contacts they touch and turns the
    /// changes into provisional rows (final value + speculative change) in `queue`/`agent`.
    fn provisional(
        &mut self,
        tenant: &str,
        s: &TenantSettings,
        queue: &mut BTreeMap<(RowNum, String), Components>,
        agent: &mut BTreeMap<(RowNum, String), Components>,
    ) {
        let mut scratch = TenantState::default();
        for ev in self.buffer.values().flatten() {
            if let Some(contact) = self.contacts.get(&ev.contact_id) {
                scratch
                    .contacts
                    .entry(ev.contact_id.clone())
                    .or_insert_with(|| contact.clone());
            }
        }
        for same_time in self.buffer.values() {
            let mut same_time = same_time.clone();
            same_time.sort_by(|a, b| a.order().cmp(&b.order()));
            for ev in &same_time {
                scratch.apply(tenant, s, ev);
            }
        }
        let spec_queue: BTreeMap<(RowNum, String), Components> = scratch
            .queue_rows
            .all()
            .map(|(num, id, v)| ((num, id.clone()), v))
            .collect();
        let spec_agent: BTreeMap<(RowNum, String), Components> = scratch
            .agent_rows
            .all()
            .map(|(num, id, v)| ((num, id.clone()), v))
            .collect();
        let finals = |rows: &RowTable<Components>, key: &(RowNum, String)| {
            rows.rows
                .get(&key.0)
                .and_then(|ids| ids.get(&key.1))
                .map(|(v, _)| *v)
                .unwrap_or_default()
        };
        for key in self.provisional_queue.iter().chain(spec_queue.keys()) {
            let mut value = finals(&self.queue_rows, key);
            if let Some(delta) = spec_queue.get(key) {
                value += *delta;
            }
            queue.insert(key.clone(), value);
        }
        for key in self.provisional_agent.iter().chain(spec_agent.keys()) {
            let mut value = finals(&self.agent_rows, key);
            if let Some(delta) = spec_agent.get(key) {
                value += *delta;
            }
            agent.insert(key.clone(), value);
        }
        self.provisional_queue = spec_queue.into_keys().collect();
        self.provisional_agent = spec_agent.into_keys().collect();
    }

    fn out_of_sequence(&mut self, ev: &Ev) {
        self.quality(ev.t, |q| q.out_of_sequence += 1);
    }

    fn apply(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        match ev.kind() {
            EventType::AgentStateChanged => self.agent_state(ev),
            EventType::SurveyResponded => self.survey(tenant, s, ev),
            EventType::SentimentScored => self.sentiment(tenant, s, ev),
            EventType::ContactOffered => self.offered(tenant, s, ev),
            EventType::TypeUnspecified => self.out_of_sequence(ev),
            _ => self.contact_event(tenant, s, ev),
        }
    }

    fn offered(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        if self.contacts.contains_key(&ev.contact_id) {
            return self.out_of_sequence(ev);
        }
        let mut contact = Contact {
            customer_id: ev.customer_id.clone(),
            inbound: ev.inbound(),
            reason: ev.reason.clone(),
            offered_at: ev.t,
            last_at: ev.t,
            ..Contact::default()
        };
        self.waiting.insert(
            ev.contact_id.clone(),
            Waiting {
                queue_id: ev.queue_id.clone(),
                channel: ev.channel,
                since: ev.t,
            },
        );
        let dims = At::of(ev, &ev.agent_id);
        self.add(
            dims,
            Components {
                offered: 1,
                ..Components::default()
            },
            false,
        );
        if contact.inbound && !ev.customer_id.is_empty() {
            let customer = self.customers.entry(ev.customer_id.clone()).or_default();
            let window = s.fcr_window_ms;
            let matches = |a: &str, b: &str| a.is_empty() || b.is_empty() || a == b;
            contact.repeat = customer
                .ended
                .iter()
                .any(|(end, r)| *end < ev.t && ev.t <= end + window && matches(r, &ev.reason));
            let mut failed = Vec::new();
            customer.pending.retain(|p| {
                let fails = p.ended_at < ev.t
                    && ev.t <= p.ended_at + window
                    && matches(&p.reason, &ev.reason);
                if fails {
                    failed.push(p.dims.clone());
                }
                !fails
            });
            for dims in failed {
                let c = Components {
                    fcr_eligible: 1,
                    ..Components::default()
                };
                self.add(dims.at(), c, true);
            }
            if contact.repeat {
                self.signal(tenant, s, &ev.customer_id, Signal::RepeatContact, ev);
            }
        }
        self.contacts.insert(ev.contact_id.clone(), contact);
    }

    fn contact_event(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        let Some(contact) = self.contacts.get_mut(&ev.contact_id) else {
            return self.out_of_sequence(ev);
        };
        let kind = ev.kind();
        let fits = match kind {
            EventType::WrapupEnded => contact.ended_at.is_some() && !contact.wrapped,
            _ if contact.terminal => false,
            EventType::ContactAnswered => contact.segment.is_none(),
            EventType::ContactAbandoned => !contact.answered,
            EventType::HoldStarted => contact
                .segment
                .as_ref()
                .is_some_and(|s| s.hold_since.is_none()),
            EventType::HoldEnded => contact
                .segment
                .as_ref()
                .is_some_and(|s| s.hold_since.is_some()),
            EventType::ContactTransferred => contact.segment.is_some(),
            EventType::ContactEnded => true,
            _ => false,
        };
        if !fits {
            return self.out_of_sequence(ev);
        }
        contact.last_at = ev.t;
        let mut c = Components::default();
        let mut segment_agent: Option<String> = None;
        let mut signals = Vec::new();
        let mut fcr_end = None;
        match kind {
            EventType::ContactAnswered => {
                if !contact.answered {
                    contact.answered = true;
                    let wait = ev.t - contact.offered_at;
                    c.answered = 1;
                    c.answered_in_sl = u64::from(wait <= s.sl_threshold_ms);
                    c.wait_answered_ms = wait as u64;
                }
                contact.segment = Some(Segment {
                    start: ev.t,
                    agent_id: ev.agent_id.clone(),
                    ..Segment::default()
                });
                self.waiting.remove(&ev.contact_id);
            }
            EventType::ContactAbandoned => {
                let wait = ev.t - contact.offered_at;
                c.abandoned = 1;
                c.abandoned_short = u64::from(wait < s.short_abandon_ms);
                c.wait_abandoned_ms = wait as u64;
                contact.terminal = true;
                if contact.inbound && wait >= s.churn.long_abandon_ms {
                    signals.push(Signal::LongAbandon);
                }
                self.waiting.remove(&ev.contact_id);
            }
            EventType::HoldStarted => {
                if let Some(seg) = contact.segment.as_mut() {
                    seg.hold_since = Some(ev.t);
                    seg.holds += 1;
                }
            }
            EventType::HoldEnded => {
                if let Some(seg) = contact.segment.as_mut() {
                    seg.hold_ms += ev.t - seg.hold_since.take().unwrap_or(ev.t);
                }
            }
            EventType::ContactTransferred => {
                if let Some(seg) = contact.segment.take() {
                    close_segment(&seg, ev.t, &mut c);
                }
                c.transfers = 1;
                contact.transfers += 1;
                if contact.transfers == 2 {
                    signals.push(Signal::TransferBounce);
                }
                let queue_id = if ev.to_queue_id.is_empty() {
                    ev.queue_id.clone()
                } else {
                    ev.to_queue_id.clone()
                };
                self.waiting.insert(
                    ev.contact_id.clone(),
                    Waiting {
                        queue_id,
                        channel: ev.channel,
                        since: ev.t,
                    },
                );
            }
            EventType::ContactEnded => {
                if let Some(seg) = contact.segment.take() {
                    close_segment(&seg, ev.t, &mut c);
                    if ev.agent_id.is_empty() {
                        segment_agent = Some(seg.agent_id);
                    }
                }
                c.resolved = u64::from(ev.resolved);
                c.self_served = u64::from(ev.resolved && !contact.answered);
                c.conversions = u64::from(ev.converted);
                contact.ended_at = Some(ev.t);
                contact.terminal = true;
                if contact.inbound && !contact.customer_id.is_empty() {
                    fcr_end = Some((
                        contact.customer_id.clone(),
                        contact.reason.clone(),
                        contact.repeat,
                    ));
                }
                self.waiting.remove(&ev.contact_id);
            }
            EventType::WrapupEnded => {
                c.acw_ms = (ev.t - contact.ended_at.unwrap_or(ev.t)) as u64;
                c.acw_count = 1;
                contact.wrapped = true;
            }
            _ => {}
        }
        let customer = if signals.is_empty() {
            String::new()
        } else if ev.customer_id.is_empty() {
            contact.customer_id.clone()
        } else {
            ev.customer_id.clone()
        };
        let agent = segment_agent.as_deref().unwrap_or(&ev.agent_id);
        let dims = At::of(ev, agent);
        if !c.is_zero() {
            self.add(dims, c, true);
        }
        if let Some((customer_id, reason, repeat)) = fcr_end {
            self.fcr_end(&customer_id, reason, repeat, ev, dims.owned());
        }
        for signal in signals {
            self.signal(tenant, s, &customer, signal, ev);
        }
    }

    fn fcr_end(&mut self, customer_id: &str, reason: String, repeat: bool, ev: &Ev, dims: Dims) {
        let customer = self.customers.entry(customer_id.to_string()).or_default();
        push_tight(&mut customer.ended, (ev.t, reason.clone()));
        if repeat {
            return;
        }
        if ev.resolved {
            push_tight(
                &mut customer.pending,
                PendingFcr {
                    ended_at: ev.t,
                    reason,
                    dims,
                },
            );
            self.fcr_queue.insert((ev.t, customer_id.to_string()));
        } else {
            let c = Components {
                fcr_eligible: 1,
                ..Components::default()
            };
            self.add(dims.at(), c, true);
        }
    }

    fn fcr_successes(&mut self, s: &TenantSettings, watermark: i64) {
        let mut done = Vec::new();
        while let Some((ended_at, customer_id)) = self.fcr_queue.first().cloned() {
            if ended_at + s.fcr_window_ms >= watermark {
                break;
            }
            self.fcr_queue.pop_first();
            if let Some(customer) = self.customers.get_mut(&customer_id) {
                customer.pending.retain(|p| {
                    let decided = p.ended_at + s.fcr_window_ms < watermark;
                    if decided {
                        done.push(p.dims.clone());
                    }
                    !decided
                });
            }
        }
        for dims in done {
            let c = Components {
                fcr_eligible: 1,
                fcr_success: 1,
                ..Components::default()
            };
            self.add(dims.at(), c, true);
        }
    }

    fn survey(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        let score = ev.score;
        let mut c = Components::default();
        let signal = match SurveyType::try_from(ev.survey_type) {
            Ok(SurveyType::Nps) => {
                c.nps_responses = 1;
                c.nps_promoters = u64::from(score >= 9);
                c.nps_detractors = u64::from(score <= 6);
                (score <= 6).then_some(Signal::NpsDetractor)
            }
            Ok(SurveyType::Csat) => {
                c.csat_responses = 1;
                c.csat_satisfied = u64::from(score >= 4);
                (score <= 2).then_some(Signal::CsatDissatisfied)
            }
            Ok(SurveyType::Ces) => {
                c.ces_responses = 1;
                c.ces_score_sum = score.max(0) as u64;
                (score <= 3).then_some(Signal::HighEffort)
            }
            _ => return self.out_of_sequence(ev),
        };
        self.contact_fact(tenant, s, ev, c, signal);
    }

    fn sentiment(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        let v = ev.sentiment;
        let c = Components {
            sentiment_count: 1,
            sentiment_milli_sum: (v * 1000.0).round() as i64,
            sentiment_negative: u64::from(v <= -0.25),
            sentiment_positive: u64::from(v >= 0.25),
            ..Components::default()
        };
        let signal = (v <= -0.5).then_some(Signal::NegativeSentiment);
        self.contact_fact(tenant, s, ev, c, signal);
    }

    /// A survey or sentiment: always applied, to the event's dimensions.
    fn contact_fact(
        &mut self,
        tenant: &str,
        s: &TenantSettings,
        ev: &Ev,
        c: Components,
        signal: Option<Signal>,
    ) {
        let known = self.contacts.get_mut(&ev.contact_id);
        let customer = match known {
            Some(contact) => {
                contact.last_at = contact.last_at.max(ev.t);
                if ev.customer_id.is_empty() {
                    contact.customer_id.clone()
                } else {
                    ev.customer_id.clone()
                }
            }
            None => ev.customer_id.clone(),
        };
        self.add(At::of(ev, &ev.agent_id), c, true);
        if let Some(signal) = signal {
            self.signal(tenant, s, &customer, signal, ev);
        }
    }

    fn signal(
        &mut self,
        tenant: &str,
        s: &TenantSettings,
        customer_id: &str,
        sig: Signal,
        ev: &Ev,
    ) {
        if customer_id.is_empty() {
            return;
        }
        let churn = &s.churn;
        let customer = self.customers.entry(customer_id.to_string()).or_default();
        push_tight(&mut customer.signals, (sig.index(), ev.t));
        customer
            .signals
            .retain(|(_, at)| *at <= ev.t && ev.t - at < churn.lookback_ms);
        let mut counts = [0u32; 7];
        for (i, _) in &customer.signals {
            counts[*i] += 1;
        }
        let raw: u32 = Signal::ALL
            .iter()
            .map(|k| {
                churn.rules[k.index()].weight * counts[k.index()].min(churn.rules[k.index()].cap)
            })
            .sum();
        let score = raw.min(100);
        let cooled = customer
            .last_alert
            .is_none_or(|last| ev.t - last >= churn.cooldown_ms);
        if score >= churn.threshold && cooled {
            customer.last_alert = Some(ev.t);
            let reasons = Signal::ALL
                .iter()
                .filter(|k| counts[k.index()] > 0)
                .map(|k| k.name().to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            self.alerts.push(ChurnAlert {
                tenant_id: tenant.to_string(),
                alert_id: format!("{tenant}:{customer_id}:{}", ev.event_id),
                customer_id: customer_id.to_string(),
                score,
                reasons,
                triggered_at: ev.t,
                contact_id: ev.contact_id.clone(),
                channel: if ev.channel == 0 {
                    String::new()
                } else {
                    channel_name(ev.channel)
                },
                queue_id: ev.queue_id.clone(),
                agent_id: ev.agent_id.clone(),
            });
        }
    }

    fn agent_state(&mut self, ev: &Ev) {
        self.accrue(&ev.agent_id, ev.t);
        self.agents.insert(
            ev.agent_id.clone(),
            AgentClock {
                state: ev.agent_state,
                since: ev.t,
            },
        );
    }

    /// Adds the time of `agent`'s current state up to `until`, split at minute boundaries.
    fn accrue(&mut self, agent: &str, until: i64) {
        let Some(clock) = self.agents.get_mut(agent) else {
            return;
        };
        let (state, mut from) = (clock.state, clock.since);
        clock.since = until.max(clock.since);
        while from < until {
            let minute = minute_of(from);
            let to = until.min(minute + 60_000);
            let ms = (to - from) as u64;
            let mut add = StateTimes::default();
            match AgentState::try_from(state) {
                Ok(AgentState::Available) => add.available_ms = ms,
                Ok(AgentState::Busy) => add.busy_ms = ms,
                Ok(AgentState::AfterContactWork) => add.acw_state_ms = ms,
                Ok(AgentState::Break) => add.break_ms = ms,
                _ => {}
            }
            if add != StateTimes::default() {
                self.state_rows.add((minute, 0, 0), agent, add);
            }
            from = to;
        }
    }

    fn accrue_agents(&mut self, watermark: i64) {
        let agents: Vec<String> = self.agents.keys().cloned().collect();
        for agent in agents {
            self.accrue(&agent, watermark);
        }
    }

    fn queue_now(&mut self, tenant: &str, watermark: i64) -> Vec<QueueNow> {
        let mut now: BTreeMap<(String, i32), (u64, i64)> = BTreeMap::new();
        for w in self.waiting.values() {
            let entry = now
                .entry((w.queue_id.clone(), w.channel))
                .or_insert((0, w.since));
            entry.0 += 1;
            entry.1 = entry.1.min(w.since);
        }
        let keys: BTreeSet<(String, i32)> = now.keys().cloned().collect();
        let mut rows = Vec::new();
        for key in keys.union(&self.queue_now_keys) {
            let (waiting, since) = now.get(key).copied().unwrap_or((0, watermark));
            rows.push(QueueNow {
                tenant_id: tenant.to_string(),
                queue_id: key.0.clone(),
                channel: channel_name(key.1),
                waiting,
                longest_wait_ms: (watermark - since).max(0) as u64,
                as_of: watermark,
            });
        }
        self.queue_now_keys = keys;
        rows
    }

    /// Drops state no future event can change: old event ids, finished contacts, customers
    /// without pending verdicts or active signals, and rows no verdict can reach any more.
    fn expire(&mut self, s: &TenantSettings, watermark: i64, dedup_horizon_ms: i64) {
        self.seen.retain(|_, t| *t >= watermark - dedup_horizon_ms);
        let keep_ended = 3_600_000; // wrap-up, surveys and sentiment still find their contact
        let stale = s.fcr_window_ms.max(86_400_000);
        self.contacts.retain(|_, c| {
            if c.terminal {
                c.last_at >= watermark - keep_ended
            } else {
                c.last_at >= watermark - stale
            }
        });
        let waiting_contacts = &self.contacts;
        self.waiting
            .retain(|id, _| waiting_contacts.contains_key(id));
        for customer in self.customers.values_mut() {
            customer
                .ended
                .retain(|(end, _)| end + s.fcr_window_ms >= watermark);
            customer
                .signals
                .retain(|(_, at)| watermark - at < s.churn.lookback_ms);
        }
        self.customers.retain(|_, c| {
            !c.ended.is_empty()
                || !c.pending.is_empty()
                || !c.signals.is_empty()
                || c.last_alert
                    .is_some_and(|at| watermark - at < s.churn.cooldown_ms)
        });
        let horizon = minute_of(watermark - s.fcr_window_ms - 2 * 3_600_000);
        // Rows not yet handed over stay until the next `take_output`.
        self.queue_rows.forget_before(horizon);
        self.agent_rows.forget_before(horizon);
        self.state_rows.forget_before(horizon);
        let dirty = &self.dirty_quality;
        self.quality_rows
            .retain(|m, _| *m >= horizon || dirty.contains(m));
    }
}

fn queue_key(tenant: &str, (minute, channel, direction): RowNum, queue_id: String) -> QueueKey {
    QueueKey {
        tenant_id: tenant.to_string(),
        window_start: minute,
        queue_id,
        channel: channel_name(channel),
        direction: direction_name(direction),
    }
}

fn agent_key(tenant: &str, (minute, channel, _): RowNum, agent_id: String) -> AgentKey {
    AgentKey {
        tenant_id: tenant.to_string(),
        window_start: minute,
        agent_id,
        channel: channel_name(channel),
    }
}

fn agent_minute(tenant: &str, (minute, _, _): RowNum, agent_id: String) -> AgentMinute {
    AgentMinute {
        tenant_id: tenant.to_string(),
        window_start: minute,
        agent_id,
    }
}

/// Per-customer lists are short: grow them one element at a time instead of the usual
/// doubling from four (most customers hold one or two entries).
fn push_tight<T>(list: &mut Vec<T>, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact(1);
    }
    list.push(item);
}

fn close_segment(seg: &Segment, at: i64, c: &mut Components) {
    let open_hold = seg.hold_since.map(|h| at - h).unwrap_or(0);
    let hold = seg.hold_ms + open_hold;
    c.handled += 1;
    c.hold_ms += hold as u64;
    c.talk_ms += (at - seg.start - hold).max(0) as u64;
    c.holds += seg.holds;
}
