//! The generator's promises that do not need the engine: determinism, valid check
//! characters, defect shares and families, realistic dates and references, variants.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::NaiveDate;
use regfed_governance::checkdigit::{check_id_card, check_uscc};
use regfed_governance::standardize::standardize;
use regfed_governance::{FieldType, Fields, RulePack, Value};

use super::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 20).unwrap_or_default()
}

fn small(departments_n: usize) -> SampleConfig {
    SampleConfig::small("420100", departments("420100", departments_n), today())
}

fn big() -> SampleConfig {
    let mut cfg = small(6);
    cfg.subjects = 200;
    cfg.actions = 800;
    cfg.seed = 42;
    cfg
}

/// The standardized fields of a record (what the engine would check).
fn standardized(pack: &RulePack, sample: &Sample, record: &regfed_governance::RawRecord) -> Fields {
    let Some(spec) = pack.dataset(sample.dataset) else {
        panic!("unknown data set {}", sample.dataset);
    };
    standardize(pack, spec, record).0
}

fn text<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .get(name)
        .and_then(Value::as_text)
        .unwrap_or_default()
}

#[test]
fn deterministic_for_a_seed() {
    let cfg = small(3);
    assert_eq!(generate(&cfg), generate(&cfg));
    let mut other = cfg.clone();
    other.seed = 2;
    assert_ne!(generate(&cfg).subjects, generate(&other).subjects);
    let set = generate(&cfg);
    assert_eq!(
        action_stream(&cfg, &set, 100, 50),
        action_stream(&cfg, &set, 100, 50)
    );
    // More actions asked for leaves the other data sets as they were.
    let mut more = cfg.clone();
    more.actions = 120;
    let bigger = generate(&more);
    assert_eq!(
        (bigger.items, bigger.subjects, bigger.officers),
        (set.items, set.subjects, set.officers)
    );
}

#[test]
fn every_code_has_valid_check_characters() {
    let pack = RulePack::builtin();
    let set = generate(&big());
    let mut checked = 0;
    for sample in set.all() {
        let Some(spec) = pack.dataset(sample.dataset) else {
            panic!("unknown data set {}", sample.dataset);
        };
        let fields = standardized(&pack, sample, &sample.valid);
        for field in &spec.fields {
            let Some(value) = fields.get(&field.name).and_then(Value::as_text) else {
                continue;
            };
            match field.ty {
                FieldType::Uscc => assert_eq!(
                    check_uscc(value),
                    Ok(()),
                    "{} {}: {value}",
                    sample.key,
                    field.name
                ),
                FieldType::IdCard => {
                    assert_eq!(
                        check_id_card(value, today()),
                        Ok(()),
                        "{} {}: {value}",
                        sample.key,
                        field.name
                    )
                }
                _ => continue,
            }
            checked += 1;
        }
    }
    assert!(checked > 1500, "{checked}");
    for dept in departments("420100", 30) {
        assert_eq!(check_uscc(&dept.code), Ok(()), "{}", dept.code);
    }
}

#[test]
fn defect_shares_follow_the_rate() {
    let set = generate(&small(3));
    let count = |name: &str| {
        set.dataset(name)
            .iter()
            .filter(|s| s.defect.is_some())
            .count()
    };
    // 18 items, 20 subjects, 12 officers, 60 actions at 20%.
    assert_eq!(
        [
            count("item"),
            count("subject"),
            count("officer"),
            count("action")
        ],
        [4, 4, 2, 12]
    );
    assert_eq!(set.dataset("action").len(), 60);
    for sample in set.all() {
        assert_eq!(
            sample.defect.is_none(),
            sample.record == sample.valid,
            "{}",
            sample.key
        );
    }

    let mut none = small(3);
    none.defect_rate = 0.0;
    assert!(generate(&none).all().all(|s| s.defect.is_none()));

    let mut all = big();
    all.defect_rate = 1.0;
    let set = generate(&all);
    let share = |name: &str| {
        let samples = set.dataset(name);
        samples.iter().filter(|s| s.defect.is_some()).count() as f64 / samples.len() as f64
    };
    // Protected records (the items and officers actions need) stay valid.
    assert!(
        share("item") > 0.6 && share("item") < 1.0,
        "{}",
        share("item")
    );
    assert!(share("subject") > 0.9 && share("action") == 1.0);
}

