//! Validation of one event against the rules of SPEC §2. Each rejection names the JSON field
//! and the reason, e.g. `occurredAt: 2 days in the future (limit 5m)`.

use std::fmt;

use crate::{is_agent_event, timestamp_ms, Event, EventType, SurveyType};
use ccx_proto::v1::{AgentState, Channel, Direction};

/// Longest accepted identifier (eventId, contactId, customerId, queueId, agentId, reason, …).
pub const MAX_ID_CHARS: usize = 128;

/// The accepted `occurredAt` range around "now" (SPEC §2: now − 7 d … now + 5 min).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_past_ms: i64,
    pub max_future_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_past_ms: 7 * 24 * 3600 * 1000,
            max_future_ms: 5 * 60 * 1000,
        }
    }
}

/// Why an event was rejected: a missing field, a malformed value, or a value out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectCode {
    MissingField,
    InvalidValue,
    OutOfRange,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::MissingField => "MISSING_FIELD",
            RejectCode::InvalidValue => "INVALID_VALUE",
            RejectCode::OutOfRange => "OUT_OF_RANGE",
        }
    }
}

/// One rejected event: the field (its JSON name) and a message that starts with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectCode,
    pub field: &'static str,
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectCode, field: &'static str, reason: impl fmt::Display) -> Self {
        Rejection {
            code,
            field,
            message: format!("{field}: {reason}"),
        }
    }

    fn missing(field: &'static str, kind: EventType) -> Self {
        Rejection::new(
            RejectCode::MissingField,
            field,
            format_args!("required for {}", kind.as_str_name()),
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks every SPEC §2 rule that can be decided from the event alone, with `now_ms` as the
/// reference for the `occurredAt` range. (Whether a `CONTACT_ENDED` needs an `agentId` depends
/// on the contact's history; the stream decides that.)
pub fn validate(event: &Event, limits: &Limits, now_ms: i64) -> Result<(), Rejection> {
    required_id("eventId", &event.event_id)?;
    tenant_id(&event.tenant_id)?;
    let kind = match EventType::try_from(event.r#type) {
        Ok(EventType::TypeUnspecified) => {
            return Err(Rejection::new(RejectCode::MissingField, "type", "required"))
        }
        Ok(kind) => kind,
        Err(_) => return Err(unknown_enum("type", event.r#type)),
    };
    occurred_at(event, limits, now_ms)?;
    if is_agent_event(kind) {
        required_for("agentId", &event.agent_id, kind)?;
        if kind == EventType::QaScored {
            return qa(event, kind);
        }
        return match AgentState::try_from(event.agent_state) {
            Ok(AgentState::Unspecified) => Err(Rejection::missing("agentState", kind)),
            Ok(_) => Ok(()),
            Err(_) => Err(unknown_enum("agentState", event.agent_state)),
        };
    }
    contact_fields(event, kind)?;
    callback_of(event)?;
    mos(event, kind)?;
    match kind {
        EventType::ContactOffered => required_for("customerId", &event.customer_id, kind)?,
        EventType::ContactAnswered
        | EventType::HoldStarted
        | EventType::HoldEnded
        | EventType::ContactTransferred
        | EventType::WrapupEnded => required_for("agentId", &event.agent_id, kind)?,
        _ => {}
    }
    if kind == EventType::ContactTransferred
        && event.to_queue_id.is_empty()
        && event.to_agent_id.is_empty()
    {
        return Err(Rejection::new(
            RejectCode::MissingField,
            "toQueueId",
            "CONTACT_TRANSFERRED needs toQueueId or toAgentId",
        ));
    }
    match kind {
        EventType::SurveyResponded => survey(event, kind),
        EventType::SentimentScored => sentiment(event, kind),
        _ => Ok(()),
    }
}

fn contact_fields(event: &Event, kind: EventType) -> Result<(), Rejection> {
    required_for("contactId", &event.contact_id, kind)?;
    required_for("queueId", &event.queue_id, kind)?;
    match Channel::try_from(event.channel) {
        Ok(Channel::Unspecified) => return Err(Rejection::missing("channel", kind)),
        Ok(_) => {}
        Err(_) => return Err(unknown_enum("channel", event.channel)),
    }
    match Direction::try_from(event.direction) {
        Ok(Direction::Unspecified) => return Err(Rejection::missing("direction", kind)),
        Ok(_) => {}
        Err(_) => return Err(unknown_enum("direction", event.direction)),
    }
    for (field, value) in [
        ("customerId", &event.customer_id),
        ("agentId", &event.agent_id),
        ("reason", &event.reason),
        ("toQueueId", &event.to_queue_id),
        ("toAgentId", &event.to_agent_id),
        ("caseId", &event.case_id),
    ] {
        max_len(field, value)?;
    }
    Ok(())
}

/// SPEC §7.1: a callback attempt is an outbound contact.
fn callback_of(event: &Event) -> Result<(), Rejection> {
    if event.callback_of.is_empty() {
        return Ok(());
    }
    if event.direction != Direction::Outbound as i32 {
        return Err(Rejection::new(
            RejectCode::InvalidValue,
            "callbackOf",
            "only on an OUTBOUND contact (the callback attempt)",
        ));
    }
    max_len("callbackOf", &event.callback_of)
}

/// SPEC §7.1: call quality of a voice or video contact, given when it ends.
fn mos(event: &Event, kind: EventType) -> Result<(), Rejection> {
    let Some(mos) = event.mos else {
        return Ok(());
    };
    if kind != EventType::ContactEnded {
        return Err(Rejection::new(
            RejectCode::InvalidValue,
            "mos",
            format_args!("only on CONTACT_ENDED, not {}", kind.as_str_name()),
        ));
    }
    let media = [Channel::Voice as i32, Channel::Video as i32];
    if !media.contains(&event.channel) {
        return Err(Rejection::new(
            RejectCode::InvalidValue,
            "mos",
            "only for VOICE or VIDEO contacts",
        ));
    }
    if !(1.0..=5.0).contains(&mos) {
        return Err(Rejection::new(
            RejectCode::OutOfRange,
            "mos",
            format_args!("{mos} out of range (1.0..5.0)"),
        ));
    }
    Ok(())
}

/// SPEC §7.1: a QA evaluation names the agent's channel and a score of 0..100; the contact
/// and queue it is about are optional.
fn qa(event: &Event, kind: EventType) -> Result<(), Rejection> {
    match Channel::try_from(event.channel) {
        Ok(Channel::Unspecified) => return Err(Rejection::missing("channel", kind)),
        Ok(_) => {}
        Err(_) => return Err(unknown_enum("channel", event.channel)),
    }
    let Some(score) = event.score else {
        return Err(Rejection::missing("score", kind));
    };
    if !(0..=QA_MAX_SCORE).contains(&score) {
        return Err(Rejection::new(
            RejectCode::OutOfRange,
            "score",
            format_args!("{score} out of range for QA_SCORED (0..{QA_MAX_SCORE})"),
        ));
    }
    for (field, value) in [
        ("contactId", &event.contact_id),
        ("queueId", &event.queue_id),
    ] {
        max_len(field, value)?;
    }
    Ok(())
}

/// The highest QA score (SPEC §7.1: 0..100).
pub const QA_MAX_SCORE: i32 = 100;

fn survey(event: &Event, kind: EventType) -> Result<(), Rejection> {
    let survey = match SurveyType::try_from(event.survey_type) {
        Ok(SurveyType::Unspecified) => return Err(Rejection::missing("surveyType", kind)),
        Ok(survey) => survey,
        Err(_) => return Err(unknown_enum("surveyType", event.survey_type)),
    };
    let Some(score) = event.score else {
        return Err(Rejection::missing("score", kind));
    };
    let (lo, hi) = score_range(survey);
    if !(lo..=hi).contains(&score) {
        return Err(Rejection::new(
            RejectCode::OutOfRange,
            "score",
            format_args!(
                "{score} out of range for {} ({lo}..{hi})",
                survey.as_str_name()
            ),
        ));
    }
    Ok(())
}

/// The accepted score range of a survey type (SPEC §2: NPS 0..10, CSAT 1..5, CES 1..7).
pub fn score_range(survey: SurveyType) -> (i32, i32) {
    match survey {
        SurveyType::Nps | SurveyType::Unspecified => (0, 10),
        SurveyType::Csat => (1, 5),
        SurveyType::Ces => (1, 7),
    }
}

fn sentiment(event: &Event, kind: EventType) -> Result<(), Rejection> {
    match event.sentiment {
        None => Err(Rejection::missing("sentiment", kind)),
        Some(s) if !(-1.0..=1.0).contains(&s) => Err(Rejection::new(
            RejectCode::OutOfRange,
            "sentiment",
            format_args!("{s} out of range (-1.0..1.0)"),
        )),
        Some(_) => Ok(()),
    }
}

fn occurred_at(event: &Event, limits: &Limits, now_ms: i64) -> Result<(), Rejection> {
    let Some(ts) = &event.occurred_at else {
        return Err(Rejection::new(
            RejectCode::MissingField,
            "occurredAt",
            "required",
        ));
    };
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(Rejection::new(
            RejectCode::InvalidValue,
            "occurredAt",
            format_args!("nanos {} outside 0..999999999", ts.nanos),
        ));
    }
    let at = timestamp_ms(ts);
    if at > now_ms.saturating_add(limits.max_future_ms) {
        return Err(Rejection::new(
            RejectCode::OutOfRange,
            "occurredAt",
            format_args!(
                "{} in the future (limit {})",
                human_duration(at - now_ms),
                compact_duration(limits.max_future_ms)
            ),
        ));
    }
    if at < now_ms.saturating_sub(limits.max_past_ms) {
        return Err(Rejection::new(
            RejectCode::OutOfRange,
            "occurredAt",
            format_args!(
                "{} in the past (limit {})",
                human_duration(now_ms.saturating_sub(at)),
                compact_duration(limits.max_past_ms)
            ),
        ));
    }
    Ok(())
}

fn tenant_id(value: &str) -> Result<(), Rejection> {
    if value.is_empty() {
        return Err(Rejection::new(
            RejectCode::MissingField,
            "tenantId",
            "required",
        ));
    }
    if !is_tenant_id(value) {
        return Err(Rejection::new(
            RejectCode::InvalidValue,
            "tenantId",
            format_args!(
                "{:?} does not match [a-z0-9][a-z0-9_-]{{0,62}}",
                truncate(value)
            ),
        ));
    }
    Ok(())
}

/// True when `value` matches the tenant id pattern `[a-z0-9][a-z0-9_-]{0,62}`.
pub fn is_tenant_id(value: &str) -> bool {
    let bytes = value.as_bytes();
    let Some((first, rest)) = bytes.split_first() else {
        return false;
    };
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    alnum(first) && rest.len() <= 62 && rest.iter().all(|b| alnum(b) || *b == b'_' || *b == b'-')
}

fn required_id(field: &'static str, value: &str) -> Result<(), Rejection> {
    if value.is_empty() {
        return Err(Rejection::new(RejectCode::MissingField, field, "required"));
    }
    max_len(field, value)
}

fn required_for(field: &'static str, value: &str, kind: EventType) -> Result<(), Rejection> {
    if value.is_empty() {
        return Err(Rejection::missing(field, kind));
    }
    max_len(field, value)
}

fn max_len(field: &'static str, value: &str) -> Result<(), Rejection> {
    // Byte length bounds the character count from above: check chars only when needed.
    if value.len() > MAX_ID_CHARS {
        let chars = value.chars().count();
        if chars > MAX_ID_CHARS {
            return Err(Rejection::new(
                RejectCode::OutOfRange,
                field,
                format_args!("{chars} characters (limit {MAX_ID_CHARS})"),
            ));
        }
    }
    Ok(())
}

fn unknown_enum(field: &'static str, value: i32) -> Rejection {
    Rejection::new(
        RejectCode::InvalidValue,
        field,
        format_args!("unknown value {value}"),
    )
}

fn truncate(value: &str) -> String {
    value.chars().take(70).collect()
}

/// "2 days", "3 hours", "12 minutes", "4.5 s": the size of an offset, for messages.
pub fn human_duration(ms: i64) -> String {
    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if ms >= DAY {
        plural(ms / DAY, "day")
    } else if ms >= HOUR {
        plural(ms / HOUR, "hour")
    } else if ms >= MIN {
        plural(ms / MIN, "minute")
    } else {
        format!("{} s", ms as f64 / 1000.0)
    }
}

/// "7d", "5m", "90s", "250ms": a configured limit, for messages.
pub fn compact_duration(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ms_timestamp;

    const NOW: i64 = 1_790_000_000_000;

    fn offered() -> Event {
        Event {
            event_id: "e1".into(),
            tenant_id: "acme".into(),
            r#type: EventType::ContactOffered as i32,
            occurred_at: Some(ms_timestamp(NOW)),
            contact_id: "c1".into(),
            customer_id: "x1".into(),
            channel: Channel::Voice as i32,
            direction: Direction::Inbound as i32,
            queue_id: "q1".into(),
            ..Default::default()
        }
    }

    fn check(event: &Event) -> Result<(), Rejection> {
        validate(event, &Limits::default(), NOW)
    }

    fn message(event: &Event) -> String {
        check(event).unwrap_err().message
    }

    #[test]
    fn a_complete_offer_is_valid() {
        assert_eq!(check(&offered()), Ok(()));
    }

    #[test]
    fn future_and_past_limits_name_the_offset() {
        let mut e = offered();
        e.occurred_at = Some(ms_timestamp(NOW + 2 * 86_400_000));
        assert_eq!(message(&e), "occurredAt: 2 days in the future (limit 5m)");
        e.occurred_at = Some(ms_timestamp(NOW + 5 * 60_000));
        assert_eq!(check(&e), Ok(()), "exactly at the future limit is accepted");
        e.occurred_at = Some(ms_timestamp(NOW + 5 * 60_000 + 1));
        assert_eq!(
            message(&e),
            "occurredAt: 5 minutes in the future (limit 5m)"
        );
        e.occurred_at = Some(ms_timestamp(NOW - 8 * 86_400_000));
        assert_eq!(message(&e), "occurredAt: 8 days in the past (limit 7d)");
    }

    #[test]
    fn tenant_pattern() {
        for ok in ["a", "0", "acme_eu-1", &"a".repeat(63)] {
            assert!(is_tenant_id(ok), "{ok}");
        }
        for bad in ["", "-a", "_a", "Acme", "a b", "a.b", &"a".repeat(64), "é"] {
            assert!(!is_tenant_id(bad), "{bad}");
        }
    }

    #[test]
    fn score_boundaries_per_survey_type() {
        for (survey, lo, hi) in [
            (SurveyType::Nps, 0, 10),
            (SurveyType::Csat, 1, 5),
            (SurveyType::Ces, 1, 7),
        ] {
            let mut e = offered();
            e.r#type = EventType::SurveyResponded as i32;
            e.survey_type = survey as i32;
            for (score, ok) in [(lo - 1, false), (lo, true), (hi, true), (hi + 1, false)] {
                e.score = Some(score);
                assert_eq!(check(&e).is_ok(), ok, "{survey:?} {score}");
            }
        }
    }

    #[test]
    fn version_2_fields_are_checked_alone_naming_the_field() {
        let mut ended = offered();
        ended.r#type = EventType::ContactEnded as i32;
        ended.mos = Some(3.5);
        assert_eq!(check(&ended), Ok(()));
        ended.mos = Some(6.0);
        assert_eq!(message(&ended), "mos: 6 out of range (1.0..5.0)");
        ended.mos = Some(4.0);
        ended.channel = Channel::Chat as i32;
        assert_eq!(message(&ended), "mos: only for VOICE or VIDEO contacts");
        let mut offer = offered();
        offer.mos = Some(4.0);
        assert!(message(&offer).starts_with("mos: only on CONTACT_ENDED"));

        let mut callback = offered();
        callback.callback_of = "c0".into();
        assert_eq!(
            message(&callback),
            "callbackOf: only on an OUTBOUND contact (the callback attempt)"
        );
        callback.direction = Direction::Outbound as i32;
        assert_eq!(check(&callback), Ok(()));

        let mut qa = Event {
            event_id: "q1".into(),
            tenant_id: "acme".into(),
            r#type: EventType::QaScored as i32,
            occurred_at: Some(ms_timestamp(NOW)),
            agent_id: "a1".into(),
            channel: Channel::Voice as i32,
            score: Some(100),
            ..Default::default()
        };
        assert_eq!(check(&qa), Ok(()), "contactId and queueId are optional");
        qa.score = Some(101);
        assert_eq!(
            message(&qa),
            "score: 101 out of range for QA_SCORED (0..100)"
        );
        qa.score = Some(0);
        assert_eq!(check(&qa), Ok(()));
        qa.agent_id.clear();
        assert_eq!(message(&qa), "agentId: required for QA_SCORED");

        let mut request = offered();
        request.r#type = EventType::CallbackRequested as i32;
        assert_eq!(check(&request), Ok(()));
        request.queue_id.clear();
        assert_eq!(
            message(&request),
            "queueId: required for CALLBACK_REQUESTED"
        );
        let mut case = offered();
        case.case_id = "x".repeat(129);
        assert_eq!(message(&case), "caseId: 129 characters (limit 128)");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(1), "0.001 s");
        assert_eq!(human_duration(61_000), "1 minute");
        assert_eq!(human_duration(3 * 86_400_000 + 5), "3 days");
        assert_eq!(compact_duration(300_000), "5m");
        assert_eq!(compact_duration(604_800_000), "7d");
        assert_eq!(compact_duration(1500), "1500ms");
    }
}
