//! The proto3 JSON mapping of [`Event`]: lowerCamelCase names (the proto field names are
//! accepted too), enum values by name (or number), RFC 3339 timestamps, default values omitted
//! on output. A batch is a JSON array or NDJSON (one object per line).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use std::fmt;

use crate::validate::{RejectCode, Rejection};
use crate::Event;
use ccx_proto::prost_types::Timestamp;
use ccx_proto::v1::{AgentState, Channel, Direction, EventType, SurveyType};

/// A body that is not JSON (or NDJSON) at all: the whole request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedJson {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

impl fmt::Display for MalformedJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed JSON at line {}, column {}: {}",
            self.line, self.column, self.reason
        )
    }
}

impl std::error::Error for MalformedJson {}

/// Parses a request body: a JSON array of events, or NDJSON. Each element becomes an event or
/// the rejection of that element alone; only a body that is not JSON fails as a whole.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Result<Event, Rejection>>, MalformedJson> {
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    match first.map(|i| body[i]) {
        None => Ok(Vec::new()),
        Some(b'[') => {
            let values: Vec<Value> = serde_json::from_slice(body).map_err(|e| malformed(&e, 0))?;
            Ok(values.iter().map(event_from_json).collect())
        }
        Some(_) => {
            let mut events = Vec::new();
            for (n, line) in body.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                let value: Value = serde_json::from_slice(line).map_err(|e| malformed(&e, n))?;
                events.push(event_from_json(&value));
            }
            Ok(events)
        }
    }
}

fn malformed(e: &serde_json::Error, line_offset: usize) -> MalformedJson {
    let reason = e.to_string();
    // serde_json appends " at line L column C"; the position is reported separately.
    let reason = match reason.rfind(" at line ") {
        Some(i) => reason[..i].to_string(),
        None => reason,
    };
    MalformedJson {
        line: e.line() + line_offset,
        column: e.column(),
        reason,
    }
}

/// Builds an [`Event`] from one JSON object. Type errors name the field; range rules are left
/// to [`crate::validate()`].
pub fn event_from_json(value: &Value) -> Result<Event, Rejection> {
    let Value::Object(map) = value else {
        return Err(Rejection::new(
            RejectCode::InvalidValue,
            "event",
            format_args!("expected a JSON object, got {}", kind_of(value)),
        ));
    };
    let mut event = Event::default();
    for (name, value) in map {
        if value.is_null() {
            continue;
        }
        let field = canonical_field(name).ok_or_else(|| unknown_field(name))?;
        match field {
            "eventId" => event.event_id = string(field, value)?,
            "tenantId" => event.tenant_id = string(field, value)?,
            "type" => event.r#type = enumeration::<EventType>(field, value)?,
            "occurredAt" => event.occurred_at = Some(timestamp(field, value)?),
            "contactId" => event.contact_id = string(field, value)?,
            "customerId" => event.customer_id = string(field, value)?,
            "channel" => event.channel = enumeration::<Channel>(field, value)?,
            "direction" => event.direction = enumeration::<Direction>(field, value)?,
            "queueId" => event.queue_id = string(field, value)?,
            "agentId" => event.agent_id = string(field, value)?,
            "reason" => event.reason = string(field, value)?,
            "resolved" => event.resolved = boolean(field, value)?,
            "converted" => event.converted = boolean(field, value)?,
            "toQueueId" => event.to_queue_id = string(field, value)?,
            "toAgentId" => event.to_agent_id = string(field, value)?,
            "surveyType" => event.survey_type = enumeration::<SurveyType>(field, value)?,
            "score" => event.score = Some(integer(field, value)?),
            "sentiment" => event.sentiment = Some(number(field, value)?),
            "agentState" => event.agent_state = enumeration::<AgentState>(field, value)?,
            "caseId" => event.case_id = string(field, value)?,
            "callbackOf" => event.callback_of = string(field, value)?,
            "mos" => event.mos = Some(number(field, value)?),
            _ => unreachable!("canonical_field returns only the names above"),
        }
    }
    Ok(event)
}

