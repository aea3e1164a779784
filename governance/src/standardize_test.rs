//! Tests of standardization: one table, a case per step and form.

use super::*;
use crate::record::Op;

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| s.to_string()).collect())
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// Data set, field, raw value, standardized value, steps recorded.
type Case = (
    &'static str,
    &'static str,
    Value,
    Option<Value>,
    &'static [&'static str],
);

/// Standardizes one field of a data set; returns the value and the steps taken.
fn run(dataset: &str, field: &str, raw: Value) -> (Option<Value>, Vec<String>) {
    let pack = RulePack::builtin();
    let spec = pack.dataset(dataset).unwrap();
    let mut fields = Fields::new();
    fields.insert(field.into(), raw);
    let (out, changes) = standardize(&pack, spec, &RawRecord::new(Op::Upsert, fields));
    for change in &changes {
        assert_eq!(change.field, field);
        assert_ne!(change.before, change.after, "{change:?}");
    }
    (
        out.get(field).cloned(),
        changes.into_iter().map(|c| c.step).collect(),
    )
}

#[test]
fn standardization_steps() {
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // trim; blank values are dropped
        ("item", "item_name", text("  监督检查 "), Some(text("监督检查")), &["trim"]),
        ("item", "item_name", text("   "), None, &[]),
        ("item", "item_name", text("\u{3000}监督检查\u{3000}"), Some(text("监督检查")), &["trim"]),
        ("item", "item_name", text("监督检查"), Some(text("监督检查")), &[]),
        // fullwidth
        ("subject", "uscc", text("９１４２０１００ＭＡ４Ｋ００010Ｒ"), Some(text("91420100MA4K00010R")), &["fullwidth"]),
        ("item", "item_name", text("食品（分公司）\u{3000}检查"), Some(text("食品(分公司) 检查")), &["fullwidth"]),
        // uppercase: uscc, id_card, cert numbers
        ("subject", "uscc", text("91420100ma4k00010r"), Some(text("91420100MA4K00010R")), &["uppercase"]),
        ("subject", "legal_rep_id", text("11010519491231002x"), Some(text("11010519491231002X")), &["uppercase"]),
        ("officer", "cert_no", text("zf4201000001"), Some(text("ZF4201000001")), &["uppercase"]),
        ("subject", "name", text("abc"), Some(text("abc")), &[]),
        // dates
        ("item", "effective_date", text("2024-01-05"), Some(text("2024-01-05")), &[]),
        ("item", "effective_date", text("2024/1/5"), Some(text("2024-01-05")), &["date"]),
        ("item", "effective_date", text("2024-1-5"), Some(text("2024-01-05")), &["date"]),
        ("item", "effective_date", text("20240105"), Some(text("2024-01-05")), &["date"]),
        ("item", "effective_date", text("2024年1月5日"), Some(text("2024-01-05")), &["date"]),
        ("item", "effective_date", text("2024.01.05"), Some(text("2024-01-05")), &["date"]),
        ("item", "effective_date", text("2024-01-05 00:00:00"), Some(text("2024-01-05")), &["date"]),
        ("item", "effective_date", text("45000"), Some(text("2023-03-15")), &["date"]),
        ("item", "effective_date", text("45000.0"), Some(text("2023-03-15")), &["date"]),
        ("item", "effective_date", text("45292"), Some(text("2024-01-01")), &["date"]),
        ("item", "effective_date", text("２０２４年１月５日"), Some(text("2024-01-05")), &["fullwidth", "date"]),
        ("item", "effective_date", text("2024-02-30"), Some(text("2024-02-30")), &[]),
        ("item", "effective_date", text("2024"), Some(text("2024")), &[]),
        ("item", "effective_date", text("yesterday"), Some(text("yesterday")), &[]),
        // amounts
        ("action", "penalty_amount", text("5000"), Some(text("5000")), &[]),
        ("action", "penalty_amount", text("1,234.50元"), Some(text("1234.50")), &["amount"]),
        ("action", "penalty_amount", text("¥5,000"), Some(text("5000")), &["amount"]),
        ("action", "penalty_amount", text("￥5000元"), Some(text("5000")), &["amount"]),
        ("action", "penalty_amount", text("１，０００元"), Some(text("1000")), &["fullwidth", "amount"]),
        ("action", "penalty_amount", text("12,34"), Some(text("12,34")), &[]),
        ("action", "penalty_amount", text("五千元"), Some(text("五千元")), &[]),
        // code labels to codes
        ("item", "item_type", text("行政检查"), Some(text("JC")), &["code_label"]),
        ("item", "item_type", text("JC"), Some(text("JC")), &[]),
        ("item", "item_type", text("jc"), Some(text("JC")), &["code_label"]),
        ("subject", "subject_type", text("企业"), Some(text("1")), &["code_label"]),
        ("action", "result", text("责令整改"), Some(text("2")), &["code_label"]),
        ("item", "item_type", text("检查"), Some(text("检查")), &[]),
        // lists
        ("action", "officer_cert_nos", text("ZF01;ZF02"), Some(list(&["ZF01", "ZF02"])), &[]),
        ("action", "officer_cert_nos", text("ZF01、ZF02"), Some(list(&["ZF01", "ZF02"])), &["list"]),
        ("action", "officer_cert_nos", text("ZF01；ZF02"), Some(list(&["ZF01", "ZF02"])), &["fullwidth"]),
        ("action", "officer_cert_nos", text("ZF01, ZF02,,"), Some(list(&["ZF01", "ZF02"])), &["list"]),
        ("action", "officer_cert_nos", text("zf01 ; zf02"), Some(list(&["ZF01", "ZF02"])), &["uppercase", "list"]),
        ("action", "officer_cert_nos", list(&[" zf01", "ZF02", " "]), Some(list(&["ZF01", "ZF02"])), &["trim", "uppercase"]),
        ("action", "officer_cert_nos", text(" ; "), None, &[]),
        ("action", "officer_cert_nos", list(&[]), None, &[]),
        // a list given to a scalar field is joined
        ("item", "item_name", list(&["监督", "检查"]), Some(text("监督;检查")), &[]),
    ];
    for (dataset, field, raw, want, steps) in cases {
        let before = raw.clone();
        let (got, got_steps) = run(dataset, field, raw);
        assert_eq!(got, want, "{dataset}.{field} {before:?}");
        assert_eq!(got_steps, steps, "{dataset}.{field} {before:?}");
    }
}

