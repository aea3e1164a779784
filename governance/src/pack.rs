//! The declarative rule pack: settings, code lists and data sets with their fields and
//! rules, read from TOML (`pack/standard.toml` is embedded as the default) and validated as
//! a whole, so that an operator changes the standard without a rebuild.
//!
//! Loading reports every problem at once ([`PackError`]); a loaded pack is immutable and
//! holds its rules compiled (field indices resolved, regexes built) for the engine.

use std::fmt;
use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::fieldcheck::{check_field, same};
use crate::pattern::Pattern;
use crate::record::{FieldName, Fields, Value};
use crate::region::RegionTable;
use crate::verdict::{PackId, Severity};

/// The default pack: the national data standard of `standard.md`.
const STANDARD_TOML: &str = include_str!("../pack/standard.toml");

/// The most fields a data set may have: the engine keeps per-field flags in a `u64`.
pub(crate) const MAX_FIELDS: usize = 64;

/// Check suffixes the engine generates per field: `<dataset>.<field>.<suffix>`.
pub(crate) const FIELD_CHECKS: [&str; 9] = [
    "required", "pattern", "length", "code", "uscc", "id_card", "region", "date", "decimal",
];

/// The type of a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Code,
    Uscc,
    IdCard,
    Region,
    Date,
    Decimal,
    List,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Code => "code",
            FieldType::Uscc => "uscc",
            FieldType::IdCard => "id_card",
            FieldType::Region => "region",
            FieldType::Date => "date",
            FieldType::Decimal => "decimal",
            FieldType::List => "list",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field of a data set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub name: FieldName,
    /// The Chinese label, as in spreadsheet headers.
    pub label: String,
    #[serde(rename = "type")]
    pub ty: FieldType,
    #[serde(default)]
    pub required: bool,
    /// A regular expression the value (each item, for a list) must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Length bounds in characters (each item, for a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// The code list of a `code` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_list: Option<String>,
    /// A valid value, shown with every issue on this field.
    pub example: String,
    /// Shown as first 6 and last 4 characters in exports, screens and messages.
    #[serde(default)]
    pub masked: bool,
    /// Upper-cased by standardization (`uscc` and `id_card` fields always are).
    #[serde(default)]
    pub uppercase: bool,
    #[serde(skip)]
    pub(crate) regex: Option<Pattern>,
    /// Index of `code_list` in the pack's code lists.
    #[serde(skip)]
    pub(crate) codes: Option<usize>,
}

impl FieldSpec {
    /// True when standardization upper-cases this field.
    pub fn uppercased(&self) -> bool {
        self.uppercase || matches!(self.ty, FieldType::Uscc | FieldType::IdCard)
    }

    /// The value as shown to people: masked for masked fields.
    pub fn shown(&self, value: &str) -> String {
        if self.masked {
            mask_id(value)
        } else {
            value.to_string()
        }
    }
}

/// One code of a code list, with its Chinese label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Code {
    pub code: String,
    pub label: String,
}

/// A named list of codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CodeList {
    pub name: String,
    pub label: String,
    pub codes: Vec<Code>,
}

impl CodeList {
    pub fn contains(&self, code: &str) -> bool {
        self.codes.iter().any(|c| same(&c.code, code))
    }

    /// The code whose label is `label`, or whose code matches ignoring ASCII case.
    pub fn code_for(&self, text: &str) -> Option<&str> {
        self.codes
            .iter()
            .find(|c| c.label == text)
            .or_else(|| {
                self.codes
                    .iter()
                    .find(|c| c.code.eq_ignore_ascii_case(text))
            })
            .map(|c| c.code.as_str())
    }

    /// `JC 行政检查、CF 行政处罚`: the codes for messages.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .codes
            .iter()
            .map(|c| format!("{} {}", c.code, c.label))
            .collect();
        parts.join("、")
    }
}

/// Pack-wide settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// An accepted action is timely when `reported_at - action_date` is at most this.
    pub timeliness_deadline_days: i64,
    /// Item types whose catalogue items count towards the coverage rate.
    pub coverage_item_types: Vec<String>,
    /// Characters that separate the items of a list written as text.
    #[serde(default = "default_list_separators")]
    pub list_separators: Vec<char>,
}

fn default_list_separators() -> Vec<char> {
    vec![';', '；', '、', ',']
}

/// The condition of `required_when` and `empty_unless`: a field's value is one of `in`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    #[serde(rename = "in")]
    pub values: Vec<String>,
}

/// A value a rule compares with: a field of the record, or a field of the accepted record
/// that one of its fields refers to, written `"item_code -> item.effective_date"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Operand {
    Field(String),
    Reference {
        via: String,
        dataset: String,
        field: String,
    },
}

