//! [`Fields`]: a record's field values by name, in name order.
//!
//! A record has a score of fields, and its fields are built, copied, looked up and freed
//! at every step of every tier: decoded from the wire and from the store, standardized,
//! logged, applied. A `BTreeMap` spent an allocation per node and several per record on
//! that; here the fields are one vector kept sorted by name. Fields arrive in name order
//! from every encoding the node writes, so building them is a push per field, and a
//! lookup is a binary search over a few dozen names.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::record::{FieldName, Value};

/// A record's fields by field name, ordered by name so that serialization is
/// deterministic. Behaves as a map: one value per name, and inserting a name again
/// replaces its value.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Fields(Vec<(FieldName, Value)>);

/// The iterator over `&Fields`: names and values by reference, in name order.
pub type Iter<'a> = std::iter::Map<
    std::slice::Iter<'a, (FieldName, Value)>,
    fn(&'a (FieldName, Value)) -> (&'a FieldName, &'a Value),
>;

impl Fields {
    pub fn new() -> Self {
        Fields(Vec::new())
    }

    /// Empty, with room for `capacity` fields.
    pub fn with_capacity(capacity: usize) -> Self {
        Fields(Vec::with_capacity(capacity))
    }

    /// Room for `additional` more fields.
    pub fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Where `name` is, or where it would go.
    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.position(name).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets `name` to `value`, returning the value it replaces. A name after every name
    /// held (fields decoded in order) is a push.
    pub fn insert(&mut self, name: FieldName, value: Value) -> Option<Value> {
        if self.0.last().is_none_or(|(last, _)| *last < name) {
            self.0.push((name, value));
            return None;
        }
        match self.position(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.position(name).ok().map(|i| self.0.remove(i).1)
    }

    pub fn iter(&self) -> Iter<'_> {
        self.0.iter().map(|(name, value)| (name, value))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &FieldName> + ExactSizeIterator {
        self.0.iter().map(|(name, _)| name)
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a FieldName, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Fields {
    type Item = (FieldName, Value);
    type IntoIter = std::vec::IntoIter<(FieldName, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(FieldName, Value)> for Fields {
    /// As a map collects: a name given twice keeps its last value.
    fn from_iter<I: IntoIterator<Item = (FieldName, Value)>>(iter: I) -> Self {
        let mut fields = Fields::new();
        fields.extend(iter);
        fields
    }
}

impl Extend<(FieldName, Value)> for Fields {
    fn extend<I: IntoIterator<Item = (FieldName, Value)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.0.reserve(iter.size_hint().0);
        for (name, value) in iter {
            self.insert(name, value);
        }
    }
}

impl<const K: usize> From<[(FieldName, Value); K]> for Fields {
    fn from(pairs: [(FieldName, Value); K]) -> Self {
        pairs.into_iter().collect()
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = Value;
    /// The value of `name`; panics when there is none, as a map does.
    fn index(&self, name: &str) -> &Value {
        self.get(name)
            .unwrap_or_else(|| panic!("no field {name:?} in the record"))
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A map from name to value, as a `BTreeMap` of them would be.
impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, value) in self {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of field names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Fields::with_capacity(map.size_hint().unwrap_or(0).min(256));
                while let Some((name, value)) = map.next_entry::<FieldName, Value>()? {
                    fields.insert(name, value);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn text(s: &str) -> Value {
        Value::from(s)
    }

    #[test]
    fn behaves_as_a_map_kept_in_name_order() {
        // The same operations on a BTreeMap and on Fields end with the same contents.
        let ops: &[(&str, Option<&str>)] = &[
            ("item_code", Some("1")),
            ("action_id", Some("2")),
            ("zz_local", Some("3")),
            ("action_id", Some("4")),
            ("address", Some("5")),
            ("item_code", None),
            ("b_local", Some("6")),
            ("missing", None),
            ("zz_local", Some("7")),
        ];
        let mut fields = Fields::new();
        let mut map = BTreeMap::new();
        for (name, value) in ops {
            match value {
                Some(v) => assert_eq!(
                    fields.insert(FieldName::new(name), text(v)),
                    map.insert(FieldName::new(name), text(v)),
                    "insert {name}"
                ),
                None => assert_eq!(fields.remove(name), map.remove(*name), "remove {name}"),
            }
            let ours: Vec<_> = fields.iter().collect();
            let theirs: Vec<_> = map.iter().collect();
            assert_eq!(ours, theirs);
        }
        for name in ["action_id", "item_code", "zz_local", "nothing", ""] {
            assert_eq!(fields.get(name), map.get(name), "get {name}");
            assert_eq!(fields.contains_key(name), map.contains_key(name));
        }
        assert_eq!(fields.len(), map.len());
        assert_eq!(
            serde_json::to_string(&fields).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
    }

    #[test]
    fn collecting_keeps_the_last_value_of_a_repeated_name_and_sorts() {
        let fields: Fields = [("b", "1"), ("a", "2"), ("b", "3")]
            .map(|(n, v)| (FieldName::new(n), text(v)))
            .into();
        let pairs: Vec<(&str, &Value)> = fields.iter().map(|(n, v)| (n.as_str(), v)).collect();
        assert_eq!(pairs, [("a", &text("2")), ("b", &text("3"))]);
    }

    #[test]
    fn reads_json_in_any_order_and_writes_it_in_name_order() {
        let fields: Fields =
            serde_json::from_str(r#"{"zz":"1","aa":["x","y"],"mm":"2","aa":"3"}"#).unwrap();
        assert_eq!(fields.get("aa"), Some(&text("3")));
        assert_eq!(
            serde_json::to_string(&fields).unwrap(),
            r#"{"aa":"3","mm":"2","zz":"1"}"#
        );
    }
}
