//! The outcome of governing one record: its standardized fields, every change the
//! platform made, every issue found, and the rule pack that judged it.

use serde::{Deserialize, Serialize};

use crate::record::{Fields, Op};

/// `error` rejects the record into the rectification queue; `warning` is kept and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One failed check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// A stable rule id such as `action.officers.min2`.
    pub rule: String,
    /// The field at fault (the first one, for rules over several fields).
    pub field: String,
    pub severity: Severity,
    pub message_zh: String,
    pub message_en: String,
    /// The field's example of a valid value, from the rule pack; may be empty.
    pub example: String,
}

impl Issue {
    /// The bilingual message shown to users: Chinese first, then English.
    pub fn message(&self) -> String {
        format!("{} / {}", self.message_zh, self.message_en)
    }
}

/// One alteration made by standardization, kept so a department sees what changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub field: String,
    pub before: String,
    pub after: String,
    /// The step that made it: `trim`, `fullwidth`, `uppercase`, `date`, `amount`,
    /// `code_label`, `list`, `auto_association`.
    pub step: String,
}

/// Names the rule pack (and its version) that produced a verdict.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PackId {
    pub name: String,
    pub version: String,
}

/// The outcome of governing one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub dataset: String,
    /// The standardized value of the data set's key field; empty when it is missing.
    pub key: String,
    pub op: Op,
    /// Fields after standardization (and auto-association); what is stored on acceptance.
    pub fields: Fields,
    pub changes: Vec<Change>,
    pub issues: Vec<Issue>,
    pub pack: PackId,
}

impl Verdict {
    /// A record is accepted when no issue is an error; warnings are kept.
    pub fn accepted(&self) -> bool {
        !self.issues.iter().any(|i| i.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.severity == Severity::Error)
    }
}
