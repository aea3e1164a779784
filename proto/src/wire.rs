//! `UpRecord` and `RecordIn` by hand: the messages every record crosses each tier in and
//! every department submits it in, encoded straight from the standard's record fields and
//! decoded straight into them.
//!
//! On the wire each is exactly its message in `regfed.proto`: its fields a repeated
//! `Field { name, Value { text | StringList } }`. The generated type held each field as
//! two heap strings inside nested messages, which the child built from its record's
//! fields and the parent turned back into them, one allocation per string on each side;
//! and prost measured a nested message's length once for every message around it. In a
//! profile of upward sync that was 30% of the child's CPU and 15% of the parent's.
//! Here a record's field names and short values are decoded without allocating
//! ([`FieldName`] and [`Text`] keep them inline), and each length is measured once per
//! encoding step. `RecordIn` was measured the same way later: decoding a submitted batch
//! into the generated type was 14% of a leader's CPU under ingest.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    self, check_wire_type, decode_varint, encode_key, encode_varint, encoded_len_varint, key_len,
    skip_field, DecodeContext, WireType,
};
use prost::DecodeError;
use regfed_governance::{FieldName, Fields, Text, Value};

use crate::v1::Hop;

/// One accepted change, as the child holds it (`regfed.proto`, message `UpRecord`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpRecord {
    /// The child's change sequence number.
    pub seq: u64,
    pub dataset: String,
    pub key: String,
    /// The version at the origin city.
    pub version: u64,
    pub op: String,
    /// On the wire, one `Field` per entry, in the map's order; decoding keeps the last
    /// value of a repeated name, and reads a field without a value as empty text.
    pub fields: Fields,
    pub origin_region: String,
    pub origin_department: String,
    /// First receipt at the city tier.
    pub reported_at_ms: i64,
    /// Every tier below the parent, city first.
    pub hops: Vec<Hop>,
}

/// One record as a department submitted it (`regfed.proto`, message `RecordIn`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordIn {
    /// "upsert" (or empty, the default) or "delete".
    pub op: String,
    /// On the wire, one `Field` per entry, in the map's order; decoding keeps the last
    /// value of a repeated name, and reads a field without a value as empty text.
    pub fields: Fields,
    /// Where the record came from, e.g. "actions.csv line 12".
    pub source: String,
}

// Tags of `RecordIn` in regfed.proto.
const IN_OP: u32 = 1;
const IN_FIELDS: u32 = 2;
const IN_SOURCE: u32 = 3;

// Tags of `UpRecord`, `Field`, `Value` and `StringList` in regfed.proto.
const SEQ: u32 = 1;
const DATASET: u32 = 2;
const KEY: u32 = 3;
const VERSION: u32 = 4;
const OP: u32 = 5;
const FIELDS: u32 = 6;
const ORIGIN_REGION: u32 = 7;
const ORIGIN_DEPARTMENT: u32 = 8;
const REPORTED_AT_MS: u32 = 9;
const HOPS: u32 = 10;
const FIELD_NAME: u32 = 1;
const FIELD_VALUE: u32 = 2;
const VALUE_TEXT: u32 = 1;
const VALUE_LIST: u32 = 2;
const LIST_ITEMS: u32 = 1;

/// The length of a length-delimited field of `len` bytes, key and length included.
fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn put_str(tag: u32, value: &str, buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(value.len() as u64, buf);
    buf.put_slice(value.as_bytes());
}

// A proto3 string or uint64 member is left out when it holds its default; each pair
// below keeps that rule for the encoding and its length alike.

fn put_string(tag: u32, value: &str, buf: &mut impl BufMut) {
    if !value.is_empty() {
        put_str(tag, value, buf);
    }
}

fn string_len(tag: u32, value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        delimited_len(tag, value.len())
    }
}

fn put_u64(tag: u32, value: u64, buf: &mut impl BufMut) {
    if value != 0 {
        encoding::uint64::encode(tag, &value, buf);
    }
}

fn u64_len(tag: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(value)
    }
}

