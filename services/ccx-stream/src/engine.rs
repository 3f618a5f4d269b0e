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
    minute_of, AgentKey, AgentMinute, ChurnAlert, Components, FinalRows, Quality, QueueKey,
    QueueNow, StateTimes, TenantProgress,
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
    /// Tenants whose watermark entered a new minute.
    pub progress: Vec<TenantProgress>,
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
            && self.progress.is_empty()
    }
}

/// A hash map with a fast, non-cryptographic hasher.
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<rustc_hash::FxHasher>>;

/// The identity of an event, contact or customer id: a 128-bit hash of its text ([`NO_ID`]:
/// none). Ids are only compared, never shown, so the text is not kept; two different ids of
/// one tenant sharing a hash has a chance below 10^-20 at a billion ids. Two `u64`s rather
/// than a `u128` keep map slots 8-byte aligned (smaller).
type Id = [u64; 2];

const NO_ID: Id = [0, 0];

/// A hash map keyed by [`Id`]s: an id is a hash already, so its first word is the map's hash.
type IdMap<V> = HashMap<Id, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // An `Id` writes its 16 bytes at once: the first 8 are the hash. Anything else is
        // folded in a word at a time.
        match bytes.first_chunk::<8>() {
            Some(word) if bytes.len() == 16 => self.0 ^= u64::from_le_bytes(*word),
            _ => {
                for word in bytes.chunks(8) {
                    let mut w = [0u8; 8];
                    w[..word.len()].copy_from_slice(word);
                    self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(w);
                }
            }
        }
    }

    fn write_usize(&mut self, _length: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

fn id_of(text: &[u8]) -> Id {
    if text.is_empty() {
        return NO_ID;
    }
    let h = xxhash_rust::xxh3::xxh3_128(text) | 1;
    [h as u64, (h >> 64) as u64]
}

/// A queue, agent or reason name of one tenant, as an index into its [`Names`] (0: empty).
type Sym = u32;

/// The names rows carry (queues, agents) and reasons, each stored once per tenant. These are
/// a tenant's configuration-sized sets, so they are kept for the tenant's lifetime.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Names {
    /// Names of at most 16 bytes (queue and agent ids nearly always are), found without
    /// following a pointer or comparing bytes one by one.
    short: FastMap<ShortName, Sym>,
    long: FastMap<Box<[u8]>, Sym>,
    names: Vec<Box<str>>,
}

/// A name of at most 16 bytes: its length and two words that, with it, hold all its bytes
/// (the first and last eight bytes, which overlap when shorter than 16; shorter still, the
/// first and last four, or the bytes themselves).
type ShortName = ([u64; 2], u8);

fn short_name(name: &[u8]) -> Option<ShortName> {
    let len = name.len();
    let word = |at: usize| name[at..at + 8].try_into().map_or(0, u64::from_le_bytes);
    let half = |at: usize| name[at..at + 4].try_into().map_or(0, u32::from_le_bytes);
    let words = match len {
        8..=16 => [word(0), word(len - 8)],
        4..=7 => [u64::from(half(0)) | u64::from(half(len - 4)) << 32, 0],
        0..=3 => [name.iter().fold(0, |w, b| w << 8 | u64::from(*b)), 0],
        _ => return None,
    };
    Some((words, len as u8))
}

impl Default for Names {
    fn default() -> Self {
        Names {
            short: FastMap::default(),
            long: FastMap::default(),
            names: vec![Box::from("")],
        }
    }
}

impl Names {
    /// The symbol of a name given as UTF-8 bytes (a name that is not UTF-8 is stored with
    /// replacement characters; records are checked before they get here).
    fn intern(&mut self, name: &[u8]) -> Sym {
        if name.is_empty() {
            return 0;
        }
        let short = short_name(name);
        let known = match short {
            Some(key) => self.short.get(&key),
            None => self.long.get(name),
        };
        if let Some(sym) = known {
            return *sym;
        }
        let sym = self.names.len() as Sym;
        self.names
            .push(String::from_utf8_lossy(name).into_owned().into_boxed_str());
        match short {
            Some(key) => self.short.insert(key, sym),
            None => self.long.insert(Box::from(name), sym),
        };
        sym
    }

    fn name(&self, sym: Sym) -> &str {
        self.names.get(sym as usize).map(|n| &**n).unwrap_or("")
    }
}

/// The numeric part of a row key: (minute, channel, direction) or (minute, channel, 0).
type RowNum = (i64, u8, u8);

