//! Items, subjects and officers: valid records first, then the defects injected into a
//! share of them.

use std::collections::HashSet;

use chrono::{Datelike, Days, Months, NaiveDate};
use rand::seq::SliceRandom;
use rand::Rng;
use regfed_governance::{Fields, Op, RawRecord, Value};

use crate::catalogue;
use crate::codes::{self, id_number, id_number_raw, uscc, wrong_id_check, wrong_uscc_check};
use crate::config::SampleConfig;
use crate::defect::{Defect, Kind, ITEM_ORDER, OFFICER_ORDER, SUBJECT_ORDER};
use crate::regions::RegionInfo;
use crate::variants::{self, canon, iso};
use crate::words::{self, Place};
use crate::Sample;

/// `today` minus `days` (today itself if that underflows the calendar).
pub(crate) fn days_before(today: NaiveDate, days: u64) -> NaiveDate {
    today.checked_sub_days(Days::new(days)).unwrap_or(today)
}

pub(crate) fn days_after(today: NaiveDate, days: u64) -> NaiveDate {
    today.checked_add_days(Days::new(days)).unwrap_or(today)
}

pub(crate) fn record(pairs: Vec<(&str, Value)>) -> RawRecord {
    let fields: Fields = pairs.into_iter().map(|(k, v)| (k.into(), v)).collect();
    RawRecord::new(Op::Upsert, fields)
}

pub(crate) fn text(value: impl Into<String>) -> Value {
    Value::Text(value.into().into())
}

/// A field's canonical text in the valid record.
pub(crate) fn canonical(sample: &Sample, field: &str) -> String {
    sample
        .valid
        .fields
        .get(field)
        .map(|v| canon(&v.to_string()))
        .unwrap_or_default()
}

pub(crate) fn set(sample: &mut Sample, field: &str, value: impl Into<String>) {
    sample
        .record
        .fields
        .insert(field.into(), Value::Text(value.into().into()));
}

/// Makes a field missing the ways departments do: absent, empty or only spaces.
pub(crate) fn blank<R: Rng>(rng: &mut R, sample: &mut Sample, field: &str) {
    match rng.gen_range(0..5) {
        0 => set(sample, field, ""),
        1 => set(sample, field, "  "),
        _ => {
            sample.record.fields.remove(field);
        }
    }
}

/// Injects defects into `round(rate * n)` samples (as far as some kind applies), handing
/// out kinds in `order`, cycling.
fn inject<R: Rng>(
    rng: &mut R,
    samples: &mut [Sample],
    rate: f64,
    order: &[Kind],
    protected: &HashSet<usize>,
    applicable: impl Fn(Kind, &Sample) -> bool,
    mut apply: impl FnMut(&mut R, Kind, &mut Sample),
) {
    let wanted = (rate.clamp(0.0, 1.0) * samples.len() as f64).round() as usize;
    let mut cursor = 0;
    for _ in 0..wanted {
        let mut done = false;
        for _ in 0..order.len() {
            let kind = order[cursor % order.len()];
            cursor += 1;
            let candidates: Vec<usize> = (0..samples.len())
                .filter(|i| !protected.contains(i) && samples[*i].defect.is_none())
                .filter(|i| applicable(kind, &samples[*i]))
                .collect();
            if let Some(&chosen) = candidates.choose(rng) {
                let sample = &mut samples[chosen];
                apply(rng, kind, sample);
                sample.defect = Some(Defect::of(kind));
                done = true;
                break;
            }
        }
        if !done {
            break;
        }
    }
}

fn sample(dataset: &'static str, key: &str, department: Option<&str>, valid: RawRecord) -> Sample {
    Sample {
        dataset,
        key: key.to_string(),
        department: department.map(str::to_string),
        record: valid.clone(),
        valid,
        defect: None,
    }
}

/// Another department's code than `code`, if there is another department.
fn other_department(cfg: &SampleConfig, code: &str) -> Option<String> {
    let position = cfg.departments.iter().position(|d| d.code == code)?;
    let other = &cfg.departments[(position + 1) % cfg.departments.len()];
    (other.code != code).then(|| other.code.clone())
}

fn year_of(sample: &Sample, field: &str) -> i32 {
    NaiveDate::parse_from_str(&canonical(sample, field), "%Y-%m-%d").map_or(2024, |d| d.year())
}

// ---------------------------------------------------------------------------------------
// item

