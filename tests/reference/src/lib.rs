//! The reference model of ccx's metrics: a plain batch computation of every SPEC §3 and §7.2
//! component, written straight from SPEC (and the decisions of `docs/metrics.md`), used only by
//! tests.
//!
//! This crate owns:
//! - [`compute`]: the final rows of `queue_metrics_1m`, `agent_metrics_1m`,
//!   `reason_metrics_1m`, `agent_state_1m`, `ingest_quality_1m` and `churn_alerts` for a set of
//!   events, as of a watermark;
//! - [`queue_now`]: the `queue_now` rows as of a watermark;
//! - [`fixtures`]: loading the golden fixtures of `tests/fixtures/*.json` and comparing any
//!   engine's rows with their hand-written expectations (the runner is `tests/golden.rs`).
//!
//! The model favours being obviously right over being fast: it keeps every known event, sorts
//! each tenant's events into application order and walks them once, then decides FCR and churn
//! from the collected facts. Facts that reach back in time (earlier offers, answers, callback
//! requests, open cases) are kept as plain lists and maps and searched when needed. Nothing here
//! is shared with the streaming engine.

pub mod fixtures;

use std::collections::{BTreeMap, HashMap, HashSet};

use ccx_model::rows::{
    minute_of, AgentKey, AgentMinute, ChurnAlert, Components, FinalRows, QueueKey, QueueNow,
    ReasonKey, AGENT_COLUMNS, QUEUE_COLUMNS, REASON_COLUMNS,
};
use ccx_model::settings::{Signal, TenantSettings};
use ccx_model::{timestamp_ms, AgentState, Channel, Direction, Event, EventType, SurveyType};

/// Every final row of SPEC §5's minute tables and `churn_alerts` for `events` (any order,
/// duplicates and tenants mixed) as of the watermark `watermark_ms`: only events with
/// `occurredAt < watermark_ms` are known and applied. All-zero rows are left out.
pub fn compute(events: &[Event], settings: &TenantSettings, watermark_ms: i64) -> FinalRows {
    run(events, settings, watermark_ms).0
}

/// The `queue_now` rows as of the watermark: per (tenant, queue, channel) the contacts waiting
/// for an answer (first wait or re-queued after a transfer). Only rows with `waiting > 0`,
/// sorted by key.
pub fn queue_now(events: &[Event], settings: &TenantSettings, watermark_ms: i64) -> Vec<QueueNow> {
    run(events, settings, watermark_ms).1
}

/// The SPEC name of a channel; empty when unset.
pub fn channel_name(channel: i32) -> String {
    match Channel::try_from(channel) {
        Ok(Channel::Unspecified) | Err(_) => String::new(),
        Ok(c) => c.as_str_name().to_string(),
    }
}

/// The SPEC name of a direction; empty when unset.
pub fn direction_name(direction: i32) -> String {
    match Direction::try_from(direction) {
        Ok(Direction::Unspecified) | Err(_) => String::new(),
        Ok(d) => d.as_str_name().to_string(),
    }
}

/// Two contacts match for FCR when their reasons are equal or either is empty.
fn reasons_match(a: &str, b: &str) -> bool {
    a.is_empty() || b.is_empty() || a == b
}

/// One known event: its time in ms and its type.
struct Known<'a> {
    at: i64,
    kind: EventType,
    event: &'a Event,
}

/// What a contact's `CONTACT_OFFERED` said.
struct Offer {
    customer: String,
    /// Its `reason` (`''` when none): the key of the contact's `reason_metrics_1m` rows.
    reason: String,
    inbound: bool,
    outbound: bool,
    queue: String,
    /// The case the offer named: its `caseId`, else its own `contactId`.
    case_id: String,
    /// Which opening of that case the contact joined (a case closed and opened again under
    /// the same key is another case).
    case_opening: u64,
    /// The contact whose callback this is (`''` when none).
    callback_of: String,
}

/// An agent segment in progress.
struct Segment {
    agent: String,
    start: i64,
    hold_since: Option<i64>,
    hold_ms: i64,
    holds: u64,
}

