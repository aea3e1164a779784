//! The engine: governs one record against the rule pack: standardizes it, runs the field
//! checks its spec generates, auto-associates, then runs the data set's rules, and returns
//! a [`Verdict`]. Pure: time, the node's region and what the node has accepted come in
//! through the [`Context`].

use std::borrow::Cow;

use chrono::NaiveDate;

use crate::fieldcheck::{check_field, parse_iso_date, required_failure, same, FieldFailure};
use crate::lookup::Lookup;
use crate::pack::{CompiledRule, DatasetSpec, FieldSpec, RuleOp, RulePack, Target};
use crate::record::{Fields, Op, RawRecord, Value};
use crate::region::{Region, RegionTable};
use crate::standardize::{standardize_slots, standardize_value, to_fields};
use crate::verdict::{Change, Issue, Severity, Verdict};

/// Everything a verdict depends on besides the record.
pub struct Context<'a> {
    pub pack: &'a RulePack,
    pub regions: &'a RegionTable,
    /// The receiving node's region: records must lie within it.
    pub node_region: &'a Region,
    /// Today's date, taken once by the caller.
    pub today: NaiveDate,
    /// The submitting department's USCC, when a department submits (not a lower tier).
    pub submitter: Option<&'a str>,
    pub lookup: &'a dyn Lookup,
}

/// Standardizes and checks one record of `dataset`. Never fails: bad data gives issues.
pub fn govern(ctx: &Context<'_>, dataset: &str, raw: &RawRecord) -> Verdict {
    match ctx.pack.dataset(dataset) {
        None => unknown_dataset(ctx, dataset, raw),
        Some(spec) => match raw.op {
            Op::Upsert => upsert(ctx, spec, raw),
            Op::Delete => delete(ctx, spec, raw),
        },
    }
}

fn unknown_dataset(ctx: &Context<'_>, dataset: &str, raw: &RawRecord) -> Verdict {
    let known: Vec<&str> = ctx
        .pack
        .datasets()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    let issue = Issue {
        rule: "record.dataset.unknown".to_string(),
        field: "dataset".to_string(),
        severity: Severity::Error,
        message_zh: format!("数据集“{dataset}”不存在，可选：{}", known.join("、")),
        message_en: format!(
            "data set \"{dataset}\" is unknown (known: {})",
            known.join(", ")
        ),
        example: known.first().map(|s| s.to_string()).unwrap_or_default(),
    };
    Verdict {
        dataset: dataset.to_string(),
        key: String::new(),
        op: raw.op,
        fields: raw.fields.clone(),
        changes: Vec::new(),
        issues: vec![issue],
        pack: ctx.pack.id(),
    }
}

fn upsert(ctx: &Context<'_>, spec: &DatasetSpec, raw: &RawRecord) -> Verdict {
    let mut scratch = Scratch::take();
    let mut changes = Vec::new();
    let slots = &mut scratch.slots;
    let unknown = standardize_slots(ctx.pack, spec, raw, slots, &mut changes);
    let mut issues = Vec::new();
    for (name, _) in &unknown {
        issues.push(unknown_field(spec, name));
    }
    let failed = check_fields(ctx, spec, slots, &mut issues);
    let mut refs = Refs::with_buffers(ctx.lookup, spec, scratch.refs);
    auto_fill(spec, slots, &mut refs, &mut changes, failed);
    let mut eval = Eval {
        ctx,
        spec,
        values: slots,
        refs: &mut refs,
        issues: &mut issues,
    };
    for rule in &spec.compiled {
        if rule.deps & failed == 0 {
            eval.rule(rule);
        }
    }
    scratch.refs = refs.into_buffers();
    let key = text_of(slots[spec.key_index].as_ref())
        .unwrap_or_default()
        .to_string();
    let fields = to_fields(spec, slots, &unknown);
    scratch.give_back();
    Verdict {
        dataset: spec.name.clone(),
        key,
        op: Op::Upsert,
        fields,
        changes,
        issues,
        pack: ctx.pack.id(),
    }
}

/// Buffers one verdict needs only while it is worked out, kept per thread between
/// verdicts so that governing a record does not allocate them anew.
#[derive(Default)]
struct Scratch {
    slots: Vec<Option<Value>>,
    refs: RefsBuffers,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

impl Scratch {
    /// This thread's buffers (empty ones when they are in use, as by a nested call).
    fn take() -> Scratch {
        SCRATCH.with(std::cell::Cell::take)
    }