pub(crate) fn items<R: Rng>(cfg: &SampleConfig, region: &RegionInfo, rng: &mut R) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut protected = HashSet::new();
    let mut seq = 0u32;
    for (position, dept) in cfg.departments.iter().enumerate() {
        let kind = catalogue::kind_of(&dept.name, position);
        for j in 0..cfg.items_per_department {
            let (item_type, name, basis) = kind.items[j % kind.items.len()];
            let round = j / kind.items.len();
            let name = if round == 0 {
                name.to_string()
            } else {
                format!("{name}第{}批", round + 1)
            };
            seq += 1;
            let code = format!("{}{item_type}{seq:05}", cfg.region);
            // The first item of each department took effect recently; the others long ago.
            let effective = if j == 0 {
                days_before(cfg.today, rng.gen_range(120..=200))
            } else {
                days_before(cfg.today, rng.gen_range(500..=3000))
            };
            let valid = record(vec![
                ("item_code", text(&code)),
                ("item_name", text(variants::padded(rng, &name, 0.1))),
                ("item_type", text(item_type)),
                ("department_code", text(&dept.code)),
                ("legal_basis", text(variants::padded(rng, basis, 0.05))),
                ("effective_date", text(iso(effective))),
                ("region_code", text(variants::code(rng, &cfg.region, 0.1))),
            ]);
            if j < 2 {
                protected.insert(samples.len());
            }
            samples.push(sample("item", &code, Some(&dept.code), valid));
        }
    }
    let applicable = |kind: Kind, _: &Sample| match kind {
        Kind::ItemRegionPrefix => !region.children.is_empty(),
        Kind::ItemRegionUnlisted => region.unlisted.is_some(),
        Kind::ItemDepartmentNotSubmitter => cfg.departments.len() > 1,
        _ => true,
    };
    let apply = |rng: &mut R, kind: Kind, s: &mut Sample| match kind {
        Kind::ItemNameTooShort => {
            let name = canonical(s, "item_name");
            let bad = if rng.gen_bool(0.5) {
                name.chars().take(1).collect()
            } else {
                name.repeat(200 / name.chars().count().max(1) + 1)
            };
            set(s, "item_name", bad);
        }
        Kind::ItemNameMissing => blank(rng, s, "item_name"),
        Kind::ItemTypeUnknown => set(
            s,
            "item_type",
            *["XK", "行政许可", "JD"].choose(rng).unwrap_or(&"XK"),
        ),
        Kind::ItemDepartmentCheck => set(
            s,
            "department_code",
            wrong_uscc_check(&canonical(s, "department_code")),
        ),
        Kind::ItemEffectiveNoDate => {
            let year = year_of(s, "effective_date");
            let bad = if rng.gen_bool(0.5) {
                format!("{year}-13-01")
            } else {
                format!("{year}-02-30")
            };
            set(s, "effective_date", bad);
        }
        Kind::ItemRegionPrefix => {
            let child = region.children.choose(rng).cloned().unwrap_or_default();
            set(s, "region_code", child);
        }
        Kind::ItemRegionUnlisted => set(
            s,
            "region_code",
            region.unlisted.clone().unwrap_or_default(),
        ),
        Kind::LegalBasisTooShort => set(
            s,
            "legal_basis",
            *["食安法", "依法", "见附件"].choose(rng).unwrap_or(&"依法"),
        ),
        Kind::ItemDepartmentNotSubmitter => {
            let other = other_department(cfg, &canonical(s, "department_code")).unwrap_or_default();
            set(s, "department_code", other);
        }
        Kind::LegalBasisMissing => blank(rng, s, "legal_basis"),
        Kind::ItemTypeMismatch => {
            let current = canonical(s, "item_type");
            let others: Vec<&str> = ["JC", "CF", "QZ", "QT"]
                .into_iter()
                .filter(|c| *c != current)
                .collect();
            set(s, "item_type", *others.choose(rng).unwrap_or(&"QT"));
        }
        Kind::ItemEffectiveMissing => blank(rng, s, "effective_date"),
        _ => {}
    };
    inject(
        rng,
        &mut samples,
        cfg.defect_rate,
        ITEM_ORDER,
        &protected,
        applicable,
        apply,
    );
    samples
}

// ---------------------------------------------------------------------------------------
// subject

/// Subject types by position: mostly enterprises and individual businesses.
const SUBJECT_TYPES: [&str; 20] = [
    "1", "1", "2", "1", "1", "2", "1", "3", "1", "2", "1", "1", "4", "1", "2", "5", "1", "1", "2",
    "9",
];

const SUBJECT_LABELS: [(&str, &str); 6] = [
    ("1", "企业"),
    ("2", "个体工商户"),
    ("3", "农民专业合作社"),
    ("4", "事业单位"),
    ("5", "社会组织"),
    ("9", "其他"),
];

