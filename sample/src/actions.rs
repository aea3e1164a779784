//! Actions: each one an inspection, penalty or enforcement by 2-3 officers of the item's
//! department on a subject, dated in the 90 days before `today` (about 15% more than 5
//! days back, so not timely), with defects injected into a share of them.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use rand::seq::{index, SliceRandom};
use rand::Rng;
use regfed_governance::Value;

use crate::codes::{random_org8, uscc, wrong_uscc_check};
use crate::config::SampleConfig;
use crate::defect::{Defect, Kind, ACTION_ORDER};
use crate::records::{blank, days_after, days_before, record, set, text};
use crate::refs::{ItemRef, Refs};
use crate::regions::RegionInfo;
use crate::variants::{self, iso};
use crate::words::{self, Place};
use crate::Sample;

const TYPE_LABELS: [(&str, &str); 3] = [("JC", "行政检查"), ("CF", "行政处罚"), ("QZ", "行政强制")];
const RESULT_LABELS: [(&str, &str); 5] = [
    ("1", "未发现问题"),
    ("2", "责令整改"),
    ("3", "立案处罚"),
    ("4", "移送"),
    ("5", "其他"),
];
const PENALTIES: [u32; 13] = [
    200, 500, 800, 1_000, 1_200, 2_000, 3_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000,
];

/// One department's references, as indices into [`Refs`].
struct DepartmentRefs {
    items: Vec<usize>,
    officers: Vec<usize>,
}

/// Generates actions over a fixed set of references.
pub(crate) struct Plan<'a> {
    cfg: &'a SampleConfig,
    region: &'a RegionInfo,
    refs: &'a Refs,
    departments: Vec<DepartmentRefs>,
    /// Ids of the `S` form ([`crate::action_stream`]).
    pub stream: bool,
}

/// What one action is built from.
struct Choice {
    item: usize,
    officers: Vec<usize>,
    /// The valid action's date.
    date: NaiveDate,
    /// The defective record's date, for defects of dates across records.
    bad_date: Option<NaiveDate>,
    /// Another department's item of the same type.
    foreign_item: Option<usize>,
}

impl<'a> Plan<'a> {
    pub fn new(cfg: &'a SampleConfig, region: &'a RegionInfo, refs: &'a Refs) -> Self {
        let departments = cfg
            .departments
            .iter()
            .map(|d| DepartmentRefs {
                items: (0..refs.items.len())
                    .filter(|i| refs.items[*i].department == d.code)
                    .collect(),
                officers: (0..refs.officers.len())
                    .filter(|i| refs.officers[*i].department == d.code)
                    .collect(),
            })
            .filter(|d| !d.items.is_empty() && d.officers.len() >= 2)
            .collect();
        Plan {
            cfg,
            region,
            refs,
            departments,
            stream: false,
        }
    }

    /// `n` actions with sequence numbers from `start`; about `rate` of them defective.
    pub fn generate<R: Rng>(
        &mut self,
        rng: &mut R,
        start: u64,
        n: usize,
        rate: f64,
    ) -> Vec<Sample> {
        if self.departments.is_empty() || self.refs.subjects.is_empty() {
            return Vec::new();
        }
        let wanted = ((rate.clamp(0.0, 1.0) * n as f64).round() as usize).min(n);
        let mut positions: Vec<usize> = index::sample(rng, n, wanted).into_vec();
        positions.sort_unstable();
        let defective: HashMap<usize, usize> = positions
            .into_iter()
            .enumerate()
            .map(|(k, p)| (p, k))
            .collect();
        let mut samples = Vec::with_capacity(n);
        for i in 0..n {
            let seq = start + i as u64;
            let mut built = None;
            if let Some(&k) = defective.get(&i) {
                for step in 0..ACTION_ORDER.len() {
                    let kind = ACTION_ORDER[(k + step) % ACTION_ORDER.len()];
                    built = self.action(rng, seq, Some(kind));
                    if built.is_some() {
                        break;
                    }
                }
            }
            if built.is_none() {
                built = self.action(rng, seq, None);
            }
            samples.extend(built);
        }
        samples
    }