    fn give_back(mut self) {
        self.slots.clear();
        self.refs.clear();
        SCRATCH.with(|cell| cell.set(self));
    }
}

/// A delete needs only the key: it is checked like any key, then must name an accepted
/// record; when a department submits, that record must be its own.
fn delete(ctx: &Context<'_>, spec: &DatasetSpec, raw: &RawRecord) -> Verdict {
    let key_field = spec.key_field();
    let mut changes = Vec::new();
    let mut issues = Vec::new();
    let mut fields = Fields::new();
    let key = raw
        .fields
        .get(&key_field.name)
        .and_then(|v| standardize_value(ctx.pack, key_field, v, &mut changes));
    match &key {
        None => issues.push(field_issue(spec, key_field, required_failure(key_field))),
        Some(value) => {
            let codes = ctx.pack.codes_of(key_field);
            if let Err(failure) = check_field(key_field, codes, ctx.regions, ctx.today, value) {
                issues.push(field_issue(spec, key_field, failure));
            } else {
                let key_text = value.to_string();
                match ctx.lookup.accepted(&spec.name, &key_text) {
                    None => issues.push(Issue {
                        rule: "record.delete.unknown_key".to_string(),
                        field: key_field.name.to_string(),
                        severity: Severity::Error,
                        message_zh: format!(
                            "要删除的{}记录不存在：{}({})为“{}”的记录未被接收",
                            spec.label, key_field.label, key_field.name, key_text
                        ),
                        message_en: format!(
                            "cannot delete: no accepted {} record has {} {}",
                            spec.name, key_field.name, key_text
                        ),
                        example: key_field.example.clone(),
                    }),
                    Some(stored) => check_delete_owner(ctx, spec, &stored, &mut issues),
                }
            }
            fields.insert(key_field.name.clone(), value.clone());
        }
    }
    Verdict {
        dataset: spec.name.clone(),
        key: key.map(|v| v.to_string()).unwrap_or_default(),
        op: Op::Delete,
        fields,
        changes,
        issues,
        pack: ctx.pack.id(),
    }
}

/// Runs the data set's `submitter` rules against the stored record a delete names.
fn check_delete_owner(
    ctx: &Context<'_>,
    spec: &DatasetSpec,
    stored: &Fields,
    issues: &mut Vec<Issue>,
) {
    let values: Vec<Option<Value>> = spec
        .fields
        .iter()
        .map(|f| stored.get(&f.name).cloned())
        .collect();
    let mut refs = Refs::with_buffers(ctx.lookup, spec, RefsBuffers::default());
    let mut eval = Eval {
        ctx,
        spec,
        values: &values,
        refs: &mut refs,
        issues,
    };
    for rule in spec
        .compiled
        .iter()
        .filter(|r| matches!(r.op, RuleOp::Submitter))
    {
        eval.rule(rule);
    }
}

/// The generated checks of every field; returns a bit per field that failed (or is
/// missing while required), so that the rules reading it are skipped.
fn check_fields(
    ctx: &Context<'_>,
    spec: &DatasetSpec,
    slots: &[Option<Value>],
    issues: &mut Vec<Issue>,
) -> u64 {
    let mut failed = 0u64;
    for (index, (field, value)) in spec.fields.iter().zip(slots).enumerate() {
        let result = match value {
            None if field.required => Err(required_failure(field)),
            None => Ok(()),
            Some(value) => check_field(
                field,
                ctx.pack.codes_of(field),
                ctx.regions,
                ctx.today,
                value,
            ),
        };
        if let Err(failure) = result {
            failed |= 1 << index;
            issues.push(field_issue(spec, field, failure));
        }
    }
    failed
}

/// Fills empty fields from the records they are associated with (`auto_fill` rules).
fn auto_fill(
    spec: &DatasetSpec,
    slots: &mut [Option<Value>],
    refs: &mut Refs<'_>,
    changes: &mut Vec<Change>,
    failed: u64,
) {
    for rule in &spec.compiled {
        let RuleOp::AutoFill { from } = &rule.op else {
            continue;
        };
        if rule.deps & failed != 0 || slots[rule.field].is_some() {
            continue;
        }
        let found = resolve(slots, refs, from).map(str::to_string);
        if let Some(value) = found.filter(|v| !v.trim().is_empty()) {
            let field = &spec.fields[rule.field];
            changes.push(Change {
                field: field.name.to_string(),
                before: String::new(),
                after: field.shown(&value),
                step: "auto_association".to_string(),
            });
            slots[rule.field] = Some(Value::Text(value.into()));
        }
    }
}

fn text_of(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_text)
}