#[test]
fn changes_record_before_and_after_masked_for_masked_fields() {
    let pack = RulePack::builtin();
    let spec = pack.dataset("subject").unwrap();
    let mut fields = Fields::new();
    fields.insert("legal_rep_id".into(), text(" 11010519491231002x"));
    fields.insert("name".into(), text(" 武汉示例 "));
    fields.insert("address".into(), text(""));
    fields.insert("unknown".into(), text(" kept "));
    let (out, changes) = standardize(&pack, spec, &RawRecord::new(Op::Upsert, fields));
    assert_eq!(out.get("legal_rep_id"), Some(&text("11010519491231002X")));
    assert_eq!(out.get("address"), None, "blank values are absent");
    assert_eq!(
        out.get("unknown"),
        Some(&text(" kept ")),
        "unknown fields are kept as they are"
    );
    let shown: Vec<(&str, &str, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c.field.as_str(),
                c.before.as_str(),
                c.after.as_str(),
                c.step.as_str(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (
                "legal_rep_id",
                " 11010*********002x",
                "110105********002x",
                "trim"
            ),
            (
                "legal_rep_id",
                "110105********002x",
                "110105********002X",
                "uppercase"
            ),
            ("name", " 武汉示例 ", "武汉示例", "trim"),
        ]
    );
}

#[test]
fn iso_date_formats_as_chrono_does() {
    let mut date = NaiveDate::from_ymd_opt(0, 1, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
    while date < last {
        assert_eq!(iso_date(date), date.format("%Y-%m-%d").to_string());
        date = date.checked_add_days(Days::new(97)).unwrap();
    }
    assert_eq!(iso_date(last), "9999-12-31");
}
