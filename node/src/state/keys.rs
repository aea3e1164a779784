//! The layout of the state machine's key space. Every key is text with `/` separators;
//! numbers are zero-padded so that byte order is numeric order.
//!
//! | prefix | value | what |
//! |---|---|---|
//! | `key/{dataset}/{key}` | [`KeyState`](super::KeyState) | latest version, current accepted fields |
//! | `ver/{dataset}/{key}/{version}` | [`VersionRecord`](super::VersionRecord) | every version ever submitted |
//! | `chg/{dataset}/{seq}` | `(key, version)` | accepted changes in commit order (query cursor) |
//! | `out/{seq}` | [`OutboxEntry`](super::OutboxEntry) | accepted changes not yet acked upstream |
//! | `que/{department}/{dataset}/{key}` | [`QueueEntry`](super::QueueEntry) | rectification queue |
//! | `ctr/{region}/{department}/{day}` | `Counters` | indicator counters |
//! | `cov/{item_code}/{action_date}/{action_id}` | empty | accepted actions per item, for coverage |
//! | `aud/{log_index}` | [`AuditEvent`](super::model::AuditEvent) | who did what |
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

pub fn key_state(dataset: &str, key: &str) -> Vec<u8> {
    format!("key/{dataset}/{}", seg(key)).into_bytes()
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

pub fn change(dataset: &str, seq: u64) -> Vec<u8> {
    format!("chg/{dataset}/{seq:020}").into_bytes()
}

pub fn change_prefix(dataset: &str) -> Vec<u8> {
    format!("chg/{dataset}/").into_bytes()
}

pub fn outbox(seq: u64) -> Vec<u8> {
    format!("out/{seq:020}").into_bytes()
}

pub const OUTBOX_PREFIX: &[u8] = b"out/";

pub fn queue(department: &str, dataset: &str, key: &str) -> Vec<u8> {
    format!("que/{}/{dataset}/{}", seg(department), seg(key)).into_bytes()
}

pub fn queue_prefix(department: Option<&str>) -> Vec<u8> {
    match department {
        Some(d) => format!("que/{}/", seg(d)).into_bytes(),
        None => b"que/".to_vec(),
    }
}

pub fn counters(region: &str, department: &str, day: &str) -> Vec<u8> {
    format!("ctr/{region}/{}/{day}", seg(department)).into_bytes()
}

pub const COUNTERS_PREFIX: &[u8] = b"ctr/";

/// Parses a counters key back into (region, department, day).
pub fn parse_counters(key: &[u8]) -> Option<(&str, &str, &str)> {
    let text = std::str::from_utf8(key).ok()?.strip_prefix("ctr/")?;
    let mut parts = text.splitn(3, '/');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

pub fn coverage(item_code: &str, action_date: &str, action_id: &str) -> Vec<u8> {
    format!("cov/{}/{action_date}/{}", seg(item_code), seg(action_id)).into_bytes()
}

/// The key range of actions of `item_code` dated `from..=to` (ISO dates compare as text).
pub fn coverage_range(item_code: &str, from: &str, to: &str) -> (Vec<u8>, Vec<u8>) {
    let item = seg(item_code);
    (format!("cov/{item}/{from}").into_bytes(), format!("cov/{item}/{to}0").into_bytes())
}

pub fn audit(log_index: u64) -> Vec<u8> {
    format!("aud/{log_index:020}").into_bytes()
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
