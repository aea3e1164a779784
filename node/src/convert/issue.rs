//! Issues and standardization changes.

use regfed_governance::{Change, Issue, Severity};
use regfed_proto::v1 as pb;

pub fn issue_to_pb(issue: &Issue) -> pb::Issue {
    pb::Issue {
        rule: issue.rule.clone(),
        field: issue.field.clone(),
        severity: issue.severity.as_str().to_string(),
        message_zh: issue.message_zh.clone(),
        message_en: issue.message_en.clone(),
        example: issue.example.clone(),
    }
}

pub fn issue_from_pb(issue: pb::Issue) -> Issue {
    Issue {
        rule: issue.rule,
        field: issue.field,
        severity: if issue.severity == "warning" {
            Severity::Warning
        } else {
            Severity::Error
        },
        message_zh: issue.message_zh,
        message_en: issue.message_en,
        example: issue.example,
    }
}

pub fn change_to_pb(change: &Change) -> pb::Change {
    pb::Change {
        field: change.field.clone(),
        before: change.before.clone(),
        after: change.after.clone(),
        step: change.step.clone(),
    }
}