impl Segment {
    /// The components of this segment ending at `end`: handled, talk, hold, holds. A hold
    /// still open closes at `end`.
    fn close(&self, end: i64) -> Components {
        let open_hold = self.hold_since.map_or(0, |since| end - since);
        let hold = self.hold_ms + open_hold;
        let talk = end - self.start - hold;
        Components {
            handled: 1,
            talk_ms: talk as u64,
            hold_ms: hold as u64,
            holds: self.holds,
            ..Components::default()
        }
    }
}

/// Where a contact is in its sequence.
enum Phase {
    /// Offered, waiting for its first answer since `since`.
    Queued {
        since: i64,
        queue: String,
        channel: String,
    },
    /// An agent segment is active.
    Talking(Segment),
    /// Transferred at `since`, waiting for the next answer in `queue`.
    Requeued {
        since: i64,
        queue: String,
        channel: String,
    },
    /// Ended (terminal) at `at`.
    Ended { at: i64 },
    /// Abandoned (terminal).
    Abandoned,
    /// The customer asked to be called back instead of waiting (terminal, SPEC §7.1).
    CallbackRequested,
}

struct Contact {
    offer: Offer,
    /// The time of its first `CONTACT_ANSWERED`.
    answered_at: Option<i64>,
    transfers: u32,
    wrapped: bool,
    phase: Phase,
}

/// An inbound contact that ended, kept for its FCR verdict.
struct EndedInbound<'a> {
    customer: String,
    reason: String,
    ended_at: i64,
    resolved: bool,
    repeat: bool,
    /// The `CONTACT_ENDED` event (minute and dimensions of the FCR components).
    event: &'a Event,
    /// The agent row the `CONTACT_ENDED` components went to, if any.
    agent: Option<String>,
}

/// An inbound contact's offer, for FCR failure checks.
struct InboundOffer {
    customer: String,
    reason: String,
    at: i64,
}

/// A churn signal raised by an event.
struct SignalAt<'a> {
    customer: String,
    signal: Signal,
    at: i64,
    event: &'a Event,
}

/// A case (SPEC §7.2) that is open: offered, not yet resolved.
struct Case {
    /// The offer of its first contact.
    first_offer: i64,
    /// The offer of its latest contact.
    last_offer: i64,
    /// Its contacts offered so far.
    contacts: u64,
    /// Numbers the openings of cases.
    opening: u64,
}

/// An outbound offer or first answer, for `accounts_attempted` and `first_call_closes`.
struct OutboundFact {
    customer: String,
    queue: String,
    at: i64,
}

/// Per-tenant state of the walk through the events.
#[derive(Default)]
struct TenantState<'a> {
    contacts: HashMap<&'a str, Contact>,
    repeats: HashSet<&'a str>,
    ended: Vec<EndedInbound<'a>>,
    inbound_offers: Vec<InboundOffer>,
    signals: Vec<SignalAt<'a>>,
    /// The time of each applied `CALLBACK_REQUESTED`, by contact id.
    callback_requests: HashMap<&'a str, i64>,
    /// The open cases, by (customer, caseId).
    cases: HashMap<(String, String), Case>,
    /// Cases opened so far.
    case_openings: u64,
    /// Every applied outbound offer (customer, offer's queue, offer time).
    outbound_offers: Vec<OutboundFact>,
    /// Every first answer of an outbound contact (customer, offer's queue, answer time).
    outbound_answers: Vec<OutboundFact>,
}

struct Model<'s> {
    settings: &'s TenantSettings,
    watermark: i64,
    rows: FinalRows,
}

fn run(events: &[Event], settings: &TenantSettings, watermark: i64) -> (FinalRows, Vec<QueueNow>) {
    let mut model = Model {
        settings,
        watermark,
        rows: FinalRows::default(),
    };
    let mut now = Vec::new();
    for (tenant, known) in model.known_events(events) {
        let state = model.contacts(&known);
        model.fcr(&state);
        model.churn(tenant, &state);
        model.agent_states(tenant, &known);
        now.extend(model.waiting(tenant, &state));
    }
    (model.rows.without_zero_rows(), now)
}

