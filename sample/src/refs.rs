//! The accepted records an action may refer to, read back from a sample set: the valid
//! (defect-free) items of types JC/CF/QZ, officers and subjects.

use std::collections::HashSet;

use chrono::NaiveDate;
use regfed_governance::Value;

use crate::{Sample, SampleSet};

#[derive(Clone, Debug)]
pub(crate) struct ItemRef {
    pub code: String,
    pub item_type: String,
    pub department: String,
    pub effective: NaiveDate,
}

#[derive(Clone, Debug)]
pub(crate) struct OfficerRef {
    pub cert: String,
    pub department: String,
    pub from: NaiveDate,
    pub until: NaiveDate,
}

impl OfficerRef {
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.from <= date && date <= self.until
    }
}

#[derive(Clone, Debug)]
pub(crate) struct SubjectRef {
    pub uscc: String,
    pub name: String,
}

/// What actions can refer to, and every key in use (defective records included), so that
/// "unknown" references are really unknown.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    pub items: Vec<ItemRef>,
    pub officers: Vec<OfficerRef>,
    pub subjects: Vec<SubjectRef>,
    pub item_codes: HashSet<String>,
    pub certs: HashSet<String>,
    pub usccs: HashSet<String>,
}

/// A canonical field's text. Referenced fields are generated in canonical form (ISO dates,
/// codes, plain names), so no standardization is needed to read them back.
fn text<'a>(sample: &'a Sample, field: &str) -> Option<&'a str> {
    sample
        .valid
        .fields
        .get(field)
        .and_then(Value::as_text)
        .map(str::trim)
}

fn date(sample: &Sample, field: &str) -> Option<NaiveDate> {
    text(sample, field).and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
}

impl Refs {
    pub fn from_set(set: &SampleSet) -> Refs {
        let mut refs = Refs::default();
        for sample in &set.items {
            refs.item_codes.insert(sample.key.clone());
            if sample.defect.is_some() {
                continue;
            }
            let item = (|| {
                Some(ItemRef {
                    code: sample.key.clone(),
                    item_type: text(sample, "item_type")?.to_string(),
                    department: text(sample, "department_code")?.to_string(),
                    effective: date(sample, "effective_date")?,
                })
            })();
            if let Some(item) = item.filter(|i| matches!(i.item_type.as_str(), "JC" | "CF" | "QZ"))
            {
                refs.items.push(item);
            }
        }
        for sample in &set.officers {
            refs.certs.insert(sample.key.clone());
            if sample.defect.is_some() {
                continue;
            }
            let officer = (|| {
                Some(OfficerRef {
                    cert: sample.key.clone(),
                    department: text(sample, "department_code")?.to_string(),
                    from: date(sample, "valid_from")?,
                    until: date(sample, "valid_until")?,
                })
            })();
            refs.officers.extend(officer);
        }
        for sample in &set.subjects {
            refs.usccs.insert(sample.key.clone());
            if sample.defect.is_some() {
                continue;
            }
            if let Some(name) = text(sample, "name") {
                refs.subjects.push(SubjectRef {
                    uscc: sample.key.clone(),
                    name: name.to_string(),
                });
            }
        }
        refs
    }
}
