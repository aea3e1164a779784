//! Resolving the names a file uses for fields (JSON keys, CSV headers) to the data set's
//! field names, and suggesting the intended one when a name is unknown.

use regfed_governance::DatasetSpec;

/// What a JSON key or CSV header names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Column {
    /// A field of the data set, by its field name.
    Field(String),
    /// The operation (`op`): upsert or delete.
    Op,
    /// The data set's name, which must be the one being read.
    Dataset,
}

/// Resolves a key or header: a field name or Chinese label (as
/// [`DatasetSpec::field_by_header`] matches them), `op` or `dataset` (also `操作`, `数据集`).
pub(crate) fn resolve(spec: &DatasetSpec, name: &str) -> Option<Column> {
    let trimmed = name.trim();
    if trimmed.eq_ignore_ascii_case("op") || trimmed == "操作" {
        return Some(Column::Op);
    }
    if trimmed.eq_ignore_ascii_case("dataset") || trimmed == "数据集" {
        return Some(Column::Dataset);
    }
    spec.field_by_header(name)
        .map(|f| Column::Field(f.name.to_string()))
}

/// A sentence naming an unknown key or header and the names it may have meant: the close
/// ones when there are, else all the data set's field names.
pub(crate) fn unknown(spec: &DatasetSpec, what: &str, name: &str) -> String {
    let lowered = name.trim().to_lowercase();
    let mut close: Vec<&str> = Vec::new();
    for field in &spec.fields {
        let near = |candidate: &str| {
            let candidate = candidate.to_lowercase();
            let limit = if candidate.chars().count() <= 4 { 1 } else { 2 };
            edit_distance(&lowered, &candidate) <= limit
                || (lowered.chars().count() >= 3
                    && (candidate.contains(&lowered) || lowered.contains(&candidate)))
        };
        if near(&field.name) || near(&field.label) {
            close.push(&field.name);
        }
    }
    if close.is_empty() {
        let all: Vec<&str> = spec.fields.iter().map(|f| f.name.as_str()).collect();
        format!(
            "unknown {what} {name:?}: data set {} has the fields {}",
            spec.name,
            all.join(", ")
        )
    } else {
        let shown: Vec<String> = close
            .iter()
            .map(|n| {
                let label = spec.field(n).map(|f| f.label.as_str()).unwrap_or_default();
                format!("{n} ({label})")
            })
            .collect();
        format!(
            "unknown {what} {name:?} in data set {}; did you mean {}?",
            spec.name,
            shown.join(" or ")
        )
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use regfed_governance::RulePack;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("item_cod", "item_code"), 1);
        assert_eq!(edit_distance("名称", "名字"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn names_resolve_and_suggest() {
        let pack = RulePack::builtin();
        let Some(spec) = pack.dataset("action") else {
            panic!("the builtin pack has action");
        };
        assert_eq!(
            resolve(spec, "罚款金额（元）"),
            Some(Column::Field("penalty_amount".into()))
        );
        assert_eq!(resolve(spec, " OP "), Some(Column::Op));
        assert_eq!(resolve(spec, "dataset"), Some(Column::Dataset));
        assert_eq!(resolve(spec, "colour"), None);
        let message = unknown(spec, "field", "penalty_amout");
        assert!(message.contains("did you mean penalty_amount"), "{message}");
        let message = unknown(spec, "column", "colour");
        assert!(
            message.contains("has the fields action_id, item_code"),
            "{message}"
        );
    }
}