/// The items of a list value without repeats, in order, or the one item of a text value
/// (lists are short: no allocation).
fn distinct_items(value: Option<&Value>) -> impl Iterator<Item = &str> {
    let (text, items): (Option<&str>, &[String]) = match value {
        Some(Value::Text(text)) => (Some(text.as_str()), &[]),
        Some(Value::List(items)) => (None, items),
        None => (None, &[]),
    };
    let distinct = items
        .iter()
        .enumerate()
        .filter(move |(i, item)| !items[..*i].contains(item))
        .map(|(_, item)| item.as_str());
    text.into_iter().chain(distinct)
}

fn unknown_field(spec: &DatasetSpec, name: &str) -> Issue {
    let known: Vec<&str> = spec.fields.iter().map(|f| f.name.as_str()).collect();
    Issue {
        rule: format!("{}.unknown_field", spec.name),
        field: name.to_string(),
        severity: Severity::Error,
        message_zh: format!(
            "字段“{name}”不属于数据集{}({})，可用字段：{}",
            spec.label,
            spec.name,
            known.join("、")
        ),
        message_en: format!(
            "field \"{name}\" is not a field of data set {} (fields: {})",
            spec.name,
            known.join(", ")
        ),
        example: String::new(),
    }
}

fn field_issue(spec: &DatasetSpec, field: &FieldSpec, failure: FieldFailure) -> Issue {
    Issue {
        rule: format!("{}.{}.{}", spec.name, field.name, failure.check),
        field: field.name.to_string(),
        severity: Severity::Error,
        message_zh: failure.message_zh,
        message_en: failure.message_en,
        example: field.example.clone(),
    }
}

/// Accepted records looked up during one verdict, each fetched once, keeping only the
/// fields the rules read from them ([`DatasetSpec::wanted`]) as text in one buffer, so a
/// verdict costs no allocation however many references it follows (the buffers are
/// reused). Keys are copied into the buffer too, so that the record being checked can
/// change (auto-association) while the records it refers to stay known.
struct Refs<'s> {
    lookup: &'s dyn Lookup,
    wanted: &'s [(String, Vec<String>)],
    buffers: RefsBuffers,
}

/// The storage of [`Refs`].
#[derive(Default)]
struct RefsBuffers {
    /// Index into `wanted`, the key's range in `text`, and the range of `spans` holding
    /// the record's wanted fields when it exists.
    entries: Vec<(usize, (usize, usize), Option<Found>)>,
    /// Per wanted field of each record found: its text's range in `text`, if present.
    spans: Vec<Option<(usize, usize)>>,
    text: String,
}

impl RefsBuffers {
    fn clear(&mut self) {
        self.entries.clear();
        self.spans.clear();
        self.text.clear();
    }
}

/// Where a found record's wanted fields are in [`RefsBuffers::spans`].
#[derive(Clone, Copy)]
struct Found {
    start: usize,
    end: usize,
}

impl<'s> Refs<'s> {
    /// Uses `buffers`, which must be empty.
    fn with_buffers(lookup: &'s dyn Lookup, spec: &'s DatasetSpec, buffers: RefsBuffers) -> Self {
        Refs {
            lookup,
            wanted: &spec.wanted,
            buffers,
        }
    }

    fn into_buffers(self) -> RefsBuffers {
        self.buffers
    }

    /// The accepted record of `dataset` with `key`; `None` when there is no such record.
    fn get(&mut self, dataset: &str, key: &str) -> Option<Found> {
        let wanted = self.wanted.iter().position(|(d, _)| same(d, dataset))?;
        let RefsBuffers {
            entries,
            spans,
            text,
        } = &mut self.buffers;
        if let Some((_, _, found)) = entries
            .iter()
            .find(|(d, (from, to), _)| *d == wanted && same(&text[*from..*to], key))
        {
            return *found;
        }
        let key_from = text.len();
        text.push_str(key);
        let key_range = (key_from, text.len());
        let fields = &self.wanted[wanted].1;
        let start = spans.len();
        spans.resize(start + fields.len(), None);
        let exists = self.lookup.visit_accepted(dataset, key, &mut |record| {
            // One pass over the record: cheaper than a map search per wanted field.
            for (name, value) in record {
                if let Some(slot) = fields.iter().position(|f| same(f, name)) {
                    let from = text.len();
                    match value {
                        Value::Text(t) => text.push_str(t),
                        Value::List(_) => text.push_str(&value.to_string()),
                    }
                    spans[start + slot] = Some((from, text.len()));
                }
            }
        });
        let found = exists.then_some(Found {
            start,
            end: spans.len(),
        });
        entries.push((wanted, key_range, found));
        found
    }