fn birth_date<R: Rng>(rng: &mut R, from_year: i32, to_year: i32) -> NaiveDate {
    let start = NaiveDate::from_ymd_opt(from_year, 1, 1).unwrap_or_default();
    let span = (to_year - from_year).max(1) as u64 * 365;
    start
        .checked_add_days(Days::new(rng.gen_range(0..span)))
        .unwrap_or(start)
}

pub(crate) fn subjects<R: Rng>(
    cfg: &SampleConfig,
    region: &RegionInfo,
    rng: &mut R,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut usccs = HashSet::new();
    let mut names = HashSet::new();
    for i in 0..cfg.subjects {
        let subject_type = SUBJECT_TYPES[i % SUBJECT_TYPES.len()];
        let region_code = match region.children.choose(rng) {
            Some(child) if rng.gen_bool(0.6) => child.clone(),
            _ => cfg.region.clone(),
        };
        let prefix = match subject_type {
            "2" => "92",
            "3" => "93",
            "4" => "12",
            "5" => "52",
            _ => "91",
        };
        let mut code = String::new();
        for _ in 0..100 {
            let org8 = if subject_type == "4" {
                codes::random_digits8(rng)
            } else {
                codes::random_org8(rng)
            };
            code = uscc(prefix, &region_code, &org8);
            if usccs.insert(code.clone()) {
                break;
            }
        }
        let district = region.name_of(&region_code);
        let place = Place {
            short: &region.short,
            city: &region.city,
            district: &district,
        };
        let mut name = String::new();
        for _ in 0..10 {
            name = words::subject_name(rng, subject_type, &place);
            if names.insert(name.clone()) {
                break;
            }
        }
        let mut pairs = vec![("uscc", text(&code)), ("name", text(&name))];
        let type_value = match SUBJECT_LABELS.iter().find(|(c, _)| *c == subject_type) {
            Some((_, label)) if rng.gen_bool(0.15) => label.to_string(),
            _ => subject_type.to_string(),
        };
        pairs.push(("subject_type", text(type_value)));
        if subject_type != "9" {
            pairs.push(("legal_rep", text(words::person(rng))));
            if rng.gen_bool(0.7) {
                let id = id_number(
                    &region_code,
                    birth_date(rng, 1960, 1995),
                    rng.gen_range(0..1000),
                );
                pairs.push(("legal_rep_id", text(variants::code(rng, &id, 0.15))));
            }
        }
        pairs.push(("region_code", text(variants::code(rng, &region_code, 0.05))));
        if rng.gen_bool(0.85) {
            let district_part = if district == region.city {
                ""
            } else {
                district.as_str()
            };
            let address = format!(
                "{}{}{district_part}{}",
                region.province,
                region.city,
                words::street(rng)
            );
            pairs.push(("address", text(variants::padded(rng, &address, 0.1))));
        }
        if rng.gen_bool(0.9) {
            let established = days_before(cfg.today, rng.gen_range(200..9000));
            pairs.push((
                "established_date",
                text(variants::date(rng, established, 0.3)),
            ));
        }
        samples.push(sample("subject", &code, None, record(pairs)));
    }
    // Keep at least one subject valid: actions need one to refer to.
    let protected: HashSet<usize> = [0].into_iter().collect();
    let applicable = |kind: Kind, s: &Sample| match kind {
        Kind::LegalRepMissing => matches!(canonical(s, "subject_type").as_str(), "1" | "企业"),
        Kind::SubjectRegionUnlisted => region.unlisted.is_some(),
        Kind::SubjectRegionOutside => region.outside.is_some(),
        _ => true,
    };
    let apply = |rng: &mut R, kind: Kind, s: &mut Sample| match kind {
        Kind::LegalRepMissing => blank(rng, s, "legal_rep"),
        Kind::SubjectNameMissing => blank(rng, s, "name"),
        Kind::LegalRepIdCheck => {
            let bad = match s.valid.fields.get("legal_rep_id") {
                Some(id) if rng.gen_bool(0.6) => wrong_id_check(&canon(&id.to_string())),
                _ => {
                    // A birth date that is no date, with the check character it calls for.
                    let first17 = format!(
                        "{}{}0230{:03}",
                        cfg.region,
                        rng.gen_range(1960..1995),
                        rng.gen_range(0..1000)
                    );
                    id_number_raw(&first17)
                }
            };
            set(s, "legal_rep_id", bad);
        }
        Kind::SubjectRegionUnlisted => set(
            s,
            "region_code",
            region.unlisted.clone().unwrap_or_default(),
        ),
        Kind::EstablishedFuture => set(
            s,
            "established_date",
            iso(days_after(cfg.today, rng.gen_range(1..=60))),
        ),
        Kind::SubjectTypeUnknown => set(
            s,
            "subject_type",
            *["7", "私营企业", "0"].choose(rng).unwrap_or(&"7"),
        ),
        Kind::EstablishedNoDate => {
            let year = rng.gen_range(2000..2020);
            let bad = if rng.gen_bool(0.5) {
                format!("{year}-06-31")
            } else {
                format!("{year}/2/30")
            };
            set(s, "established_date", bad);
        }
        Kind::SubjectRegionOutside => {
            set(s, "region_code", region.outside.clone().unwrap_or_default())
        }
        Kind::SubjectTypeMissing => blank(rng, s, "subject_type"),
        Kind::SubjectRegionMissing => blank(rng, s, "region_code"),
        _ => {}
    };
    let limit = samples.len().saturating_sub(1) as f64 / samples.len().max(1) as f64;
    inject(
        rng,
        &mut samples,
        cfg.defect_rate.min(limit),
        SUBJECT_ORDER,
        &protected,
        applicable,
        apply,
    );
    samples
}

