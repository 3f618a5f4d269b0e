//! The compact event the engine keeps: the fields it reads, taken from the record in place,
//! and SPEC order.

use super::*;

/// A known enum value as a byte; values outside the enum become 0 (UNSPECIFIED), which the
/// rules treat as they treat an unknown value (and rows name it so).
pub(super) fn enum_byte(n: i32, known: std::ops::RangeInclusive<i32>) -> u8 {
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
/// it is kept small (104 bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ev {
    pub(super) t: i64,
    pub(super) record: Arc<[u8]>,
    /// The event's number: `sentiment` of a SENTIMENT_SCORED, `mos` of a CONTACT_ENDED (0:
    /// none; a MOS is 1..5). One slot, as no event type carries both.
    pub(super) number: f64,
    pub(super) score: i32,
    pub(super) queue: Sym,
    pub(super) agent: Sym,
    pub(super) to_queue: Sym,
    pub(super) reason: Sym,
    pub(super) spans: Spans,
    pub(super) kind: u8,
    pub(super) channel: u8,
    pub(super) direction: u8,
    pub(super) survey_type: u8,
    pub(super) agent_state: u8,
    pub(super) resolved: bool,
    pub(super) converted: bool,
}

/// A (start, length) byte range of a text field inside an event's record (records are at
/// most [`MAX_RECORD_BYTES`] long).
pub(super) type Span = (u16, u16);

/// The longest record the stream reads. The collector writes events of at most a few KiB
/// (ids and names are limited to 128 characters); a longer record is refused as undecodable.
pub const MAX_RECORD_BYTES: usize = u16::MAX as usize;

/// Where an event's text fields are in its record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Spans {
    pub(super) tenant: Span,
    pub(super) event_id: Span,
    pub(super) contact_id: Span,
    pub(super) customer_id: Span,
    pub(super) queue: Span,
    pub(super) agent: Span,
    pub(super) to_queue: Span,
    pub(super) reason: Span,
    pub(super) case_id: Span,
    pub(super) callback_of: Span,
}

/// The span of `field`, a slice of `record` (no longer than [`MAX_RECORD_BYTES`]).
pub(super) fn span_of(record: &[u8], field: Text<'_>) -> Span {
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
            case_id: span_of(&record, view.case_id),
            callback_of: span_of(&record, view.callback_of),
        };
        Ok(Ev {
            t: view.time_ms(),
            number: view.sentiment.or(view.mos).unwrap_or(0.0),
            score: view.score.unwrap_or(0),
            queue: 0,
            agent: 0,
            to_queue: 0,
            reason: 0,
            spans,
            kind: enum_byte(view.kind, 1..=13),
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
    pub(super) fn intern(&mut self, names: &mut Names) {
        self.queue = names.intern(self.bytes(self.spans.queue));
        self.agent = names.intern(self.bytes(self.spans.agent));
        self.to_queue = names.intern(self.bytes(self.spans.to_queue));
        self.reason = names.intern(self.bytes(self.spans.reason));
    }

    /// The text fields of the event (decodable: it was decoded when read).
    pub(super) fn view(&self) -> EventView<'_> {
        EventView::decode(&self.record).unwrap_or_default()
    }

    pub(super) fn bytes(&self, (start, len): Span) -> &[u8] {
        let start = usize::from(start);
        self.record
            .get(start..start + usize::from(len))
            .unwrap_or_default()
    }

    pub(super) fn event_id(&self) -> &[u8] {
        self.bytes(self.spans.event_id)
    }

    /// The hash of the eventId.
    pub(super) fn id(&self) -> Id {
        id_of(self.event_id())
    }

    /// The hash of the contactId.
    pub(super) fn contact(&self) -> Id {
        id_of(self.bytes(self.spans.contact_id))
    }

    /// The hash of the customerId (NO_ID: none).
    pub(super) fn customer(&self) -> Id {
        id_of(self.bytes(self.spans.customer_id))
    }

    /// The case this contact belongs to (SPEC §7.2): its caseId, or else its contactId.
    pub(super) fn case_id(&self) -> &[u8] {
        if self.spans.case_id.1 > 0 {
            self.bytes(self.spans.case_id)
        } else {
            self.bytes(self.spans.contact_id)
        }
    }

    /// The hash of the contactId a callback attempt calls back (NO_ID: not a callback).
    pub(super) fn callback_of(&self) -> Id {
        id_of(self.bytes(self.spans.callback_of))
    }

    pub(super) fn has_customer(&self) -> bool {
        self.spans.customer_id.1 > 0
    }

    /// The customerId as sent (UTF-8: the record was checked when read).
    pub(super) fn customer_id(&self) -> &str {
        std::str::from_utf8(self.bytes(self.spans.customer_id)).unwrap_or_default()
    }

    /// SPEC §2 order: event time, then type order, then eventId (byte order of UTF-8 is
    /// string order).
    pub(super) fn cmp_order(&self, other: &Ev) -> std::cmp::Ordering {
        (self.t, self.kind)
            .cmp(&(other.t, other.kind))
            .then_with(|| self.event_id().cmp(other.event_id()))
    }

    pub(super) fn kind(&self) -> EventType {
        EventType::try_from(i32::from(self.kind)).unwrap_or(EventType::TypeUnspecified)
    }

    /// Abandon, callback request or end: the contact's terminal events.
    pub(super) fn ends_contact(&self) -> bool {
        matches!(
            self.kind(),
            EventType::ContactAbandoned | EventType::ContactEnded | EventType::CallbackRequested
        )
    }

    pub(super) fn inbound(&self) -> bool {
        self.direction == Direction::Inbound as u8
    }

    pub(super) fn minute(&self) -> i64 {
        minute_of(self.t)
    }
}

pub(super) fn channel_name(n: u8) -> String {
    Channel::try_from(i32::from(n))
        .map(|c| c.as_str_name())
        .unwrap_or("CHANNEL_UNSPECIFIED")
        .to_string()
}

pub(super) fn direction_name(n: u8) -> String {
    Direction::try_from(i32::from(n))
        .map(|d| d.as_str_name())
        .unwrap_or("DIRECTION_UNSPECIFIED")
        .to_string()
}