    /// A date in the last 90 days: 85% within the 5-day deadline.
    fn date<R: Rng>(&self, rng: &mut R) -> NaiveDate {
        if rng.gen_bool(0.85) {
            days_before(self.cfg.today, rng.gen_range(0..=5))
        } else {
            days_before(self.cfg.today, rng.gen_range(6..=90))
        }
    }

    /// Chooses item, officers and dates for an action (with the given defect); `None`
    /// when the references do not allow that defect.
    fn choose<R: Rng>(&self, rng: &mut R, kind: Option<Kind>) -> Option<Choice> {
        let refs = self.refs;
        let date = self.date(rng);
        let item_ok = |item: &ItemRef| {
            item.effective <= date
                && match kind {
                    Some(Kind::PenaltyMissingForCf) => item.item_type == "CF",
                    Some(Kind::PenaltyForNonCf) => item.item_type != "CF",
                    _ => true,
                }
        };
        // Candidate departments in random order; the first that fits is used.
        let mut order: Vec<&DepartmentRefs> = self.departments.iter().collect();
        order.shuffle(rng);
        for dept in order {
            let mut items: Vec<usize> = dept
                .items
                .iter()
                .copied()
                .filter(|i| item_ok(&refs.items[*i]))
                .collect();
            if items.is_empty() {
                continue;
            }
            let mut bad_date = None;
            let mut must: Vec<usize> = Vec::new();
            let mut foreign_item = None;
            match kind {
                Some(Kind::ActionBeforeItemEffective) => {
                    // The department's latest item; the action dated before it took effect.
                    let latest = *items.iter().max_by_key(|i| refs.items[**i].effective)?;
                    items = vec![latest];
                    bad_date = Some(days_before(
                        refs.items[latest].effective,
                        rng.gen_range(5..=30),
                    ));
                }
                Some(Kind::ActionOfficerNotValid) => {
                    // The officer certified last; the action dated before the certificate.
                    let newest = *dept
                        .officers
                        .iter()
                        .max_by_key(|o| refs.officers[**o].from)?;
                    let before = days_before(refs.officers[newest].from, rng.gen_range(5..=30));
                    items.retain(|i| refs.items[*i].effective <= before);
                    bad_date = Some(before);
                    must.push(newest);
                }
                Some(Kind::ActionOtherDepartmentsItem) => {
                    let found = items.iter().find_map(|i| {
                        let mine = &refs.items[*i];
                        let other = refs.items.iter().position(|o| {
                            o.department != mine.department
                                && o.item_type == mine.item_type
                                && o.effective <= date
                        })?;
                        Some((*i, other))
                    });
                    let Some((mine, other)) = found else {
                        continue;
                    };
                    items = vec![mine];
                    foreign_item = Some(other);
                }
                _ => {}
            }
            let Some(&item) = items.choose(rng) else {
                continue;
            };
            // Officers valid on the action's date (and on the defective date, except the
            // one officer meant to be invalid then).
            let valid_on = |o: usize, d: NaiveDate| refs.officers[o].covers(d);
            let mut pool: Vec<usize> = dept
                .officers
                .iter()
                .copied()
                .filter(|o| valid_on(*o, date) && !must.contains(o))
                .filter(|o| match (kind, bad_date) {
                    (
                        Some(Kind::ActionOfficerNotValid | Kind::ActionBeforeItemEffective),
                        Some(d),
                    ) => valid_on(*o, d),
                    _ => true,
                })
                .collect();
            if must.iter().any(|o| !valid_on(*o, date)) {
                continue;
            }
            let want: usize = if rng.gen_bool(0.3) { 3 } else { 2 };
            pool.shuffle(rng);
            let mut officers = must.clone();
            officers.extend(pool.into_iter().take(want.saturating_sub(officers.len())));
            if officers.len() < 2 {
                continue;
            }
            return Some(Choice {
                item,
                officers,
                date,
                bad_date,
                foreign_item,
            });
        }
        None
    }