/// Rows of one table of one tenant, keyed by a numeric part and a name (queue or agent),
/// with the keys changed since the last hand-over.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RowTable<V> {
    rows: FastMap<(RowNum, Sym), (V, bool)>,
    dirty: Vec<(RowNum, Sym)>,
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
    fn add(&mut self, num: RowNum, id: Sym, value: V) {
        let (row, dirty) = self.rows.entry((num, id)).or_default();
        *row += value;
        if !*dirty {
            *dirty = true;
            self.dirty.push((num, id));
        }
    }

    fn get(&self, key: &(RowNum, Sym)) -> V {
        self.rows.get(key).map(|(v, _)| *v).unwrap_or_default()
    }

    /// The changed rows with their current values; clears the change marks.
    fn take_dirty(&mut self) -> Vec<(RowNum, Sym, V)> {
        let mut out = Vec::with_capacity(self.dirty.len());
        for (num, id) in std::mem::take(&mut self.dirty) {
            if let Some((value, dirty)) = self.rows.get_mut(&(num, id)) {
                *dirty = false;
                out.push((num, id, *value));
            }
        }
        out
    }

    fn all(&self) -> impl Iterator<Item = (RowNum, Sym, V)> + '_ {
        self.rows.iter().map(|((num, id), (v, _))| (*num, *id, *v))
    }

    /// Drops rows of minutes before `horizon` that were handed over already.
    fn forget_before(&mut self, horizon: i64) {
        self.rows
            .retain(|((minute, _, _), _), (_, dirty)| *minute >= horizon || *dirty);
        shrink(&mut self.rows);
    }
}

/// Gives memory back once a map holds a quarter of what it has room for.
fn shrink<K: std::hash::Hash + Eq, V, S: std::hash::BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > 1024 && map.capacity() > 4 * map.len() {
        map.shrink_to_fit();
    }
}

/// A known enum value as a byte; values outside the enum become 0 (UNSPECIFIED), which the
/// rules treat as they treat an unknown value (and rows name it so).
fn enum_byte(n: i32, known: std::ops::RangeInclusive<i32>) -> u8 {
    if known.contains(&n) {
        n as u8
    } else {
        0
    }
}

/// The compact form of an event: numbers, spans of its text fields and (once its tenant's
/// engine took it) interned names, over the record itself, which the event keeps until the
/// watermark passes it. Ids are hashed from their spans where they are used. The source
/// reads records into this form once; the dataflow exchanges it and the buffer sorts it, so
/// it is kept small (96 bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ev {
    t: i64,
    record: Arc<[u8]>,
    sentiment: f64,
    score: i32,
    queue: Sym,
    agent: Sym,
    to_queue: Sym,
    reason: Sym,
    spans: Spans,
    kind: u8,
    channel: u8,
    direction: u8,
    survey_type: u8,
    agent_state: u8,
    resolved: bool,
    converted: bool,
}

/// A (start, length) byte range of a text field inside an event's record (records are at
/// most [`MAX_RECORD_BYTES`] long).
type Span = (u16, u16);

/// The longest record the stream reads. The collector writes events of at most a few KiB
/// (ids and names are limited to 128 characters); a longer record is refused as undecodable.
pub const MAX_RECORD_BYTES: usize = u16::MAX as usize;

/// Where an event's text fields are in its record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Spans {
    tenant: Span,
    event_id: Span,
    contact_id: Span,
    customer_id: Span,
    queue: Span,
    agent: Span,
    to_queue: Span,
    reason: Span,
}

/// The span of `field`, a slice of `record` (no longer than [`MAX_RECORD_BYTES`]).
fn span_of(record: &[u8], field: Text<'_>) -> Span {
    let field = field.as_bytes();
    let start = (field.as_ptr() as usize).saturating_sub(record.as_ptr() as usize);
    (start as u16, field.len() as u16)
}

impl Ev {
    /// Reads an encoded event (checked as a whole, as prost checks it). Its names are
    /// interned later, by the engine that owns its tenant.
    pub fn read(record: Arc<[u8]>) -> Result<Ev, DecodeError> {
        if record.len() > MAX_RECORD_BYTES {
            return Err(DecodeError("record longer than 65,535 bytes"));
        }
        let view = EventView::decode(&record)?;
        let spans = Spans {
            tenant: span_of(&record, view.tenant_id),
            event_id: span_of(&record, view.event_id),
            contact_id: span_of(&record, view.contact_id),
            customer_id: span_of(&record, view.customer_id),
            queue: span_of(&record, view.queue_id),
            agent: span_of(&record, view.agent_id),
            to_queue: span_of(&record, view.to_queue_id),
            reason: span_of(&record, view.reason),
        };
        Ok(Ev {
            t: view.time_ms(),
            sentiment: view.sentiment.unwrap_or(0.0),
            score: view.score.unwrap_or(0),
            queue: 0,
            agent: 0,
            to_queue: 0,
            reason: 0,
            spans,
            kind: enum_byte(view.kind, 1..=11),
            channel: enum_byte(view.channel, 1..=7),
            direction: enum_byte(view.direction, 1..=2),
            survey_type: enum_byte(view.survey_type, 1..=3),
            agent_state: enum_byte(view.agent_state, 1..=5),
            resolved: view.resolved,
            converted: view.converted,
            record,
        })
    }

    /// The event time in ms.
    pub fn time(&self) -> i64 {
        self.t
    }

    /// The tenantId's bytes (for routing).
    pub fn tenant(&self) -> &[u8] {
        self.bytes(self.spans.tenant)
    }

    /// The encoded event.
    pub fn record(&self) -> &Arc<[u8]> {
        &self.record
    }

    /// Sets the names' symbols from `names`.
    fn intern(&mut self, names: &mut Names) {
        self.queue = names.intern(self.bytes(self.spans.queue));
        self.agent = names.intern(self.bytes(self.spans.agent));
        self.to_queue = names.intern(self.bytes(self.spans.to_queue));
        self.reason = names.intern(self.bytes(self.spans.reason));
    }

