//! Tests of the engine: one helper, a table of cases each naming the rule id it covers and
//! the expected verdict (every issue's rule id, accepted or not).

use std::collections::HashMap;

use super::*;
use crate::pack::mask_id;
use crate::record::FieldName;

/// The department registered at the node that owns the test items.
const DEPT: &str = "11420100012345671R";
/// Another registered department.
const OTHER_DEPT: &str = "1142010001234568XH";
/// A valid USCC that is not registered.
const UNREGISTERED: &str = "11420100999999998P";
/// The accepted subject, and a valid USCC of a subject not accepted.
const SUBJECT: &str = "91420100MA4K00010R";
const UNKNOWN_SUBJECT: &str = "91420100MA4K00029N";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
}

/// A `Lookup` over maps, as the node's store would answer.
#[derive(Default)]
struct Store {
    departments: HashMap<String, String>,
    records: HashMap<(String, String), Fields>,
}

impl Lookup for Store {
    fn department(&self, code: &str) -> Option<String> {
        self.departments.get(code).cloned()
    }

    fn accepted(&self, dataset: &str, key: &str) -> Option<Fields> {
        self.records
            .get(&(dataset.to_string(), key.to_string()))
            .cloned()
    }
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (FieldName::new(k), Value::Text((*v).into())))
        .collect()
}

fn store() -> Store {
    let mut store = Store::default();
    store
        .departments
        .insert(DEPT.into(), "武汉市市场监督管理局".into());
    store
        .departments
        .insert(OTHER_DEPT.into(), "武汉市生态环境局".into());
    let mut add = |dataset: &str, key: &str, pairs: &[(&str, &str)]| {
        store
            .records
            .insert((dataset.into(), key.into()), fields(pairs));
    };
    for (code, ty) in [("420100JC00001", "JC"), ("420100CF00001", "CF")] {
        add(
            "item",
            code,
            &[
                ("item_code", code),
                ("item_type", ty),
                ("department_code", DEPT),
                ("effective_date", "2024-01-01"),
                ("region_code", "420100"),
            ],
        );
    }
    for (cert, from, until) in [
        ("ZF4201000001", "2023-01-01", "2028-12-31"),
        ("ZF4201000002", "2023-01-01", "2028-12-31"),
        ("ZF4201000003", "2020-01-01", "2022-12-31"),
    ] {
        add(
            "officer",
            cert,
            &[
                ("cert_no", cert),
                ("valid_from", from),
                ("valid_until", until),
            ],
        );
    }
    add(
        "subject",
        SUBJECT,
        &[("uscc", SUBJECT), ("name", "武汉示例科技有限公司")],
    );
    store
}

/// A record made of the pack's examples (an action without a penalty, as for JC).
fn example(dataset: &str) -> Fields {
    let pack = RulePack::builtin();
    let Some(spec) = pack.dataset(dataset) else {
        return fields(&[("anything", "1")]);
    };
    let mut fields: Fields = spec
        .fields
        .iter()
        .map(|f| (f.name.clone(), Value::Text(f.example.as_str().into())))
        .collect();
    if dataset == "action" {
        fields.remove("penalty_amount");
    }
    fields
}

struct Case {
    dataset: &'static str,
    op: Op,
    edits: Vec<(&'static str, &'static str)>,
    submitter: Option<&'static str>,
    want: Vec<&'static str>,
    accepted: bool,
}

