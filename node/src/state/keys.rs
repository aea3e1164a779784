//! The layout of the state machine's key space. Every key is text with `/` separators;
//! numbers are zero-padded so that byte order is numeric order.
//!
//! | prefix | value | what |
//! |---|---|---|
//! | `key/{dataset}/{bucket}` | slots of [`KeyState`](super::KeyState)s | the latest version and the accepted one, of up to ten keys numbered together (`bucket.rs`) |
//! | `ver/{dataset}/{key}/{version}` | [`VersionRecord`](super::VersionRecord) | every older version |
//! | `chg/{first seq}` | `Vec<`[`OutboxEntry`](super::OutboxEntry)`>` | accepted changes in commit order, up to 64 per key (`CHANGES_PER_KEY`): query cursor and upward outbox |
//! | `que/{department}/{dataset}/{key}` | [`QueueEntry`](super::QueueEntry) | rectification queue |
//! | `ctr/{region}/{department}/{month}` | `BTreeMap<day, Counters>` | indicator counters, a month of days to a key |
//! | `cov/{item_code}` | `BTreeMap<date, count>` | accepted actions per item and day, for coverage |
//! | `aud/{log_index}` or `aud/{log_index}.{position}` | [`AuditEvent`](super::model::AuditEvent) | who did what; a position for the later commands of a grouped entry |
//! | `_meta/...` | | last applied log id, membership, next sequence number |

/// Escapes a value used as a key segment so that it cannot contain the separator.
pub fn seg(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains(['/', '%']) {
        value.replace('%', "%25").replace('/', "%2F").into()
    } else {
        value.into()
    }
}

pub const LAST_APPLIED: &[u8] = b"_meta/last_applied";
pub const MEMBERSHIP: &[u8] = b"_meta/membership";
pub const NEXT_SEQ: &[u8] = b"_meta/next_seq";

/// Small values that every batch reads: counters, coverage and the metadata (the store
/// keeps them in memory).
pub const HOT_PREFIXES: &[&[u8]] = &[b"ctr/", b"cov/", b"_meta/"];

/// The prefix of every key state.
pub const KEY_STATE_PREFIX: &[u8] = b"key/";

/// The key of the bucket holding `key`'s state, and its slot there (see `bucket.rs`).
pub fn key_state<'k>(dataset: &str, key: &'k str) -> (Vec<u8>, &'k str) {
    let (bucket, slot) = super::bucket::locate(key);
    (key_state_bucket(dataset, bucket), slot)
}

