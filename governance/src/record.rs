//! Records as departments submit them and as the node stores them: a data set name, an
//! operation and a map of field values.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A field's value: text for every scalar type, a list for `list` fields.
///
/// In human-readable formats (JSON, TOML) it is untagged, so a record's fields read
/// naturally: `{"item_code": "420100JC00001", "officer_cert_nos": ["A1", "A2"]}`. In
/// binary formats, which cannot guess a type from the data, it is a tagged enum.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Text(Text),
    List(Vec<String>),
}

/// A scalar field's text. Most values (codes, dates, numbers, short names) fit in 24
/// bytes and are kept inline: a record's fields are decoded, copied and freed at every
/// step of every tier, and each heap string cost an allocation and a free each time.
pub type Text = compact_str::CompactString;

/// The binary representation of [`Value`].
#[derive(Serialize, Deserialize)]
enum TaggedValue {
    Text(Text),
    List(Vec<String>),
}

/// The human-readable representation of [`Value`].
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum UntaggedValue {
    Text(Text),
    List(Vec<String>),
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            match self {
                Value::Text(t) => serializer.serialize_str(t),
                Value::List(items) => items.serialize(serializer),
            }
        } else {
            match self {
                Value::Text(t) => serializer.serialize_newtype_variant("Value", 0, "Text", t),
                Value::List(items) => {
                    serializer.serialize_newtype_variant("Value", 1, "List", items)
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            Ok(match UntaggedValue::deserialize(deserializer)? {
                UntaggedValue::Text(t) => Value::Text(t),
                UntaggedValue::List(items) => Value::List(items),
            })
        } else {
            Ok(match TaggedValue::deserialize(deserializer)? {
                TaggedValue::Text(t) => Value::Text(t),
                TaggedValue::List(items) => Value::List(items),
            })
        }
    }
}

impl Value {
    /// The text of a scalar value; `None` for a list.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            Value::List(_) => None,
        }
    }

    /// True for an empty text or an empty list: a field present but blank counts as absent.
    pub fn is_blank(&self) -> bool {
        match self {
            Value::Text(s) => s.trim().is_empty(),
            Value::List(items) => items.iter().all(|i| i.trim().is_empty()),
        }
    }
}

impl fmt::Display for Value {
    /// Lists display joined by `;`, the separator the standard accepts in CSV cells.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) => f.write_str(s),
            Value::List(items) => f.write_str(&items.join(";")),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s.into())
    }
}

impl From<Text> for Value {
    fn from(s: Text) -> Self {
        Value::Text(s)
    }
}

pub use crate::fields::Fields;

/// The field names of the standard's data sets. A record's fields are decoded, copied and
/// freed at every step of every tier; names from this list are shared, never allocated.
/// Append only: the node stores a name as its position here (`codec::fields` in the node).
pub const STANDARD_FIELD_NAMES: &[&str] = &[
    // item
    "item_code",
    "item_name",
    "item_type",
    "department_code",
    "legal_basis",
    "effective_date",
    "region_code",
    // subject
    "uscc",
    "name",
    "subject_type",
    "legal_rep",
    "legal_rep_id",
    "address",
    "established_date",
    // officer
    "cert_no",
    "id_number",
    "valid_from",
    "valid_until",
    // action
    "action_id",
    "action_type",
    "subject_uscc",
    "subject_name",
    "officer_cert_nos",
    "action_date",
    "result",
    "penalty_amount",
];

/// A field's name: one of [`STANDARD_FIELD_NAMES`], shared, or a name of a rule pack of
/// one's own, owned. It compares, hashes and displays as its text, and a map keyed by it
/// is looked up by `&str`.
#[derive(Clone)]
pub struct FieldName(NameRepr);

#[derive(Clone)]
enum NameRepr {
    Standard(u8),
    Other(Box<str>),
}

impl FieldName {
    /// The name, shared when the standard knows it.
    pub fn new(name: &str) -> Self {
        match standard_position(name) {
            Some(i) => FieldName(NameRepr::Standard(i)),
            None => FieldName(NameRepr::Other(name.into())),
        }
    }

    /// The standard's name at `position` in [`STANDARD_FIELD_NAMES`].
    pub fn standard(position: u8) -> Option<Self> {
        (usize::from(position) < STANDARD_FIELD_NAMES.len())
            .then_some(FieldName(NameRepr::Standard(position)))
    }