/// The JSON object of an event, as the proto3 JSON mapping prints it.
pub fn event_to_json(event: &Event) -> Value {
    let mut map = Map::new();
    let mut text = |name: &str, value: &str| {
        if !value.is_empty() {
            map.insert(name.into(), Value::String(value.into()));
        }
    };
    text("eventId", &event.event_id);
    text("tenantId", &event.tenant_id);
    text(
        "type",
        enum_name::<EventType>(event.r#type).unwrap_or_default(),
    );
    text("contactId", &event.contact_id);
    text("customerId", &event.customer_id);
    text(
        "channel",
        enum_name::<Channel>(event.channel).unwrap_or_default(),
    );
    text(
        "direction",
        enum_name::<Direction>(event.direction).unwrap_or_default(),
    );
    text("queueId", &event.queue_id);
    text("agentId", &event.agent_id);
    text("reason", &event.reason);
    text("toQueueId", &event.to_queue_id);
    text("toAgentId", &event.to_agent_id);
    text("caseId", &event.case_id);
    text("callbackOf", &event.callback_of);
    text(
        "surveyType",
        enum_name::<SurveyType>(event.survey_type).unwrap_or_default(),
    );
    text(
        "agentState",
        enum_name::<AgentState>(event.agent_state).unwrap_or_default(),
    );
    if let Some(ts) = &event.occurred_at {
        map.insert("occurredAt".into(), Value::String(format_timestamp(ts)));
    }
    if event.resolved {
        map.insert("resolved".into(), Value::Bool(true));
    }
    if event.converted {
        map.insert("converted".into(), Value::Bool(true));
    }
    if let Some(score) = event.score {
        map.insert("score".into(), Value::from(score));
    }
    if let Some(sentiment) = event.sentiment {
        map.insert("sentiment".into(), Value::from(sentiment));
    }
    if let Some(mos) = event.mos {
        map.insert("mos".into(), Value::from(mos));
    }
    Value::Object(map)
}

/// RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as proto3 JSON prints timestamps.
pub fn format_timestamp(ts: &Timestamp) -> String {
    match DateTime::<Utc>::from_timestamp(ts.seconds, ts.nanos.clamp(0, 999_999_999) as u32) {
        Some(at) => at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => format!("{}s", ts.seconds),
    }
}

const FIELDS: [(&str, &str); 22] = [
    ("eventId", "event_id"),
    ("tenantId", "tenant_id"),
    ("type", "type"),
    ("occurredAt", "occurred_at"),
    ("contactId", "contact_id"),
    ("customerId", "customer_id"),
    ("channel", "channel"),
    ("direction", "direction"),
    ("queueId", "queue_id"),
    ("agentId", "agent_id"),
    ("reason", "reason"),
    ("resolved", "resolved"),
    ("converted", "converted"),
    ("toQueueId", "to_queue_id"),
    ("toAgentId", "to_agent_id"),
    ("surveyType", "survey_type"),
    ("score", "score"),
    ("sentiment", "sentiment"),
    ("agentState", "agent_state"),
    ("caseId", "case_id"),
    ("callbackOf", "callback_of"),
    ("mos", "mos"),
];

fn canonical_field(name: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .find(|(json, proto)| *json == name || *proto == name)
        .map(|(json, _)| *json)
}

fn unknown_field(name: &str) -> Rejection {
    let shown: String = name.chars().take(64).collect();
    Rejection::new(
        RejectCode::InvalidValue,
        "event",
        format_args!("unknown field {shown:?}"),
    )
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(field: &'static str, what: &str, value: &Value) -> Rejection {
    Rejection::new(
        RejectCode::InvalidValue,
        field,
        format_args!("expected {what}, got {}", kind_of(value)),
    )
}

fn string(field: &'static str, value: &Value) -> Result<String, Rejection> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| expected(field, "a string", value))
}

fn boolean(field: &'static str, value: &Value) -> Result<bool, Rejection> {
    value
        .as_bool()
        .ok_or_else(|| expected(field, "a boolean", value))
}

fn integer(field: &'static str, value: &Value) -> Result<i32, Rejection> {
    let parsed = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    let Some(n) = parsed else {
        return Err(Rejection::new(
            RejectCode::InvalidValue,
            field,
            format_args!("expected an integer, got {value}"),
        ));
    };
    i32::try_from(n).map_err(|_| {
        Rejection::new(
            RejectCode::OutOfRange,
            field,
            format_args!("{n} does not fit a 32-bit integer"),
        )
    })
}

fn number(field: &'static str, value: &Value) -> Result<f64, Rejection> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    };
    parsed.ok_or_else(|| {
        Rejection::new(
            RejectCode::InvalidValue,
            field,
            format_args!("expected a number, got {value}"),
        )
    })
}

/// A Unix-millisecond instant as [`format_timestamp`] prints it, for messages and command
/// output.
pub fn format_ms(ms: i64) -> String {
    format_timestamp(&crate::ms_timestamp(ms))
}

/// Unix milliseconds of an RFC 3339 time (`2026-11-24T07:00:00Z`), for command lines.
pub fn rfc3339_ms(text: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.timestamp_millis())
        .map_err(|e| format!("{text:?} is not an RFC 3339 time like 2026-11-24T07:00:00Z ({e})"))
}

fn timestamp(field: &'static str, value: &Value) -> Result<Timestamp, Rejection> {
    let text = value
        .as_str()
        .ok_or_else(|| expected(field, "an RFC 3339 timestamp string", value))?;
    let at = DateTime::parse_from_rfc3339(text).map_err(|_| {
        let shown: String = text.chars().take(64).collect();
        Rejection::new(
            RejectCode::InvalidValue,
            field,
            format_args!("{shown:?} is not an RFC 3339 timestamp (like 2026-11-24T07:00:00.250Z)"),
        )
    })?;
    Ok(Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    })
}