    /// The text fields of the event (decodable: it was decoded when read).
    fn view(&self) -> EventView<'_> {
        EventView::decode(&self.record).unwrap_or_default()
    }

    fn bytes(&self, (start, len): Span) -> &[u8] {
        let start = usize::from(start);
        self.record
            .get(start..start + usize::from(len))
            .unwrap_or_default()
    }

    fn event_id(&self) -> &[u8] {
        self.bytes(self.spans.event_id)
    }

    /// The hash of the eventId.
    fn id(&self) -> Id {
        id_of(self.event_id())
    }

    /// The hash of the contactId.
    fn contact(&self) -> Id {
        id_of(self.bytes(self.spans.contact_id))
    }

    /// The hash of the customerId (NO_ID: none).
    fn customer(&self) -> Id {
        id_of(self.bytes(self.spans.customer_id))
    }

    fn has_customer(&self) -> bool {
        self.spans.customer_id.1 > 0
    }

    /// The customerId as sent (UTF-8: the record was checked when read).
    fn customer_id(&self) -> &str {
        std::str::from_utf8(self.bytes(self.spans.customer_id)).unwrap_or_default()
    }

    /// SPEC §2 order: event time, then type order, then eventId (byte order of UTF-8 is
    /// string order).
    fn cmp_order(&self, other: &Ev) -> std::cmp::Ordering {
        (self.t, self.kind)
            .cmp(&(other.t, other.kind))
            .then_with(|| self.event_id().cmp(other.event_id()))
    }

    fn kind(&self) -> EventType {
        EventType::try_from(i32::from(self.kind)).unwrap_or(EventType::TypeUnspecified)
    }

    fn inbound(&self) -> bool {
        self.direction == Direction::Inbound as u8
    }

    fn minute(&self) -> i64 {
        minute_of(self.t)
    }
}

fn channel_name(n: u8) -> String {
    Channel::try_from(i32::from(n))
        .map(|c| c.as_str_name())
        .unwrap_or("CHANNEL_UNSPECIFIED")
        .to_string()
}

fn direction_name(n: u8) -> String {
    Direction::try_from(i32::from(n))
        .map(|d| d.as_str_name())
        .unwrap_or("DIRECTION_UNSPECIFIED")
        .to_string()
}

/// Where a component lands: the minute and dimensions of the event that completes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Dims {
    minute: i64,
    queue: Sym,
    agent: Sym,
    channel: u8,
    direction: u8,
}

impl Dims {
    fn of(ev: &Ev, agent: Sym) -> Dims {
        Dims {
            minute: ev.minute(),
            queue: ev.queue,
            agent,
            channel: ev.channel,
            direction: ev.direction,
        }
    }
}

/// "Not set" for the optional times of compact state.
const NONE: i64 = i64::MIN;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Contact {
    /// The customer's id as sent (alerts name it; empty: none).
    customer: Box<str>,
    offered_at: i64,
    last_at: i64,
    /// Set by CONTACT_ENDED (else NONE).
    ended_at: i64,
    /// The open agent segment: started at (NONE: no segment), hold start (NONE: not on
    /// hold), hold time so far, holds, agent.
    seg_start: i64,
    hold_since: i64,
    hold_ms: i64,
    holds: u32,
    seg_agent: Sym,
    reason: Sym,
    transfers: u16,
    inbound: bool,
    answered: bool,
    repeat: bool,
    /// Set by CONTACT_ENDED and CONTACT_ABANDONED.
    terminal: bool,
    wrapped: bool,
}

impl Contact {
    fn in_segment(&self) -> bool {
        self.seg_start != NONE
    }

    /// Ends the open segment at `at`: its handled/talk/hold components.
    fn close_segment(&mut self, at: i64, c: &mut Components) {
        let open_hold = if self.hold_since == NONE {
            0
        } else {
            at - self.hold_since
        };
        let hold = self.hold_ms + open_hold;
        c.handled += 1;
        c.hold_ms += hold as u64;
        c.talk_ms += (at - self.seg_start - hold).max(0) as u64;
        c.holds += u64::from(self.holds);
        (self.seg_start, self.hold_since, self.hold_ms, self.holds) = (NONE, NONE, 0, 0);
    }
}

/// An inbound contact of a customer that ended within the FCR window; `pending` while its
/// FCR verdict is not known (eligible and resolved), with the dimensions it lands on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Ended {
    at: i64,
    reason: Sym,
    queue: Sym,
    agent: Sym,
    channel: u8,
    direction: u8,
    pending: bool,
}

