//! A borrowed view of a protobuf-encoded [`Event`](crate::Event): the same fields, read straight from the
//! record bytes without allocating (the stream's hot path decodes every record this way).
//!
//! It follows the protobuf wire format as `prost` does for this message: the last value of a
//! field wins, embedded `occurred_at` messages merge, unknown fields are skipped, strings must
//! be UTF-8, and a known field with the wrong wire type is an error. A test checks it against
//! `prost` on arbitrary events. Records with their fields in field-number order (how encoders
//! write them) are read in one straight pass; anything else falls back to the general loop.

use std::fmt;

/// A string field, borrowed from the record: bytes checked as UTF-8 when the event was
/// decoded. The hot path uses only the bytes (hashing, comparing); [`Text::as_str`] scans
/// them again to make a `&str`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Text<'a>(&'a [u8]);

impl<'a> Text<'a> {
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    pub fn as_str(&self) -> &'a str {
        std::str::from_utf8(self.0).unwrap_or_default()
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields of one event, borrowed from its encoded bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EventView<'a> {
    pub event_id: Text<'a>,
    pub tenant_id: Text<'a>,
    pub kind: i32,
    /// `occurred_at`, if present: (seconds, nanos).
    pub occurred_at: Option<(i64, i32)>,
    pub contact_id: Text<'a>,
    pub customer_id: Text<'a>,
    pub channel: i32,
    pub direction: i32,
    pub queue_id: Text<'a>,
    pub agent_id: Text<'a>,
    pub reason: Text<'a>,
    pub resolved: bool,
    pub converted: bool,
    pub to_queue_id: Text<'a>,
    pub to_agent_id: Text<'a>,
    pub survey_type: i32,
    pub score: Option<i32>,
    pub sentiment: Option<f64>,
    pub agent_state: i32,
    pub case_id: Text<'a>,
    pub callback_of: Text<'a>,
    pub mos: Option<f64>,
}

/// Why bytes are not an encoded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid event record: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// A cursor over protobuf wire-format bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Most varints here (keys, lengths, enums) are one byte: that case is inlined.
    #[inline]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        match self.bytes.split_first() {
            Some((&b, rest)) if b < 0x80 => {
                self.bytes = rest;
                Ok(u64::from(b))
            }
            _ => self.long_varint(),
        }
    }

    fn long_varint(&mut self) -> Result<u64, DecodeError> {
        // A varint of at most 8 bytes, 8 bytes or more before the end (event times): its
        // 7-bit groups joined without a loop.
        if let Some(head) = self.bytes.first_chunk::<8>() {
            let word = u64::from_le_bytes(*head);
            let ends = !word & 0x8080_8080_8080_8080;
            if ends != 0 {
                let len = ends.trailing_zeros() / 8 + 1;
                // The varint's bytes without their top bits (bytes after it shifted out).
                let unused = 64 - 8 * len;
                let mut x = ((word << unused) >> unused) & 0x7f7f_7f7f_7f7f_7f7f;
                x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
                x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
                x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
                self.bytes = &self.bytes[len as usize..];
                return Ok(x);
            }
        }
        let mut value = 0u64;
        for (i, &b) in self.bytes.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                // A 10th byte holds bit 63 only: more overflows 64 bits (prost refuses it).
                if i == 9 && b > 1 {
                    return Err(DecodeError("varint longer than 64 bits"));
                }
                self.bytes = &self.bytes[i + 1..];
                return Ok(value);
            }
        }
        if self.bytes.len() < 10 {
            Err(DecodeError("truncated varint"))
        } else {
            Err(DecodeError("varint longer than 10 bytes"))
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.bytes.len() {
            return Err(DecodeError("truncated field"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// The next (field number, wire type), or None at the end.
    #[inline]
    fn key(&mut self) -> Result<Option<(u32, u8)>, DecodeError> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        // A key is a 32-bit varint (prost refuses larger ones, which would name fields
        // past 2^29 - 1).
        let key = u32::try_from(self.varint()?).map_err(|_| DecodeError("key too large"))?;
        let field = key >> 3;
        if field == 0 {
            return Err(DecodeError("field number 0"));
        }
        Ok(Some((field, (key & 7) as u8)))
    }

    /// A fixed64 `double`.
    #[inline]
    fn double(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8)?;
        let bits = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        Ok(f64::from_bits(bits))
    }

    /// Whether the bytes start with `key` (skipped if so).
    #[inline]
    fn tag(&mut self, key: &[u8]) -> bool {
        match self.bytes.strip_prefix(key) {
            Some(rest) => {
                self.bytes = rest;
                true
            }
            None => false,
        }
    }

    fn len_delimited(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| DecodeError("length too large"))?)
    }

    /// Skips the value of an unknown field (a group up to its end, nested at most 100 deep).
    fn skip(&mut self, field: u32, wire: u8, depth: u32) -> Result<(), DecodeError> {
        match wire {
            VARINT => self.varint().map(|_| ()),
            FIXED64 => self.take(8).map(|_| ()),
            LEN => self.len_delimited().map(|_| ()),
            FIXED32 => self.take(4).map(|_| ()),
            START_GROUP if depth < 100 => loop {
                match self.key()? {
                    None => return Err(DecodeError("unterminated group")),
                    Some((f, END_GROUP)) if f == field => return Ok(()),
                    Some((_, END_GROUP)) => return Err(DecodeError("unmatched group end")),
                    Some((f, w)) => self.skip(f, w, depth + 1)?,
                }
            },
            START_GROUP => Err(DecodeError("groups nested too deep")),
            _ => Err(DecodeError("unsupported wire type")),
        }
    }
}

