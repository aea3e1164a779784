//! Tests of the rule pack: the embedded standard, accessors, header matching, masking,
//! validation that reports every problem, and rules added by editing the pack alone.

use super::*;
use crate::engine::{govern, Context};
use crate::lookup::Lookup;
use crate::record::{Op, RawRecord};
use crate::region::Region;

#[test]
fn builtin_pack_parses() {
    let pack = RulePack::builtin();
    assert_eq!(pack.name(), "regfed-standard");
    assert_eq!(pack.version(), "1.0.0");
    assert_eq!(
        pack.id(),
        PackId {
            name: "regfed-standard".into(),
            version: "1.0.0".into()
        }
    );
    let names: Vec<&str> = pack.datasets().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["item", "subject", "officer", "action"]);
    assert_eq!(pack.timeliness_deadline_days(), 5);
    assert_eq!(pack.coverage_item_types(), ["JC", "CF", "QZ"]);
    assert_eq!(pack.code_label("item_type", "JC"), Some("行政检查"));
    assert_eq!(pack.code_label("item_type", "QT"), Some("其他"));
    assert_eq!(pack.code_label("action_type", "QT"), None);
    assert_eq!(pack.code_label("result", "4"), Some("移送"));
    assert_eq!(pack.code_label("nope", "1"), None);

    let action = pack.dataset("action").unwrap();
    assert_eq!(action.key, "action_id");
    assert_eq!(action.label, "监管行为");
    assert_eq!(action.key_field().name, "action_id");
    let officers = action.field("officer_cert_nos").unwrap();
    assert_eq!(officers.ty, FieldType::List);
    assert!(officers.required);
    let subject = pack.dataset("subject").unwrap();
    let masked: Vec<&str> = pack
        .datasets()
        .iter()
        .flat_map(|d| d.fields.iter())
        .filter(|f| f.masked)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(masked, ["legal_rep_id", "id_number"]);
    assert_eq!(subject.field("legal_rep_id").unwrap().ty, FieldType::IdCard);
    assert_eq!(
        serde_json::to_string(&FieldType::IdCard).unwrap(),
        "\"id_card\""
    );
    assert!(pack.dataset("nope").is_none());
    // Rules serialize as written, e.g. for a console that shows the standard.
    let rule = &pack.dataset("action").unwrap().rules[1];
    assert_eq!(
        serde_json::to_value(rule).unwrap(),
        serde_json::json!({
            "id": "action.item_code.reference",
            "severity": "error",
            "message_zh": "监管事项编码 {value} 不是本节点已接收的监管事项",
            "message_en": "item_code {value} is not an accepted item at this node",
            "kind": "reference",
            "field": "item_code",
            "dataset": "item",
        })
    );
    // Every field has an example; the loader checked each one.
    assert!(pack
        .datasets()
        .iter()
        .all(|d| d.fields.iter().all(|f| !f.example.is_empty())));
}

#[test]
fn referenced_data_sets_are_those_the_rules_look_up() {
    let pack = RulePack::builtin();
    // Actions refer to items, subjects and officers; nothing refers to an action.
    for dataset in ["item", "subject", "officer"] {
        assert!(pack.is_referenced(dataset), "{dataset}");
    }
    assert!(!pack.is_referenced("action"));
    assert!(!pack.is_referenced("no_such_dataset"));
}

#[test]
fn field_by_header() {
    let pack = RulePack::builtin();
    let item = pack.dataset("item").unwrap();
    let action = pack.dataset("action").unwrap();
    let cases = [
        (item, "item_code", Some("item_code")),
        (item, " 监管事项编码 ", Some("item_code")),
        (item, "*监管事项编码", Some("item_code")),
        (item, "监管事项编码*", Some("item_code")),
        (item, "监管事项编码(item_code)", Some("item_code")),
        (item, "*监管事项编码（item_code）", Some("item_code")),
        (item, "监管事项编码 item_code", Some("item_code")),
        (item, "ITEM_CODE", Some("item_code")),
        (action, "罚款金额（元）", Some("penalty_amount")),
        (
            action,
            "*罚款金额（元）(penalty_amount)",
            Some("penalty_amount"),
        ),
        (action, "罚款金额（元）", Some("penalty_amount")),
        (item, "颜色", None),
        (item, "*", None),
        (item, "", None),
    ];
    for (spec, header, want) in cases {
        assert_eq!(
            spec.field_by_header(header).map(|f| f.name.as_str()),
            want,
            "{header:?}"
        );
    }
}

#[test]
fn mask_id_shows_first_six_and_last_four() {
    let cases = [
        ("11010519491231002X", "110105********002X"),
        ("12345678901", "123456*8901"),
        ("1234567890", "**********"),
        ("123", "***"),
        ("", ""),
    ];
    for (value, want) in cases {
        assert_eq!(mask_id(value), want, "{value}");
    }
}

/// The builtin pack's text with `from` replaced by `to` (which must occur).
fn edited(from: &str, to: &str) -> String {
    let text = RulePack::builtin_toml();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1)
}