// ---------------------------------------------------------------------------------------
// officer

pub(crate) fn officers<R: Rng>(
    cfg: &SampleConfig,
    region: &RegionInfo,
    rng: &mut R,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut protected = HashSet::new();
    let mut seq = 0u32;
    let per_department = cfg.officers_per_department.max(2);
    for dept in &cfg.departments {
        for j in 0..per_department {
            seq += 1;
            // The first officer of each department was certified a year or so ago, the
            // others earlier; every certificate runs six years, past `today`.
            let from = if j == 0 {
                days_before(cfg.today, rng.gen_range(365..=420))
            } else {
                days_before(cfg.today, rng.gen_range(500..=1800))
            };
            let until = from.checked_add_months(Months::new(72)).unwrap_or(from);
            let cert = format!("{}{}{seq:04}", cfg.region, from.year());
            let id_region = region.children.choose(rng).unwrap_or(&cfg.region).clone();
            let id = id_number(
                &id_region,
                birth_date(rng, 1965, 1998),
                rng.gen_range(0..1000),
            );
            let name = words::person(rng);
            let valid = record(vec![
                ("cert_no", text(&cert)),
                ("name", text(variants::padded(rng, &name, 0.05))),
                ("id_number", text(variants::code(rng, &id, 0.1))),
                ("department_code", text(&dept.code)),
                ("valid_from", text(iso(from))),
                ("valid_until", text(iso(until))),
                ("region_code", text(variants::code(rng, &cfg.region, 0.05))),
            ]);
            if j < 3 {
                protected.insert(samples.len());
            }
            samples.push(sample("officer", &cert, Some(&dept.code), valid));
        }
    }
    let applicable = |kind: Kind, _: &Sample| match kind {
        Kind::OfficerRegionOutside => region.outside.is_some(),
        Kind::OfficerRegionUnlisted => region.unlisted.is_some(),
        Kind::OfficerDepartmentNotSubmitter => cfg.departments.len() > 1,
        _ => true,
    };
    let apply = |rng: &mut R, kind: Kind, s: &mut Sample| match kind {
        Kind::OfficerDatesReversed => {
            let from = NaiveDate::parse_from_str(&canonical(s, "valid_from"), "%Y-%m-%d")
                .unwrap_or(cfg.today);
            set(
                s,
                "valid_until",
                iso(days_before(from, rng.gen_range(30..=400))),
            );
        }
        Kind::OfficerIdCheck => set(s, "id_number", wrong_id_check(&canonical(s, "id_number"))),
        Kind::OfficerNameMissing => blank(rng, s, "name"),
        Kind::OfficerRegionOutside => {
            set(s, "region_code", region.outside.clone().unwrap_or_default())
        }
        Kind::OfficerUntilNoDate => {
            let year = year_of(s, "valid_until");
            set(s, "valid_until", format!("{year}-02-30"));
        }
        Kind::OfficerDepartmentNotSubmitter => {
            let other = other_department(cfg, &canonical(s, "department_code")).unwrap_or_default();
            set(s, "department_code", other);
        }
        Kind::OfficerDepartmentCheck => {
            set(
                s,
                "department_code",
                wrong_uscc_check(&canonical(s, "department_code")),
            );
        }
        Kind::OfficerIdMissing => blank(rng, s, "id_number"),
        Kind::OfficerRegionUnlisted => set(
            s,
            "region_code",
            region.unlisted.clone().unwrap_or_default(),
        ),
        Kind::OfficerFromMissing => blank(rng, s, "valid_from"),
        _ => {}
    };
    inject(
        rng,
        &mut samples,
        cfg.defect_rate,
        OFFICER_ORDER,
        &protected,
        applicable,
        apply,
    );
    samples
}
