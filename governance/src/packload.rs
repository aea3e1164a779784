//! Reads a rule pack from TOML and validates it as a whole: every problem is collected,
//! named by its data set, field or rule, and reported at once in a [`PackError`].

use std::cell::RefCell;
use std::collections::HashSet;

use crate::pack::{
    check_example, deserialize_value, is_identifier, Check, CodeList, CompiledRule, Condition,
    DatasetSpec, FieldSpec, FieldType, Operand, PackError, RuleOp, RulePack, RuleSpec, Settings,
    Target, FIELD_CHECKS, MAX_FIELDS,
};
use crate::pattern::Pattern;
use crate::verdict::Severity;

/// Placeholders every rule message may use.
const COMMON_PLACEHOLDERS: [&str; 4] = ["field", "label", "value", "dataset"];

/// Rule ids the engine itself produces, outside any data set.
const ENGINE_RULES: [&str; 2] = ["record.dataset.unknown", "record.delete.unknown_key"];

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: String) {
        self.0.push(problem);
    }
}

/// A data set whose fields are read and whose rules are still tables.
struct Draft {
    name: String,
    label: String,
    key: String,
    fields: Vec<FieldSpec>,
    rules: Vec<toml::Table>,
}

pub(crate) fn load(text: &str) -> Result<RulePack, PackError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| PackError {
        problems: vec![format!("not valid TOML: {}", e.to_string().trim())],
    })?;
    let mut p = Problems::default();
    for key in table.keys() {
        if !["name", "version", "settings", "code_lists", "datasets"].contains(&key.as_str()) {
            p.push(format!("unknown top-level key `{key}`"));
        }
    }
    let name = top_string(&table, "name", &mut p);
    let version = top_string(&table, "version", &mut p);
    let code_lists = load_code_lists(table.get("code_lists"), &mut p);
    let settings = load_settings(table.get("settings"), &code_lists, &mut p);
    let drafts = load_drafts(
        table.get("datasets"),
        &code_lists,
        &settings.list_separators,
        &mut p,
    );
    let datasets = compile_datasets(drafts, &code_lists, &mut p);
    if p.0.is_empty() {
        Ok(RulePack::from_parts(
            name, version, settings, code_lists, datasets,
        ))
    } else {
        Err(PackError { problems: p.0 })
    }
}