/// The encoded length of a `StringList`'s items.
fn list_len(items: &[String]) -> usize {
    items
        .iter()
        .map(|i| delimited_len(LIST_ITEMS, i.len()))
        .sum()
}

/// The encoded length of a `Value`.
fn value_len(value: &Value) -> usize {
    match value {
        Value::Text(t) => delimited_len(VALUE_TEXT, t.len()),
        Value::List(items) => delimited_len(VALUE_LIST, list_len(items)),
    }
}

/// The encoded length of a `Field`, given its value's.
fn field_len(name: &str, value_len: usize) -> usize {
    string_len(FIELD_NAME, name) + delimited_len(FIELD_VALUE, value_len)
}

/// The encoded length of `fields` as the repeated `Field` member `tag`.
fn fields_len(tag: u32, fields: &Fields) -> usize {
    fields
        .iter()
        .map(|(name, value)| delimited_len(tag, field_len(name, value_len(value))))
        .sum()
}

fn encode_fields(tag: u32, fields: &Fields, buf: &mut impl BufMut) {
    for (name, value) in fields {
        encode_field(tag, name, value, buf);
    }
}

fn encode_field(tag: u32, name: &str, value: &Value, buf: &mut impl BufMut) {
    let value_len = value_len(value);
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(field_len(name, value_len) as u64, buf);
    put_string(FIELD_NAME, name, buf);
    encode_key(FIELD_VALUE, WireType::LengthDelimited, buf);
    encode_varint(value_len as u64, buf);
    match value {
        Value::Text(t) => put_str(VALUE_TEXT, t, buf),
        Value::List(items) => {
            encode_key(VALUE_LIST, WireType::LengthDelimited, buf);
            encode_varint(list_len(items) as u64, buf);
            for item in items {
                put_str(LIST_ITEMS, item, buf);
            }
        }
    }
}

/// Reads a string field's value and hands it to `take`: borrowed from the buffer when
/// its length and bytes lie in one chunk and are UTF-8, as they do but for a message
/// split across network reads; otherwise decoded by prost, which names any fault.
fn read_str<R>(
    wire_type: WireType,
    buf: &mut impl Buf,
    ctx: &DecodeContext,
    take: impl FnOnce(&str) -> R,
) -> Result<R, DecodeError> {
    if wire_type == WireType::LengthDelimited {
        let mut peek = buf.chunk();
        let chunk_len = peek.len();
        if let Ok(len) = decode_varint(&mut peek) {
            let delimiter = chunk_len - peek.len();
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if let Some(Ok(text)) = peek.get(..len).map(std::str::from_utf8) {
                let value = take(text);
                buf.advance(delimiter + len);
                return Ok(value);
            }
        }
    }
    let mut text = String::new();
    encoding::string::merge(wire_type, &mut text, buf, ctx.clone())?;
    Ok(take(&text))
}

/// Names the member of `message` at fault in a decode error.
fn at(message: &'static str, member: &'static str) -> impl FnOnce(DecodeError) -> DecodeError {
    move |mut error| {
        error.push(message, member);
        error
    }
}

/// Decodes a nested message into `state`, one field at a time with `each`.
fn merge_message<T, B: Buf>(
    wire_type: WireType,
    state: &mut T,
    buf: &mut B,
    ctx: &DecodeContext,
    mut each: impl FnMut(&mut T, u32, WireType, &mut B) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    encoding::merge_loop(state, buf, ctx.clone(), |state, buf, _| {
        let (tag, wire_type) = encoding::decode_key(buf)?;
        each(state, tag, wire_type, buf)
    })
}