impl TryFrom<String> for Operand {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        let bad = || format!("operand {text:?} is neither `field` nor `field -> dataset.field`");
        match text.split_once("->") {
            None if is_identifier(text.trim()) => Ok(Operand::Field(text.trim().to_string())),
            None => Err(bad()),
            Some((via, target)) => {
                let (dataset, field) = target.trim().split_once('.').ok_or_else(bad)?;
                let (via, dataset, field) = (via.trim(), dataset.trim(), field.trim());
                if [via, dataset, field].iter().all(|s| is_identifier(s)) {
                    Ok(Operand::Reference {
                        via: via.to_string(),
                        dataset: dataset.to_string(),
                        field: field.to_string(),
                    })
                } else {
                    Err(bad())
                }
            }
        }
    }
}

impl From<Operand> for String {
    fn from(operand: Operand) -> String {
        operand.to_string()
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Field(field) => f.write_str(field),
            Operand::Reference {
                via,
                dataset,
                field,
            } => write!(f, "{via} -> {dataset}.{field}"),
        }
    }
}

/// The closed set of rule kinds and their parameters (see the header of
/// `pack/standard.toml`). `field` is the field an issue names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// `field[field_slice]` equals `other[other_slice]` (character ranges `[start, end)`).
    Equals {
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field_slice: Option<[usize; 2]>,
        other: Operand,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        other_slice: Option<[usize; 2]>,
    },
    /// `field` is present when the condition holds (and, with `greater_than`, a larger number).
    RequiredWhen {
        field: String,
        when: Condition,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        greater_than: Option<f64>,
    },
    /// `field` is absent unless the condition holds.
    EmptyUnless { field: String, when: Condition },
    /// The date `field` is not before the date `not_before`.
    DateOrder { field: String, not_before: Operand },
    /// The date `field` is not after today.
    NotFuture { field: String },
    /// `field` is a department registered at the node.
    RegisteredDepartment { field: String },
    /// `field` equals the submitting department's code, when a department submits.
    Submitter { field: String },
    /// The region `field` lies within the receiving node's region.
    WithinNode { field: String },
    /// `field` (each item of a list) is the key of an accepted record of `dataset`.
    Reference { field: String, dataset: String },
    /// The list `field` has at least `min` distinct items.
    MinDistinct { field: String, min: usize },
    /// Each item of `field` refers to an accepted record of `dataset` whose `from`..`until`
    /// dates contain this record's `date`.
    ValidOn {
        field: String,
        dataset: String,
        from: String,
        until: String,
        date: String,
    },
    /// When `field` is empty, fill it from `from`; recorded as an `auto_association` change.
    AutoFill { field: String, from: Operand },
}

impl Check {
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Equals { .. } => "equals",
            Check::RequiredWhen { .. } => "required_when",
            Check::EmptyUnless { .. } => "empty_unless",
            Check::DateOrder { .. } => "date_order",
            Check::NotFuture { .. } => "not_future",
            Check::RegisteredDepartment { .. } => "registered_department",
            Check::Submitter { .. } => "submitter",
            Check::WithinNode { .. } => "within_node",
            Check::Reference { .. } => "reference",
            Check::MinDistinct { .. } => "min_distinct",
            Check::ValidOn { .. } => "valid_on",
            Check::AutoFill { .. } => "auto_fill",
        }
    }

    /// The field an issue of this rule names.
    pub fn field(&self) -> &str {
        match self {
            Check::Equals { field, .. }
            | Check::RequiredWhen { field, .. }
            | Check::EmptyUnless { field, .. }
            | Check::DateOrder { field, .. }
            | Check::NotFuture { field }
            | Check::RegisteredDepartment { field }
            | Check::Submitter { field }
            | Check::WithinNode { field }
            | Check::Reference { field, .. }
            | Check::MinDistinct { field, .. }
            | Check::ValidOn { field, .. }
            | Check::AutoFill { field, .. } => field,
        }
    }

    /// Placeholders this kind fills in messages, besides {field} {label} {value} {dataset}.
    pub fn placeholders(&self) -> &'static [&'static str] {
        match self {
            Check::Equals { .. } => &["other", "other_value", "field_part", "other_part"],
            Check::RequiredWhen { .. } => &["when_field", "when_value", "greater_than"],
            Check::EmptyUnless { .. } => &["when_field", "when_value"],
            Check::DateOrder { .. } => &["other", "other_value"],
            Check::NotFuture { .. } => &["today"],
            Check::RegisteredDepartment { .. } => &[],
            Check::Submitter { .. } => &["submitter"],
            Check::WithinNode { .. } => &["node_region"],
            Check::Reference { .. } => &["target", "item"],
            Check::MinDistinct { .. } => &["min", "count"],
            Check::ValidOn { .. } => &["target", "item", "date", "from", "until"],
            Check::AutoFill { .. } => &[],
        }
    }
}

