//! Reads that answer clients and feed governance: lookups, queries, the queue, the
//! indicators and the counts. They read committed state only.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use regfed_governance::indicators::{coverage, Counters, Ratio};
use regfed_governance::{Fields, Lookup, RegionTable, RulePack, Value};
use serde::de::DeserializeOwned;

use super::model::{KeyState, OutboxEntry, QueueEntry, QueueStatus, VersionRecord};
use super::{bucket, keys};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored value at {key} does not decode: {source}")]
    Decode {
        key: String,
        source: crate::codec::Error,
    },
    #[error("cursor {0:?} is not one this node gave out (expected a number)")]
    BadCursor(String),
    #[error("the store is missing the {0}")]
    Missing(String),
    #[error(transparent)]
    Bucket(#[from] bucket::DamagedAt),
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, ReadError> {
    crate::codec::decode(bytes).map_err(|source| ReadError::Decode {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

/// The state of `key` of `dataset` in a slot of the bucket at `bucket_key`.
fn decode_key_state(
    bucket_key: &[u8],
    dataset: &str,
    key: &str,
    bytes: &[u8],
) -> Result<KeyState, ReadError> {
    KeyState::decode(dataset, key, bytes).map_err(|source| ReadError::Decode {
        key: String::from_utf8_lossy(bucket_key).into_owned(),
        source,
    })
}

fn get<T: DeserializeOwned>(store: &Store, key: &[u8]) -> Result<Option<T>, ReadError> {
    match store.get(key)? {
        Some(bytes) => decode(key, &bytes).map(Some),
        None => Ok(None),
    }
}

/// Accepted fields (or their absence) by data set, then key.
type LookupCache = HashMap<String, HashMap<String, Option<Rc<Fields>>>>;

/// Governance's view of the node: registered departments and accepted records. Records
/// read once are kept for the life of the lookup (one batch), since the actions of a batch
/// keep referring to the same items, officers and subjects.
pub struct StoreLookup<'a> {
    store: &'a Store,
    departments: &'a BTreeMap<String, crate::config::Department>,
    /// Data set, then key: looked up by `&str` without allocating.
    cache: std::cell::RefCell<LookupCache>,
}

impl<'a> StoreLookup<'a> {
    pub fn new(
        store: &'a Store,
        departments: &'a BTreeMap<String, crate::config::Department>,
    ) -> Self {
        StoreLookup {
            store,
            departments,
            cache: Default::default(),
        }
    }

    fn fetch(&self, dataset: &str, key: &str) -> Option<Rc<Fields>> {
        if let Some(hit) = self.cache.borrow().get(dataset).and_then(|m| m.get(key)) {
            return hit.clone();
        }
        // A read failure means the store is failing; governance then sees the reference as
        // missing and rejects, and the failure is logged.
        let fields = match key_state(self.store, dataset, key) {
            Ok(state) => state.and_then(|s| s.live_fields().cloned()).map(Rc::new),
            Err(error) => {
                tracing::error!(%error, dataset, key, "Lookup failed.");
                None
            }
        };
        self.cache
            .borrow_mut()
            .entry(dataset.to_string())
            .or_default()
            .insert(key.to_string(), fields.clone());
        fields
    }
}

impl Lookup for StoreLookup<'_> {
    fn department(&self, code: &str) -> Option<String> {
        self.departments.get(code).map(|d| d.name.clone())
    }

    fn is_department(&self, code: &str) -> bool {
        self.departments.contains_key(code)
    }

    fn accepted(&self, dataset: &str, key: &str) -> Option<Fields> {
        self.fetch(dataset, key).map(|f| (*f).clone())
    }

    fn visit_accepted(&self, dataset: &str, key: &str, visit: &mut dyn FnMut(&Fields)) -> bool {
        match self.fetch(dataset, key) {
            Some(fields) => {
                visit(&fields);
                true
            }
            None => false,
        }
    }
}

pub fn key_state(store: &Store, dataset: &str, key: &str) -> Result<Option<KeyState>, ReadError> {
    LastBucket::default().key_state(store, dataset, key)
}

/// The last key state bucket read, kept for the next read: changes in commit order are
/// mostly of keys numbered together, so the outbox reads each bucket once, not once per
/// slot. Reads through it see the bucket as it was at its first read.
#[derive(Default)]
struct LastBucket {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
}

impl LastBucket {
    fn key_state(
        &mut self,
        store: &Store,
        dataset: &str,
        key: &str,
    ) -> Result<Option<KeyState>, ReadError> {
        let (bucket_key, slot) = keys::key_state(dataset, key);
        if bucket_key != self.key {
            self.value = store.get(&bucket_key)?;
            self.key = bucket_key;
        }
        let Some(bucket) = &self.value else {
            return Ok(None);
        };
        match bucket::get(bucket, slot) {
            Ok(Some(state)) => decode_key_state(&self.key, dataset, key, state).map(Some),
            Ok(None) => Ok(None),
            Err(damaged) => Err(damaged.at(&self.key).into()),
        }
    }
}

/// One version of a key: the latest lives in the key's state, older ones under `ver/`.
pub fn version(
    store: &Store,
    dataset: &str,
    key: &str,
    version: u64,
) -> Result<Option<VersionRecord>, ReadError> {
    version_after(&mut LastBucket::default(), store, dataset, key, version)
}

/// [`version`], reading the key's bucket through `last`.
fn version_after(
    last: &mut LastBucket,
    store: &Store,
    dataset: &str,
    key: &str,
    version: u64,
) -> Result<Option<VersionRecord>, ReadError> {
    if let Some(state) = last.key_state(store, dataset, key)? {
        if state.latest.version == version {
            return Ok(Some(state.latest));
        }
    }
    get(store, &keys::version(dataset, key, version))
}

/// Every version of a key, oldest first.
pub fn history(store: &Store, dataset: &str, key: &str) -> Result<Vec<VersionRecord>, ReadError> {
    let mut versions = store
        .scan_prefix(&keys::version_prefix(dataset, key))
        .map(|r| {
            let (k, v) = r?;
            decode(&k, &v)
        })
        .collect::<Result<Vec<VersionRecord>, ReadError>>()?;
    if let Some(state) = key_state(store, dataset, key)? {
        versions.push(state.latest);
    }
    Ok(versions)
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
        cursor
            .parse()
            .map_err(|_| ReadError::BadCursor(cursor.to_string()))?
    };
    let mut records = Vec::new();
    let mut last = after;
    let mut more = false;
    for_changes_after(store, after, |change| {
        if change.dataset != dataset {
            last = change.seq;
            return Ok(true);
        }
        if records.len() >= limit {
            more = true;
            return Ok(false);
        }
        last = change.seq;
        let Some(record) = version(store, dataset, &change.key, change.version)? else {
            return Ok(true);
        };
        if let Some(scope) = region {
            // The record's own region where it has one, else its origin's.
            let within = record
                .fields
                .get("region_code")
                .and_then(Value::as_text)
                .unwrap_or(&record.origin.region);
            let within = regfed_governance::Region::parse(within)
                .is_ok_and(|r| regions.is_within(&r, scope));
            if !within {
                return Ok(true);
            }
        }
        records.push(record);
        Ok(true)
    })?;
    Ok(QueryPage {
        records,
        cursor: last.to_string(),
        more,
    })
}

/// Calls `visit` with every accepted change after sequence number `after`, in order, until
/// it answers false.
fn for_changes_after(
    store: &Store,
    after: u64,
    mut visit: impl FnMut(OutboxEntry) -> Result<bool, ReadError>,
) -> Result<(), ReadError> {
    // Changes are stored in groups keyed by their first sequence number: start from the
    // group that holds `after + 1`.
    let end = keys::prefix_end(keys::CHANGE_PREFIX);
    let wanted = keys::change(after.saturating_add(1));
    let start = match store.last_in_range(keys::CHANGE_PREFIX, &keys::prefix_end(&wanted))? {
        Some((k, _)) => k,
        None => wanted,
    };
    for r in store.scan_range(&start, &end) {
        let (k, v) = r?;
        let group: Vec<OutboxEntry> = decode(&k, &v)?;
        for change in group {
            if change.seq > after && !visit(change)? {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Up to `limit` accepted changes after `after`, each with the version it made, as
/// `up` makes them into the next upward batch. Changes are contiguous from `after + 1`.
/// The versions are read (and made up) on all cores: a batch's reads are independent.
pub fn outbox_batch<R: Send>(
    store: &Store,
    after: u64,
    limit: usize,
    up: impl Fn(OutboxEntry, VersionRecord) -> R + Sync,
) -> Result<Vec<R>, ReadError> {
    let mut changes = Vec::new();
    for_changes_after(store, after, |change| {
        changes.push(change);
        Ok(changes.len() < limit)
    })?;
    let parts = crate::par::in_parts(changes, |part| {
        // The changes were read first: every bucket read after holds their versions.
        let mut last = LastBucket::default();
        part.into_iter()
            .map(|change| {
                let record = version_after(
                    &mut last,
                    store,
                    &change.dataset,
                    &change.key,
                    change.version,
                )?
                .ok_or_else(|| {
                    ReadError::Missing(format!(
                        "version {} of {} {} named by change {}",
                        change.version, change.dataset, change.key, change.seq
                    ))
                })?;
                Ok(up(change, record))
            })
            .collect::<Result<Vec<R>, ReadError>>()
    });
    let mut batch = Vec::with_capacity(limit);
    for part in parts {
        batch.extend(part?);
    }
    Ok(batch)
}

/// The highest change sequence number committed here.
pub fn last_seq(store: &Store) -> Result<u64, ReadError> {
    Ok(get::<u64>(store, keys::NEXT_SEQ)?.unwrap_or(1) - 1)
}

/// The highest change the parent acknowledged, as replicated here.
pub fn parent_acked(store: &Store) -> Result<u64, ReadError> {
    Ok(get(store, keys::ACKED_SEQ)?.unwrap_or(0))
}

/// The highest notice from the parent applied here.
pub fn notices_applied(store: &Store) -> Result<u64, ReadError> {
    Ok(get(store, keys::NOTICES_APPLIED)?.unwrap_or(0))
}

/// The child's changes committed here.
pub fn link_high_water(store: &Store, child: &str) -> Result<u64, ReadError> {
    Ok(get(store, &keys::link_high_water(child))?.unwrap_or(0))
}

/// Notices for a child after `after`, at most `limit`.
pub fn notices_after(
    store: &Store,
    child: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<crate::state::model::Notice>, ReadError> {
    let start = keys::notice(child, after.saturating_add(1));
    let end = keys::prefix_end(&keys::notice_prefix(child));
    store
        .scan_range(&start, &end)
        .take(limit)
        .map(|r| {
            let (k, v) = r?;
            decode(&k, &v)
        })
        .collect()
}

/// The rectification queue, optionally of one department, open entries only unless
/// `include_rectified`.
pub fn queue(
    store: &Store,
    department: Option<&str>,
    include_rectified: bool,
) -> Result<Vec<QueueEntry>, ReadError> {
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
        let n: i64 = get(store, &keys::live_count(&spec.name))?.unwrap_or(0);
        counts.insert(spec.name.clone(), n.max(0) as u64);
    }
    Ok(counts)
}

/// Accepted changes not yet acknowledged upstream.
pub fn outbox_pending(store: &Store) -> Result<u64, ReadError> {
    let cursor = regfed_sync::OutboxCursor {
        next_seq: get(store, keys::NEXT_SEQ)?.unwrap_or(1),
        acked: get(store, keys::ACKED_SEQ)?.unwrap_or(0),
    };
    Ok(cursor.pending())
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
        let Some((region, dept, _)) = keys::parse_counters(&k) else {
            continue;
        };
        let days: BTreeMap<String, Counters> = decode(&k, &v)?;
        let in_range = days
            .iter()
            .filter(|(day, _)| from <= day.as_str() && day.as_str() <= to);
        for (_, c) in in_range {
            row(&mut per_dept, region, dept).counters += c.clone();
        }
    }
    // Coverage: catalogue items of the covered types, by their department and origin.
    let covered_types = pack.coverage_item_types();
    for r in store.scan_prefix(&keys::key_state_prefix("item")) {
        let (k, v) = r?;
        for entry in bucket::entries(&v) {
            let (slot, state) = entry.map_err(|e| e.at(&k))?;
            // Always a key: the scan is of the item buckets.
            let key = keys::record_key("item", &k, slot).unwrap_or_default();
            let state = decode_key_state(&k, "item", &key, state)?;
            let Some(fields) = state.live_fields() else {
                continue;
            };
            let text = |n: &str| fields.get(n).and_then(Value::as_text).unwrap_or("");
            if !covered_types.iter().any(|t| t == text("item_type")) {
                continue;
            }
            let days: BTreeMap<String, u32> =
                get(store, &keys::coverage(text("item_code")))?.unwrap_or_default();
            let hit = days
                .range(from.to_string()..=to.to_string())
                .any(|(_, n)| *n > 0);
            let dept = text("department_code");
            row(&mut per_dept, &state.origin.region, dept).coverage += coverage([hit]);
        }
    }
    for entry in queue(store, None, false)? {
        row(&mut per_dept, &entry.origin_region, &entry.department).open += 1;
    }

    let mut rollups: BTreeMap<String, StatsRow> = BTreeMap::new();
    for r in per_dept.values() {
        let Ok(mut region) = regfed_governance::Region::parse(&r.region) else {
            continue;
        };
        loop {
            let up = rollups
                .entry(region.to_string())
                .or_insert_with(|| StatsRow {
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
    rollups
        .entry(scope.to_string())
        .or_insert_with(|| StatsRow {
            region: scope.to_string(),
            department: None,
            ..StatsRow::default()
        });
    let mut rows: Vec<StatsRow> = rollups.into_values().collect();
    rows.extend(per_dept.into_values());
    Ok(rows)
}

fn row<'a>(
    rows: &'a mut BTreeMap<(String, String), StatsRow>,
    region: &str,
    dept: &str,
) -> &'a mut StatsRow {
    rows.entry((region.to_string(), dept.to_string()))
        .or_insert_with(|| StatsRow {
            region: region.to_string(),
            department: Some(dept.to_string()),
            ..StatsRow::default()
        })
}