#[test]
fn every_family_appears_in_a_small_set() {
    for n in [1, 3] {
        let set = generate(&small(n));
        let families: BTreeSet<Family> = set
            .all()
            .filter_map(|s| s.defect.as_ref())
            .map(|d| d.family)
            .collect();
        assert_eq!(
            families.len(),
            Family::ALL.len(),
            "{n} departments: {families:?}"
        );
    }
    let set = generate(&big());
    let rules: HashSet<&str> = set
        .all()
        .filter_map(|s| s.defect.as_ref())
        .map(|d| d.rule.as_str())
        .collect();
    assert!(rules.len() > 40, "{rules:?}");
}

#[test]
fn actions_are_realistic_and_refer_to_valid_records() {
    let pack = RulePack::builtin();
    let cfg = big();
    let set = generate(&cfg);
    let valid = |samples: &[Sample]| -> HashMap<String, Fields> {
        samples
            .iter()
            .filter(|s| s.defect.is_none())
            .map(|s| (s.key.clone(), standardized(&pack, s, &s.valid)))
            .collect()
    };
    let (items, officers, subjects) = (
        valid(&set.items),
        valid(&set.officers),
        valid(&set.subjects),
    );
    let mut late = 0;
    let mut unnamed = 0;
    for sample in &set.actions {
        let fields = standardized(&pack, sample, &sample.valid);
        let item = &items[text(&fields, "item_code")];
        let department = text(item, "department_code");
        assert_eq!(sample.department.as_deref(), Some(department));
        assert_eq!(text(&fields, "department_code"), department);
        assert_eq!(text(&fields, "action_type"), text(item, "item_type"));
        assert_eq!(
            fields.contains_key("penalty_amount"),
            text(item, "item_type") == "CF"
        );
        let Some(Value::List(certs)) = fields.get("officer_cert_nos") else {
            panic!("{} has no officers", sample.key);
        };
        let distinct: HashSet<&String> = certs.iter().collect();
        assert!((2..=3).contains(&distinct.len()), "{certs:?}");
        for cert in certs {
            assert_eq!(text(&officers[cert], "department_code"), department);
        }
        let subject = &subjects[text(&fields, "subject_uscc")];
        match fields.get("subject_name") {
            Some(name) => assert_eq!(name.as_text(), subject.get("name").and_then(Value::as_text)),
            None => unnamed += 1,
        }
        let date =
            NaiveDate::parse_from_str(text(&fields, "action_date"), "%Y-%m-%d").unwrap_or_default();
        let age = (cfg.today - date).num_days();
        assert!((0..=90).contains(&age), "{} dated {date}", sample.key);
        if age > 5 {
            late += 1;
        }
        assert!(sample.key.starts_with("420100-XZ"), "{}", sample.key);
    }
    let n = set.actions.len() as f64;
    assert!(
        (0.08..0.25).contains(&(late as f64 / n)),
        "late share {late}/{n}"
    );
    assert!(
        (0.1..0.3).contains(&(unnamed as f64 / n)),
        "unnamed share {unnamed}/{n}"
    );
}

#[test]
fn valid_records_use_variants_standardization_fixes() {
    let pack = RulePack::builtin();
    let set = generate(&big());
    let mut steps = BTreeSet::new();
    for sample in set.all().filter(|s| s.defect.is_none()) {
        let Some(spec) = pack.dataset(sample.dataset) else {
            panic!("unknown data set {}", sample.dataset);
        };
        for change in standardize(&pack, spec, &sample.valid).1 {
            steps.insert(change.step);
        }
    }
    for step in [
        "trim",
        "fullwidth",
        "uppercase",
        "date",
        "amount",
        "code_label",
        "list",
    ] {
        assert!(
            steps.contains(step),
            "no valid record needs step {step}: {steps:?}"
        );
    }
}

#[test]
fn stream_ids_never_collide_with_generated_ones() {
    let cfg = small(2);
    let set = generate(&cfg);
    let stream = action_stream(&cfg, &set, 1, 500);
    assert_eq!(stream.len(), 500);
    let keys: HashSet<&str> = set
        .actions
        .iter()
        .chain(&stream)
        .map(|s| s.key.as_str())
        .collect();
    assert_eq!(keys.len(), set.actions.len() + 500);
    assert!(stream
        .iter()
        .all(|s| s.defect.is_none() && s.record == s.valid));
    assert!(stream[0].key.ends_with("-S00000001"), "{}", stream[0].key);
}

#[test]
fn no_departments_no_items() {
    let set = generate(&SampleConfig::small("420100", Vec::new(), today()));
    assert!(set.items.is_empty() && set.officers.is_empty() && set.actions.is_empty());
    assert_eq!(set.subjects.len(), 20);
    assert!(set.dataset("unknown").is_empty());
}