    fn action<R: Rng>(&self, rng: &mut R, seq: u64, kind: Option<Kind>) -> Option<Sample> {
        let choice = self.choose(rng, kind)?;
        let refs = self.refs;
        let cfg = self.cfg;
        let item = &refs.items[choice.item];
        let subject = refs.subjects.choose(rng)?;
        let certs: Vec<String> = choice
            .officers
            .iter()
            .map(|o| refs.officers[*o].cert.clone())
            .collect();
        let kind_code = format!("XZ{}", item.item_type);
        let number = if self.stream {
            format!("S{seq:08}")
        } else {
            format!("{seq:06}")
        };
        let action_id = format!("{}-{kind_code}-{}-{number}", cfg.region, choice.date.year());

        let action_type = match TYPE_LABELS.iter().find(|(c, _)| *c == item.item_type) {
            Some((_, label)) if rng.gen_bool(0.15) => label.to_string(),
            _ => item.item_type.clone(),
        };
        let result = match item.item_type.as_str() {
            "CF" => "3",
            "QZ" => *["2", "5"].choose(rng).unwrap_or(&"2"),
            _ => match rng.gen_range(0..100) {
                0..=49 => "1",
                50..=84 => "2",
                85..=89 => "4",
                _ => "5",
            },
        };
        let result = match RESULT_LABELS.iter().find(|(c, _)| *c == result) {
            Some((_, label)) if rng.gen_bool(0.1) => label.to_string(),
            _ => result.to_string(),
        };
        let officer_value = if rng.gen_bool(0.2) {
            let separator = *[";", "；", "、"].choose(rng).unwrap_or(&";");
            Value::Text(certs.join(separator).into())
        } else {
            Value::List(certs.clone())
        };
        let mut pairs = vec![
            ("action_id", text(&action_id)),
            ("item_code", text(&item.code)),
            ("action_type", text(action_type)),
            (
                "subject_uscc",
                text(variants::code(rng, &subject.uscc, 0.05)),
            ),
        ];
        // Left out or empty a fifth of the time: the engine fills it from the subject.
        match rng.gen_range(0..10) {
            0 => pairs.push(("subject_name", text(""))),
            1 => {}
            _ => pairs.push(("subject_name", text(&subject.name))),
        }
        pairs.push(("officer_cert_nos", officer_value));
        pairs.push(("action_date", text(variants::date(rng, choice.date, 0.2))));
        pairs.push(("result", text(result)));
        if item.item_type == "CF" {
            let yuan = *PENALTIES.choose(rng).unwrap_or(&1_000);
            pairs.push(("penalty_amount", text(variants::amount(rng, yuan, 0.3))));
        }
        let department = if rng.gen_bool(0.05) {
            item.department.to_ascii_lowercase()
        } else {
            item.department.clone()
        };
        pairs.push(("department_code", text(department)));
        pairs.push(("region_code", text(&cfg.region)));

        let valid = record(pairs);
        let mut sample = Sample {
            dataset: "action",
            key: action_id,
            department: Some(item.department.clone()),
            record: valid.clone(),
            valid,
            defect: None,
        };
        if let Some(kind) = kind {
            self.spoil(rng, kind, &choice, &certs, seq, &mut sample)?;
            sample.defect = Some(Defect::of(kind));
        }
        Some(sample)
    }