/// One rule of a data set, as written in the pack.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleSpec {
    /// A stable id such as `action.officers.min2`.
    pub id: String,
    pub severity: Severity,
    /// Message templates; `{name}` placeholders are filled per issue.
    pub message_zh: String,
    pub message_en: String,
    #[serde(flatten)]
    pub check: Check,
}

/// A rule operand with its field resolved.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Field(usize),
    Reference {
        via: usize,
        dataset: String,
        field: String,
        /// Index of `field` among the fields wanted from `dataset` ([`DatasetSpec::wanted`]).
        slot: usize,
    },
}

/// A rule with its fields resolved to indices, for the engine.
#[derive(Clone, Debug)]
pub(crate) struct CompiledRule {
    /// Index into [`DatasetSpec::rules`].
    pub rule: usize,
    /// The field an issue names.
    pub field: usize,
    /// Bit per local field the rule reads: it is skipped when one of them failed.
    pub deps: u64,
    pub op: RuleOp,
}

#[derive(Clone, Debug)]
pub(crate) enum RuleOp {
    Equals {
        field_slice: Option<[usize; 2]>,
        other: Target,
        other_slice: Option<[usize; 2]>,
    },
    RequiredWhen {
        when: usize,
        values: Vec<String>,
        greater_than: Option<f64>,
    },
    EmptyUnless {
        when: usize,
        values: Vec<String>,
    },
    DateOrder {
        not_before: Target,
    },
    NotFuture,
    RegisteredDepartment,
    Submitter,
    WithinNode,
    Reference {
        dataset: String,
    },
    MinDistinct {
        min: usize,
    },
    ValidOn {
        dataset: String,
        /// Indices among the fields wanted from `dataset`.
        from: usize,
        until: usize,
        date: usize,
    },
    AutoFill {
        from: Target,
    },
}

/// One data set: its key, its fields in order and its rules.
#[derive(Clone, Debug)]
pub struct DatasetSpec {
    pub name: String,
    pub label: String,
    /// The key field's name.
    pub key: String,
    pub fields: Vec<FieldSpec>,
    pub rules: Vec<RuleSpec>,
    pub(crate) key_index: usize,
    pub(crate) compiled: Vec<CompiledRule>,
    /// Field indices in name order, to build a record's map without sorting.
    pub(crate) name_order: Vec<usize>,
    /// Per referenced data set, the fields the rules read from its accepted records.
    pub(crate) wanted: Vec<(String, Vec<String>)>,
}

impl DatasetSpec {
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.slot(name).map(|i| &self.fields[i])
    }

    /// The index of a field in `fields`.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| same(&f.name, name))
    }

    /// The key field.
    pub fn key_field(&self) -> &FieldSpec {
        &self.fields[self.key_index]
    }

    /// The field a spreadsheet header names: its field name (ASCII case ignored) or Chinese
    /// label, trimmed, ignoring `*` required markers, or both combined as
    /// `监管事项编码(item_code)`, `监管事项编码（item_code）` or `监管事项编码 item_code`.
    pub fn field_by_header(&self, header: &str) -> Option<&FieldSpec> {
        let header = clean_header(header);
        if header.is_empty() {
            return None;
        }
        if let Some(field) = self.field_by_word(header) {
            return Some(field);
        }
        if let Some(inner) = header
            .strip_suffix(')')
            .or_else(|| header.strip_suffix('）'))
        {
            if let Some(open) = inner.rfind(['(', '（']) {
                let width = inner[open..].chars().next().map_or(1, char::len_utf8);
                let outside = clean_header(&inner[..open]);
                let inside = clean_header(&inner[open + width..]);
                return self
                    .field_by_word(inside)
                    .or_else(|| self.field_by_word(outside));
            }
        }
        if let Some((first, last)) = header.rsplit_once(char::is_whitespace) {
            return self
                .field_by_word(clean_header(last))
                .or_else(|| self.field_by_word(clean_header(first)));
        }
        None
    }

    fn field_by_word(&self, word: &str) -> Option<&FieldSpec> {
        if word.is_empty() {
            return None;
        }
        self.fields
            .iter()
            .find(|f| f.name == word || f.label == word)
            .or_else(|| {
                self.fields
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(word))
            })
    }

    /// A copy of `fields` with every masked field masked by [`mask_id`].
    pub fn mask(&self, fields: &Fields) -> Fields {
        let mut masked = fields.clone();
        for field in self.fields.iter().filter(|f| f.masked) {
            if let Some(value) = masked.get_mut(&field.name) {
                *value = match value {
                    Value::Text(s) => Value::Text(mask_id(s).into()),
                    Value::List(items) => Value::List(items.iter().map(|i| mask_id(i)).collect()),
                };
            }
        }
        masked
    }
}