#[test]
fn validation_reports_every_problem_at_once() {
    let mut text = edited(
        "timeliness_deadline_days = 5",
        "timeliness_deadline_days = -1",
    );
    for (from, to) in [
        (
            "pattern = '^[0-9A-Za-z-]{6,40}$'",
            "pattern = '^[0-9A-Za-z-{6,40}$'",
        ),
        ("example = \"2024-01-01\"", "example = \"2024/01/01\""),
        (
            "code_list = \"subject_type\"",
            "code_list = \"subject_kind\"",
        ),
        ("kind = \"min_distinct\"", "kind = \"min_distinctt\""),
        (
            "not_before = \"valid_from\"",
            "not_before = \"valid_since\"",
        ),
        (
            "dataset = \"officer\"\nmessage_zh",
            "dataset = \"action\"\nmessage_zh",
        ),
        ("{today}）\"", "{tomorrow}）\""),
        (
            "field = \"legal_rep\"",
            "field = \"legal_rep\"\nseverity = \"fatal\"",
        ),
        ("min_len = 2\nmax_len = 200", "min_len = 20\nmax_len = 2"),
        (
            "id = \"action.action_type.matches_item\"",
            "id = \"action.action_date.not_future\"",
        ),
        (
            "{ code = \"CF\", label = \"行政处罚\" },\n  { code = \"QZ\"",
            "{ code = \"CF\", label = \"行政检查\" },\n  { code = \"QZ\"",
        ),
        ("key = \"cert_no\"", "key = \"cert_number\""),
        ("type = \"list\"", "type = \"array\""),
    ] {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    let err = RulePack::from_toml_str(&text).unwrap_err();
    let expected = [
        "settings: timeliness_deadline_days is -1",
        "dataset action, field action_id: pattern",
        "dataset item, field effective_date: example is not valid: effective_date \"2024/01/01\" is not a date",
        "dataset subject, field subject_type: code list subject_kind is not defined",
        "rule action.officers.min2: unknown variant `min_distinctt`, expected one of `equals`",
        "rule officer.valid_until.order: `valid_since` is not a field of data set officer",
        "rule action.officers.reference: data set action is not defined before action",
        "uses {tomorrow}, which a not_future rule does not fill",
        "rule subject.legal_rep.required_for_enterprise: severity \"fatal\"",
        "dataset item, field item_name: min_len 20 is above max_len 2",
        "rule action.action_date.not_future: the id is used twice",
        "code list item_type: label 行政检查 is used twice",
        "dataset officer: key `cert_number` is not one of its fields",
        "dataset action, field officer_cert_nos: unknown variant `array`",
    ];
    let shown = err.to_string();
    for want in expected {
        assert!(
            err.problems.iter().any(|p| p.contains(want)),
            "missing {want:?} in:\n{shown}"
        );
    }
    assert!(shown.starts_with(&format!(
        "the rule pack has {} problem(s):",
        err.problems.len()
    )));
    assert!(err.problems.len() >= expected.len(), "{shown}");
}

#[test]
fn validation_of_structure() {
    let cases = [
        ("not toml [", "not valid TOML"),
        ("name = \"x\"", "`version` is missing"),
        ("name = \"x\"", "`datasets` is missing"),
        ("name = \"x\"\ncolour = 1", "unknown top-level key `colour`"),
    ];
    for (text, want) in cases {
        let err = RulePack::from_toml_str(text).unwrap_err();
        assert!(
            err.problems.iter().any(|p| p.contains(want)),
            "{want:?} in {err}"
        );
    }
    let err = RulePack::from_toml_str(&edited(
        "field = \"officer_cert_nos\"\nmin = 2",
        "field = \"officer_cert_nos\"\nmin = 2\nmax = 5",
    ))
    .unwrap_err();
    assert!(err.problems[0].contains("unknown field `max`"), "{err}");
    let err = RulePack::from_toml_str(&edited(
        "other = \"item_code -> item.item_type\"",
        "other = \"item_code -> item\"",
    ))
    .unwrap_err();
    assert!(err.problems[0].contains("neither `field` nor"), "{err}");
}

/// A lookup that knows nothing: enough for subject records.
struct Nothing;

impl Lookup for Nothing {
    fn department(&self, _code: &str) -> Option<String> {
        None
    }
    fn accepted(&self, _dataset: &str, _key: &str) -> Option<crate::record::Fields> {
        None
    }
}

#[test]
fn a_pack_edit_changes_the_standard_without_code() {
    // Reuse a kind on another field, change a required flag and a deadline: data only.
    let text = edited(
        "[[datasets.rules]]\nid = \"subject.established_date.not_future\"",
        "[[datasets.rules]]\nid = \"subject.address.required_for_enterprise\"\nkind = \"required_when\"\nfield = \"address\"\nwhen = { field = \"subject_type\", in = [\"1\", \"2\"] }\nmessage_zh = \"企业和个体工商户须填写住所\"\nmessage_en = \"address is required when subject_type is {when_value}\"\n\n[[datasets.rules]]\nid = \"subject.established_date.not_future\"",
    )
    .replacen("timeliness_deadline_days = 5", "timeliness_deadline_days = 7", 1);
    let pack = RulePack::from_toml_str(&text).unwrap();
    assert_eq!(pack.timeliness_deadline_days(), 7);
    let node = Region::parse("420100").unwrap();
    let ctx = Context {
        pack: &pack,
        regions: crate::region::RegionTable::builtin(),
        node_region: &node,
        today: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        submitter: None,
        lookup: &Nothing,
    };
    let spec = pack.dataset("subject").unwrap();
    let mut fields: crate::record::Fields = spec
        .fields
        .iter()
        .map(|f| (f.name.clone(), Value::Text(f.example.as_str().into())))
        .collect();
    fields.remove("address");
    let verdict = govern(&ctx, "subject", &RawRecord::new(Op::Upsert, fields));
    let rules: Vec<&str> = verdict.issues.iter().map(|i| i.rule.as_str()).collect();
    assert_eq!(rules, ["subject.address.required_for_enterprise"]);
    assert_eq!(
        verdict.issues[0].message_en,
        "address is required when subject_type is 1"
    );
}
