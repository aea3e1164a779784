//! The byte encoding of everything the node stores and puts in its Raft log: postcard, a
//! compact binary serde format. One place, so the format can change with a migration.

use serde::de::DeserializeOwned;
use serde::Serialize;

pub type Error = postcard::Error;

/// State values (a stored record is a few hundred bytes) are encoded into a buffer kept
/// per thread and copied out once, rather than into a vector that grows, and is copied, a
/// few times on the way. Larger values go the other way.
const SCRATCH_BYTES: usize = 64 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Encodes a state value. Our types contain only strings, integers, maps and enums, which
/// postcard always encodes.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    encode_with(value, <[u8]>::to_vec)
}

/// Encodes a state value and hands its bytes to `take`, which copies them where they go.
pub fn encode_with<T: Serialize + ?Sized, R>(value: &T, take: impl FnOnce(&[u8]) -> R) -> R {
    let whole = |value: &T| postcard::to_stdvec(value).expect("state types encode with postcard");
    SCRATCH.with(|scratch| {
        let Ok(mut scratch) = scratch.try_borrow_mut() else {
            return take(&whole(value));
        };
        if scratch.is_empty() {
            scratch.resize(SCRATCH_BYTES, 0);
        }
        match postcard::to_slice(value, &mut scratch) {
            Ok(bytes) => take(bytes),
            Err(postcard::Error::SerializeBufferFull) => {
                drop(scratch);
                take(&whole(value))
            }
            Err(e) => panic!("state types encode with postcard: {e}"),
        }
    })
}

/// Encodes a Raft entry, message or snapshot (often megabytes: into a growing vector,
/// which measured faster than measuring first).
pub fn try_encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    postcard::to_stdvec(value)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    postcard::from_bytes(bytes)
}

/// `#[serde(with = "crate::codec::fields")]`: a record's fields with their names as
/// positions in [`STANDARD_FIELD_NAMES`]: a third of a stored record's bytes were its
/// field names. That list is append only, so a position, once given, names the same field
/// in every store and log ever written (see `store::FORMAT`). Names not listed, from a
/// rule pack of one's own, are stored as text.
pub mod fields {
    use std::fmt;

    use regfed_governance::{FieldName, Fields, Value};
    use serde::de::{self, SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[cfg(doc)]
    use regfed_governance::STANDARD_FIELD_NAMES;

    /// A stored field name. The two enums encode alike: same variants, same order.
    #[derive(Serialize)]
    enum NameOut<'a> {
        Known(u8),
        Text(&'a str),
    }

    #[derive(Deserialize)]
    enum NameIn {
        Known(u8),
        Text(String),
    }

    pub fn serialize<S: Serializer>(fields: &Fields, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(fields.len()))?;
        for (name, value) in fields {
            let name = match name.position() {
                Some(i) => NameOut::Known(i),
                None => NameOut::Text(name),
            };
            seq.serialize_element(&(name, value))?;
        }
        seq.end()
    }

    /// [`serialize`] for a borrowed field.
    pub fn serialize_ref<S: Serializer>(
        fields: &&Fields,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serialize(fields, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence of fields")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Fields, A::Error> {
                let mut fields = Fields::with_capacity(seq.size_hint().unwrap_or(0).min(256));
                while let Some((name, value)) = seq.next_element::<(NameIn, Value)>()? {
                    let name = match name {
                        NameIn::Known(i) => FieldName::standard(i).ok_or_else(|| {
                            de::Error::custom(format!(
                                "field number {i} is not one this build knows"
                            ))
                        })?,
                        NameIn::Text(name) => FieldName::from(name),
                    };
                    fields.insert(name, value);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_seq(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use regfed_governance::{FieldName, Fields, Value, STANDARD_FIELD_NAMES};

    #[test]
    fn fields_round_trip() {
        let mut fields = Fields::new();
        fields.insert("a".into(), Value::from("x"));
        fields.insert("b".into(), Value::List(vec!["1".into(), "2".into()]));
        let bytes = super::encode(&fields);
        assert_eq!(super::decode::<Fields>(&bytes).unwrap(), fields);
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Stored {
        #[serde(with = "super::fields")]
        fields: Fields,
    }

    #[test]
    fn known_names_are_stored_as_positions_and_others_as_text() {
        let mut fields = Fields::new();
        fields.insert("action_id".into(), Value::from("X"));
        fields.insert("officer_cert_nos".into(), Value::List(vec!["1".into()]));
        fields.insert("a_field_of_our_own".into(), Value::from("y"));
        let stored = Stored { fields };
        let bytes = super::encode(&stored);
        assert_eq!(super::decode::<Stored>(&bytes).unwrap(), stored);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("action_id") && text.contains("a_field_of_our_own"));
    }

    #[test]
    fn every_name_is_found_at_its_position() {
        for (i, name) in STANDARD_FIELD_NAMES.iter().enumerate() {
            assert_eq!(FieldName::new(name).position(), Some(i as u8), "{name}");
        }
        assert_eq!(FieldName::new("not_a_field").position(), None);
        assert_eq!(FieldName::new("").position(), None);
    }

    #[test]
    fn values_larger_than_the_scratch_buffer_encode_whole() {
        let big: Vec<String> = (0..20_000).map(|i| format!("value {i}")).collect();
        let bytes = super::encode(&big);
        assert!(bytes.len() > super::SCRATCH_BYTES);
        assert_eq!(super::decode::<Vec<String>>(&bytes).unwrap(), big);
        let small = super::encode(&"small");
        assert_eq!(super::decode::<String>(&small).unwrap(), "small");
    }

    #[test]
    fn every_field_of_the_builtin_pack_has_a_position() {
        let pack = regfed_governance::RulePack::builtin();
        for dataset in pack.datasets() {
            for field in &dataset.fields {
                assert!(
                    field.name.position().is_some(),
                    "{}.{} is not in STANDARD_FIELD_NAMES: append it (never insert)",
                    dataset.name,
                    field.name
                );
            }
        }
    }
}

/// A byte vector as one byte string (`#[serde(with = "crate::codec::bytes")]`): serde
/// would otherwise encode it byte by byte, as a sequence.
pub mod bytes {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_byte_buf(Bytes)
    }
}