/// The enums of `ccx.v1`, parsed by name (or number) as the proto3 JSON mapping does.
trait ProtoEnum: TryFrom<i32> + Copy {
    fn from_name(name: &str) -> Option<Self>;
    fn name(self) -> &'static str;
    fn number(self) -> i32;
    const NAMES: &'static [&'static str];
}

macro_rules! proto_enum {
    ($ty:ty, [$($name:literal),*]) => {
        impl ProtoEnum for $ty {
            fn from_name(name: &str) -> Option<Self> {
                <$ty>::from_str_name(name)
            }
            fn name(self) -> &'static str {
                self.as_str_name()
            }
            fn number(self) -> i32 {
                self as i32
            }
            const NAMES: &'static [&'static str] = &[$($name),*];
        }
    };
}

proto_enum!(
    EventType,
    [
        "CONTACT_OFFERED",
        "CONTACT_ANSWERED",
        "CONTACT_ABANDONED",
        "HOLD_STARTED",
        "HOLD_ENDED",
        "CONTACT_TRANSFERRED",
        "CONTACT_ENDED",
        "WRAPUP_ENDED",
        "SURVEY_RESPONDED",
        "SENTIMENT_SCORED",
        "AGENT_STATE_CHANGED"
    ]
);
proto_enum!(
    Channel,
    [
        "VOICE",
        "CHAT",
        "EMAIL",
        "SMS",
        "SOCIAL",
        "MESSAGING",
        "VIDEO"
    ]
);
proto_enum!(Direction, ["INBOUND", "OUTBOUND"]);
proto_enum!(SurveyType, ["NPS", "CSAT", "CES"]);
proto_enum!(
    AgentState,
    [
        "AVAILABLE",
        "BUSY",
        "AFTER_CONTACT_WORK",
        "BREAK",
        "OFFLINE"
    ]
);