    /// The name's position in [`STANDARD_FIELD_NAMES`], if it is one of them.
    pub fn position(&self) -> Option<u8> {
        match self.0 {
            NameRepr::Standard(i) => Some(i),
            NameRepr::Other(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            NameRepr::Standard(i) => STANDARD_FIELD_NAMES[usize::from(*i)],
            NameRepr::Other(name) => name,
        }
    }
}

/// A name's position in [`STANDARD_FIELD_NAMES`], from a hash table built once: names are
/// looked up for every field of every record read, stored or logged.
fn standard_position(name: &str) -> Option<u8> {
    type Table = HashMap<&'static str, u8, BuildHasherDefault<Fnv>>;
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            STANDARD_FIELD_NAMES
                .iter()
                .enumerate()
                .map(|(i, name)| (*name, i as u8))
                .collect()
        })
        .get(name)
        .copied()
}

/// FNV-1a: short ASCII names hash faster than by SipHash, and no outside input chooses
/// the table's keys.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl std::ops::Deref for FieldName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for FieldName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for FieldName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for FieldName {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (NameRepr::Standard(a), NameRepr::Standard(b)) => a == b,
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for FieldName {}

impl PartialEq<str> for FieldName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FieldName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for FieldName {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<FieldName> for String {
    fn eq(&self, other: &FieldName) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<FieldName> for &str {
    fn eq(&self, other: &FieldName) -> bool {
        *self == other.as_str()
    }
}

impl PartialOrd for FieldName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FieldName {
    /// By text, as `Borrow<str>` requires.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for FieldName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for FieldName {
    fn from(name: &str) -> Self {
        FieldName::new(name)
    }
}

impl From<String> for FieldName {
    fn from(name: String) -> Self {
        match standard_position(&name) {
            Some(i) => FieldName(NameRepr::Standard(i)),
            None => FieldName(NameRepr::Other(name.into_boxed_str())),
        }
    }
}

impl From<FieldName> for String {
    fn from(name: FieldName) -> Self {
        name.as_str().to_string()
    }
}

impl Serialize for FieldName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl serde::de::Visitor<'_> for NameVisitor {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<FieldName, E> {
                Ok(FieldName::new(name))
            }
            fn visit_string<E: serde::de::Error>(self, name: String) -> Result<FieldName, E> {
                Ok(FieldName::from(name))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// What a submission asks for: insert or replace the record with this key, or delete it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    #[default]
    Upsert,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Upsert => "upsert",
            Op::Delete => "delete",
        }
    }

    /// Parses `upsert` or `delete` (case-insensitive); an empty string is an upsert.
    pub fn parse(s: &str) -> Option<Op> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "upsert" => Some(Op::Upsert),
            "delete" => Some(Op::Delete),
            _ => None,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record as a department submitted it, before standardization.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRecord {
    #[serde(default)]
    pub op: Op,
    pub fields: Fields,
}

impl RawRecord {
    pub fn new(op: Op, fields: Fields) -> Self {
        RawRecord { op, fields }
    }

    /// The text of a field, if present and scalar.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_names_are_shared_and_others_owned_and_all_compare_as_text() {
        let action_id = FieldName::new("action_id");
        assert_eq!(action_id.position(), Some(18));
        assert_eq!(FieldName::standard(18), Some(action_id.clone()));
        assert_eq!(FieldName::standard(STANDARD_FIELD_NAMES.len() as u8), None);
        let own = FieldName::from("zz_local".to_string());
        assert_eq!(own.position(), None);
        assert_eq!(&*own, "zz_local");
        // Ordered by text whatever the representation, so maps stay in name order.
        let mut names = [own.clone(), action_id.clone(), FieldName::new("address")];
        names.sort();
        let texts: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        assert_eq!(texts, ["action_id", "address", "zz_local"]);
        let mut fields = Fields::new();
        fields.insert(own, Value::from("x"));
        assert_eq!(fields.get("zz_local"), Some(&Value::from("x")));
        assert_eq!(
            serde_json::to_string(&fields).unwrap(),
            r#"{"zz_local":"x"}"#
        );
        let back: Fields = serde_json::from_str(r#"{"action_id":"a"}"#).unwrap();
        assert_eq!(back.keys().next().unwrap().position(), Some(18));
    }

    #[test]
    fn value_is_untagged_in_json() {
        let v = Value::List(vec!["A1".into(), "A2".into()]);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"["A1","A2"]"#);
        assert_eq!(
            serde_json::from_str::<Value>(r#""x""#).unwrap(),
            Value::from("x")
        );
        assert_eq!(
            serde_json::from_str::<Value>(r#"["a"]"#).unwrap(),
            Value::List(vec!["a".into()])
        );
    }
}