fn top_string(table: &toml::Table, key: &str, p: &mut Problems) -> String {
    match table.get(key) {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(toml::Value::String(_)) => {
            p.push(format!("`{key}` is empty"));
            String::new()
        }
        Some(_) => {
            p.push(format!("`{key}` must be a string"));
            String::new()
        }
        None => {
            p.push(format!("`{key}` is missing"));
            String::new()
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodeList {
    label: String,
    codes: Vec<crate::pack::Code>,
}

fn load_code_lists(value: Option<&toml::Value>, p: &mut Problems) -> Vec<CodeList> {
    let Some(value) = value else {
        p.push("`code_lists` is missing".to_string());
        return Vec::new();
    };
    let Some(table) = value.as_table() else {
        p.push("`code_lists` must be a table of code lists".to_string());
        return Vec::new();
    };
    let mut lists = Vec::new();
    for (name, value) in table {
        let at = format!("code list {name}");
        if !is_identifier(name) {
            p.push(format!("{at}: the name must be lower_snake_case"));
        }
        let raw: RawCodeList = match deserialize_value(value.clone()) {
            Ok(raw) => raw,
            Err(e) => {
                p.push(format!("{at}: {e}"));
                continue;
            }
        };
        if raw.label.trim().is_empty() {
            p.push(format!("{at}: the label is empty"));
        }
        if raw.codes.is_empty() {
            p.push(format!("{at}: has no codes"));
        }
        let mut codes = HashSet::new();
        let mut labels = HashSet::new();
        for code in &raw.codes {
            if code.code.trim().is_empty() || code.code.trim() != code.code {
                p.push(format!("{at}: code {:?} is empty or padded", code.code));
            }
            if code.label.trim().is_empty() {
                p.push(format!("{at}: code {} has no label", code.code));
            }
            if !codes.insert(code.code.as_str()) {
                p.push(format!("{at}: code {} is listed twice", code.code));
            }
            if !labels.insert(code.label.as_str()) {
                p.push(format!("{at}: label {} is used twice", code.label));
            }
        }
        for code in &raw.codes {
            if code.label != code.code && codes.contains(code.label.as_str()) {
                p.push(format!(
                    "{at}: label {} of code {} is also a code",
                    code.label, code.code
                ));
            }
        }
        lists.push(CodeList {
            name: name.clone(),
            label: raw.label,
            codes: raw.codes,
        });
    }
    lists
}

fn load_settings(value: Option<&toml::Value>, lists: &[CodeList], p: &mut Problems) -> Settings {
    let fallback = Settings {
        timeliness_deadline_days: 0,
        coverage_item_types: Vec::new(),
        list_separators: vec![';'],
    };
    let Some(value) = value else {
        p.push("`settings` is missing".to_string());
        return fallback;
    };
    let settings: Settings = match deserialize_value(value.clone()) {
        Ok(settings) => settings,
        Err(e) => {
            p.push(format!("settings: {e}"));
            return fallback;
        }
    };
    if settings.timeliness_deadline_days < 0 {
        p.push(format!(
            "settings: timeliness_deadline_days is {}; it must be 0 or more",
            settings.timeliness_deadline_days
        ));
    }
    if settings.coverage_item_types.is_empty() {
        p.push("settings: coverage_item_types is empty".to_string());
    }
    for code in &settings.coverage_item_types {
        if !lists.iter().any(|l| l.contains(code)) {
            p.push(format!(
                "settings: coverage_item_types names {code}, which is in no code list"
            ));
        }
    }
    if settings.list_separators.is_empty() {
        p.push("settings: list_separators is empty".to_string());
    }
    settings
}

fn load_drafts(
    value: Option<&toml::Value>,
    lists: &[CodeList],
    separators: &[char],
    p: &mut Problems,
) -> Vec<Draft> {
    let Some(value) = value else {
        p.push("`datasets` is missing".to_string());
        return Vec::new();
    };
    let Some(array) = value.as_array() else {
        p.push("`datasets` must be an array of tables ([[datasets]])".to_string());
        return Vec::new();
    };
    let mut drafts: Vec<Draft> = Vec::new();
    for (index, value) in array.iter().enumerate() {
        let Some(table) = value.as_table() else {
            p.push(format!("dataset #{}: must be a table", index + 1));
            continue;
        };
        let name = table.get("name").and_then(|v| v.as_str()).unwrap_or("");
        let at = if name.is_empty() {
            format!("dataset #{}", index + 1)
        } else {
            format!("dataset {name}")
        };
        for key in table.keys() {
            if !["name", "label", "key", "fields", "rules"].contains(&key.as_str()) {
                p.push(format!("{at}: unknown key `{key}`"));
            }
        }
        if !is_identifier(name) {
            p.push(format!("{at}: `name` must be a lower_snake_case string"));
        } else if drafts.iter().any(|d| d.name == name) {
            p.push(format!("{at}: defined twice"));
        }
        let label = table.get("label").and_then(|v| v.as_str()).unwrap_or("");
        if label.trim().is_empty() {
            p.push(format!("{at}: `label` is missing or empty"));
        }
        let key = table.get("key").and_then(|v| v.as_str()).unwrap_or("");
        let fields = load_fields(&at, table.get("fields"), lists, separators, p);
        match fields.iter().find(|f| f.name == key) {
            None => p.push(format!("{at}: key `{key}` is not one of its fields")),
            Some(field) if !field.required || field.ty == FieldType::List => {
                p.push(format!("{at}: key `{key}` must be a required scalar field"))
            }
            Some(_) => {}
        }
        let rules = match table.get("rules") {
            None => Vec::new(),
            Some(toml::Value::Array(rules)) => {
                let mut tables = Vec::new();
                for (i, rule) in rules.iter().enumerate() {
                    match rule.as_table() {
                        Some(t) => tables.push(t.clone()),
                        None => p.push(format!("{at}: rule #{} must be a table", i + 1)),
                    }
                }
                tables
            }
            Some(_) => {
                p.push(format!("{at}: `rules` must be an array of tables"));
                Vec::new()
            }
        };
        drafts.push(Draft {
            name: name.to_string(),
            label: label.to_string(),
            key: key.to_string(),
            fields,
            rules,
        });
    }
    if drafts.is_empty() {
        p.push("`datasets` is empty".to_string());
    }
    drafts
}

fn load_fields(
    at: &str,
    value: Option<&toml::Value>,
    lists: &[CodeList],
    separators: &[char],
    p: &mut Problems,
) -> Vec<FieldSpec> {
    let Some(toml::Value::Array(array)) = value else {
        p.push(format!("{at}: `fields` must be an array of tables"));
        return Vec::new();
    };
    if array.len() > MAX_FIELDS {
        p.push(format!("{at}: has more than {MAX_FIELDS} fields"));
    }
    let mut fields: Vec<FieldSpec> = Vec::new();
    for (index, value) in array.iter().enumerate() {
        let name = value.get("name").and_then(|v| v.as_str()).unwrap_or("");
        let at = if name.is_empty() {
            format!("{at}, field #{}", index + 1)
        } else {
            format!("{at}, field {name}")
        };
        let mut field: FieldSpec = match deserialize_value(value.clone()) {
            Ok(field) => field,
            Err(e) => {
                p.push(format!("{at}: {e}"));
                continue;
            }
        };
        if !is_identifier(&field.name) {
            p.push(format!("{at}: the name must be lower_snake_case"));
        }
        if fields.iter().any(|f| f.name == field.name) {
            p.push(format!("{at}: defined twice"));
        }
        if field.label.trim().is_empty() {
            p.push(format!("{at}: the label is empty"));
        } else if let Some(other) = fields.iter().find(|f| f.label == field.label) {
            p.push(format!(
                "{at}: label {} is also the label of {}",
                field.label, other.name
            ));
        }
        if let Some(pattern) = &field.pattern {
            match Pattern::new(pattern) {
                Ok(regex) => field.regex = Some(regex),
                Err(e) => {
                    // The regex error draws a caret under the pattern over several lines;
                    // its last line says what is wrong.
                    let text = e.to_string();
                    let reason = text.lines().last().unwrap_or_default();
                    let reason = reason.trim().trim_start_matches("error: ");
                    p.push(format!(
                        "{at}: pattern {pattern:?} does not compile: {reason}"
                    ));
                }
            }
        }
        let mut bounds_ok = true;
        if let (Some(min), Some(max)) = (field.min_len, field.max_len) {
            if min > max {
                p.push(format!("{at}: min_len {min} is above max_len {max}"));
                bounds_ok = false;
            }
        }
        match (&field.code_list, field.ty) {
            (Some(list), FieldType::Code) => {
                field.codes = lists.iter().position(|l| &l.name == list);
                if field.codes.is_none() {
                    p.push(format!("{at}: code list {list} is not defined"));
                }
            }
            (None, FieldType::Code) => p.push(format!("{at}: a code field needs a code_list")),
            (Some(_), ty) => p.push(format!("{at}: code_list is set but the type is {ty}")),
            (None, _) => {}
        }
        let codes = field.codes.and_then(|i| lists.get(i));
        let example_checkable = bounds_ok && (field.ty != FieldType::Code || codes.is_some());
        if example_checkable && (field.regex.is_some() || field.pattern.is_none()) {
            if let Err(e) = check_example(&field, codes, separators) {
                p.push(format!("{at}: {e}"));
            }
        }
        fields.push(field);
    }
    if array.is_empty() {
        p.push(format!("{at}: has no fields"));
    }
    fields
}

/// Resolves every data set's rules against the drafts, in order.
fn compile_datasets(drafts: Vec<Draft>, lists: &[CodeList], p: &mut Problems) -> Vec<DatasetSpec> {
    let mut ids: HashSet<String> = ENGINE_RULES.iter().map(|s| s.to_string()).collect();
    for draft in &drafts {
        ids.insert(format!("{}.unknown_field", draft.name));
        for field in &draft.fields {
            for check in FIELD_CHECKS {
                ids.insert(format!("{}.{}.{check}", draft.name, field.name));
            }
        }
    }
    let mut datasets = Vec::new();
    for (position, draft) in drafts.iter().enumerate() {
        let scope = Scope {
            drafts: &drafts,
            position,
            lists,
            wanted: RefCell::new(Vec::new()),
        };
        let mut rules = Vec::new();
        let mut compiled = Vec::new();
        for (index, table) in draft.rules.iter().enumerate() {
            let Some(rule) = read_rule(&draft.name, index, table, p) else {
                continue;
            };
            let at = format!("dataset {}, rule {}", draft.name, rule.id);
            if !ids.insert(rule.id.clone()) {
                p.push(format!(
                    "{at}: the id is used twice (or is a generated field-check id)"
                ));
            }
            let mut errors = Vec::new();
            check_messages(&rule, &mut errors);
            match scope.compile(&rule.check, rules.len(), &mut errors) {
                Some(rule) if errors.is_empty() => compiled.push(rule),
                _ => {}
            }
            for error in errors {
                p.push(format!("{at}: {error}"));
            }
            rules.push(rule);
        }
        datasets.push(DatasetSpec {
            name: draft.name.clone(),
            label: draft.label.clone(),
            key: draft.key.clone(),
            key_index: draft
                .fields
                .iter()
                .position(|f| f.name == draft.key)
                .unwrap_or(0),
            fields: draft.fields.clone(),
            rules,
            compiled,
            name_order: name_order(&draft.fields),
            wanted: scope.wanted.into_inner(),
        });
    }
    datasets
}

fn read_rule(
    dataset: &str,
    index: usize,
    table: &toml::Table,
    p: &mut Problems,
) -> Option<RuleSpec> {
    let mut table = table.clone();
    let id = match table.remove("id") {
        Some(toml::Value::String(id)) if !id.trim().is_empty() => id,
        _ => {
            p.push(format!(
                "dataset {dataset}, rule #{}: `id` is missing",
                index + 1
            ));
            return None;
        }
    };
    let at = format!("dataset {dataset}, rule {id}");
    let mut ok = true;
    let mut text = |key: &str, ok: &mut bool| match table.remove(key) {
        None => String::new(),
        Some(toml::Value::String(s)) => s,
        Some(_) => {
            p.push(format!("{at}: `{key}` must be a string"));
            *ok = false;
            String::new()
        }
    };
    let message_zh = text("message_zh", &mut ok);
    let message_en = text("message_en", &mut ok);
    let severity = match text("severity", &mut ok).as_str() {
        "" | "error" => Severity::Error,
        "warning" => Severity::Warning,
        other => {
            p.push(format!(
                "{at}: severity {other:?} is neither \"error\" nor \"warning\""
            ));
            ok = false;
            Severity::Error
        }
    };
    let check: Check = match deserialize_value(toml::Value::Table(table)) {
        Ok(check) => check,
        Err(e) => {
            p.push(format!("{at}: {e}"));
            return None;
        }
    };
    ok.then_some(RuleSpec {
        id,
        severity,
        message_zh,
        message_en,
        check,
    })
}

fn check_messages(rule: &RuleSpec, errors: &mut Vec<String>) {
    if matches!(rule.check, Check::AutoFill { .. }) {
        return;
    }
    for (name, message) in [
        ("message_zh", &rule.message_zh),
        ("message_en", &rule.message_en),
    ] {
        if message.trim().is_empty() {
            errors.push(format!("{name} is missing"));
            continue;
        }
        let mut rest = message.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                errors.push(format!("{name} has an unclosed {{"));
                break;
            };
            let placeholder = &after[..close];
            let known = COMMON_PLACEHOLDERS.contains(&placeholder)
                || rule.check.placeholders().contains(&placeholder);
            if !known {
                let mut all: Vec<&str> = COMMON_PLACEHOLDERS.to_vec();
                all.extend(rule.check.placeholders());
                errors.push(format!(
                    "{name} uses {{{placeholder}}}, which a {} rule does not fill (known: {})",
                    rule.check.kind(),
                    all.join(", ")
                ));
            }
            rest = &after[close + 1..];
        }
    }
}

struct Scope<'a> {
    drafts: &'a [Draft],
    position: usize,
    lists: &'a [CodeList],
    /// Fields the rules read from referenced data sets, registered while compiling.
    wanted: RefCell<Vec<(String, Vec<String>)>>,
}