impl Ended {
    fn dims(&self) -> Dims {
        Dims {
            minute: minute_of(self.at),
            queue: self.queue,
            agent: self.agent,
            channel: self.channel,
            direction: self.direction,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Customer {
    ended: Box<[Ended]>,
    /// (time, signal index) of signals within the lookback.
    signals: Box<[(i64, u8)]>,
    /// NONE: never alerted.
    last_alert: i64,
}

impl Default for Customer {
    fn default() -> Self {
        Customer {
            ended: Box::default(),
            signals: Box::default(),
            last_alert: NONE,
        }
    }
}

/// Per-customer lists are short (most hold one entry): they are boxed slices of exactly
/// their length, rebuilt on change.
fn push<T: Copy>(list: &mut Box<[T]>, item: T) {
    let mut v = Vec::with_capacity(list.len() + 1);
    v.extend_from_slice(list);
    v.push(item);
    *list = v.into_boxed_slice();
}

fn retain<T: Copy>(list: &mut Box<[T]>, mut keep: impl FnMut(&T) -> bool) {
    if list.iter().all(&mut keep) {
        return;
    }
    *list = list.iter().copied().filter(|x| keep(x)).collect();
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AgentClock {
    state: u8,
    since: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Waiting {
    queue: Sym,
    channel: u8,
    since: i64,
}

/// Events waiting for the watermark, in buckets of [`BUCKET_MS`] of event time: an event
/// goes into its bucket unsorted; a bucket is sorted once, when the watermark passes it.
/// Buckets are found by hashing their key (events of several partitions interleave, so the
/// bucket of an event is seldom the newest); the ordered set of keys changes only when a
/// bucket is made or taken. Emptied buckets are kept for new ones (a bucket often holds only
/// a few events, so allocating each anew costs as much as filling it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Buffer {
    buckets: FastMap<i64, Vec<Ev>>,
    keys: BTreeSet<i64>,
    len: usize,
    #[serde(skip)]
    spare: Vec<Vec<Ev>>,
}

const BUCKET_MS: i64 = 128;

/// At most this many emptied buckets are kept, each with room for at most
/// [`SPARE_BUCKET_EVENTS`] (a tenant keeps at most 6 MiB this way).
const SPARE_BUCKETS: usize = 64;
const SPARE_BUCKET_EVENTS: usize = 1024;

impl Buffer {
    fn push(&mut self, ev: Ev) {
        let key = ev.t.div_euclid(BUCKET_MS);
        self.len += 1;
        match self.buckets.get_mut(&key) {
            Some(bucket) => bucket.push(ev),
            None => {
                let mut bucket = self.spare.pop().unwrap_or_default();
                bucket.push(ev);
                self.buckets.insert(key, bucket);
                self.keys.insert(key);
            }
        }
    }

    /// The events before `watermark` (removed from the buffer), with their SPEC §2 order;
    /// give the buckets back with [`Buffer::recycle`].
    fn take_before(&mut self, watermark: i64) -> Ready {
        let edge = watermark.div_euclid(BUCKET_MS);
        let later = self.keys.split_off(&edge);
        let mut buckets: Vec<Vec<Ev>> = std::mem::replace(&mut self.keys, later)
            .into_iter()
            .filter_map(|key| self.buckets.remove(&key))
            .collect();
        if let Some(partial) = self.buckets.get_mut(&edge) {
            if partial.iter().any(|ev| ev.t < watermark) {
                let (before, after) = std::mem::take(partial)
                    .into_iter()
                    .partition(|ev| ev.t < watermark);
                *partial = after;
                buckets.push(before);
            }
        }
        let mut order = Vec::with_capacity(buckets.iter().map(Vec::len).sum());
        for bucket in &buckets {
            self.len -= bucket.len();
            sort_bucket(bucket, &mut order);
        }
        if !buckets.is_empty() {
            shrink(&mut self.buckets);
        }
        Ready { buckets, order }
    }

    /// Keeps emptied buckets for new ones.
    fn recycle(&mut self, ready: Ready) {
        for mut bucket in ready.buckets {
            if self.spare.len() < SPARE_BUCKETS && bucket.capacity() <= SPARE_BUCKET_EVENTS {
                bucket.clear();
                self.spare.push(bucket);
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Ev> {
        self.buckets.values().flatten()
    }
}

/// Events handed over by [`Buffer::take_before`]: their buckets as filled and, bucket after
/// bucket, each event's position in its bucket in SPEC §2 order.
struct Ready {
    buckets: Vec<Vec<Ev>>,
    order: Vec<u32>,
}

impl Ready {
    /// The events in SPEC §2 order.
    fn iter(&self) -> impl Iterator<Item = &Ev> {
        let starts = self.buckets.iter().scan(0, |start, bucket| {
            *start += bucket.len();
            Some(*start - bucket.len())
        });
        self.buckets.iter().zip(starts).flat_map(|(bucket, start)| {
            self.order[start..start + bucket.len()]
                .iter()
                .map(|&i| &bucket[i as usize])
        })
    }
}

/// Appends to `order` the positions in `bucket` (events of one bucket of [`BUCKET_MS`]) in
/// SPEC §2 order ([`Ev::cmp_order`]). Positions are sorted rather than the 96-byte events:
/// each as one number, (time in the bucket, type, position), so only events equal in time
/// and type (rare) are compared in full.
fn sort_bucket(bucket: &[Ev], order: &mut Vec<u32>) {
    debug_assert!(u32::try_from(bucket.len()).is_ok());
    let key = |(i, ev): (usize, &Ev)| {
        let at = ev.t.rem_euclid(BUCKET_MS) as u64;
        at << 40 | u64::from(ev.kind) << 32 | i as u64
    };
    let mut keys: Vec<u64> = bucket.iter().enumerate().map(key).collect();
    keys.sort_unstable();
    for run in keys.chunk_by_mut(|a, b| a >> 32 == b >> 32) {
        if run.len() > 1 {
            let ev = |k: &u64| &bucket[*k as u32 as usize];
            run.sort_unstable_by(|a, b| ev(a).cmp_order(ev(b)));
        }
    }
    order.extend(keys.iter().map(|k| *k as u32));
}

/// Everything the engine keeps for one tenant (checkpointed as a unit).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TenantState {
    /// Events before it are applied (or late); later ones wait in `buffer`.
    watermark: i64,
    names: Names,
    /// Events waiting for the watermark.
    buffer: Buffer,
    /// Times of duplicates not yet behind the watermark.
    pending_duplicates: Vec<i64>,
    seen: IdMap<i64>,
    contacts: IdMap<Contact>,
    customers: IdMap<Customer>,
    agents: FastMap<Sym, AgentClock>,
    waiting: IdMap<Waiting>,
    queue_rows: RowTable<Components>,
    agent_rows: RowTable<Components>,
    state_rows: RowTable<StateTimes>,
    quality_rows: BTreeMap<i64, Quality>,
    /// Keys of the provisional rows last handed over (re-sent with final values when the
    /// speculation behind them is gone).
    provisional_queue: BTreeSet<(RowNum, Sym)>,
    provisional_agent: BTreeSet<(RowNum, Sym)>,
    /// Keys of `queue_now` rows last reported non-zero.
    queue_now_keys: BTreeSet<(Sym, u8)>,
    /// (ended_at, customer) of pending FCR verdicts in time order (contacts end in event-time
    /// order, so appending keeps it sorted).
    fcr_queue: VecDeque<(i64, Id)>,
    next_expiry: i64,
    dirty_quality: BTreeSet<i64>,
    /// The minute of the watermark last handed over as progress (again after a restart).
    #[serde(skip)]
    reported_minute: Option<i64>,
    alerts: Vec<ChurnAlert>,
}

/// The watermark of a tenant whose events are not yet known to have progressed anywhere.
pub const NO_WATERMARK: i64 = i64::MIN;

/// How often (in event time) state that can no longer change is dropped.
const EXPIRY_EVERY_MS: i64 = 5 * 60_000;

/// Above this many events of a tenant waiting for its watermark (a backlog being read), no
/// provisional rows are made: speculating costs the whole buffer at every flush, and a
/// backlog's rows are not live anyway (docs/benchmarks.md, catch-up).
const PROVISIONAL_MAX_WAITING: usize = 100_000;

/// An ended contact is kept this long after its last event: wrap-up, surveys and sentiment
/// still find it.
const ENDED_CONTACT_KEPT_MS: i64 = 3_600_000;

/// A minute's rows stay changeable this long past the FCR window: a verdict reaches back to
/// its contact's minute, and a contact may last that long.
const ROWS_KEPT_PAST_FCR_MS: i64 = 2 * 3_600_000;

/// A contact that has not ended is forgotten after this long without an event.
fn open_contact_kept_ms(s: &TenantSettings) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    s.fcr_window_ms.max(DAY_MS)
}

/// Rows of minutes before this one are final once a tenant's watermark is at `watermark`:
/// no event after it can change them.
pub fn rows_final_before(s: &TenantSettings, watermark: i64) -> i64 {
    minute_of(watermark - s.fcr_window_ms - ROWS_KEPT_PAST_FCR_MS)
}

/// How far back from a minute the events its rows and alerts depend on go: open contacts,
/// FCR verdicts and repeats, churn signals and the alert cooldown. (An agent's state clock
/// reaches back to the agent's last state change, however old.)
pub fn history_needed_ms(s: &TenantSettings) -> i64 {
    open_contact_kept_ms(s)
        .max(s.fcr_window_ms + ROWS_KEPT_PAST_FCR_MS)
        .max(s.churn.lookback_ms + s.churn.cooldown_ms)
}

/// The engine: state of every tenant routed to it, each with its own watermark.
#[derive(Debug, Clone)]
pub struct Engine {
    settings: Settings,
    settings_version: u64,
    /// The watermark a tenant starts with when its first event arrives (raised by
    /// [`Engine::advance`]).
    floor: i64,
    tenants: BTreeMap<String, TenantState>,
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
            if *o == Ingested::Buffered {
                ev.intern(&mut tenant.names);
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

    /// The rows changed since the last call (full values), new alerts, and `queue_now` as of
    /// the watermark.
    pub fn take_output(&mut self) -> Output {
        self.settle();
        let mut out = Output::default();
        for (tenant_id, t) in self.tenants.iter_mut() {
            let mut queue = t.queue_rows.take_dirty();
            let mut agent = t.agent_rows.take_dirty();
            if self.settings.provisional {
                let settings = self.settings.for_tenant(tenant_id);
                t.provisional(tenant_id, settings, &mut queue, &mut agent);
            }
            for (num, queue_id, value) in queue {
                out.queue
                    .push((queue_key(tenant_id, num, t.names.name(queue_id)), value));
            }
            for (num, agent_id, value) in agent {
                out.agent
                    .push((agent_key(tenant_id, num, t.names.name(agent_id)), value));
            }
            for (num, agent_id, value) in t.state_rows.take_dirty() {
                out.agent_state
                    .push((agent_minute(tenant_id, num, t.names.name(agent_id)), value));
            }
            for minute in std::mem::take(&mut t.dirty_quality) {
                let value = t.quality_rows.get(&minute).copied().unwrap_or_default();
                out.quality.push(((tenant_id.clone(), minute), value));
            }
            out.alerts.append(&mut t.alerts);
            if t.watermark != NO_WATERMARK {
                let watermark = t.watermark;
                out.queue_now.extend(t.queue_now(tenant_id, watermark));
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

    /// Brings agent-state time up to the watermark (additive, so how often does not matter).
    fn settle(&mut self) {
        for t in self.tenants.values_mut() {
            if t.watermark != NO_WATERMARK {
                let watermark = t.watermark;
                t.accrue_agents(watermark);
            }
        }
    }

    /// Every row currently held, as final rows (for tests and the reference comparison).
    pub fn final_rows(&mut self) -> FinalRows {
        self.settle();
        let mut rows = FinalRows::default();
        for (tenant_id, t) in &self.tenants {
            let name = |sym| t.names.name(sym);
            for (num, id, v) in t.queue_rows.all() {
                rows.queue.insert(queue_key(tenant_id, num, name(id)), v);
            }
            for (num, id, v) in t.agent_rows.all() {
                rows.agent.insert(agent_key(tenant_id, num, name(id)), v);
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

/// The customer a signal of `ev` is about: the event's, else its contact's.
fn signal_customer(ev: &Ev, contact: Option<&Contact>) -> Box<str> {
    match contact {
        Some(contact) if !ev.has_customer() => contact.customer.clone(),
        _ => Box::from(ev.customer_id()),
    }
}

/// The dimensions of agent rows: the components from `handled` down (SPEC §5).
fn agent_part(mut c: Components) -> Components {
    (c.offered, c.answered, c.answered_in_sl, c.wait_answered_ms) = (0, 0, 0, 0);
    (c.abandoned, c.abandoned_short, c.wait_abandoned_ms) = (0, 0, 0);
    c
}

/// Replaces or adds in `rows` (the changed rows, with final values): each row `changes`
/// touches, with its final value plus that change, and each row of `last` (the provisional
/// rows handed over last time) with its final value, so a speculation that is gone is
/// withdrawn. Returns the keys `changes` touches (this time's provisional rows).
fn speculate(
    table: &RowTable<Components>,
    last: &BTreeSet<(RowNum, Sym)>,
    changes: &RowTable<Components>,
    rows: &mut Vec<(RowNum, Sym, Components)>,
) -> BTreeSet<(RowNum, Sym)> {
    let changes: BTreeMap<(RowNum, Sym), Components> =
        changes.all().map(|(num, id, v)| ((num, id), v)).collect();
    let mut values = BTreeMap::new();
    for key in last.iter().chain(changes.keys()) {
        let mut value = table.get(key);
        if let Some(delta) = changes.get(key) {
            value += *delta;
        }
        values.insert(*key, value);
    }
    rows.retain(|(num, id, _)| !values.contains_key(&(*num, *id)));
    rows.extend(values.into_iter().map(|((num, id), v)| (num, id, v)));
    changes.into_keys().collect()
}

impl TenantState {
    /// Applies, in event-time order, every buffered event before `watermark`, then the time
    /// driven rules (agent-state time, FCR successes), then drops expired state. A watermark
    /// never goes back.
    fn advance(&mut self, id: &str, s: &TenantSettings, watermark: i64, dedup_horizon_ms: i64) {
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
        self.buffer.recycle(ready);
        self.fcr_successes(s, watermark);
        if watermark >= self.next_expiry {
            self.expire(s, watermark, dedup_horizon_ms);
            self.next_expiry = watermark.saturating_add(EXPIRY_EVERY_MS);
        }
        self.watermark = watermark;
    }

    /// Deduplication and lateness of one of this tenant's events: what becomes of it.
    fn ingest(&mut self, ev: &Ev) -> Ingested {
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

    fn quality(&mut self, t: i64, f: impl FnOnce(&mut Quality)) {
        let minute = minute_of(t);
        f(self.quality_rows.entry(minute).or_default());
        self.dirty_quality.insert(minute);
    }

    /// Adds `c` to the queue row of `dims` and, if `to_agent` and there is an agent, to the
    /// agent row.
    fn add(&mut self, dims: Dims, c: Components, to_agent: bool) {
        let num = (dims.minute, dims.channel, dims.direction);
        self.queue_rows.add(num, dims.queue, c);
        if to_agent && dims.agent != 0 {
            let c = agent_part(c);
            if !c.is_zero() {
                self.agent_rows
                    .add((dims.minute, dims.channel, 0), dims.agent, c);
            }
        }
    }

    /// Applies the buffered events to a scratch copy of the contacts they touch and turns the
    /// changes into provisional rows (final value + speculative change) in `queue`/`agent`,
    /// which hold the changed rows' final values.
    fn provisional(
        &mut self,
        tenant: &str,
        s: &TenantSettings,
        queue: &mut Vec<(RowNum, Sym, Components)>,
        agent: &mut Vec<(RowNum, Sym, Components)>,
    ) {
        let mut scratch = TenantState::default();
        if self.buffer.len > PROVISIONAL_MAX_WAITING {
            // Rows made so far are handed over with their final values.
            self.provisional_queue = speculate(
                &self.queue_rows,
                &self.provisional_queue,
                &scratch.queue_rows,
                queue,
            );
            self.provisional_agent = speculate(
                &self.agent_rows,
                &self.provisional_agent,
                &scratch.agent_rows,
                agent,
            );
            return;
        }
        for ev in self.buffer.iter() {
            let id = ev.contact();
            if let Some(contact) = self.contacts.get(&id) {
                scratch
                    .contacts
                    .entry(id)
                    .or_insert_with(|| contact.clone());
            }
        }
        let mut pending: Vec<&Ev> = self.buffer.iter().collect();
        pending.sort_by(|a, b| a.cmp_order(b));
        for ev in pending {
            scratch.apply(tenant, s, ev);
        }
        self.provisional_queue = speculate(
            &self.queue_rows,
            &self.provisional_queue,
            &scratch.queue_rows,
            queue,
        );
        self.provisional_agent = speculate(
            &self.agent_rows,
            &self.provisional_agent,
            &scratch.agent_rows,
            agent,
        );
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
            inbound: ev.inbound(),
            answered: false,
            repeat: false,
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
        let offered = Components {
            offered: 1,
            ..Components::default()
        };
        self.add(Dims::of(ev, ev.agent), offered, false);
        if contact.inbound && ev.has_customer() {
            let customer = self.customers.entry(ev.customer()).or_default();
            let window = s.fcr_window_ms;
            let matches = |a: Sym, b: Sym| a == 0 || b == 0 || a == b;
            let within = |end: i64| end < ev.t && ev.t <= end + window;
            contact.repeat = customer
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
            for dims in failed {
                let c = Components {
                    fcr_eligible: 1,
                    ..Components::default()
                };
                self.add(dims, c, true);
            }
            if contact.repeat {
                self.signal(tenant, s, &contact.customer, Signal::RepeatContact, ev);
            }
        }
        self.contacts.insert(contact_id, contact);
    }

    fn contact_event(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        let contact_id = ev.contact();
        let Some(contact) = self.contacts.get_mut(&contact_id) else {
            return self.out_of_sequence(ev);
        };
        let kind = ev.kind();
        let fits = match kind {
            EventType::WrapupEnded => contact.ended_at != NONE && !contact.wrapped,
            _ if contact.terminal => false,
            EventType::ContactAnswered => !contact.in_segment(),
            EventType::ContactAbandoned => !contact.answered,
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
                if !contact.answered {
                    contact.answered = true;
                    let wait = ev.t - contact.offered_at;
                    c.answered = 1;
                    c.answered_in_sl = u64::from(wait <= s.sl_threshold_ms);
                    c.wait_answered_ms = wait as u64;
                }
                contact.seg_start = ev.t;
                contact.seg_agent = ev.agent;
                self.waiting.remove(&contact_id);
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
        let signal = signal.map(|signal| (signal, signal_customer(ev, Some(contact))));
        let dims = Dims::of(ev, agent);
        if !c.is_zero() {
            self.add(dims, c, true);
        }
        if let Some((customer_id, reason, repeat)) = fcr_end {
            self.fcr_end(customer_id, reason, repeat, ev, dims);
        }
        if let Some((signal, customer)) = signal {
            self.signal(tenant, s, &customer, signal, ev);
        }
    }

    fn fcr_end(&mut self, customer_id: Id, reason: Sym, repeat: bool, ev: &Ev, dims: Dims) {
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
            self.add(dims, c, true);
        }
    }

    fn fcr_successes(&mut self, s: &TenantSettings, watermark: i64) {
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
            self.add(dims, c, true);
        }
    }

    fn survey(&mut self, tenant: &str, s: &TenantSettings, ev: &Ev) {
        let score = ev.score;
        let mut c = Components::default();
        let signal = match SurveyType::try_from(i32::from(ev.survey_type)) {
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
        let contact = self.contacts.get_mut(&ev.contact());
        let signal = signal.map(|signal| (signal, signal_customer(ev, contact.as_deref())));
        if let Some(contact) = contact {
            contact.last_at = contact.last_at.max(ev.t);
        }
        self.add(Dims::of(ev, ev.agent), c, true);
        if let Some((signal, customer)) = signal {
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
        let customer = self
            .customers
            .entry(id_of(customer_id.as_bytes()))
            .or_default();
        push(&mut customer.signals, (ev.t, sig.index() as u8));
        retain(&mut customer.signals, |(at, _)| {
            *at <= ev.t && ev.t - at < churn.lookback_ms
        });
        let mut counts = [0u32; 7];
        for (_, i) in customer.signals.iter() {
            counts[usize::from(*i)] += 1;
        }
        let raw: u32 = Signal::ALL
            .iter()
            .map(|k| {
                churn.rules[k.index()].weight * counts[k.index()].min(churn.rules[k.index()].cap)
            })
            .sum();
        let score = raw.min(100);
        let cooled = customer.last_alert == NONE || ev.t - customer.last_alert >= churn.cooldown_ms;
        if score >= churn.threshold && cooled {
            customer.last_alert = ev.t;
            let reasons = Signal::ALL
                .iter()
                .filter(|k| counts[k.index()] > 0)
                .map(|k| k.name().to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let view = ev.view();
            self.alerts.push(ChurnAlert {
                tenant_id: tenant.to_string(),
                alert_id: format!("{tenant}:{customer_id}:{}", view.event_id),
                customer_id: customer_id.to_string(),
                score,
                reasons,
                triggered_at: ev.t,
                contact_id: view.contact_id.to_string(),
                channel: if ev.channel == 0 {
                    String::new()
                } else {
                    channel_name(ev.channel)
                },
                queue_id: view.queue_id.to_string(),
                agent_id: view.agent_id.to_string(),
            });
        }
    }

    fn agent_state(&mut self, ev: &Ev) {
        let clock = AgentClock {
            state: ev.agent_state,
            since: ev.t,
        };
        if let Some(before) = self.agents.insert(ev.agent, clock) {
            self.accrue_state(ev.agent, before, ev.t);
        }
    }

    /// Adds the time of `agent`'s current state up to `until`.
    fn accrue(&mut self, agent: Sym, until: i64) {
        let Some(clock) = self.agents.get_mut(&agent) else {
            return;
        };
        let before = clock.clone();
        clock.since = until.max(clock.since);
        self.accrue_state(agent, before, until);
    }

    /// Adds the time in `clock`'s state from its start up to `until`, split at minute
    /// boundaries, to `agent`'s rows.
    fn accrue_state(&mut self, agent: Sym, clock: AgentClock, until: i64) {
        let mut from = clock.since;
        while from < until {
            let minute = minute_of(from);
            let to = until.min(minute + 60_000);
            let ms = (to - from) as u64;
            let mut add = StateTimes::default();
            match AgentState::try_from(i32::from(clock.state)) {
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
        let agents: Vec<Sym> = self.agents.keys().copied().collect();
        for agent in agents {
            self.accrue(agent, watermark);
        }
    }

    fn queue_now(&mut self, tenant: &str, watermark: i64) -> Vec<QueueNow> {
        let mut now: BTreeMap<(Sym, u8), (u64, i64)> = BTreeMap::new();
        for w in self.waiting.values() {
            let entry = now.entry((w.queue, w.channel)).or_insert((0, w.since));
            entry.0 += 1;
            entry.1 = entry.1.min(w.since);
        }
        let keys: BTreeSet<(Sym, u8)> = now.keys().copied().collect();
        let mut rows = Vec::new();
        for key in keys.union(&self.queue_now_keys) {
            let (waiting, since) = now.get(key).copied().unwrap_or((0, watermark));
            rows.push(QueueNow {
                tenant_id: tenant.to_string(),
                queue_id: self.names.name(key.0).to_string(),
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
        shrink(&mut self.seen);
        let stale = open_contact_kept_ms(s);
        self.contacts.retain(|_, c| {
            if c.terminal {
                c.last_at >= watermark - ENDED_CONTACT_KEPT_MS
            } else {
                c.last_at >= watermark - stale
            }
        });
        shrink(&mut self.contacts);
        let waiting_contacts = &self.contacts;
        self.waiting
            .retain(|id, _| waiting_contacts.contains_key(id));
        shrink(&mut self.waiting);
        for customer in self.customers.values_mut() {
            retain(&mut customer.ended, |e| {
                e.pending || e.at + s.fcr_window_ms >= watermark
            });
            retain(&mut customer.signals, |(at, _)| {
                watermark - at < s.churn.lookback_ms
            });
        }
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
        self.state_rows.forget_before(horizon);
        let dirty = &self.dirty_quality;
        self.quality_rows
            .retain(|m, _| *m >= horizon || dirty.contains(m));
    }
}

fn queue_key(tenant: &str, (minute, channel, direction): RowNum, queue_id: &str) -> QueueKey {
    QueueKey {
        tenant_id: tenant.to_string(),
        window_start: minute,
        queue_id: queue_id.to_string(),
        channel: channel_name(channel),
        direction: direction_name(direction),
    }
}

fn agent_key(tenant: &str, (minute, channel, _): RowNum, agent_id: &str) -> AgentKey {
    AgentKey {
        tenant_id: tenant.to_string(),
        window_start: minute,
        agent_id: agent_id.to_string(),
        channel: channel_name(channel),
    }
}

fn agent_minute(tenant: &str, (minute, _, _): RowNum, agent_id: &str) -> AgentMinute {
    AgentMinute {
        tenant_id: tenant.to_string(),
        window_start: minute,
        agent_id: agent_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_in_flight_stay_small() {
        assert!(
            std::mem::size_of::<Ev>() <= 96,
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
