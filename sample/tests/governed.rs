//! The proof that the generator is right: whole generated sets governed by the real
//! engine, in reference order, against a lookup that learns what is accepted. Every valid
//! sample is accepted, every defective one is rejected with exactly its injected rule (or,
//! for a warning, accepted with it), and every correction is accepted.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use regfed_governance::{
    govern, Context, Fields, Lookup, Region, RegionTable, RulePack, Severity, Verdict,
};
use regfed_sample::{action_stream, departments, generate, Family, Sample, SampleConfig};

struct MapLookup {
    departments: HashMap<String, String>,
    records: HashMap<(String, String), Fields>,
}

impl Lookup for MapLookup {
    fn department(&self, code: &str) -> Option<String> {
        self.departments.get(code).cloned()
    }

    fn accepted(&self, dataset: &str, key: &str) -> Option<Fields> {
        self.records
            .get(&(dataset.to_string(), key.to_string()))
            .cloned()
    }
}

/// A node of one region, governing like the real one.
struct Node {
    pack: std::sync::Arc<RulePack>,
    region: Region,
    today: NaiveDate,
    first_department: String,
    lookup: MapLookup,
}

impl Node {
    fn new(cfg: &SampleConfig) -> Node {
        let region = Region::parse(&cfg.region).unwrap_or_else(|e| panic!("{e}"));
        Node {
            pack: RulePack::builtin(),
            region,
            today: cfg.today,
            first_department: cfg
                .departments
                .first()
                .map(|d| d.code.clone())
                .unwrap_or_default(),
            lookup: MapLookup {
                departments: cfg
                    .departments
                    .iter()
                    .map(|d| (d.code.clone(), d.name.clone()))
                    .collect(),
                records: HashMap::new(),
            },
        }
    }

    /// Governs a record as its department submits it; accepted records become known.
    fn submit(&mut self, sample: &Sample, record: &regfed_governance::RawRecord) -> Verdict {
        let submitter = sample
            .department
            .clone()
            .unwrap_or_else(|| self.first_department.clone());
        let ctx = Context {
            pack: &self.pack,
            regions: RegionTable::builtin(),
            node_region: &self.region,
            today: self.today,
            submitter: Some(&submitter),
            lookup: &self.lookup,
        };
        let verdict = govern(&ctx, sample.dataset, record);
        if verdict.accepted() {
            self.lookup.records.insert(
                (sample.dataset.to_string(), verdict.key.clone()),
                verdict.fields.clone(),
            );
        }
        verdict
    }
}

fn describe(verdict: &Verdict) -> String {
    let issues: Vec<String> = verdict
        .issues
        .iter()
        .map(|i| {
            format!(
                "{} [{}] {}: {}",
                i.rule,
                i.severity.as_str(),
                i.field,
                i.message_en
            )
        })
        .collect();
    format!("{} {}: {:?}", verdict.dataset, verdict.key, issues)
}

/// Governs every sample (then every correction) and checks each verdict; returns the
/// count of injected rules seen.
fn govern_set(cfg: &SampleConfig, node: &mut Node) -> BTreeMap<String, usize> {
    let set = generate(cfg);
    let mut seen = BTreeMap::new();
    for sample in set.all() {
        let verdict = node.submit(sample, &sample.record);
        assert_eq!(verdict.key, sample.key, "key of {}", describe(&verdict));
        match &sample.defect {
            None => {
                assert_eq!(sample.record, sample.valid);
                assert!(
                    verdict.issues.is_empty(),
                    "valid sample has issues: {}\n{:?}",
                    describe(&verdict),
                    sample.record
                );
            }
            Some(defect) => {
                let found = verdict.issues.iter().find(|i| i.rule == defect.rule);
                let Some(found) = found else {
                    panic!(
                        "expected {} in {}\n{:?}",
                        defect.rule,
                        describe(&verdict),
                        sample.record
                    );
                };
                assert_eq!(found.field, defect.field, "{}", describe(&verdict));
                let other_errors: Vec<_> =
                    verdict.errors().filter(|i| i.rule != defect.rule).collect();
                assert!(
                    other_errors.is_empty(),
                    "more than {}: {}\n{:?}",
                    defect.rule,
                    describe(&verdict),
                    sample.record
                );
                if defect.is_warning() {
                    assert_eq!(found.severity, Severity::Warning);
                    assert!(verdict.accepted(), "{}", describe(&verdict));
                } else {
                    assert_eq!(found.severity, Severity::Error);
                    assert!(!verdict.accepted(), "{}", describe(&verdict));
                }
                *seen.entry(defect.rule.clone()).or_insert(0) += 1;
                // The department corrects it.
                let corrected = node.submit(sample, &sample.valid);
                assert!(
                    corrected.issues.is_empty(),
                    "correction has issues: {}",
                    describe(&corrected)
                );
            }
        }
    }
    seen
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 20).unwrap_or_default()
}

#[test]
fn small_set_is_governed_as_planned() {
    let cfg = SampleConfig::small("420100", departments("420100", 3), today());
    let seen = govern_set(&cfg, &mut Node::new(&cfg));
    let set = generate(&cfg);
    let families: std::collections::BTreeSet<Family> = set
        .all()
        .filter_map(|s| s.defect.as_ref())
        .map(|d| d.family)
        .collect();
    assert_eq!(families.len(), Family::ALL.len(), "{families:?} {seen:?}");
}

#[test]
fn large_sets_in_several_regions_are_governed_as_planned() {
    let mut all_rules = BTreeMap::new();
    for (seed, region, n) in [
        (7, "420100", 12),
        (8, "110101", 2),
        (9, "420000", 5),
        (10, "441900", 1),
    ] {
        let mut cfg = SampleConfig::small(region, departments(region, n), today());
        cfg.seed = seed;
        cfg.items_per_department = 9;
        cfg.subjects = 300;
        cfg.officers_per_department = 7;
        cfg.actions = 1500;
        cfg.defect_rate = 0.35;
        cfg.first_action_seq = 1000;
        let mut node = Node::new(&cfg);
        for (rule, count) in govern_set(&cfg, &mut node) {
            *all_rules.entry(rule).or_insert(0) += count;
        }
    }
    println!("rules injected: {all_rules:#?}");
    // Every rule the generator knows was exercised somewhere.
    assert!(
        all_rules.len() >= 55,
        "{} rules: {all_rules:?}",
        all_rules.len()
    );
}

#[test]
fn action_stream_is_all_valid() {
    let cfg = SampleConfig::small("420100", departments("420100", 4), today());
    let mut node = Node::new(&cfg);
    govern_set(&cfg, &mut node);
    let refs = generate(&cfg);
    let stream = action_stream(&cfg, &refs, 1, 3000);
    assert_eq!(stream.len(), 3000);
    let mut keys = std::collections::HashSet::new();
    for sample in refs.actions.iter().chain(&stream) {
        assert!(
            keys.insert(sample.key.clone()),
            "duplicate id {}",
            sample.key
        );
    }
    for sample in &stream {
        assert!(sample.defect.is_none());
        let verdict = node.submit(sample, &sample.record);
        assert!(verdict.issues.is_empty(), "{}", describe(&verdict));
    }
}