/// Whether a string field's bytes are UTF-8. Ids and names are nearly always ASCII, which is
/// checked a word at a time.
#[inline]
fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

fn expect(wire: u8, wanted: u8) -> Result<(), DecodeError> {
    if wire == wanted {
        Ok(())
    } else {
        Err(DecodeError("wrong wire type for a known field"))
    }
}

impl<'a> EventView<'a> {
    /// Reads an encoded event without copying its strings.
    pub fn decode(bytes: &'a [u8]) -> Result<EventView<'a>, DecodeError> {
        match EventView::decode_in_order(bytes) {
            Some(v) => Ok(v),
            None => EventView::decode_any(bytes),
        }
    }

    /// The common case, read with one comparison per field: every field at most once, in
    /// field-number order, as prost (like other protobuf encoders) writes them. None for
    /// anything else (other orders, repeated or unknown fields, errors), which
    /// [`EventView::decode_any`] then reads or names the error of.
    fn decode_in_order(bytes: &'a [u8]) -> Option<EventView<'a>> {
        let mut v = EventView::default();
        let mut r = Reader { bytes };
        let text = |r: &mut Reader<'a>| -> Option<Text<'a>> {
            let bytes = r.len_delimited().ok()?;
            is_utf8(bytes).then_some(Text(bytes))
        };
        let number = |r: &mut Reader<'a>| r.varint().ok();
        // Keys are (field number << 3 | wire type) as varints: one byte up to field 15.
        if r.tag(&[1 << 3 | LEN]) {
            v.event_id = text(&mut r)?;
        }
        if r.tag(&[2 << 3 | LEN]) {
            v.tenant_id = text(&mut r)?;
        }
        if r.tag(&[3 << 3 | VARINT]) {
            v.kind = number(&mut r)? as i32;
        }
        if r.tag(&[4 << 3 | LEN]) {
            // Read in place (the fields after it let its varints take the fast path), then
            // checked to have been exactly the message's length.
            let len = usize::try_from(number(&mut r)?).ok()?;
            let after = r.bytes.len().checked_sub(len)?;
            let seconds = if r.tag(&[1 << 3 | VARINT]) {
                number(&mut r)? as i64
            } else {
                0
            };
            let nanos = if r.tag(&[2 << 3 | VARINT]) {
                number(&mut r)? as i32
            } else {
                0
            };
            if r.bytes.len() != after {
                return None;
            }
            v.occurred_at = Some((seconds, nanos));
        }
        if r.tag(&[5 << 3 | LEN]) {
            v.contact_id = text(&mut r)?;
        }
        if r.tag(&[6 << 3 | LEN]) {
            v.customer_id = text(&mut r)?;
        }
        if r.tag(&[7 << 3 | VARINT]) {
            v.channel = number(&mut r)? as i32;
        }
        if r.tag(&[8 << 3 | VARINT]) {
            v.direction = number(&mut r)? as i32;
        }
        if r.tag(&[9 << 3 | LEN]) {
            v.queue_id = text(&mut r)?;
        }
        if r.tag(&[10 << 3 | LEN]) {
            v.agent_id = text(&mut r)?;
        }
        if r.tag(&[11 << 3 | LEN]) {
            v.reason = text(&mut r)?;
        }
        if r.tag(&[12 << 3 | VARINT]) {
            v.resolved = number(&mut r)? != 0;
        }
        if r.tag(&[13 << 3 | VARINT]) {
            v.converted = number(&mut r)? != 0;
        }
        if r.tag(&[14 << 3 | LEN]) {
            v.to_queue_id = text(&mut r)?;
        }
        if r.tag(&[15 << 3 | LEN]) {
            v.to_agent_id = text(&mut r)?;
        }
        // Fields 16 to 22: two-byte keys.
        if r.tag(&[0x80 | VARINT, 1]) {
            v.survey_type = number(&mut r)? as i32;
        }
        if r.tag(&[0x88 | VARINT, 1]) {
            v.score = Some(number(&mut r)? as i32);
        }
        if r.tag(&[0x90 | FIXED64, 1]) {
            v.sentiment = Some(r.double().ok()?);
        }
        if r.tag(&[0x98 | VARINT, 1]) {
            v.agent_state = number(&mut r)? as i32;
        }
        if r.tag(&[0xa0 | LEN, 1]) {
            v.case_id = text(&mut r)?;
        }
        if r.tag(&[0xa8 | LEN, 1]) {
            v.callback_of = text(&mut r)?;
        }
        if r.tag(&[0xb0 | FIXED64, 1]) {
            v.mos = Some(r.double().ok()?);
        }
        r.bytes.is_empty().then_some(v)
    }

    /// Reads fields in any order, as the protobuf wire format allows.
    fn decode_any(bytes: &'a [u8]) -> Result<EventView<'a>, DecodeError> {
        let mut v = EventView::default();
        let mut r = Reader { bytes };
        while let Some((field, wire)) = r.key()? {
            match field {
                1 | 2 | 5 | 6 | 9 | 10 | 11 | 14 | 15 | 20 | 21 => {
                    expect(wire, LEN)?;
                    let bytes = r.len_delimited()?;
                    if !is_utf8(bytes) {
                        return Err(DecodeError("string field is not UTF-8"));
                    }
                    *v.string_field(field) = Text(bytes);
                }
                4 => {
                    expect(wire, LEN)?;
                    v.merge_timestamp(r.len_delimited()?)?;
                }
                18 | 22 => {
                    expect(wire, FIXED64)?;
                    let x = Some(r.double()?);
                    if field == 18 {
                        v.sentiment = x;
                    } else {
                        v.mos = x;
                    }
                }
                3 | 7 | 8 | 12 | 13 | 16 | 17 | 19 => {
                    expect(wire, VARINT)?;
                    let n = r.varint()?;
                    match field {
                        3 => v.kind = n as i32,
                        7 => v.channel = n as i32,
                        8 => v.direction = n as i32,
                        12 => v.resolved = n != 0,
                        13 => v.converted = n != 0,
                        16 => v.survey_type = n as i32,
                        17 => v.score = Some(n as i32),
                        _ => v.agent_state = n as i32,
                    }
                }
                _ => r.skip(field, wire, 0)?,
            }
        }
        Ok(v)
    }

    /// Merges an embedded `Timestamp` into `occurred_at` (fields merge as protobuf does).
    fn merge_timestamp(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        let (mut seconds, mut nanos) = self.occurred_at.unwrap_or((0, 0));
        let mut ts = Reader { bytes };
        while let Some((f, w)) = ts.key()? {
            match f {
                1 => {
                    expect(w, VARINT)?;
                    seconds = ts.varint()? as i64;
                }
                2 => {
                    expect(w, VARINT)?;
                    nanos = ts.varint()? as i32;
                }
                _ => ts.skip(f, w, 0)?,
            }
        }
        self.occurred_at = Some((seconds, nanos));
        Ok(())
    }

    fn string_field(&mut self, field: u32) -> &mut Text<'a> {
        match field {
            1 => &mut self.event_id,
            2 => &mut self.tenant_id,
            5 => &mut self.contact_id,
            6 => &mut self.customer_id,
            9 => &mut self.queue_id,
            10 => &mut self.agent_id,
            11 => &mut self.reason,
            14 => &mut self.to_queue_id,
            15 => &mut self.to_agent_id,
            20 => &mut self.case_id,
            _ => &mut self.callback_of,
        }
    }

    /// The owned [`Event`](crate::Event) with these fields (what prost would decode from the same bytes).
    pub fn to_event(&self) -> crate::Event {
        let v = self;
        crate::Event {
            event_id: v.event_id.to_string(),
            tenant_id: v.tenant_id.to_string(),
            r#type: v.kind,
            occurred_at: v
                .occurred_at
                .map(|(seconds, nanos)| ccx_proto::prost_types::Timestamp { seconds, nanos }),
            contact_id: v.contact_id.to_string(),
            customer_id: v.customer_id.to_string(),
            channel: v.channel,
            direction: v.direction,
            queue_id: v.queue_id.to_string(),
            agent_id: v.agent_id.to_string(),
            reason: v.reason.to_string(),
            resolved: v.resolved,
            converted: v.converted,
            to_queue_id: v.to_queue_id.to_string(),
            to_agent_id: v.to_agent_id.to_string(),
            survey_type: v.survey_type,
            score: v.score,
            sentiment: v.sentiment,
            agent_state: v.agent_state,
            case_id: v.case_id.to_string(),
            callback_of: v.callback_of.to_string(),
            mos: v.mos,
        }
    }

    /// The event time in ms since the epoch (0 without `occurred_at`).
    pub fn time_ms(&self) -> i64 {
        self.occurred_at
            .map(|(seconds, nanos)| {
                crate::timestamp_ms(&ccx_proto::prost_types::Timestamp { seconds, nanos })
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use ccx_proto::prost::Message;
    use proptest::prelude::*;

    #[test]
    fn varints_of_every_length_read_as_prost_writes_them() {
        for bits in 0..64 {
            for value in [1u64 << bits, (1u64 << bits) - 1, u64::MAX >> (63 - bits)] {
                let mut bytes = Vec::new();
                ccx_proto::prost::encoding::encode_varint(value, &mut bytes);
                for tail in [0, 1, 9] {
                    let mut record = bytes.clone();
                    record.extend(std::iter::repeat_n(0x81, tail));
                    let mut r = Reader { bytes: &record };
                    assert_eq!(r.varint(), Ok(value), "{value} followed by {tail} bytes");
                    assert_eq!(r.bytes.len(), tail);
                }
                // Cut short: an error, never a value.
                let mut r = Reader {
                    bytes: &bytes[..bytes.len() - 1],
                };
                assert!(bytes.len() == 1 || r.varint().is_err(), "{value} cut short");
            }
        }
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["", "[a-z0-9-]{1,12}", "\\PC{0,6}"]
    }

    prop_compose! {
        fn arb_event()(
            ids in proptest::collection::vec(text(), 11),
            nums in proptest::collection::vec(any::<i32>(), 6),
            flags in any::<(bool, bool)>(),
            time in proptest::option::of((any::<i64>(), 0..1_000_000_000i32)),
            score in proptest::option::of(any::<i32>()),
            sentiment in proptest::option::of(-1.0f64..1.0),
            mos in proptest::option::of(1.0f64..5.0),
        ) -> Event {
            Event {
                event_id: ids[0].clone(),
                tenant_id: ids[1].clone(),
                contact_id: ids[2].clone(),
                customer_id: ids[3].clone(),
                queue_id: ids[4].clone(),
                agent_id: ids[5].clone(),
                reason: ids[6].clone(),
                to_queue_id: ids[7].clone(),
                to_agent_id: ids[8].clone(),
                r#type: nums[0],
                channel: nums[1],
                direction: nums[2],
                survey_type: nums[3],
                agent_state: nums[4],
                resolved: flags.0,
                converted: flags.1,
                occurred_at: time.map(|(seconds, nanos)| ccx_proto::prost_types::Timestamp { seconds, nanos }),
                score,
                sentiment,
                case_id: ids[9].clone(),
                callback_of: ids[10].clone(),
                mos,
            }
        }
    }

    proptest! {
        #[test]
        fn reads_what_prost_writes(event in arb_event(), junk in any::<u32>()) {
            let mut bytes = event.encode_to_vec();
            let view = EventView::decode(&bytes).unwrap();
            prop_assert_eq!(view.to_event(), event.clone());
            // An unknown field (number 100, varint) is skipped, as prost skips it.
            bytes.extend_from_slice(&[0xa0, 0x06]);
            bytes.extend_from_slice(&{
                let mut v = Vec::new();
                let mut n = u64::from(junk);
                loop {
                    let b = (n & 0x7f) as u8;
                    n >>= 7;
                    if n == 0 { v.push(b); break; }
                    v.push(b | 0x80);
                }
                v
            });
            prop_assert_eq!(EventView::decode(&bytes).unwrap().to_event(), Event::decode(bytes.as_slice()).unwrap());
        }

        #[test]
        fn the_in_order_reader_reads_what_the_general_one_reads(
            event in arb_event(),
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let written = event.encode_to_vec();
            prop_assert_eq!(EventView::decode_in_order(&written), Some(EventView::decode_any(&written).unwrap()));
            if let Some(v) = EventView::decode_in_order(&bytes) {
                prop_assert_eq!(Ok(v), EventView::decode_any(&bytes));
            }
        }

        #[test]
        fn rejects_what_prost_rejects(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let ours = EventView::decode(&bytes).map(|v| v.to_event());
            let theirs = Event::decode(bytes.as_slice());
            if let (Ok(a), Ok(b)) = (&ours, &theirs) {
                prop_assert_eq!(a, b);
            }
            // Anything prost accepts we accept too.
            prop_assert!(theirs.is_err() || ours.is_ok(), "{:?} / {:?}", ours, theirs);
        }
    }

    #[test]
    fn names_the_reason_of_bad_bytes() {
        assert_eq!(
            EventView::decode(&[0x0a, 0x05, b'a']).unwrap_err(),
            DecodeError("truncated field")
        );
        assert_eq!(
            EventView::decode(&[0x0a, 0x01, 0xff]).unwrap_err(),
            DecodeError("string field is not UTF-8")
        );
        assert_eq!(
            EventView::decode(&[0x08, 0x01]).unwrap_err(),
            DecodeError("wrong wire type for a known field")
        );
    }

    #[test]
    fn rejects_keys_and_varints_past_their_range_as_prost_does() {
        // Found by the event_view fuzz target: a 5-byte key above u32::MAX (field number
        // 825,778,141) was skipped as an unknown field, where prost refuses the record.
        let big_key = [
            0x0a, 0x02, b's', b'0', 0xe9, 0xfd, 0x8b, 0xce, 0x18, 0x08, 0x00, 0x00, 0xb1, 0xbc,
            0x97, 0xcd, 0x30, 0x91, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0xbf,
        ];
        // A 10-byte varint whose last byte has more than bit 63.
        let wide_varint = [
            0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
        ];
        for bytes in [&big_key[..], &wide_varint] {
            assert!(Event::decode(bytes).is_err());
            assert!(EventView::decode(bytes).is_err(), "{bytes:x?}");
        }
        assert_eq!(
            EventView::decode(&big_key).unwrap_err(),
            DecodeError("key too large")
        );
        // Bit 63 alone is a u64 (an int32 field keeps its low bits, as prost does).
        let top_bit = [
            0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ];
        assert_eq!(EventView::decode(&top_bit).unwrap().kind, 0);
        assert_eq!(Event::decode(&top_bit[..]).unwrap().r#type, 0);
    }

    #[test]
    fn time_is_that_of_timestamp_ms() {
        for ms in [0, 1, 999, -1, -1001, 1_790_000_000_123] {
            let e = Event {
                occurred_at: Some(crate::ms_timestamp(ms)),
                ..Event::default()
            };
            let bytes = e.encode_to_vec();
            assert_eq!(EventView::decode(&bytes).unwrap().time_ms(), ms);
        }
    }
}