/// A case on a data set's example record, with fields replaced (`""` removes a field),
/// expecting exactly the issues `want` (an error among them rejects the record).
fn case(
    dataset: &'static str,
    edits: &[(&'static str, &'static str)],
    want: &[&'static str],
) -> Case {
    Case {
        dataset,
        op: Op::Upsert,
        edits: edits.to_vec(),
        submitter: None,
        want: want.to_vec(),
        accepted: want.is_empty(),
    }
}

impl Case {
    fn by(mut self, submitter: &'static str) -> Case {
        self.submitter = Some(submitter);
        self
    }

    fn delete(mut self) -> Case {
        self.op = Op::Delete;
        self
    }

    /// Only warnings expected.
    fn accepted(mut self) -> Case {
        self.accepted = true;
        self
    }
}

fn run(case: &Case) -> Verdict {
    let store = store();
    let pack = RulePack::builtin();
    let node = Region::parse("420100").unwrap();
    let ctx = Context {
        pack: &pack,
        regions: RegionTable::builtin(),
        node_region: &node,
        today: today(),
        submitter: case.submitter,
        lookup: &store,
    };
    let mut fields = example(case.dataset);
    for (name, value) in &case.edits {
        if value.is_empty() {
            fields.remove(name);
        } else {
            fields.insert(FieldName::new(name), Value::Text((*value).into()));
        }
    }
    govern(&ctx, case.dataset, &RawRecord::new(case.op, fields))
}

#[test]
fn rules() {
    #[rustfmt::skip]
    let cases = vec![
        // Examples pass.
        case("item", &[], &[]),
        case("subject", &[], &[]),
        case("officer", &[], &[]),
        case("action", &[], &[]),
        case("action", &[("item_code", "420100CF00001"), ("action_type", "CF"), ("penalty_amount", "5000")], &[]),
        // Generated field checks.
        case("item", &[("item_code", "")], &["item.item_code.required"]),
        case("item", &[("item_code", "420100XX00001")], &["item.item_code.pattern"]),
        case("item", &[("item_name", "检")], &["item.item_name.length"]),
        case("item", &[("item_type", "XX")], &["item.item_type.code"]),
        case("item", &[("department_code", "11420100012345671A")], &["item.department_code.uscc"]),
        case("item", &[("legal_basis", "食品法")], &["item.legal_basis.length"]),
        case("item", &[("effective_date", "2024-13-01")], &["item.effective_date.date"]),
        case("item", &[("region_code", "999999")], &["item.region_code.region"]),
        case("item", &[("colour", "red")], &["item.unknown_field"]),
        case("subject", &[("uscc", "")], &["subject.uscc.required"]),
        case("subject", &[("uscc", "91420100MA4K00010X")], &["subject.uscc.uscc"]),
        case("subject", &[("subject_type", "7")], &["subject.subject_type.code"]),
        case("subject", &[("legal_rep_id", "110105194912310021")], &["subject.legal_rep_id.id_card"]),
        case("subject", &[("legal_rep_id", "11010520991231002X")], &["subject.legal_rep_id.id_card"]),
        case("subject", &[("established_date", "2015-02-29")], &["subject.established_date.date"]),
        case("officer", &[("cert_no", "zf-1")], &["officer.cert_no.pattern"]),
        case("officer", &[("id_number", "")], &["officer.id_number.required"]),
        case("officer", &[("id_number", "11010519491231002")], &["officer.id_number.id_card"]),
        case("officer", &[("valid_from", "someday")], &["officer.valid_from.date"]),
        case("action", &[("action_id", "A1")], &["action.action_id.pattern"]),
        case("action", &[("action_type", "QT")], &["action.action_type.code"]),
        case("action", &[("result", "9")], &["action.result.code"]),
        case("action", &[("officer_cert_nos", "")], &["action.officer_cert_nos.required"]),
        case("action", &[("officer_cert_nos", "ZF4201000001;bad-1")], &["action.officer_cert_nos.pattern"]),
        case("action", &[("action_date", "someday")], &["action.action_date.date"]),
        case("action", &[("item_code", "420100CF00001"), ("action_type", "CF"), ("penalty_amount", "abc")], &["action.penalty_amount.decimal"]),
        case("action", &[("subject_uscc", "91420100MA4K0001")], &["action.subject_uscc.uscc"]),
        case("action", &[("region_code", "4201")], &["action.region_code.region"]),
        // item rules
        case("item", &[("item_code", "420102JC00001")], &["item.item_code.region_prefix"]),
        case("item", &[("item_type", "CF")], &["item.item_type.matches_code"]),
        case("item", &[("item_type", "行政处罚")], &["item.item_type.matches_code"]),
        case("item", &[("department_code", UNREGISTERED)], &["item.department_code.registered"]),
        case("item", &[], &[]).by(DEPT),
        case("item", &[], &["item.department_code.submitter"]).by(OTHER_DEPT),
        case("item", &[("item_code", "350100JC00001"), ("region_code", "350100")], &["item.region_code.within_node"]),
        case("item", &[("item_code", "420102JC00001"), ("region_code", "420102")], &[]),
        // subject rules
        case("subject", &[("legal_rep", "")], &["subject.legal_rep.required_for_enterprise"]),
        case("subject", &[("legal_rep", ""), ("subject_type", "2")], &[]),
        case("subject", &[("legal_rep", ""), ("subject_type", "个体工商户")], &[]),
        case("subject", &[("established_date", "2027-01-05")], &["subject.established_date.not_future"]),
        case("subject", &[("established_date", "2026-11-27")], &[]),
        case("subject", &[("uscc", "91350100M000100Y43")], &["subject.uscc.region_mismatch"]).accepted(),
        case("subject", &[("uscc", "91350100M000100Y43"), ("region_code", "350100")], &["subject.region_code.within_node"]),
        // officer rules
        case("officer", &[("valid_until", "2022-12-31")], &["officer.valid_until.order"]),
        case("officer", &[("valid_until", "2023-01-01")], &[]),
        case("officer", &[("department_code", UNREGISTERED)], &["officer.department_code.registered"]),
        case("officer", &[], &["officer.department_code.submitter"]).by(OTHER_DEPT),
        case("officer", &[], &[]).by(DEPT),
        case("officer", &[("region_code", "110101")], &["officer.region_code.within_node"]),
        // action rules
        case("action", &[("item_code", "420100JC00009")], &["action.item_code.reference"]),
        case("action", &[("action_type", "QZ")], &["action.action_type.matches_item"]),
        case("action", &[("officer_cert_nos", "ZF4201000001")], &["action.officers.min2"]),
        case("action", &[("officer_cert_nos", "ZF4201000001;zf4201000001")], &["action.officers.min2"]),
        case("action", &[("officer_cert_nos", "ZF4201000001、ZF4201000099")], &["action.officers.reference"]),
        case("action", &[("officer_cert_nos", "ZF4201000001;ZF4201000003")], &["action.officers.valid_on_date"]),
        case("action", &[("action_date", "2027-01-05")], &["action.action_date.not_future"]),
        case("action", &[("action_date", "2023-06-01")], &["action.action_date.before_item_effective"]),
        case("action", &[("action_date", "2024-01-01")], &[]),
        case("action", &[("item_code", "420100CF00001"), ("action_type", "CF")], &["action.penalty_amount.required_for_cf"]),
        case("action", &[("item_code", "420100CF00001"), ("action_type", "CF"), ("penalty_amount", "0")], &["action.penalty_amount.required_for_cf"]),
        case("action", &[("item_code", "420100CF00001"), ("action_type", "行政处罚"), ("penalty_amount", "1,000元")], &[]),
        case("action", &[("penalty_amount", "100")], &["action.penalty_amount.only_for_cf"]),
        case("action", &[("department_code", OTHER_DEPT)], &["action.department_code.matches_item"]),
        case("action", &[("department_code", UNREGISTERED)], &["action.department_code.registered", "action.department_code.matches_item"]),
        case("action", &[], &["action.department_code.submitter"]).by(OTHER_DEPT),
        case("action", &[], &[]).by(DEPT),
        case("action", &[("subject_name", "别的公司")], &["action.subject_name.mismatch"]).accepted(),
        case("action", &[("subject_uscc", UNKNOWN_SUBJECT)], &["action.subject_uscc.unknown_subject"]).accepted(),
        case("action", &[("subject_name", "")], &[]),
        case("action", &[("region_code", "350100")], &["action.region_code.within_node"]),
        // A field that fails its own check silences the rules that read it.
        case("action", &[("item_code", "bad")], &["action.item_code.pattern"]),
        case("action", &[("action_type", ""), ("penalty_amount", "100")], &["action.action_type.required"]),
        // Unknown data set, deletes.
        case("nope", &[], &["record.dataset.unknown"]),
        case("item", &[], &[]).delete(),
        case("item", &[("item_code", "420100JC00009")], &["record.delete.unknown_key"]).delete(),
        case("item", &[("item_code", "")], &["item.item_code.required"]).delete(),
        case("item", &[("item_code", "bad")], &["item.item_code.pattern"]).delete(),
        case("item", &[("item_name", "")], &[]).delete(),
        case("item", &[], &[]).delete().by(DEPT),
        case("item", &[], &["item.department_code.submitter"]).delete().by(OTHER_DEPT),
    ];
    let pack = RulePack::builtin();
    let placeholder = regex::Regex::new(r"\{[a-z_]+\}").unwrap();
    for case in &cases {
        let verdict = run(case);
        let rules: Vec<&str> = verdict.issues.iter().map(|i| i.rule.as_str()).collect();
        let label = format!(
            "{} {:?} {:?} by {:?}",
            case.dataset, case.op, case.edits, case.submitter
        );
        assert_eq!(rules, case.want, "{label}: {:#?}", verdict.issues);
        assert_eq!(verdict.accepted(), case.accepted, "{label}");
        assert_eq!(verdict.pack, pack.id());
        for issue in &verdict.issues {
            assert!(!issue.message_zh.is_empty() && !issue.message_en.is_empty());
            for message in [&issue.message_en, &issue.message_zh] {
                assert!(!placeholder.is_match(message), "unfilled: {message}");
            }
            if let Some(field) = pack
                .dataset(case.dataset)
                .and_then(|d| d.field(&issue.field))
            {
                assert_eq!(issue.example, field.example, "{label}");
            }
        }
    }
}

#[test]
fn messages_name_the_field_and_the_bad_value() {
    let cases: Vec<(Case, &str, &str)> = vec![
        (
            case("action", &[("action_date", "2027-01-05")], &[]),
            "action_date 2027-01-05 is in the future (today is 2026-11-27)",
            "实施日期 2027-01-05 晚于今天（2026-11-27）",
        ),
        (
            case("action", &[("officer_cert_nos", "ZF4201000001;ZF4201000003")], &[]),
            "officer certificate ZF4201000003 is valid from 2020-01-01 to 2022-12-31, which does not include action_date 2024-03-15",
            "执法证号 ZF4201000003 的有效期 2020-01-01 至 2022-12-31 不包含实施日期 2024-03-15",
        ),
        (
            case("item", &[("item_code", "420100XX00001")], &[]),
            "item_code \"420100XX00001\" does not match the pattern ^[0-9]{6}(JC|CF|QZ|QT)[0-9]{5}$",
            "监管事项编码(item_code)的值“420100XX00001”格式不正确，应符合 ^[0-9]{6}(JC|CF|QZ|QT)[0-9]{5}$",
        ),
        (
            case("subject", &[("uscc", "91420100MA4K00010X")], &[]),
            "uscc \"91420100MA4K00010X\" is not a valid unified social credit code: check digit expected R, found X",
            "统一社会信用代码(uscc)的值“91420100MA4K00010X”不是有效的统一社会信用代码：校验位应为R，实为X",
        ),
        (
            // Identity numbers are masked in messages too.
            case("officer", &[("id_number", "110105194912310021")], &[]),
            "id_number \"110105********0021\" is not a valid resident identity number: check digit expected X, found 1",
            "身份证号(id_number)的值“110105********0021”不是有效的居民身份证号码：校验位应为X，实为1",
        ),
        (
            case("action", &[("item_code", "420100CF00001"), ("action_type", "CF")], &[]),
            "penalty_amount is required and must be greater than 0 when action_type is CF (found \"\")",
            "行为类型为行政处罚(CF)时，罚款金额必填且大于0（当前为“”）",
        ),
        (
            case("item", &[("item_type", "XX")], &[]),
            "item_type \"XX\" is not in code list item_type (JC 行政检查、CF 行政处罚、QZ 行政强制、QT 其他)",
            "事项类型(item_type)的值“XX”不在代码表item_type中，可选：JC 行政检查、CF 行政处罚、QZ 行政强制、QT 其他",
        ),
        (
            case("item", &[("item_code", "")], &[]),
            "item_code (监管事项编码) is required but missing",
            "缺少必填字段监管事项编码(item_code)",
        ),
    ];
    for (case, en, zh) in cases {
        let verdict = run(&case);
        assert_eq!(verdict.issues.len(), 1, "{:#?}", verdict.issues);
        assert_eq!(verdict.issues[0].message_en, en);
        assert_eq!(verdict.issues[0].message_zh, zh);
    }
}

#[test]
fn verdict_carries_standardized_fields_key_and_changes() {
    let verdict = run(&case(
        "action",
        &[
            ("action_id", " 420100-2024-000001 "),
            ("subject_name", ""),
            ("officer_cert_nos", "zf4201000001、ZF4201000002"),
            ("action_date", "2024年3月15日"),
        ],
        &[],
    ));
    assert!(verdict.issues.is_empty(), "{:#?}", verdict.issues);
    assert_eq!(verdict.key, "420100-2024-000001");
    assert_eq!(verdict.op, Op::Upsert);
    assert_eq!(
        verdict.fields.get("subject_name"),
        Some(&Value::Text("武汉示例科技有限公司".into()))
    );
    assert_eq!(
        verdict.fields.get("officer_cert_nos"),
        Some(&Value::List(vec![
            "ZF4201000001".into(),
            "ZF4201000002".into()
        ]))
    );
    let steps: Vec<(&str, &str)> = verdict
        .changes
        .iter()
        .map(|c| (c.field.as_str(), c.step.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("action_date", "date"),
            ("action_id", "trim"),
            ("officer_cert_nos", "uppercase"),
            ("officer_cert_nos", "list"),
            ("subject_name", "auto_association"),
        ]
    );
    let association = verdict.changes.last().unwrap();
    assert_eq!(association.before, "");
    assert_eq!(association.after, "武汉示例科技有限公司");

    // A delete keeps only the key.
    let verdict = run(&case("item", &[("item_code", "420100jc00001")], &[]).delete());
    assert!(verdict.accepted(), "{:#?}", verdict.issues);
    assert_eq!(verdict.key, "420100JC00001");
    assert_eq!(verdict.fields.len(), 1);
    assert_eq!(verdict.op, Op::Delete);
}

#[test]
fn masking_for_exports() {
    let pack = RulePack::builtin();
    let spec = pack.dataset("subject").unwrap();
    let masked = spec.mask(&example("subject"));
    assert_eq!(
        masked.get("legal_rep_id"),
        Some(&Value::Text("110105********002X".into()))
    );
    assert_eq!(
        masked.get("uscc"),
        Some(&Value::Text(SUBJECT.into())),
        "only masked fields change"
    );
    assert_eq!(mask_id("11010519491231002X"), "110105********002X");
}
