//! Reads that answer clients and feed governance: lookups, queries, the queue, the
//! indicators and the counts. They read committed state only.

use std::collections::BTreeMap;

use regfed_governance::indicators::{coverage, Counters, Ratio};
use regfed_governance::{Fields, Lookup, RegionTable, RulePack, Value};
use serde::de::DeserializeOwned;

use super::keys;
use super::model::{ChangeRef, KeyState, QueueEntry, QueueStatus, VersionRecord};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored value at {key} does not decode: {source}")]
    Decode { key: String, source: serde_json::Error },
    #[error("cursor {0:?} is not one this node gave out (expected a number)")]
    BadCursor(String),
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, ReadError> {
    serde_json::from_slice(bytes).map_err(|source| ReadError::Decode {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

fn get<T: DeserializeOwned>(store: &Store, key: &[u8]) -> Result<Option<T>, ReadError> {
    match store.get(key)? {
        Some(bytes) => decode(key, &bytes).map(Some),
        None => Ok(None),
    }
}

/// Governance's view of the node: registered departments and accepted records.
pub struct StoreLookup<'a> {
    pub store: &'a Store,
    pub departments: &'a BTreeMap<String, String>,
}

impl Lookup for StoreLookup<'_> {
    fn department(&self, code: &str) -> Option<String> {
        self.departments.get(code).cloned()
    }

    fn accepted(&self, dataset: &str, key: &str) -> Option<Fields> {
        // A read failure here means the store is failing; governance then sees the
        // reference as missing and rejects, and the failure is logged.
        match get::<KeyState>(self.store, &keys::key_state(dataset, key)) {
            Ok(state) => state.and_then(|s| s.live_fields().cloned()),
            Err(error) => {
                tracing::error!(%error, dataset, key, "Lookup failed.");
                None
            }
        }
    }
}

pub fn key_state(store: &Store, dataset: &str, key: &str) -> Result<Option<KeyState>, ReadError> {
    get(store, &keys::key_state(dataset, key))
}

pub fn version(store: &Store, dataset: &str, key: &str, version: u64) -> Result<Option<VersionRecord>, ReadError> {
    get(store, &keys::version(dataset, key, version))
}

/// Every version of a key, oldest first.
pub fn history(store: &Store, dataset: &str, key: &str) -> Result<Vec<VersionRecord>, ReadError> {
    store
        .scan_prefix(&keys::version_prefix(dataset, key))
        .map(|r| {
            let (k, v) = r?;
            decode(&k, &v)
        })
        .collect()
}

/// One page of accepted changes of a data set in commit order.
pub struct QueryPage {
    pub records: Vec<VersionRecord>,
    /// Resume after this; the input cursor when the page is empty.
    pub cursor: String,
    pub more: bool,
}

/// Accepted changes of `dataset` after `cursor`, at most `limit`, optionally only those
/// whose `region_code` lies within `region`.
pub fn query(
    store: &Store,
    regions: &RegionTable,
    dataset: &str,
    cursor: &str,
    limit: usize,
    region: Option<&regfed_governance::Region>,
) -> Result<QueryPage, ReadError> {
    let after: u64 = if cursor.is_empty() {
        0
    } else {
        cursor.parse().map_err(|_| ReadError::BadCursor(cursor.to_string()))?
    };
    let start = keys::change(dataset, after.saturating_add(1));
    let end = keys::prefix_end(&keys::change_prefix(dataset));
    let mut records = Vec::new();
    let mut last = after;
    let mut more = false;
    for r in store.scan_range(&start, &end) {
        let (k, v) = r?;
        if records.len() >= limit {
            more = true;
            break;
        }
        let seq = std::str::from_utf8(&k)
            .ok()
            .and_then(|t| t.rsplit('/').next())
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(last);
        last = seq;
        let change: ChangeRef = decode(&k, &v)?;
        let Some(record) = version(store, dataset, &change.key, change.version)? else {
            continue;
        };
        if let Some(scope) = region {
            let within = record
                .fields
                .get("region_code")
                .and_then(Value::as_text)
                .and_then(|code| regfed_governance::Region::parse(code).ok())
                .is_some_and(|r| regions.is_within(&r, scope));
            if !within {
                continue;
            }
        }
        records.push(record);
    }
    Ok(QueryPage { records, cursor: last.to_string(), more })
}

/// The rectification queue, optionally of one department, open entries only unless
/// `include_rectified`.
pub fn queue(store: &Store, department: Option<&str>, include_rectified: bool) -> Result<Vec<QueueEntry>, ReadError> {
    let mut entries = Vec::new();
    for r in store.scan_prefix(&keys::queue_prefix(department)) {
        let (k, v) = r?;
        let entry: QueueEntry = decode(&k, &v)?;
        if include_rectified || entry.status == QueueStatus::Open {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// Accepted, not deleted, records per data set.
pub fn live_counts(store: &Store, pack: &RulePack) -> Result<BTreeMap<String, u64>, ReadError> {
    let mut counts = BTreeMap::new();
    for spec in pack.datasets() {
        let n: i64 = get(store, format!("_meta/live/{}", spec.name).as_bytes())?.unwrap_or(0);
        counts.insert(spec.name.clone(), n.max(0) as u64);
    }
    Ok(counts)
}

/// Accepted changes not yet acknowledged upstream.
pub fn outbox_pending(store: &Store) -> Result<u64, ReadError> {
    let next: u64 = get(store, keys::NEXT_SEQ)?.unwrap_or(1);
    let acked: u64 = get(store, b"_meta/acked_seq")?.unwrap_or(0);
    Ok(next.saturating_sub(1).saturating_sub(acked))
}

/// The indicators of one department (or, with `department == None`, of a region).
#[derive(Clone, Debug, Default)]
pub struct StatsRow {
    pub region: String,
    pub department: Option<String>,
    pub counters: Counters,
    pub coverage: Ratio,
    pub open: u64,
}

/// Indicators for the period `from..=to` (ISO dates), per department and rolled up per
/// region, from each department's region up to `scope`. Roll-ups add numerators and
/// denominators.
pub fn stats(
    store: &Store,
    pack: &RulePack,
    regions: &RegionTable,
    scope: &regfed_governance::Region,
    from: &str,
    to: &str,
) -> Result<Vec<StatsRow>, ReadError> {
    let mut per_dept: BTreeMap<(String, String), StatsRow> = BTreeMap::new();
    for r in store.scan_prefix(keys::COUNTERS_PREFIX) {
        let (k, v) = r?;
        let Some((region, dept, day)) = keys::parse_counters(&k) else { continue };
        if day < from || day > to {
            continue;
        }
        let c: Counters = decode(&k, &v)?;
        row(&mut per_dept, region, dept).counters += c;
    }
    // Coverage: catalogue items of the covered types, by their department and origin.
    let covered_types = pack.coverage_item_types();
    for r in store.scan_prefix(&keys::key_state_prefix("item")) {
        let (k, v) = r?;
        let state: KeyState = decode(&k, &v)?;
        let Some(fields) = state.live_fields() else { continue };
        let text = |n: &str| fields.get(n).and_then(Value::as_text).unwrap_or("");
        if !covered_types.iter().any(|t| t == text("item_type")) {
            continue;
        }
        let (start, end) = keys::coverage_range(text("item_code"), from, to);
        let hit = store.any_in_range(&start, &end)?;
        let dept = text("department_code");
        row(&mut per_dept, &state.origin.region, dept).coverage += coverage([hit]);
    }
    for entry in queue(store, None, false)? {
        row(&mut per_dept, &entry.origin_region, &entry.department).open += 1;
    }

    let mut rollups: BTreeMap<String, StatsRow> = BTreeMap::new();
    for r in per_dept.values() {
        let Ok(mut region) = regfed_governance::Region::parse(&r.region) else { continue };
        loop {
            let up = rollups.entry(region.to_string()).or_insert_with(|| StatsRow {
                region: region.to_string(),
                department: None,
                ..StatsRow::default()
            });
            up.counters += r.counters.clone();
            up.coverage += r.coverage;
            up.open += r.open;
            if region == *scope {
                break;
            }
            match regions.parent(&region) {
                Some(p) => region = p,
                None => break,
            }
        }
    }
    rollups.entry(scope.to_string()).or_insert_with(|| StatsRow {
        region: scope.to_string(),
        department: None,
        ..StatsRow::default()
    });
    let mut rows: Vec<StatsRow> = rollups.into_values().collect();
    rows.extend(per_dept.into_values());
    Ok(rows)
}

fn row<'a>(rows: &'a mut BTreeMap<(String, String), StatsRow>, region: &str, dept: &str) -> &'a mut StatsRow {
    rows.entry((region.to_string(), dept.to_string())).or_insert_with(|| StatsRow {
        region: region.to_string(),
        department: Some(dept.to_string()),
        ..StatsRow::default()
    })
}
