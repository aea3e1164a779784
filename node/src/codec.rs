//! The byte encoding of everything the node stores and puts in its Raft log: postcard, a
//! compact binary serde format. One place, so the format can change with a migration.

use serde::de::DeserializeOwned;
use serde::Serialize;

pub type Error = postcard::Error;

/// Encodes a value. Our types contain only strings, integers, maps and enums, which
/// postcard always encodes.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("state types encode with postcard")
}

pub fn try_encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    postcard::to_stdvec(value)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use regfed_governance::{Fields, Value};

    #[test]
    fn fields_round_trip() {
        let mut fields = Fields::new();
        fields.insert("a".into(), Value::from("x"));
        fields.insert("b".into(), Value::List(vec!["1".into(), "2".into()]));
        let bytes = super::encode(&fields);
        assert_eq!(super::decode::<Fields>(&bytes).unwrap(), fields);
    }
}