impl Scope<'_> {
    /// Registers a data set whose accepted records the rules look up.
    fn want_dataset(&self, dataset: &str) -> usize {
        let mut wanted = self.wanted.borrow_mut();
        match wanted.iter().position(|(d, _)| d == dataset) {
            Some(position) => position,
            None => {
                wanted.push((dataset.to_string(), Vec::new()));
                wanted.len() - 1
            }
        }
    }

    /// The index of `field` among the fields wanted from `dataset`, registering it.
    fn want(&self, dataset: &str, field: &str) -> usize {
        let position = self.want_dataset(dataset);
        let mut wanted = self.wanted.borrow_mut();
        let fields = &mut wanted[position].1;
        match fields.iter().position(|f| f == field) {
            Some(index) => index,
            None => {
                fields.push(field.to_string());
                fields.len() - 1
            }
        }
    }

    fn this(&self) -> &Draft {
        &self.drafts[self.position]
    }

    /// A field of this data set, optionally of one of `types`.
    fn local(&self, name: &str, types: &[FieldType], errors: &mut Vec<String>) -> Option<usize> {
        let this = self.this();
        let Some(index) = this.fields.iter().position(|f| f.name == name) else {
            errors.push(format!("`{name}` is not a field of data set {}", this.name));
            return None;
        };
        let ty = this.fields[index].ty;
        if !types.is_empty() && !types.contains(&ty) {
            errors.push(format!(
                "field `{name}` is {ty}; this rule needs {}",
                names(types)
            ));
            return None;
        }
        Some(index)
    }

    /// A data set defined before this one (data sets are in reference order).
    fn earlier(&self, dataset: &str, errors: &mut Vec<String>) -> Option<&Draft> {
        match self.drafts.iter().position(|d| d.name == dataset) {
            Some(i) if i < self.position => Some(&self.drafts[i]),
            Some(_) => {
                errors.push(format!(
                    "data set {dataset} is not defined before {} (data sets are in reference order)",
                    self.this().name
                ));
                None
            }
            None => {
                errors.push(format!("data set {dataset} is not defined"));
                None
            }
        }
    }

    fn foreign(
        &self,
        dataset: &str,
        field: &str,
        types: &[FieldType],
        errors: &mut Vec<String>,
    ) -> bool {
        let Some(draft) = self.earlier(dataset, errors) else {
            return false;
        };
        match draft.fields.iter().find(|f| f.name == field) {
            None => {
                errors.push(format!("`{field}` is not a field of data set {dataset}"));
                false
            }
            Some(f) if !types.is_empty() && !types.contains(&f.ty) => {
                errors.push(format!(
                    "field {dataset}.{field} is {}; this rule needs {}",
                    f.ty,
                    names(types)
                ));
                false
            }
            Some(_) => true,
        }
    }

    fn target(
        &self,
        operand: &Operand,
        types: &[FieldType],
        errors: &mut Vec<String>,
    ) -> Option<(Target, u64)> {
        match operand {
            Operand::Field(name) => {
                let index = self.local(name, types, errors)?;
                Some((Target::Field(index), bit(index)))
            }
            Operand::Reference {
                via,
                dataset,
                field,
            } => {
                let via = self.local(via, &[], errors);
                let found = self.foreign(dataset, field, types, errors);
                let via = via?;
                found.then(|| {
                    (
                        Target::Reference {
                            via,
                            dataset: dataset.clone(),
                            field: field.clone(),
                            slot: self.want(dataset, field),
                        },
                        bit(via),
                    )
                })
            }
        }
    }

    fn condition(
        &self,
        when: &Condition,
        errors: &mut Vec<String>,
    ) -> Option<(usize, Vec<String>)> {
        let index = self.local(&when.field, &[], errors)?;
        if when.values.is_empty() {
            errors.push(format!("the condition on `{}` lists no values", when.field));
        }
        let field = &self.this().fields[index];
        if let Some(list) = field.codes.and_then(|i| self.lists.get(i)) {
            for value in &when.values {
                if !list.contains(value) {
                    errors.push(format!(
                        "the condition value {value} is not in code list {}",
                        list.name
                    ));
                }
            }
        }
        Some((index, when.values.clone()))
    }

    fn compile(
        &self,
        check: &Check,
        rule: usize,
        errors: &mut Vec<String>,
    ) -> Option<CompiledRule> {
        use FieldType::{Date, Decimal, List, Region};
        let any: &[FieldType] = &[];
        let (field, deps, op) = match check {
            Check::Equals {
                field,
                field_slice,
                other,
                other_slice,
            } => {
                for slice in [field_slice, other_slice].into_iter().flatten() {
                    if slice[0] >= slice[1] {
                        errors.push(format!("slice [{}, {}] is empty", slice[0], slice[1]));
                    }
                }
                let index = self.local(field, any, errors);
                let (other, deps) = self.target(other, any, errors)?;
                let op = RuleOp::Equals {
                    field_slice: *field_slice,
                    other,
                    other_slice: *other_slice,
                };
                (index?, deps, op)
            }
            Check::RequiredWhen {
                field,
                when,
                greater_than,
            } => {
                let types: &[FieldType] = if greater_than.is_some() {
                    &[Decimal]
                } else {
                    any
                };
                let index = self.local(field, types, errors);
                let (when, values) = self.condition(when, errors)?;
                let op = RuleOp::RequiredWhen {
                    when,
                    values,
                    greater_than: *greater_than,
                };
                (index?, bit(when), op)
            }
            Check::EmptyUnless { field, when } => {
                let index = self.local(field, any, errors);
                let (when, values) = self.condition(when, errors)?;
                (index?, bit(when), RuleOp::EmptyUnless { when, values })
            }
            Check::DateOrder { field, not_before } => {
                let index = self.local(field, &[Date], errors);
                let (target, deps) = self.target(not_before, &[Date], errors)?;
                (index?, deps, RuleOp::DateOrder { not_before: target })
            }
            Check::NotFuture { field } => {
                (self.local(field, &[Date], errors)?, 0, RuleOp::NotFuture)
            }
            Check::RegisteredDepartment { field } => (
                self.local(field, any, errors)?,
                0,
                RuleOp::RegisteredDepartment,
            ),
            Check::Submitter { field } => (self.local(field, any, errors)?, 0, RuleOp::Submitter),
            Check::WithinNode { field } => {
                (self.local(field, &[Region], errors)?, 0, RuleOp::WithinNode)
            }
            Check::Reference { field, dataset } => {
                let index = self.local(field, any, errors);
                self.earlier(dataset, errors)?;
                self.want_dataset(dataset);
                let op = RuleOp::Reference {
                    dataset: dataset.clone(),
                };
                (index?, 0, op)
            }
            Check::MinDistinct { field, min } => {
                if *min == 0 {
                    errors.push("min must be 1 or more".to_string());
                }
                (
                    self.local(field, &[List], errors)?,
                    0,
                    RuleOp::MinDistinct { min: *min },
                )
            }
            Check::ValidOn {
                field,
                dataset,
                from,
                until,
                date,
            } => {
                let index = self.local(field, any, errors);
                let date = self.local(date, &[Date], errors);
                let from_ok = self.foreign(dataset, from, &[Date], errors);
                let until_ok = self.foreign(dataset, until, &[Date], errors);
                let (index, date) = (index?, date?);
                if !(from_ok && until_ok) {
                    return None;
                }
                let op = RuleOp::ValidOn {
                    dataset: dataset.clone(),
                    from: self.want(dataset, from),
                    until: self.want(dataset, until),
                    date,
                };
                (index, bit(date), op)
            }
            Check::AutoFill { field, from } => {
                let index = self.local(field, any, errors);
                if let Some(i) = index {
                    if self.this().fields[i].required {
                        errors.push(format!(
                            "auto_fill needs an optional field; `{field}` is required"
                        ));
                    }
                }
                let (from, deps) = self.target(from, any, errors)?;
                (index?, deps, RuleOp::AutoFill { from })
            }
        };
        Some(CompiledRule {
            rule,
            field,
            deps: deps | bit(field),
            op,
        })
    }
}

/// Field indices in name order.
fn name_order(fields: &[FieldSpec]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..fields.len()).collect();
    order.sort_by(|a, b| fields[*a].name.cmp(&fields[*b].name));
    order
}

fn bit(index: usize) -> u64 {
    1u64 << index
}

fn names(types: &[FieldType]) -> String {
    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    names.join(" or ")
}