fn key_state_bucket(dataset: &str, bucket: &str) -> Vec<u8> {
    // Built by hand: this key is made for every record applied, at every tier.
    let key = seg(bucket);
    let mut bytes = Vec::with_capacity(KEY_STATE_PREFIX.len() + dataset.len() + 1 + key.len());
    bytes.extend_from_slice(KEY_STATE_PREFIX);
    bytes.extend_from_slice(dataset.as_bytes());
    bytes.push(b'/');
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

/// The record key whose state is in `slot` of the bucket at `bucket_key` of `dataset`:
/// [`key_state`] undone. `None` for a key not of that data set's key states.
pub fn record_key(dataset: &str, bucket_key: &[u8], slot: &str) -> Option<String> {
    let bucket = bucket_key
        .strip_prefix(KEY_STATE_PREFIX)?
        .strip_prefix(dataset.as_bytes())?
        .strip_prefix(b"/")?;
    let bucket = std::str::from_utf8(bucket).ok()?;
    Some(unseg(bucket) + slot)
}

/// [`seg`] undone.
fn unseg(segment: &str) -> String {
    segment.replace("%2F", "/").replace("%25", "%")
}

pub fn key_state_prefix(dataset: &str) -> Vec<u8> {
    format!("key/{dataset}/").into_bytes()
}

pub fn version(dataset: &str, key: &str, version: u64) -> Vec<u8> {
    format!("ver/{dataset}/{}/{version:010}", seg(key)).into_bytes()
}

pub fn version_prefix(dataset: &str, key: &str) -> Vec<u8> {
    format!("ver/{dataset}/{}/", seg(key)).into_bytes()
}

pub fn change(seq: u64) -> Vec<u8> {
    format!("chg/{seq:020}").into_bytes()
}

pub const CHANGE_PREFIX: &[u8] = b"chg/";

/// The highest change sequence number the parent tier has acknowledged.
pub const ACKED_SEQ: &[u8] = b"_meta/acked_seq";

pub fn live_count(dataset: &str) -> Vec<u8> {
    format!("_meta/live/{dataset}").into_bytes()
}

pub fn queue(department: &str, dataset: &str, key: &str) -> Vec<u8> {
    format!("que/{}/{dataset}/{}", seg(department), seg(key)).into_bytes()
}

pub fn queue_prefix(department: Option<&str>) -> Vec<u8> {
    match department {
        Some(d) => format!("que/{}/", seg(d)).into_bytes(),
        None => b"que/".to_vec(),
    }
}

/// The counters of a day (`YYYY-MM-DD`) are kept with the rest of its month's, under one
/// key: a batch of actions dated over a quarter touched a hundred day keys, each a sled
/// insert, where it now touches a few month keys.
pub fn counters(region: &str, department: &str, day: &str) -> Vec<u8> {
    let mut key = Vec::new();
    counters_into(&mut key, region, department, day);
    key
}

/// [`counters`] into a reused buffer.
pub fn counters_into(key: &mut Vec<u8>, region: &str, department: &str, day: &str) {
    key.clear();
    for part in [
        &b"ctr/"[..],
        region.as_bytes(),
        b"/",
        seg(department).as_bytes(),
        b"/",
        counters_month(day).as_bytes(),
    ] {
        key.extend_from_slice(part);
    }
}

/// The month of a day, `YYYY-MM`; a day not of that form is a month of its own.
fn counters_month(day: &str) -> &str {
    match day.get(..7) {
        Some(month) if day.len() == 10 && day.as_bytes()[7] == b'-' => month,
        _ => day,
    }
}

pub const COUNTERS_PREFIX: &[u8] = b"ctr/";

/// Parses a counters key back into (region, department, month).
pub fn parse_counters(key: &[u8]) -> Option<(&str, &str, &str)> {
    let text = std::str::from_utf8(key).ok()?.strip_prefix("ctr/")?;
    let mut parts = text.splitn(3, '/');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

pub fn coverage(item_code: &str) -> Vec<u8> {
    format!("cov/{}", seg(item_code)).into_bytes()
}

/// The audit event of the command at `position` in the log entry at `log_index`; the
/// first command of an entry keeps the plain key, so keys sort in commit order.
pub fn audit(log_index: u64, position: u32) -> Vec<u8> {
    match position {
        0 => format!("aud/{log_index:020}").into_bytes(),
        p => format!("aud/{log_index:020}.{p:04}").into_bytes(),
    }
}

pub const AUDIT_PREFIX: &[u8] = b"aud/";

/// The exclusive end of a prefix scan: the prefix with its last byte incremented.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

/// The highest change of a child (by its region) this node has committed.
pub fn link_high_water(child: &str) -> Vec<u8> {
    format!("_meta/link/{child}/high_water").into_bytes()
}

/// The next notice sequence number for a child link.
pub fn notice_next(child: &str) -> Vec<u8> {
    format!("_meta/link/{child}/notice_next").into_bytes()
}

/// A notice waiting to go down to a child (and kept once sent, as the record of it).
pub fn notice(child: &str, seq: u64) -> Vec<u8> {
    format!("ntc/{child}/{seq:020}").into_bytes()
}

pub fn notice_prefix(child: &str) -> Vec<u8> {
    format!("ntc/{child}/").into_bytes()
}

/// The highest notice from the parent this node has applied.
pub const NOTICES_APPLIED: &[u8] = b"_meta/notices_applied";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_state_key_escapes_its_bucket_and_sorts_under_its_prefix() {
        assert_eq!(
            key_state("action", "A-12"),
            (b"key/action/A-1".to_vec(), "2")
        );
        assert_eq!(
            key_state("action", "A-1X"),
            (b"key/action/A-1X".to_vec(), "")
        );
        assert_eq!(
            key_state("item", "a/b%c3"),
            (b"key/item/a%2Fb%25c".to_vec(), "3")
        );
        assert!(key_state("item", "x")
            .0
            .starts_with(&key_state_prefix("item")));
        for key in ["A-12", "a/b%c3", "%2F/%252", "编号", ""] {
            let (bucket, slot) = key_state("item", key);
            assert_eq!(record_key("item", &bucket, slot).as_deref(), Some(key));
            assert_eq!(record_key("action", &bucket, slot), None);
        }
    }

    #[test]
    fn a_days_counters_are_kept_under_its_months_key() {
        assert_eq!(
            counters("420100", "D/1", "2026-11-05"),
            b"ctr/420100/D%2F1/2026-11"
        );
        assert_eq!(
            parse_counters(b"ctr/420100/D/2026-11"),
            Some(("420100", "D", "2026-11"))
        );
        // Not a day: a month of its own, never a panic.
        assert_eq!(counters("420100", "D", "2026-1"), b"ctr/420100/D/2026-1");
        assert_eq!(
            counters("420100", "D", "二〇二六年十一月五"),
            "ctr/420100/D/二〇二六年十一月五".as_bytes()
        );
    }
}