impl<'s> Model<'s> {
    /// The events known at the watermark (`occurredAt < W`), first copies only, per tenant, in
    /// application order: occurredAt (ms), then type (SPEC §2 order), then eventId. Later
    /// copies of a (tenant, eventId) count as duplicates at their own minute.
    fn known_events<'e>(&mut self, events: &'e [Event]) -> BTreeMap<&'e str, Vec<Known<'e>>> {
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        let mut per_tenant: BTreeMap<&str, Vec<Known>> = BTreeMap::new();
        for event in events {
            let Some(ts) = &event.occurred_at else {
                continue;
            };
            let at = timestamp_ms(ts);
            if at >= self.watermark {
                continue;
            }
            if !seen.insert((&event.tenant_id, &event.event_id)) {
                let key = (event.tenant_id.clone(), minute_of(at));
                self.rows.quality.entry(key).or_default().duplicates += 1;
                continue;
            }
            let kind = EventType::try_from(event.r#type).unwrap_or(EventType::TypeUnspecified);
            per_tenant
                .entry(&event.tenant_id)
                .or_default()
                .push(Known { at, kind, event });
        }
        for list in per_tenant.values_mut() {
            list.sort_by(|a, b| {
                (a.at, a.kind as i32, &a.event.event_id).cmp(&(
                    b.at,
                    b.kind as i32,
                    &b.event.event_id,
                ))
            });
        }
        per_tenant
    }

    /// Adds `delta` to the rows of the event that completes it, at the minute `at`: the queue
    /// columns to the queue row of `event` (its queue, channel, direction), the reason columns
    /// to the reason row of `reason` (the contact's reason) with the event's channel and
    /// direction, and, when `agent` is a non-empty id, the agent columns to that agent's row
    /// (the event's channel).
    fn add(
        &mut self,
        event: &Event,
        at: i64,
        agent: Option<&str>,
        reason: &str,
        delta: Components,
    ) {
        let minute = minute_of(at);
        let key = QueueKey {
            tenant_id: event.tenant_id.clone(),
            window_start: minute,
            queue_id: event.queue_id.clone(),
            channel: channel_name(event.channel),
            direction: direction_name(event.direction),
        };
        *self.rows.queue.entry(key).or_default() += delta.only(QUEUE_COLUMNS);
        let key = ReasonKey {
            tenant_id: event.tenant_id.clone(),
            window_start: minute,
            reason: reason.to_string(),
            channel: channel_name(event.channel),
            direction: direction_name(event.direction),
        };
        *self.rows.reason.entry(key).or_default() += delta.only(REASON_COLUMNS);
        if let Some(agent) = agent.filter(|a| !a.is_empty()) {
            self.add_agent(event, at, agent, delta);
        }
    }

    /// Adds the agent columns of `delta` to the row of `agent` with the channel of `event`, at
    /// the minute `at`.
    fn add_agent(&mut self, event: &Event, at: i64, agent: &str, delta: Components) {
        let key = AgentKey {
            tenant_id: event.tenant_id.clone(),
            window_start: minute_of(at),
            agent_id: agent.to_string(),
            channel: channel_name(event.channel),
        };
        *self.rows.agent.entry(key).or_default() += delta.only(AGENT_COLUMNS);
    }

    fn out_of_sequence(&mut self, k: &Known) {
        let key = (k.event.tenant_id.clone(), minute_of(k.at));
        self.rows.quality.entry(key).or_default().out_of_sequence += 1;
    }

    /// Walks one tenant's events: contact sequences, surveys and sentiment.
    fn contacts<'e>(&mut self, known: &[Known<'e>]) -> TenantState<'e> {
        let mut st = TenantState::default();
        for k in known {
            match k.kind {
                EventType::TypeUnspecified | EventType::AgentStateChanged => {}
                EventType::SurveyResponded => self.survey(k, &mut st),
                EventType::SentimentScored => self.sentiment(k, &mut st),
                EventType::QaScored => self.qa(k),
                _ => {
                    if !self.contact_event(k, &mut st) {
                        self.out_of_sequence(k);
                    }
                }
            }
        }
        st
    }

    /// The customer a signal of `event` belongs to: its own customerId, else the one of its
    /// contact's `CONTACT_OFFERED` (if that was applied before).
    fn signal_customer(event: &Event, st: &TenantState) -> Option<String> {
        if !event.customer_id.is_empty() {
            return Some(event.customer_id.clone());
        }
        st.contacts
            .get(event.contact_id.as_str())
            .map(|c| c.offer.customer.clone())
            .filter(|c| !c.is_empty())
    }

    /// The reason of the contact of `event` (from its `CONTACT_OFFERED`, if that was applied
    /// before); `''` when none or unknown.
    fn contact_reason(event: &Event, st: &TenantState) -> String {
        st.contacts
            .get(event.contact_id.as_str())
            .map(|c| c.offer.reason.clone())
            .unwrap_or_default()
    }

    fn signal<'e>(st: &mut TenantState<'e>, k: &Known<'e>, signal: Signal) {
        if let Some(customer) = Self::signal_customer(k.event, st) {
            st.signals.push(SignalAt {
                customer,
                signal,
                at: k.at,
                event: k.event,
            });
        }
    }

    /// Applies one contact event (not survey/sentiment). Returns false when it does not fit
    /// the contact's sequence (then nothing changed).
    fn contact_event<'e>(&mut self, k: &Known<'e>, st: &mut TenantState<'e>) -> bool {
        let e = k.event;
        let at = k.at;
        let id = e.contact_id.as_str();
        let settings = self.settings;
        if k.kind == EventType::ContactOffered {
            if st.contacts.contains_key(id) {
                return false;
            }
            let mut delta = Components {
                offered: 1,
                ..Components::default()
            };
            let inbound = e.direction == Direction::Inbound as i32;
            let outbound = e.direction == Direction::Outbound as i32;
            if !e.callback_of.is_empty() {
                delta.callbacks_attempted = 1;
                let request = st.callback_requests.get(e.callback_of.as_str());
                if let Some(&requested) = request {
                    if at - requested <= settings.callback_window_ms {
                        delta.callbacks_matched = 1;
                        delta.callback_delay_ms = (at - requested) as u64;
                    }
                }
            }
            if outbound {
                let window = settings.campaign_window_ms;
                let earlier = st.outbound_offers.iter().any(|o| {
                    o.customer == e.customer_id
                        && o.queue == e.queue_id
                        && at - window <= o.at
                        && o.at < at
                });
                delta.accounts_attempted = u64::from(!earlier);
                st.outbound_offers.push(OutboundFact {
                    customer: e.customer_id.clone(),
                    queue: e.queue_id.clone(),
                    at,
                });
            }
            let case_id = if e.case_id.is_empty() {
                e.contact_id.clone()
            } else {
                e.case_id.clone()
            };
            let case_key = (e.customer_id.clone(), case_id.clone());
            let case_opening = match st.cases.get_mut(&case_key) {
                // An offer without a customer (raw replays only) has no case.
                _ if e.customer_id.is_empty() => 0,
                Some(case) if at - case.last_offer <= settings.case_window_ms => {
                    case.contacts += 1;
                    case.last_offer = at;
                    case.opening
                }
                // No open case, or one forgotten: this contact opens a new case.
                _ => {
                    st.case_openings += 1;
                    let case = Case {
                        first_offer: at,
                        last_offer: at,
                        contacts: 1,
                        opening: st.case_openings,
                    };
                    st.cases.insert(case_key, case);
                    st.case_openings
                }
            };
            if inbound && !e.customer_id.is_empty() {
                let window = settings.fcr_window_ms;
                let repeat = st.ended.iter().any(|p| {
                    p.customer == e.customer_id
                        && reasons_match(&p.reason, &e.reason)
                        && p.ended_at < at
                        && at <= p.ended_at + window
                });
                st.inbound_offers.push(InboundOffer {
                    customer: e.customer_id.clone(),
                    reason: e.reason.clone(),
                    at,
                });
                if repeat {
                    delta.repeats = 1;
                    st.repeats.insert(id);
                    Self::signal(st, k, Signal::RepeatContact);
                }
            }
            self.add(e, at, None, &e.reason, delta);
            st.contacts.insert(
                id,
                Contact {
                    offer: Offer {
                        customer: e.customer_id.clone(),
                        reason: e.reason.clone(),
                        inbound,
                        outbound,
                        queue: e.queue_id.clone(),
                        case_id,
                        case_opening,
                        callback_of: e.callback_of.clone(),
                    },
                    answered_at: None,
                    transfers: 0,
                    wrapped: false,
                    phase: Phase::Queued {
                        since: at,
                        queue: e.queue_id.clone(),
                        channel: channel_name(e.channel),
                    },
                },
            );
            return true;
        }
        let Some(c) = st.contacts.get_mut(id) else {
            return false;
        };
        let reason = c.offer.reason.clone();
        match k.kind {
            EventType::ContactAnswered => {
                let segment = Segment {
                    agent: e.agent_id.clone(),
                    start: at,
                    hold_since: None,
                    hold_ms: 0,
                    holds: 0,
                };
                match c.phase {
                    Phase::Queued { since, .. } => {
                        let wait = at - since;
                        c.answered_at = Some(at);
                        c.phase = Phase::Talking(segment);
                        // The threshold of the queue that answers first (SPEC §7.3).
                        let threshold = settings.sl_threshold_of(&e.queue_id);
                        let delta = Components {
                            answered: 1,
                            answered_in_sl: u64::from(wait <= threshold),
                            wait_answered_ms: wait as u64,
                            callbacks_connected: u64::from(!c.offer.callback_of.is_empty()),
                            ..Components::default()
                        };
                        if c.offer.outbound {
                            st.outbound_answers.push(OutboundFact {
                                customer: c.offer.customer.clone(),
                                queue: c.offer.queue.clone(),
                                at,
                            });
                        }
                        self.add(e, at, None, &reason, delta);
                        true
                    }
                    Phase::Requeued { since, .. } => {
                        c.phase = Phase::Talking(segment);
                        let delta = Components {
                            transfer_answered: 1,
                            transfer_wait_ms: (at - since) as u64,
                            ..Components::default()
                        };
                        self.add(e, at, None, &reason, delta);
                        true
                    }
                    _ => false,
                }
            }
            EventType::ContactAbandoned => {
                let Phase::Queued { since, .. } = c.phase else {
                    return false;
                };
                let wait = at - since;
                c.phase = Phase::Abandoned;
                let long = c.offer.inbound && wait >= settings.churn.long_abandon_ms;
                self.add(
                    e,
                    at,
                    None,
                    &reason,
                    Components {
                        abandoned: 1,
                        abandoned_short: u64::from(wait < settings.short_abandon_ms),
                        wait_abandoned_ms: wait as u64,
                        ..Components::default()
                    },
                );
                if long {
                    Self::signal(st, k, Signal::LongAbandon);
                }
                true
            }
            EventType::CallbackRequested => {
                let Phase::Queued { since, .. } = c.phase else {
                    return false;
                };
                c.phase = Phase::CallbackRequested;
                st.callback_requests.insert(id, at);
                let delta = Components {
                    callbacks_requested: 1,
                    wait_callback_ms: (at - since) as u64,
                    ..Components::default()
                };
                self.add(e, at, None, &reason, delta);
                true
            }
            EventType::HoldStarted => match &mut c.phase {
                Phase::Talking(seg) if seg.hold_since.is_none() => {
                    seg.hold_since = Some(at);
                    seg.holds += 1;
                    true
                }
                _ => false,
            },
            EventType::HoldEnded => match &mut c.phase {
                Phase::Talking(seg) if seg.hold_since.is_some() => {
                    seg.hold_ms += at - seg.hold_since.take().unwrap_or(at);
                    true
                }
                _ => false,
            },
            EventType::ContactTransferred => {
                let Phase::Talking(seg) = &c.phase else {
                    return false;
                };
                let mut delta = seg.close(at);
                delta.transfers = 1;
                let queue = if e.to_queue_id.is_empty() {
                    e.queue_id.clone()
                } else {
                    e.to_queue_id.clone()
                };
                c.phase = Phase::Requeued {
                    since: at,
                    queue,
                    channel: channel_name(e.channel),
                };
                c.transfers += 1;
                let bounce = c.transfers == 2;
                self.add(e, at, Some(&e.agent_id), &reason, delta);
                if bounce {
                    Self::signal(st, k, Signal::TransferBounce);
                }
                true
            }
            EventType::ContactEnded => {
                let closed = match &c.phase {
                    Phase::Queued { .. } | Phase::Requeued { .. } => None,
                    Phase::Talking(seg) => Some((seg.close(at), seg.agent.clone())),
                    Phase::Ended { .. } | Phase::Abandoned | Phase::CallbackRequested => {
                        return false
                    }
                };
                let mut delta = Components::default();
                let mut agent = None;
                if let Some((segment, segment_agent)) = closed {
                    delta = segment;
                    agent = Some(segment_agent);
                }
                if !e.agent_id.is_empty() {
                    agent = Some(e.agent_id.clone());
                }
                delta.resolved = u64::from(e.resolved);
                delta.self_served = u64::from(e.resolved && c.answered_at.is_none());
                delta.conversions = u64::from(e.converted);
                if e.resolved && !c.offer.customer.is_empty() {
                    // The contact's case closes if it is still open (not closed and opened
                    // again since), unless it was forgotten (no offer for longer than
                    // case_window).
                    let case_key = (c.offer.customer.clone(), c.offer.case_id.clone());
                    let its_own = |case: &Case| case.opening == c.offer.case_opening;
                    if let Some(case) = st.cases.remove_entry(&case_key).and_then(|(k, case)| {
                        if its_own(&case) {
                            Some(case)
                        } else {
                            st.cases.insert(k, case);
                            None
                        }
                    }) {
                        if at - case.last_offer <= settings.case_window_ms {
                            delta.cases_resolved = 1;
                            delta.case_resolution_ms = (at - case.first_offer) as u64;
                            delta.case_contacts = case.contacts;
                        }
                    }
                }
                if let (true, true, Some(answer)) = (e.converted, c.offer.outbound, c.answered_at) {
                    let window = settings.campaign_window_ms;
                    let earlier = st.outbound_answers.iter().any(|a| {
                        a.customer == c.offer.customer
                            && a.queue == c.offer.queue
                            && answer - window <= a.at
                            && a.at < answer
                    });
                    delta.first_call_closes = u64::from(!earlier);
                }
                if let Some(mos) = e.mos {
                    let quality = Components {
                        mos_count: 1,
                        mos_milli_sum: (mos * 1000.0).round() as u64,
                        mos_poor: u64::from(mos < 3.5),
                        ..Components::default()
                    };
                    if c.answered_at.is_some() {
                        delta += quality;
                    } else {
                        // Never answered: the call quality is the queue's only.
                        self.add(e, at, None, &reason, quality);
                    }
                }
                c.phase = Phase::Ended { at };
                if c.offer.inbound && !c.offer.customer.is_empty() {
                    st.ended.push(EndedInbound {
                        customer: c.offer.customer.clone(),
                        reason: c.offer.reason.clone(),
                        ended_at: at,
                        resolved: e.resolved,
                        repeat: st.repeats.contains(id),
                        event: e,
                        agent: agent.clone(),
                    });
                }
                self.add(e, at, agent.as_deref(), &reason, delta);
                true
            }
            EventType::WrapupEnded => {
                let Phase::Ended { at: ended } = c.phase else {
                    return false;
                };
                if c.wrapped {
                    return false;
                }
                c.wrapped = true;
                self.add(
                    e,
                    at,
                    Some(&e.agent_id),
                    &reason,
                    Components {
                        acw_ms: (at - ended) as u64,
                        acw_count: 1,
                        ..Components::default()
                    },
                );
                true
            }
            _ => false,
        }
    }

    fn survey<'e>(&mut self, k: &Known<'e>, st: &mut TenantState<'e>) {
        let e = k.event;
        let Some(score) = e.score else {
            return;
        };
        let (delta, signal) = match SurveyType::try_from(e.survey_type) {
            Ok(SurveyType::Nps) => (
                Components {
                    nps_responses: 1,
                    nps_promoters: u64::from(score >= 9),
                    nps_detractors: u64::from(score <= 6),
                    ..Components::default()
                },
                (score <= 6).then_some(Signal::NpsDetractor),
            ),
            Ok(SurveyType::Csat) => (
                Components {
                    csat_responses: 1,
                    csat_satisfied: u64::from(score >= 4),
                    ..Components::default()
                },
                (score <= 2).then_some(Signal::CsatDissatisfied),
            ),
            Ok(SurveyType::Ces) => (
                Components {
                    ces_responses: 1,
                    ces_score_sum: score.max(0) as u64,
                    ..Components::default()
                },
                (score <= 3).then_some(Signal::HighEffort),
            ),
            _ => return,
        };
        let reason = Self::contact_reason(e, st);
        self.add(e, k.at, Some(&e.agent_id), &reason, delta);
        if let Some(signal) = signal {
            Self::signal(st, k, signal);
        }
    }

    fn sentiment<'e>(&mut self, k: &Known<'e>, st: &mut TenantState<'e>) {
        let e = k.event;
        let Some(s) = e.sentiment else {
            return;
        };
        let delta = Components {
            sentiment_count: 1,
            sentiment_milli_sum: (s * 1000.0).round() as i64,
            sentiment_negative: u64::from(s <= -0.25),
            sentiment_positive: u64::from(s >= 0.25),
            ..Components::default()
        };
        let reason = Self::contact_reason(e, st);
        self.add(e, k.at, Some(&e.agent_id), &reason, delta);
        if s <= -0.5 {
            Self::signal(st, k, Signal::NegativeSentiment);
        }
    }

    /// A QA evaluation (SPEC §7.1): the agent's row (its channel) at the event's own minute.
    fn qa(&mut self, k: &Known) {
        let e = k.event;
        let Some(score) = e.score else {
            return;
        };
        if e.agent_id.is_empty() {
            return;
        }
        let delta = Components {
            qa_evaluations: 1,
            qa_score_sum: score.max(0) as u64,
            ..Components::default()
        };
        self.add_agent(e, k.at, &e.agent_id, delta);
    }

    /// FCR verdicts of the ended inbound contacts that are not repeats: failure when unresolved
    /// or when a matching inbound offer of the customer follows within the window; success
    /// once the watermark is past the window; otherwise still open (nothing yet).
    fn fcr(&mut self, st: &TenantState) {
        let window = self.settings.fcr_window_ms;
        for c in &st.ended {
            if c.repeat {
                continue;
            }
            let followed = st.inbound_offers.iter().any(|o| {
                o.customer == c.customer
                    && reasons_match(&o.reason, &c.reason)
                    && c.ended_at < o.at
                    && o.at <= c.ended_at + window
            });
            let success = if !c.resolved || followed {
                false
            } else if self.watermark > c.ended_at + window {
                true
            } else {
                continue;
            };
            let delta = Components {
                fcr_eligible: 1,
                fcr_success: u64::from(success),
                ..Components::default()
            };
            self.add(c.event, c.ended_at, c.agent.as_deref(), &c.reason, delta);
        }
    }

    /// Churn scoring over the tenant's signals in event order, per customer.
    fn churn(&mut self, tenant: &str, st: &TenantState) {
        let settings = self.settings;
        let churn = &settings.churn;
        let mut history: HashMap<&str, Vec<(i64, Signal)>> = HashMap::new();
        let mut last_alert: HashMap<&str, i64> = HashMap::new();
        for s in &st.signals {
            let signals = history.entry(&s.customer).or_default();
            signals.push((s.at, s.signal));
            let mut counts = [0u32; 7];
            for (at, signal) in signals.iter() {
                if *at <= s.at && s.at - at < churn.lookback_ms {
                    counts[signal.index()] += 1;
                }
            }
            let mut score: u32 = 0;
            for signal in Signal::ALL {
                let rule = churn.rules[signal.index()];
                score += rule.weight * counts[signal.index()].min(rule.cap);
            }
            let score = score.min(100);
            let cooled = match last_alert.get(s.customer.as_str()) {
                None => true,
                Some(last) => s.at - last >= churn.cooldown_ms,
            };
            if score < churn.threshold || !cooled {
                continue;
            }
            last_alert.insert(&s.customer, s.at);
            let reasons = Signal::ALL
                .iter()
                .filter(|signal| counts[signal.index()] > 0)
                .map(|signal| signal.name().to_string());
            let mut reasons: Vec<String> = reasons.collect();
            reasons.sort();
            let e = s.event;
            self.rows.alerts.push(ChurnAlert {
                tenant_id: tenant.to_string(),
                alert_id: format!("{tenant}:{}:{}", s.customer, e.event_id),
                customer_id: s.customer.clone(),
                score,
                reasons,
                triggered_at: s.at,
                contact_id: e.contact_id.clone(),
                channel: channel_name(e.channel),
                queue_id: e.queue_id.clone(),
                agent_id: e.agent_id.clone(),
            });
        }
    }

    /// Agent state time: each agent is in the state of its last `AGENT_STATE_CHANGED` until the
    /// next one or the watermark, split at UTC minute boundaries.
    fn agent_states(&mut self, tenant: &str, known: &[Known]) {
        let mut per_agent: BTreeMap<&str, Vec<(i64, i32)>> = BTreeMap::new();
        for k in known {
            if k.kind == EventType::AgentStateChanged {
                per_agent
                    .entry(&k.event.agent_id)
                    .or_default()
                    .push((k.at, k.event.agent_state));
            }
        }
        for (agent, changes) in per_agent {
            for (i, (from, state)) in changes.iter().enumerate() {
                let to = changes.get(i + 1).map_or(self.watermark, |next| next.0);
                self.state_time(tenant, agent, *state, *from, to);
            }
        }
    }

    fn state_time(&mut self, tenant: &str, agent: &str, state: i32, from: i64, to: i64) {
        let state = AgentState::try_from(state).unwrap_or(AgentState::Unspecified);
        let mut t = from;
        while t < to {
            let minute = minute_of(t);
            let end = (minute + 60_000).min(to);
            let ms = (end - t) as u64;
            let key = AgentMinute {
                tenant_id: tenant.to_string(),
                window_start: minute,
                agent_id: agent.to_string(),
            };
            let row = self.rows.agent_state.entry(key).or_default();
            match state {
                AgentState::Available => row.available_ms += ms,
                AgentState::Busy => row.busy_ms += ms,
                AgentState::AfterContactWork => row.acw_state_ms += ms,
                AgentState::Break => row.break_ms += ms,
                AgentState::Offline | AgentState::Unspecified => {}
            }
            t = end;
        }
    }

    /// Contacts waiting as of the watermark, per (queue, channel).
    fn waiting(&self, tenant: &str, st: &TenantState) -> Vec<QueueNow> {
        let mut groups: BTreeMap<(&str, &str), (u64, i64)> = BTreeMap::new();
        for c in st.contacts.values() {
            let (since, queue, channel) = match &c.phase {
                Phase::Queued {
                    since,
                    queue,
                    channel,
                }
                | Phase::Requeued {
                    since,
                    queue,
                    channel,
                } => (*since, queue, channel),
                _ => continue,
            };
            let group = groups.entry((queue, channel)).or_insert((0, since));
            group.0 += 1;
            group.1 = group.1.min(since);
        }
        groups
            .into_iter()
            .map(|((queue, channel), (waiting, earliest))| QueueNow {
                tenant_id: tenant.to_string(),
                queue_id: queue.to_string(),
                channel: channel.to_string(),
                waiting,
                longest_wait_ms: (self.watermark - earliest) as u64,
                agents_needed: None,
                as_of: self.watermark,
            })
            .collect()
    }
}
