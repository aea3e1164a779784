//! Field values and field maps.

use std::collections::HashMap;

use regfed_governance::{FieldName, Fields, Text, Value};
use regfed_proto::v1 as pb;

/// A value on the wire.
pub fn to_pb(value: &Value) -> pb::Value {
    let kind = match value {
        Value::Text(t) => pb::value::Kind::Text(t.to_string()),
        Value::List(items) => pb::value::Kind::List(pb::StringList {
            items: items.clone(),
        }),
    };
    pb::Value { kind: Some(kind) }
}

/// A wire value; a value with no kind set reads as empty text.
pub fn from_pb(value: pb::Value) -> Value {
    match value.kind {
        Some(pb::value::Kind::Text(t)) => Value::Text(t.into()),
        Some(pb::value::Kind::List(l)) => Value::List(l.items),
        None => Value::Text(Text::default()),
    }
}

pub fn fields_to_pb(fields: &Fields) -> HashMap<String, pb::Value> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), to_pb(v)))
        .collect()
}

/// Fields as a notice carries them: a list of named values.
pub fn fields_to_pb_list(fields: &Fields) -> Vec<pb::Field> {
    fields
        .iter()
        .map(|(k, v)| pb::Field {
            name: k.to_string(),
            value: Some(to_pb(v)),
        })
        .collect()
}

/// A notice's field list; a repeated name keeps its last value, a missing value is empty.
pub fn fields_from_pb_list(fields: Vec<pb::Field>) -> Fields {
    fields
        .into_iter()
        .map(|f| {
            (
                FieldName::from(f.name),
                f.value
                    .map(from_pb)
                    .unwrap_or_else(|| Value::Text(Text::default())),
            )
        })
        .collect()
}