    /// The text of a wanted field of a found record.
    fn field(&self, found: Found, slot: usize) -> Option<&str> {
        let buffers = &self.buffers;
        let (start, end) = (*buffers.spans[found.start..found.end].get(slot)?)?;
        buffers.text.get(start..end)
    }
}

/// The value an operand names; `None` when it is absent or its record is not accepted.
fn resolve<'r>(
    values: &'r [Option<Value>],
    refs: &'r mut Refs<'_>,
    target: &Target,
) -> Option<&'r str> {
    match target {
        Target::Field(index) => text_of(values[*index].as_ref()),
        Target::Reference {
            via, dataset, slot, ..
        } => {
            let key = text_of(values[*via].as_ref())?;
            let found = refs.get(dataset, key)?;
            refs.field(found, *slot)
        }
    }
}

/// Evaluates compiled rules over one record's standardized values.
struct Eval<'e, 'a> {
    ctx: &'e Context<'a>,
    spec: &'e DatasetSpec,
    values: &'e [Option<Value>],
    refs: &'e mut Refs<'a>,
    issues: &'e mut Vec<Issue>,
}

impl<'e> Eval<'e, '_> {
    fn text(&self, index: usize) -> Option<&'e str> {
        let values: &'e [Option<Value>] = self.values;
        text_of(values[index].as_ref())
    }

    fn rule(&mut self, rule: &CompiledRule) {
        let spec: &'e DatasetSpec = self.spec;
        let values: &'e [Option<Value>] = self.values;
        let field = &spec.fields[rule.field];
        let value = values[rule.field].as_ref();
        match &rule.op {
            RuleOp::Equals {
                field_slice,
                other,
                other_slice,
            } => {
                let Some(text) = text_of(value) else { return };
                let Some(other_value) = resolve(values, self.refs, other) else {
                    return;
                };
                let part = slice(text, *field_slice);
                let other_part = slice(other_value, *other_slice);
                if part.is_some() && part == other_part {
                    return;
                }
                let other_part = other_part.unwrap_or_default().to_string();
                let other_value = other_value.to_string();
                let other_name = operand_name(spec, other);
                self.issue(
                    rule,
                    &[
                        ("field_part", part.unwrap_or_default()),
                        ("other", &other_name),
                        ("other_value", &other_value),
                        ("other_part", &other_part),
                    ],
                );
            }
            RuleOp::RequiredWhen {
                when,
                values: when_values,
                greater_than,
            } => {
                let Some(when_value) = self.text(*when) else {
                    return;
                };
                if !when_values.iter().any(|v| same(v, when_value)) {
                    return;
                }
                let satisfied = match (text_of(value), greater_than) {
                    (None, _) => value.is_some(),
                    (Some(text), Some(limit)) => text.parse::<f64>().is_ok_and(|n| n > *limit),
                    (Some(_), None) => true,
                };
                if !satisfied {
                    let limit = greater_than.map(|g| g.to_string()).unwrap_or_default();
                    self.issue(
                        rule,
                        &[
                            ("when_field", &spec.fields[*when].name),
                            ("when_value", when_value),
                            ("greater_than", &limit),
                        ],
                    );
                }
            }
            RuleOp::EmptyUnless {
                when,
                values: when_values,
            } => {
                if value.is_none() {
                    return;
                }
                let when_value = self.text(*when).unwrap_or_default();
                if !when_values.iter().any(|v| same(v, when_value)) {
                    self.issue(
                        rule,
                        &[
                            ("when_field", &spec.fields[*when].name),
                            ("when_value", when_value),
                        ],
                    );
                }
            }
            RuleOp::DateOrder { not_before } => {
                let Some(date) = text_of(value).and_then(parse_iso_date) else {
                    return;
                };
                let Some(other_value) = resolve(values, self.refs, not_before) else {
                    return;
                };
                let Some(other_date) = parse_iso_date(other_value) else {
                    return;
                };
                if date < other_date {
                    let other_value = other_value.to_string();
                    let other_name = operand_name(spec, not_before);
                    self.issue(
                        rule,
                        &[("other", &other_name), ("other_value", &other_value)],
                    );
                }
            }
            RuleOp::NotFuture => {
                let Some(date) = text_of(value).and_then(parse_iso_date) else {
                    return;
                };
                if date > self.ctx.today {
                    let today = self.ctx.today.to_string();
                    self.issue(rule, &[("today", &today)]);
                }
            }
            RuleOp::RegisteredDepartment => {
                let Some(code) = text_of(value) else { return };
                if !self.ctx.lookup.is_department(code) {
                    self.issue(rule, &[]);
                }
            }
            RuleOp::Submitter => {
                let (Some(code), Some(submitter)) = (text_of(value), self.ctx.submitter) else {
                    return;
                };
                if !same(code, submitter) {
                    self.issue(rule, &[("submitter", submitter)]);
                }
            }
            RuleOp::WithinNode => {
                let Some(region) = text_of(value).and_then(|t| Region::parse(t).ok()) else {
                    return;
                };
                if !self.ctx.regions.is_within(&region, self.ctx.node_region) {
                    let node = self.ctx.node_region.to_string();
                    self.issue(rule, &[("node_region", &node)]);
                }
            }
            RuleOp::Reference { dataset } => {
                for item in distinct_items(value) {
                    if self.refs.get(dataset, item).is_none() {
                        let item = field.shown(item);
                        self.issue(rule, &[("target", dataset), ("item", &item)]);
                    }
                }
            }
            RuleOp::MinDistinct { min } => {
                let count = distinct_items(value).count();
                if count < *min {
                    let (min, count) = (min.to_string(), count.to_string());
                    self.issue(rule, &[("min", &min), ("count", &count)]);
                }
            }
            RuleOp::ValidOn {
                dataset,
                from,
                until,
                date,
            } => {
                let Some(date_text) = self.text(*date) else {
                    return;
                };
                let Some(on) = parse_iso_date(date_text) else {
                    return;
                };
                for item in distinct_items(value) {
                    let Some(found) = self.refs.get(dataset, item) else {
                        continue;
                    };
                    let (Some(start), Some(end)) = (
                        self.refs.field(found, *from),
                        self.refs.field(found, *until),
                    ) else {
                        continue;
                    };
                    let (Some(start_date), Some(end_date)) =
                        (parse_iso_date(start), parse_iso_date(end))
                    else {
                        continue;
                    };
                    if on < start_date || on > end_date {
                        let (start, end) = (start.to_string(), end.to_string());
                        let item = field.shown(item);
                        self.issue(
                            rule,
                            &[
                                ("target", dataset),
                                ("item", &item),
                                ("date", date_text),
                                ("from", &start),
                                ("until", &end),
                            ],
                        );
                    }
                }
            }
            RuleOp::AutoFill { .. } => {}
        }
    }

    fn issue(&mut self, rule: &CompiledRule, vars: &[(&str, &str)]) {
        let spec = &self.spec.rules[rule.rule];
        let field = &self.spec.fields[rule.field];
        let value = self.values[rule.field]
            .as_ref()
            .map(|v| field.shown(&v.to_string()))
            .unwrap_or_default();
        let fill = |template: &str| {
            render(template, |name| match name {
                "field" => Some(Cow::Borrowed(field.name.as_str())),
                "label" => Some(Cow::Borrowed(field.label.as_str())),
                "dataset" => Some(Cow::Borrowed(self.spec.name.as_str())),
                "value" => Some(Cow::Borrowed(value.as_str())),
                _ => vars
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| Cow::Borrowed(*v)),
            })
        };
        let issue = Issue {
            rule: spec.id.clone(),
            field: field.name.to_string(),
            severity: spec.severity,
            message_zh: fill(&spec.message_zh),
            message_en: fill(&spec.message_en),
            example: field.example.clone(),
        };
        self.issues.push(issue);
    }
}

/// A character range of `text`; `None` when the text is too short.
fn slice(text: &str, range: Option<[usize; 2]>) -> Option<&str> {
    let Some([start, end]) = range else {
        return Some(text);
    };
    if text.is_ascii() {
        return text.get(start..end);
    }
    let mut bounds = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()));
    let from = bounds.nth(start)?;
    let to = bounds.nth(end - start - 1)?;
    text.get(from..to)
}

fn operand_name(spec: &DatasetSpec, target: &Target) -> String {
    match target {
        Target::Field(index) => spec.fields[*index].name.to_string(),
        Target::Reference { dataset, field, .. } => format!("{dataset}.{field}"),
    }
}

/// Fills `{name}` placeholders; an unknown one is left as written.
fn render<'v>(template: &str, lookup: impl Fn(&str) -> Option<Cow<'v, str>>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match lookup(name) {
                    Some(value) => out.push_str(&value),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[path = "engine_test.rs"]
mod tests;
