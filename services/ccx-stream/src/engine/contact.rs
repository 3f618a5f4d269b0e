//! Per-contact, per-customer and per-agent state, and the row dimensions of a contact.

use super::*;

/// Where a component lands: the minute and dimensions of the event that completes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Dims {
    pub(super) minute: i64,
    pub(super) queue: Sym,
    pub(super) agent: Sym,
    pub(super) channel: u8,
    pub(super) direction: u8,
    /// The contact's reason (its CONTACT_OFFERED's), for `reason_metrics_1m`.
    pub(super) reason: Sym,
}

impl Dims {
    pub(super) fn of(ev: &Ev, agent: Sym, reason: Sym) -> Dims {
        Dims {
            minute: ev.minute(),
            queue: ev.queue,
            agent,
            channel: ev.channel,
            direction: ev.direction,
            reason,
        }
    }
}

/// "Not set" for the optional times of compact state.
pub(super) const NONE: i64 = i64::MIN;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Contact {
    /// The customer's id as sent (alerts name it; empty: none).
    pub(super) customer: Box<str>,
    pub(super) offered_at: i64,
    pub(super) last_at: i64,
    /// Set by CONTACT_ENDED (else NONE).
    pub(super) ended_at: i64,
    /// The open agent segment: started at (NONE: no segment), hold start (NONE: not on
    /// hold), hold time so far, holds, agent.
    pub(super) seg_start: i64,
    pub(super) hold_since: i64,
    pub(super) hold_ms: i64,
    pub(super) holds: u32,
    pub(super) seg_agent: Sym,
    pub(super) reason: Sym,
    pub(super) transfers: u16,
    /// Which opening of its case this contact belongs to ([`Case::opening`]).
    pub(super) case_opening: u32,
    /// Its case is in `TenantState::cases` (its key in `case_keys`); else the contact is a
    /// case of its own that no other contact joined, kept in the contact (see `cases.rs`).
    pub(super) case_shared: bool,
    /// Its own case was closed by its resolved end.
    pub(super) case_closed: bool,
    pub(super) inbound: bool,
    pub(super) answered: bool,
    pub(super) repeat: bool,
    /// A callback attempt (its offer named `callbackOf`).
    pub(super) callback: bool,
    /// Outbound: its customer's first answered outbound contact on its queue within the
    /// campaign window.
    pub(super) first_call: bool,
    /// Set by CONTACT_ENDED and CONTACT_ABANDONED.
    pub(super) terminal: bool,
    pub(super) wrapped: bool,
}

impl Contact {
    pub(super) fn in_segment(&self) -> bool {
        self.seg_start != NONE
    }

    /// Ends the open segment at `at`: its handled/talk/hold components.
    pub(super) fn close_segment(&mut self, at: i64, c: &mut Components) {
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
pub(super) struct Ended {
    pub(super) at: i64,
    pub(super) reason: Sym,
    pub(super) queue: Sym,
    pub(super) agent: Sym,
    pub(super) channel: u8,
    pub(super) direction: u8,
    pub(super) pending: bool,
}

impl Ended {
    pub(super) fn dims(&self) -> Dims {
        Dims {
            minute: minute_of(self.at),
            queue: self.queue,
            agent: self.agent,
            channel: self.channel,
            direction: self.direction,
            reason: self.reason,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Customer {
    pub(super) ended: Box<[Ended]>,
    /// (time, signal index) of signals within the lookback.
    pub(super) signals: Box<[(i64, u8)]>,
    /// NONE: never alerted.
    pub(super) last_alert: i64,
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
pub(super) fn push<T: Copy>(list: &mut Box<[T]>, item: T) {
    let mut v = Vec::with_capacity(list.len() + 1);
    v.extend_from_slice(list);
    v.push(item);
    *list = v.into_boxed_slice();
}

pub(super) fn retain<T: Copy>(list: &mut Box<[T]>, mut keep: impl FnMut(&T) -> bool) {
    if list.iter().all(&mut keep) {
        return;
    }
    *list = list.iter().copied().filter(|x| keep(x)).collect();
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AgentClock {
    pub(super) state: u8,
    pub(super) since: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Waiting {
    pub(super) queue: Sym,
    pub(super) channel: u8,
    pub(super) since: i64,
}

/// An open case of a customer (SPEC §7.2): open from its first contact's offer until a
/// contact of it ends resolved, forgotten `case_window` after its last offer.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct Case {
    pub(super) first_offer: i64,
    pub(super) last_offer: i64,
    /// Contacts offered so far.
    pub(super) contacts: u32,
    /// Tells this opening of the case from earlier ones of the same key (a contact of a
    /// closed case must not close a later one).
    pub(super) opening: u32,
}

/// A key of something of one customer: the customer's id and another id (a case: its caseId,
/// or the contactId when the offer named none; outbound attempts: the queue), both hashed.
pub(super) fn customer_key(customer: Id, other: Id) -> Id {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_mut(8).zip(customer.iter().chain(&other)) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    id_of(&bytes)
}

/// What an outbound campaign remembers of a customer on a queue (SPEC §7.2): the newest
/// outbound offer and the newest answered outbound contact, each with the one before it
/// (NONE: none), so "before t" excludes what happened at t itself.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct Attempts {
    pub(super) offered: [i64; 2],
    pub(super) answered: [i64; 2],
}

impl Attempts {
    pub(super) const NEW: Attempts = Attempts {
        offered: [NONE; 2],
        answered: [NONE; 2],
    };

    /// The newest offer strictly before `t` (events apply in time order, so the newest two
    /// are enough).
    pub(super) fn previous_offer(&self, t: i64) -> i64 {
        before(self.offered, t)
    }

    pub(super) fn previous_answer(&self, t: i64) -> i64 {
        before(self.answered, t)
    }

    pub(super) fn record_offer(&mut self, t: i64) {
        record(&mut self.offered, t);
    }

    pub(super) fn record_answer(&mut self, t: i64) {
        record(&mut self.answered, t);
    }

    /// The newest time it remembers.
    pub(super) fn newest(&self) -> i64 {
        self.offered[0].max(self.answered[0])
    }
}

fn before([newest, older]: [i64; 2], t: i64) -> i64 {
    if newest < t {
        newest
    } else {
        older
    }
}

fn record(times: &mut [i64; 2], t: i64) {
    if t > times[0] {
        *times = [t, times[0]];
    }
}
