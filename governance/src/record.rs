//! Records as departments submit them and as the node stores them: a data set name, an
//! operation and a map of field values.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A field's value: text for every scalar type, a list for `list` fields.
///
/// In human-readable formats (JSON, TOML) it is untagged, so a record's fields read
/// naturally: `{"item_code": "420100JC00001", "officer_cert_nos": ["A1", "A2"]}`. In
/// binary formats, which cannot guess a type from the data, it is a tagged enum.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Text(String),
    List(Vec<String>),
}

/// The binary representation of [`Value`].
#[derive(Serialize, Deserialize)]
enum TaggedValue {
    Text(String),
    List(Vec<String>),
}

/// The human-readable representation of [`Value`].
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum UntaggedValue {
    Text(String),
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
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

/// A record's fields by field name, ordered so that serialization is deterministic.
pub type Fields = BTreeMap<String, Value>;

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