fn clean_header(header: &str) -> &str {
    header.trim_matches(|c: char| c == '*' || c == '＊' || c.is_whitespace())
}

/// Shows the first 6 and last 4 characters of an identity number, the rest as `*`;
/// a value of 10 characters or fewer is masked whole.
pub fn mask_id(value: &str) -> String {
    let count = value.chars().count();
    if count <= 10 {
        return "*".repeat(count);
    }
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if i < 6 || i >= count - 4 { c } else { '*' })
        .collect()
}

/// Every problem found in a rule pack, each naming the data set, field or rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PackError {
    pub problems: Vec<String>,
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the rule pack has {} problem(s):", self.problems.len())?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// The data standard as data: settings, code lists, data sets in reference order.
#[derive(Clone, Debug)]
pub struct RulePack {
    name: String,
    version: String,
    settings: Settings,
    code_lists: Vec<CodeList>,
    datasets: Vec<DatasetSpec>,
}

impl RulePack {
    /// The embedded standard pack, parsed once.
    pub fn builtin() -> Arc<RulePack> {
        static PACK: OnceLock<Arc<RulePack>> = OnceLock::new();
        PACK.get_or_init(|| {
            // Invariant: the embedded pack is part of the source tree and a unit test loads it.
            let pack = RulePack::from_toml_str(STANDARD_TOML)
                .unwrap_or_else(|e| panic!("the embedded pack/standard.toml is invalid: {e}"));
            Arc::new(pack)
        })
        .clone()
    }

    /// The text of the embedded standard pack, e.g. for an operator to copy and edit.
    pub fn builtin_toml() -> &'static str {
        STANDARD_TOML
    }

    /// Reads and validates a pack, reporting every problem found.
    pub fn from_toml_str(text: &str) -> Result<RulePack, PackError> {
        crate::packload::load(text)
    }

    pub(crate) fn from_parts(
        name: String,
        version: String,
        settings: Settings,
        code_lists: Vec<CodeList>,
        datasets: Vec<DatasetSpec>,
    ) -> RulePack {
        RulePack {
            name,
            version,
            settings,
            code_lists,
            datasets,
        }
    }

    pub fn id(&self) -> PackId {
        PackId {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn dataset(&self, name: &str) -> Option<&DatasetSpec> {
        self.datasets.iter().find(|d| d.name == name)
    }

    /// The data sets in reference order (a data set refers only to earlier ones).
    pub fn datasets(&self) -> &[DatasetSpec] {
        &self.datasets
    }

    /// Whether the rules of some data set look up accepted records of `dataset`. Upserts
    /// of data sets that no rule refers to are checked without seeing one another.
    pub fn is_referenced(&self, dataset: &str) -> bool {
        self.datasets
            .iter()
            .any(|d| d.wanted.iter().any(|(wanted, _)| wanted == dataset))
    }

    pub fn timeliness_deadline_days(&self) -> i64 {
        self.settings.timeliness_deadline_days
    }

    pub fn coverage_item_types(&self) -> &[String] {
        &self.settings.coverage_item_types
    }

    pub fn list_separators(&self) -> &[char] {
        &self.settings.list_separators
    }

    pub fn code_lists(&self) -> &[CodeList] {
        &self.code_lists
    }

    pub fn code_list(&self, name: &str) -> Option<&CodeList> {
        self.code_lists.iter().find(|l| l.name == name)
    }

    /// The code list of a `code` field.
    pub fn codes_of(&self, field: &FieldSpec) -> Option<&CodeList> {
        field.codes.and_then(|i| self.code_lists.get(i))
    }

    /// The label of a code, e.g. `code_label("item_type", "JC")` is `行政检查`.
    pub fn code_label(&self, list: &str, code: &str) -> Option<&str> {
        self.code_list(list)?
            .codes
            .iter()
            .find(|c| c.code == code)
            .map(|c| c.label.as_str())
    }
}

// Helpers shared with the loader.

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) fn deserialize_value<T: DeserializeOwned>(value: toml::Value) -> Result<T, String> {
    value.try_into::<T>().map_err(|e| {
        e.to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Checks a field's example as the engine would check a value (ages never in the future).
pub(crate) fn check_example(
    field: &FieldSpec,
    codes: Option<&CodeList>,
    separators: &[char],
) -> Result<(), String> {
    if field.example.trim().is_empty() {
        return Err("has no example".to_string());
    }
    let value = if field.ty == FieldType::List {
        Value::List(
            field
                .example
                .split(|c| separators.contains(&c))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    } else {
        Value::Text(field.example.as_str().into())
    };
    check_field(field, codes, RegionTable::builtin(), NaiveDate::MAX, &value)
        .map_err(|failure| format!("example is not valid: {}", failure.message_en))
}

#[cfg(test)]
#[path = "pack_test.rs"]
mod tests;