    /// Injects one defect into `sample.record`; `None` when it cannot be made here.
    fn spoil<R: Rng>(
        &self,
        rng: &mut R,
        kind: Kind,
        choice: &Choice,
        certs: &[String],
        seq: u64,
        s: &mut Sample,
    ) -> Option<()> {
        let refs = self.refs;
        let cfg = self.cfg;
        let item = &refs.items[choice.item];
        match kind {
            Kind::ActionItemCodePattern => {
                let code = &item.code;
                set(
                    s,
                    "item_code",
                    format!("{}{}", code.get(..8)?, code.get(9..)?),
                );
            }
            Kind::ActionUnknownItem => {
                let code = (0..10_000u64)
                    .map(|n| {
                        format!(
                            "{}{}{:05}",
                            cfg.region,
                            item.item_type,
                            99_999 - (seq + n) % 10_000
                        )
                    })
                    .find(|c| !refs.item_codes.contains(c))?;
                set(s, "item_code", code);
            }
            Kind::ActionDateFuture => set(
                s,
                "action_date",
                iso(days_after(cfg.today, rng.gen_range(1..=10))),
            ),
            Kind::ActionTypeMismatch => {
                let other = match item.item_type.as_str() {
                    "JC" => "QZ",
                    _ => "JC",
                };
                set(s, "action_type", other);
                s.record.fields.remove("penalty_amount");
            }
            Kind::PenaltyMissingForCf => {
                if rng.gen_bool(0.5) {
                    set(s, "penalty_amount", *["0", "0.00"].choose(rng)?);
                } else {
                    blank(rng, s, "penalty_amount");
                }
            }
            Kind::ActionRegionOutside => set(s, "region_code", self.region.outside.clone()?),
            Kind::ActionResultUnknown => set(s, "result", *["6", "罚款", "0"].choose(rng)?),
            Kind::ActionOfficersMissing => match rng.gen_range(0..3) {
                0 => {
                    s.record
                        .fields
                        .insert("officer_cert_nos".into(), Value::List(Vec::new()));
                }
                _ => blank(rng, s, "officer_cert_nos"),
            },
            Kind::ActionSubjectCheck => {
                let current = crate::records::canonical(s, "subject_uscc");
                set(s, "subject_uscc", wrong_uscc_check(&current));
            }
            Kind::ActionOneOfficer => {
                let first = certs.first()?.clone();
                let list = if rng.gen_bool(0.5) {
                    vec![first]
                } else {
                    vec![first.clone(), first]
                };
                s.record
                    .fields
                    .insert("officer_cert_nos".into(), Value::List(list));
            }
            Kind::ActionUnknownOfficer => {
                let unknown = (0..10_000u64)
                    .map(|n| format!("{}1999{:04}", cfg.region, (seq + n) % 10_000))
                    .find(|c| !refs.certs.contains(c))?;
                let mut list = certs.to_vec();
                list.insert(rng.gen_range(0..=list.len()), unknown);
                s.record
                    .fields
                    .insert("officer_cert_nos".into(), Value::List(list));
            }
            Kind::PenaltyForNonCf => {
                let yuan = *PENALTIES.choose(rng)?;
                set(s, "penalty_amount", variants::amount(rng, yuan, 0.3));
            }
            Kind::ActionCertPattern => {
                let mut list = certs.to_vec();
                let first = list.first_mut()?;
                *first = format!("{}-{}", first.get(..6)?, first.get(6..)?);
                s.record
                    .fields
                    .insert("officer_cert_nos".into(), Value::List(list));
            }
            Kind::ActionOfficerNotValid | Kind::ActionBeforeItemEffective => {
                set(s, "action_date", iso(choice.bad_date?));
            }
            Kind::ActionOtherDepartmentsItem => {
                let other = &refs.items[choice.foreign_item?];
                set(s, "item_code", other.code.clone());
            }
            Kind::ActionDateNoDate => {
                let year = choice.date.year();
                let bad = if rng.gen_bool(0.5) {
                    format!("{year}-02-30")
                } else {
                    format!("{year}/13/1")
                };
                set(s, "action_date", bad);
            }
            Kind::ActionTypeUnknown => {
                set(s, "action_type", *["XK", "行政许可", "QT"].choose(rng)?)
            }
            Kind::ActionRegionUnlisted => set(s, "region_code", self.region.unlisted.clone()?),
            Kind::ActionDepartmentCheck => {
                set(s, "department_code", wrong_uscc_check(&item.department))
            }
            Kind::ActionResultMissing => blank(rng, s, "result"),
            Kind::ActionDateMissing => blank(rng, s, "action_date"),
            Kind::ActionSubjectNameMismatch => {
                let registered = s.valid.text("subject_uscc").map(crate::variants::canon);
                let name = registered
                    .and_then(|u| refs.subjects.iter().find(|x| x.uscc == u))
                    .map(|x| x.name.clone())?;
                let place = Place {
                    short: &self.region.short,
                    city: &self.region.city,
                    district: &self.region.city,
                };
                let other = (0..20)
                    .map(|_| words::subject_name(rng, "1", &place))
                    .find(|n| *n != name)?;
                set(s, "subject_name", other);
            }
            Kind::ActionUnknownSubject => {
                let code = (0..100)
                    .map(|_| uscc("91", &cfg.region, &random_org8(rng)))
                    .find(|c| !refs.usccs.contains(c))?;
                let place = Place {
                    short: &self.region.short,
                    city: &self.region.city,
                    district: &self.region.city,
                };
                set(s, "subject_uscc", code);
                set(s, "subject_name", words::subject_name(rng, "1", &place));
            }
            _ => return None,
        }
        Some(())
    }
}