fn enumeration<E: ProtoEnum>(field: &'static str, value: &Value) -> Result<i32, Rejection> {
    let found = match value {
        Value::String(s) => E::from_name(s).map(E::number),
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| E::try_from(*n).is_ok()),
        _ => None,
    };
    found.ok_or_else(|| {
        Rejection::new(
            RejectCode::InvalidValue,
            field,
            format_args!(
                "unknown value {value} (expected one of {})",
                E::NAMES.join(", ")
            ),
        )
    })
}

fn enum_name<E: ProtoEnum>(number: i32) -> Option<&'static str> {
    E::try_from(number)
        .ok()
        .map(E::name)
        .filter(|name| !name.ends_with("UNSPECIFIED"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "eventId": "e-1", "tenantId": "acme", "type": "SURVEY_RESPONDED",
            "occurredAt": "2026-11-24T07:00:00.123Z", "contactId": "c1", "customerId": "x1",
            "channel": "CHAT", "direction": "INBOUND", "queueId": "q1", "agentId": "a1",
            "surveyType": "NPS", "score": 9
        })
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let event = event_from_json(&sample()).unwrap();
        assert_eq!(event.r#type, EventType::SurveyResponded as i32);
        assert_eq!(event.occurred_at.as_ref().unwrap().nanos, 123_000_000);
        assert_eq!(event_to_json(&event), sample());
    }

    #[test]
    fn snake_case_names_and_enum_numbers_are_accepted() {
        let v = json!({"event_id": "e", "type": 1, "channel": "VOICE"});
        let e = event_from_json(&v).unwrap();
        assert_eq!(e.event_id, "e");
        assert_eq!(e.r#type, EventType::ContactOffered as i32);
    }

    #[test]
    fn type_errors_name_the_field() {
        let cases = [
            (
                json!({"score": "x"}),
                "score: expected an integer, got \"x\"",
            ),
            (json!({"score": 4.5}), "score: expected an integer, got 4.5"),
            (
                json!({"resolved": 1}),
                "resolved: expected a boolean, got a number",
            ),
            (
                json!({"eventId": 7}),
                "eventId: expected a string, got a number",
            ),
            (json!({"colour": "red"}), "event: unknown field \"colour\""),
            (json!([1]), "event: expected a JSON object, got an array"),
        ];
        for (value, message) in cases {
            assert_eq!(event_from_json(&value).unwrap_err().message, message);
        }
        let bad_enum = event_from_json(&json!({"channel": "FAX"})).unwrap_err();
        assert!(bad_enum
            .message
            .starts_with("channel: unknown value \"FAX\" (expected one of VOICE"));
        let bad_time = event_from_json(&json!({"occurredAt": "yesterday"})).unwrap_err();
        assert!(bad_time
            .message
            .starts_with("occurredAt: \"yesterday\" is not an RFC 3339 timestamp"));
    }

    #[test]
    fn batches_as_array_or_ndjson() {
        let array = br#"[{"eventId":"a"}, 5]"#;
        let parsed = parse_batch(array).unwrap();
        assert_eq!(parsed.len(), 2);
        assert!(parsed[0].is_ok() && parsed[1].is_err());
        let nd = b"{\"eventId\":\"a\"}\n\n{\"eventId\":\"b\"}\n";
        assert_eq!(parse_batch(nd).unwrap().len(), 2);
        assert_eq!(parse_batch(b"  ").unwrap().len(), 0);
    }

    #[test]
    fn malformed_bodies_name_the_position() {
        let err = parse_batch(b"[{\"eventId\": }]").unwrap_err();
        assert_eq!((err.line, err.column), (1, 14));
        assert!(err
            .to_string()
            .starts_with("malformed JSON at line 1, column 14: "));
        let err = parse_batch(b"{\"eventId\":\"a\"}\n{oops}\n").unwrap_err();
        assert_eq!(err.line, 2);
    }
}