/// Merges a `Value` into `value`, as prost merges a message with a oneof: a text
/// replaces, a list extends a list.
fn merge_value(
    wire_type: WireType,
    value: &mut Option<Value>,
    buf: &mut impl Buf,
    ctx: &DecodeContext,
) -> Result<(), DecodeError> {
    merge_message(
        wire_type,
        value,
        buf,
        ctx,
        |value, tag, wire_type, buf| match tag {
            VALUE_TEXT => {
                *value = Some(Value::Text(read_str(wire_type, buf, ctx, |t| {
                    Text::from(t)
                })?));
                Ok(())
            }
            VALUE_LIST => {
                let items = match value {
                    Some(Value::List(items)) => items,
                    other => match other.insert(Value::List(Vec::new())) {
                        Value::List(items) => items,
                        Value::Text(_) => unreachable!("a list was just put in place"),
                    },
                };
                merge_message(
                    wire_type,
                    items,
                    buf,
                    ctx,
                    |items, tag, wire_type, buf| match tag {
                        LIST_ITEMS => {
                            items.push(read_str(wire_type, buf, ctx, str::to_string)?);
                            Ok(())
                        }
                        _ => skip_field(wire_type, tag, buf, ctx.clone()),
                    },
                )
            }
            _ => skip_field(wire_type, tag, buf, ctx.clone()),
        },
    )
}

/// Decodes one `Field` into `fields`.
fn merge_field_entry(
    wire_type: WireType,
    fields: &mut Fields,
    buf: &mut impl Buf,
    ctx: &DecodeContext,
) -> Result<(), DecodeError> {
    let mut entry: (Option<FieldName>, Option<Value>) = (None, None);
    merge_message(
        wire_type,
        &mut entry,
        buf,
        ctx,
        |(name, value), tag, wire_type, buf| match tag {
            FIELD_NAME => {
                *name = Some(read_str(wire_type, buf, ctx, FieldName::new)?);
                Ok(())
            }
            FIELD_VALUE => merge_value(wire_type, value, buf, ctx),
            _ => skip_field(wire_type, tag, buf, ctx.clone()),
        },
    )?;
    let (name, value) = entry;
    if fields.is_empty() {
        // The wire does not say how many fields follow; the standard's data sets have up
        // to a dozen, so one allocation holds them.
        fields.reserve(16);
    }
    fields.insert(
        name.unwrap_or_else(|| FieldName::new("")),
        value.unwrap_or_else(|| Value::Text(Text::default())),
    );
    Ok(())
}

impl prost::Message for UpRecord {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        put_u64(SEQ, self.seq, buf);
        put_string(DATASET, &self.dataset, buf);
        put_string(KEY, &self.key, buf);
        put_u64(VERSION, self.version, buf);
        put_string(OP, &self.op, buf);
        encode_fields(FIELDS, &self.fields, buf);
        put_string(ORIGIN_REGION, &self.origin_region, buf);
        put_string(ORIGIN_DEPARTMENT, &self.origin_department, buf);
        if self.reported_at_ms != 0 {
            encoding::int64::encode(REPORTED_AT_MS, &self.reported_at_ms, buf);
        }
        encoding::message::encode_repeated(HOPS, &self.hops, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            SEQ => encoding::uint64::merge(wire_type, &mut self.seq, buf, ctx)
                .map_err(at("UpRecord", "seq")),
            DATASET => encoding::string::merge(wire_type, &mut self.dataset, buf, ctx)
                .map_err(at("UpRecord", "dataset")),
            KEY => encoding::string::merge(wire_type, &mut self.key, buf, ctx)
                .map_err(at("UpRecord", "key")),
            VERSION => encoding::uint64::merge(wire_type, &mut self.version, buf, ctx)
                .map_err(at("UpRecord", "version")),
            OP => encoding::string::merge(wire_type, &mut self.op, buf, ctx)
                .map_err(at("UpRecord", "op")),
            FIELDS => merge_field_entry(wire_type, &mut self.fields, buf, &ctx)
                .map_err(at("UpRecord", "fields")),
            ORIGIN_REGION => encoding::string::merge(wire_type, &mut self.origin_region, buf, ctx)
                .map_err(at("UpRecord", "origin_region")),
            ORIGIN_DEPARTMENT => {
                encoding::string::merge(wire_type, &mut self.origin_department, buf, ctx)
                    .map_err(at("UpRecord", "origin_department"))
            }
            REPORTED_AT_MS => encoding::int64::merge(wire_type, &mut self.reported_at_ms, buf, ctx)
                .map_err(at("UpRecord", "reported_at_ms")),
            HOPS => encoding::message::merge_repeated(wire_type, &mut self.hops, buf, ctx)
                .map_err(at("UpRecord", "hops")),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        u64_len(SEQ, self.seq)
            + string_len(DATASET, &self.dataset)
            + string_len(KEY, &self.key)
            + u64_len(VERSION, self.version)
            + string_len(OP, &self.op)
            + fields_len(FIELDS, &self.fields)
            + string_len(ORIGIN_REGION, &self.origin_region)
            + string_len(ORIGIN_DEPARTMENT, &self.origin_department)
            + if self.reported_at_ms == 0 {
                0
            } else {
                encoding::int64::encoded_len(REPORTED_AT_MS, &self.reported_at_ms)
            }
            + encoding::message::encoded_len_repeated(HOPS, &self.hops)
    }

    fn clear(&mut self) {
        *self = UpRecord::default();
    }
}

impl prost::Message for RecordIn {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        put_string(IN_OP, &self.op, buf);
        encode_fields(IN_FIELDS, &self.fields, buf);
        put_string(IN_SOURCE, &self.source, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            IN_OP => encoding::string::merge(wire_type, &mut self.op, buf, ctx)
                .map_err(at("RecordIn", "op")),
            IN_FIELDS => merge_field_entry(wire_type, &mut self.fields, buf, &ctx)
                .map_err(at("RecordIn", "fields")),
            IN_SOURCE => encoding::string::merge(wire_type, &mut self.source, buf, ctx)
                .map_err(at("RecordIn", "source")),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        string_len(IN_OP, &self.op)
            + fields_len(IN_FIELDS, &self.fields)
            + string_len(IN_SOURCE, &self.source)
    }

    fn clear(&mut self) {
        *self = RecordIn::default();
    }
}

#[cfg(test)]
mod tests {
    use prost::bytes::Buf;
    use prost::Message;

    use super::*;
    use crate::v1::{self, value::Kind};

    /// `UpRecord` as prost generates it from regfed.proto.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Generated {
        #[prost(uint64, tag = "1")]
        seq: u64,
        #[prost(string, tag = "2")]
        dataset: String,
        #[prost(string, tag = "3")]
        key: String,
        #[prost(uint64, tag = "4")]
        version: u64,
        #[prost(string, tag = "5")]
        op: String,
        #[prost(message, repeated, tag = "6")]
        fields: Vec<v1::Field>,
        #[prost(string, tag = "7")]
        origin_region: String,
        #[prost(string, tag = "8")]
        origin_department: String,
        #[prost(int64, tag = "9")]
        reported_at_ms: i64,
        #[prost(message, repeated, tag = "10")]
        hops: Vec<Hop>,
    }

    fn text(t: &str) -> Option<v1::Value> {
        Some(v1::Value {
            kind: Some(Kind::Text(t.into())),
        })
    }

    fn field(name: &str, value: Option<v1::Value>) -> v1::Field {
        v1::Field {
            name: name.into(),
            value,
        }
    }

    /// The same record both ways: fields in name order, every kind of value, a long
    /// value that does not fit inline, and every other member set.
    fn pair() -> (UpRecord, Generated) {
        let long = "湖北省武汉市江汉区市场监督管理局综合执法支队";
        let list = vec!["A1".to_string(), String::new(), "证号".to_string()];
        let fields: Fields = [
            ("action_date", Value::Text("2026-11-28".into())),
            ("empty", Value::Text(Text::default())),
            ("name", Value::Text(long.into())),
            ("officer_cert_nos", Value::List(list.clone())),
            ("own_field", Value::List(Vec::new())),
        ]
        .into_iter()
        .map(|(n, v)| (FieldName::new(n), v))
        .collect();
        let generated_fields = vec![
            field("action_date", text("2026-11-28")),
            field("empty", text("")),
            field("name", text(long)),
            field(
                "officer_cert_nos",
                Some(v1::Value {
                    kind: Some(Kind::List(v1::StringList { items: list })),
                }),
            ),
            field(
                "own_field",
                Some(v1::Value {
                    kind: Some(Kind::List(v1::StringList { items: Vec::new() })),
                }),
            ),
        ];
        let hops = vec![Hop {
            tier: "city".into(),
            region: "420100".into(),
            received_at_ms: 1_795_000_000_000,
        }];
        let ours = UpRecord {
            seq: 300,
            dataset: "action".into(),
            key: "ACT-1".into(),
            version: 2,
            op: "upsert".into(),
            fields,
            origin_region: "420100".into(),
            origin_department: "SCJGJ".into(),
            reported_at_ms: -5,
            hops: hops.clone(),
        };
        let generated = Generated {
            seq: 300,
            dataset: "action".into(),
            key: "ACT-1".into(),
            version: 2,
            op: "upsert".into(),
            fields: generated_fields,
            origin_region: "420100".into(),
            origin_department: "SCJGJ".into(),
            reported_at_ms: -5,
            hops,
        };
        (ours, generated)
    }

    #[test]
    fn encodes_byte_for_byte_as_the_generated_message() {
        let (ours, generated) = pair();
        let bytes = ours.encode_to_vec();
        assert_eq!(bytes, generated.encode_to_vec());
        assert_eq!(ours.encoded_len(), bytes.len());
        let empty = UpRecord::default();
        assert_eq!(empty.encode_to_vec(), Generated::default().encode_to_vec());
        assert_eq!(empty.encoded_len(), 0);
    }

    #[test]
    fn decodes_what_the_generated_message_encodes() {
        let (ours, generated) = pair();
        let bytes = generated.encode_to_vec();
        assert_eq!(UpRecord::decode(bytes.as_slice()).unwrap(), ours);
        assert_eq!(
            Generated::decode(ours.encode_to_vec().as_slice()).unwrap(),
            generated
        );
    }

    /// A buffer handed over in two chunks, as a message split across network reads is.
    #[test]
    fn decodes_a_message_split_anywhere() {
        let (ours, _) = pair();
        let bytes = ours.encode_to_vec();
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(UpRecord::decode(a.chain(b)).unwrap(), ours, "split at {at}");
        }
    }

    #[test]
    fn a_repeated_name_keeps_its_last_value_and_a_missing_value_is_empty_text() {
        let generated = Generated {
            fields: vec![
                field("name", text("first")),
                field("result", None),
                field("name", text("last")),
                field(
                    "list",
                    Some(v1::Value {
                        kind: Some(Kind::List(v1::StringList {
                            items: vec!["a".into()],
                        })),
                    }),
                ),
            ],
            ..Generated::default()
        };
        let ours = UpRecord::decode(generated.encode_to_vec().as_slice()).unwrap();
        let get = |n: &str| ours.fields.get(n).cloned();
        assert_eq!(get("name"), Some(Value::Text("last".into())));
        assert_eq!(get("result"), Some(Value::Text(Text::default())));
        assert_eq!(get("list"), Some(Value::List(vec!["a".into()])));
        assert_eq!(ours.fields.len(), 3);
    }

    #[test]
    fn unknown_members_are_skipped_at_every_level() {
        let (ours, _) = pair();
        let mut bytes = ours.encode_to_vec();
        // A field entry with an unknown member (tag 9, varint 7) before its name.
        let mut entry = vec![9 << 3, 7];
        entry.extend(
            v1::Field {
                name: "extra".into(),
                value: text("x"),
            }
            .encode_to_vec(),
        );
        bytes.push(FIELDS as u8 * 8 + 2);
        bytes.push(entry.len() as u8);
        bytes.extend(entry);
        // An unknown member of the record itself (tag 15, a string).
        bytes.extend([15 << 3 | 2, 2, b'o', b'k']);
        let decoded = UpRecord::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.fields.get("extra"), Some(&Value::Text("x".into())));
        assert_eq!(decoded.fields.len(), ours.fields.len() + 1);
    }

    #[test]
    fn a_value_that_is_not_utf8_is_refused_naming_the_member() {
        let generated = Generated {
            fields: vec![field("name", text("ok"))],
            ..Generated::default()
        };
        let mut bytes = generated.encode_to_vec();
        let last = bytes.len() - 1;
        bytes[last] = 0xff;
        let error = UpRecord::decode(bytes.as_slice()).unwrap_err().to_string();
        assert!(error.contains("UpRecord.fields"), "{error}");
        assert!(error.contains("UTF-8"), "{error}");
        // Also when the bad value is split across two chunks.
        let (a, b) = bytes.split_at(last);
        assert!(UpRecord::decode(a.chain(b)).is_err());
    }

    /// `RecordIn` as prost generates it from regfed.proto.
    #[derive(Clone, PartialEq, prost::Message)]
    struct GeneratedIn {
        #[prost(string, tag = "1")]
        op: String,
        #[prost(message, repeated, tag = "2")]
        fields: Vec<v1::Field>,
        #[prost(string, tag = "3")]
        source: String,
    }

    /// The same submitted record both ways, with the fields of [`pair`].
    fn record_in_pair() -> (RecordIn, GeneratedIn) {
        let (up, generated) = pair();
        let ours = RecordIn {
            op: "delete".into(),
            fields: up.fields,
            source: "actions.csv line 12".into(),
        };
        let generated = GeneratedIn {
            op: "delete".into(),
            fields: generated.fields,
            source: "actions.csv line 12".into(),
        };
        (ours, generated)
    }

    #[test]
    fn a_submitted_record_is_the_generated_message_both_ways() {
        let (ours, generated) = record_in_pair();
        let bytes = ours.encode_to_vec();
        assert_eq!(bytes, generated.encode_to_vec());
        assert_eq!(ours.encoded_len(), bytes.len());
        assert_eq!(RecordIn::decode(bytes.as_slice()).unwrap(), ours);
        assert_eq!(GeneratedIn::decode(bytes.as_slice()).unwrap(), generated);
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(RecordIn::decode(a.chain(b)).unwrap(), ours, "split at {at}");
        }
        let empty = RecordIn::default();
        assert_eq!(
            empty.encode_to_vec(),
            GeneratedIn::default().encode_to_vec()
        );
        assert_eq!(empty.encoded_len(), 0);
        // Inside the request, as the node receives it.
        let request = v1::SubmitRequest {
            dataset: "action".into(),
            records: vec![ours.clone(), RecordIn::default(), ours],
            department: "SCJGJ".into(),
        };
        let decoded = v1::SubmitRequest::decode(request.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, request);
    }

    #[test]
    fn a_submitted_record_keeps_the_last_of_a_repeated_name_and_names_a_bad_member() {
        let generated = GeneratedIn {
            fields: vec![
                field("name", text("first")),
                field("result", None),
                field("name", text("last")),
            ],
            ..GeneratedIn::default()
        };
        let mut bytes = generated.encode_to_vec();
        let ours = RecordIn::decode(bytes.as_slice()).unwrap();
        assert_eq!(ours.fields.get("name"), Some(&Value::Text("last".into())));
        assert_eq!(
            ours.fields.get("result"),
            Some(&Value::Text(Text::default()))
        );
        assert_eq!(ours.fields.len(), 2);
        // The last byte is inside the value "last".
        let last = bytes.len() - 1;
        bytes[last] = 0xff;
        let error = RecordIn::decode(bytes.as_slice()).unwrap_err().to_string();
        assert!(error.contains("RecordIn.fields"), "{error}");
        assert!(RecordIn::decode(&bytes[..last]).is_err());
    }

    #[test]
    fn a_truncated_message_is_refused() {
        let (ours, _) = pair();
        let bytes = ours.encode_to_vec();
        // Cut inside the hops, inside the fields, and after the key of `dataset`.
        for len in [bytes.len() - 1, bytes.len() / 2, 4] {
            assert!(UpRecord::decode(&bytes[..len]).is_err(), "cut at {len}");
        }
    }
}
