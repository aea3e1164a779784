//! Reading and writing department files: encodings, headers, every kind of problem, and
//! round trips through both formats.

use std::sync::Arc;

use regfed_governance::{DatasetSpec, Fields, Op, RawRecord, RulePack, Value};

use super::*;

fn pack() -> Arc<RulePack> {
    RulePack::builtin()
}

fn spec<'p>(pack: &'p RulePack, name: &str) -> &'p DatasetSpec {
    match pack.dataset(name) {
        Some(spec) => spec,
        None => panic!("the builtin pack has data set {name}"),
    }
}

fn record(op: Op, pairs: &[(&str, Value)]) -> RawRecord {
    let fields: Fields = pairs
        .iter()
        .map(|(k, v)| ((*k).into(), v.clone()))
        .collect();
    RawRecord::new(op, fields)
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| s.to_string()).collect())
}

/// Reads `content` expecting failure; returns the error's text.
fn fails(name: &str, content: &[u8], format: Format, dataset: &str) -> String {
    let pack = pack();
    match read_bytes(name, content, format, spec(&pack, dataset)) {
        Ok(records) => panic!("{name} should fail, read {records:?}"),
        Err(e) => e.to_string(),
    }
}

fn reads(name: &str, content: &[u8], format: Format, dataset: &str) -> Vec<SourcedRecord> {
    let pack = pack();
    match read_bytes(name, content, format, spec(&pack, dataset)) {
        Ok(records) => records,
        Err(e) => panic!("{name} should be read: {e}"),
    }
}

const ITEM_CSV: &str = "监管事项编码,监管事项名称,事项类型,实施部门编码,设定依据,生效日期,行政区划代码\n\
420100JC00001,对食品生产经营者的监督检查,行政检查,11420100MB0000013X,《中华人民共和国食品安全法》第一百一十条,2024/3/5,420100\n\
420100CF00002,\"对生产经营不符合食品安全标准的食品的行政处罚,含“引号”\",CF,11420100MB0000013X,《中华人民共和国食品安全法》第一百二十四条,20240305,420100\n";

#[test]
fn utf8_csv_with_label_headers() {
    let records = reads("items.csv", ITEM_CSV.as_bytes(), Format::Csv, "item");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].line, 2);
    assert_eq!(records[0].source, "items.csv line 2");
    assert_eq!(records[0].record.text("item_type"), Some("行政检查"));
    assert_eq!(records[0].record.text("effective_date"), Some("2024/3/5"));
    assert_eq!(
        records[1].record.text("item_name"),
        Some("对生产经营不符合食品安全标准的食品的行政处罚,含“引号”")
    );
    assert_eq!(records[1].record.op, Op::Upsert);
}

#[test]
fn gbk_csv_and_bom_read_the_same() {
    let utf8 = reads("items.csv", ITEM_CSV.as_bytes(), Format::Csv, "item");
    let (gbk_bytes, _, unmappable) = encoding_rs::GBK.encode(ITEM_CSV);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&gbk_bytes).is_err(), "really GBK");
    let gbk = reads("items.csv", &gbk_bytes, Format::Csv, "item");
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(ITEM_CSV.as_bytes());
    let bom = reads("items.csv", &with_bom, Format::Csv, "item");
    let records =
        |read: &[SourcedRecord]| read.iter().map(|r| r.record.clone()).collect::<Vec<_>>();
    assert_eq!(records(&gbk), records(&utf8));
    assert_eq!(records(&bom), records(&utf8));
}

#[test]
fn csv_header_forms_empty_cells_blank_lines_and_op() {
    let csv = "\n*行为编号（action_id）, item_code ,Officer_Cert_Nos,op\r\n\
               \r\n\
               420100-XZJC-2026-000001,420100JC00001,42010020230001；42010020230002,\r\n\
               ,,,\r\n\
               420100-XZJC-2026-000002,,,DELETE\r\n";
    let records = reads("a.csv", csv.as_bytes(), Format::Csv, "action");
    assert_eq!(records.len(), 2);
    let first = &records[0];
    assert_eq!(first.line, 4);
    assert_eq!(
        first.record.text("officer_cert_nos"),
        Some("42010020230001；42010020230002")
    );
    assert_eq!(first.record.op, Op::Upsert);
    let second = &records[1].record;
    assert_eq!(second.op, Op::Delete);
    assert_eq!(
        second.fields.len(),
        1,
        "empty cells are absent fields: {second:?}"
    );
}

#[test]
fn header_only_and_empty_files_have_no_records() {
    assert!(reads("a.csv", b"", Format::Csv, "item").is_empty());
    assert!(reads(
        "a.csv",
        "监管事项编码,监管事项名称\r\n".as_bytes(),
        Format::Csv,
        "item"
    )
    .is_empty());
    assert!(reads("a.jsonl", b"\n  \n", Format::Jsonl, "item").is_empty());
}

#[test]
fn csv_problems_are_all_named() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "unknown column",
            "item_code,colour,监管事项名称\n420100JC00001,red,x\n",
            &[
                "items.csv line 1, field \"colour\": unknown column \"colour\"",
                "item_code",
            ],
        ),
        (
            "close column name",
            "item_code,item_nme\n420100JC00001,x\n",
            &["unknown column \"item_nme\"", "did you mean item_name"],
        ),
        (
            "duplicate column",
            "item_code,监管事项编码\n420100JC00001,420100JC00001\n",
            &["duplicate column", "(column 2)", "(column 1)"],
        ),
        (
            "missing header",
            "420100JC00001,对食品生产经营者的监督检查\n",
            &[
                "items.csv line 1: the first line is not a header",
                "item_code",
            ],
        ),
        (
            "ragged rows",
            "item_code,item_name\n420100JC00001,a,b\n420100JC00002\n420100JC00003,ok\n",
            &[
                "items.csv line 2: the row has 3 cells but the header has 2.",
                "items.csv line 3: the row has 1 cells but the header has 2.",
            ],
        ),
        (
            "bad op and other data set",
            "item_code,op,dataset\n420100JC00001,remove,item\n420100JC00002,delete,action\n",
            &[
                "line 2, field \"op\": op is \"remove\"",
                "line 3, field \"dataset\": the row says data set \"action\"",
            ],
        ),
        (
            "value without a header",
            "item_code,,item_name\n420100JC00001,x,y\n",
            &["line 2: column 2 holds \"x\" but has no header"],
        ),
    ];
    for (case, content, needles) in cases {
        let message = fails("items.csv", content.as_bytes(), Format::Csv, "item");
        for needle in *needles {
            assert!(
                message.contains(needle),
                "{case}: missing {needle:?} in:\n{message}"
            );
        }
    }
}

#[test]
fn jsonl_values_and_numbers_verbatim() {
    let jsonl = "{\"dataset\":\"action\",\"action_id\":\"420100-XZJC-2026-000001\",\"subject_uscc\":91350100000000000,\
                 \"penalty_amount\":1200.50,\"officer_cert_nos\":[\"42010020230001\",42010020230002],\"subject_name\":null}\r\n\
                 \n\
                 {\"op\":\"delete\",\"行为编号\":\"420100-XZJC-2026-000002\"}\n";
    let records = reads("actions.jsonl", jsonl.as_bytes(), Format::Jsonl, "action");
    assert_eq!(records.len(), 2);
    let first = &records[0].record;
    assert_eq!(first.text("subject_uscc"), Some("91350100000000000"));
    assert_eq!(first.text("penalty_amount"), Some("1200.50"));
    assert_eq!(
        first.fields.get("officer_cert_nos"),
        Some(&list(&["42010020230001", "42010020230002"]))
    );
    assert!(!first.fields.contains_key("subject_name"), "null is absent");
    assert!(!first.fields.contains_key("dataset"));
    assert_eq!(records[1].line, 3);
    assert_eq!(records[1].record.op, Op::Delete);
    assert_eq!(
        records[1].record.text("action_id"),
        Some("420100-XZJC-2026-000002")
    );
}

#[test]
fn jsonl_problems_are_all_named() {
    let content = "{\"item_code\":\"420100JC00001\"}\n\
                   {not json\n\
                   [1,2]\n\
                   {\"item_code\":{\"a\":1},\"item_name\":true,\"legal_basis\":[[\"x\"]]}\n\
                   {\"item_code\":\"420100JC00002\",\"colour\":\"red\",\"op\":\"remove\",\"dataset\":\"action\"}\n\
                   {\"item_code\":\"a\",\"监管事项编码\":\"b\"}\n";
    let message = fails("items.jsonl", content.as_bytes(), Format::Jsonl, "item");
    let needles = [
        "items.jsonl line 2: invalid JSON at column 2",
        "items.jsonl line 3: the line is an array, not a JSON object",
        "line 4, field \"item_code\": the value is an object",
        "line 4, field \"item_name\": the value is a boolean",
        "line 4, field \"legal_basis\": a list item is a nested array",
        "line 5, field \"colour\": unknown field \"colour\"",
        "line 5, field \"op\": op is \"remove\"",
        "line 5, field \"dataset\": the record says data set \"action\", but this file is read as data set item",
        "line 6, field \"监管事项编码\": field item_code is given twice",
    ];
    for needle in needles {
        assert!(
            message.contains(needle),
            "missing {needle:?} in:\n{message}"
        );
    }
    assert!(!message.contains("line 1"), "{message}");
}

#[test]
fn round_trips() {
    let pack = pack();
    let action = spec(&pack, "action");
    let records = vec![
        record(
            Op::Upsert,
            &[
                ("action_id", text("420100-XZCF-2026-000001")),
                ("subject_uscc", text("91420100MA4K00010R")),
                (
                    "subject_name",
                    text("武汉示例科技有限公司，含\"引号\"与逗号"),
                ),
                (
                    "officer_cert_nos",
                    list(&["42010020230001", "42010020230002"]),
                ),
                ("penalty_amount", text("1,200.00元")),
                ("action_date", text(" 2026/3/5 ")),
            ],
        ),
        record(
            Op::Delete,
            &[("action_id", text("420100-XZCF-2026-000002"))],
        ),
    ];
    // JSONL keeps lists as lists.
    let jsonl = write_jsonl(&records);
    assert_eq!(jsonl.lines().count(), 2);
    assert!(jsonl
        .lines()
        .nth(1)
        .is_some_and(|l| l.contains("\"op\":\"delete\"")));
    assert!(!jsonl.lines().next().is_some_and(|l| l.contains("\"op\"")));
    let back: Vec<RawRecord> = reads("a.jsonl", jsonl.as_bytes(), Format::Jsonl, "action")
        .into_iter()
        .map(|r| r.record)
        .collect();
    assert_eq!(back, records);
    // CSV joins lists with `;` (standardization splits them again).
    for style in [HeaderStyle::FieldNames, HeaderStyle::Labels] {
        for encoding in [TextEncoding::Utf8, TextEncoding::Gbk] {
            let bytes = write_csv(action, &records, style, encoding);
            assert_eq!(decode_text("a.csv", &bytes).map(|(_, e)| e), Ok(encoding));
            let back: Vec<RawRecord> = reads("a.csv", &bytes, Format::Csv, "action")
                .into_iter()
                .map(|r| r.record)
                .collect();
            let mut expected = records.clone();
            expected[0].fields.insert(
                "officer_cert_nos".into(),
                text("42010020230001;42010020230002"),
            );
            assert_eq!(back, expected, "{style:?} {encoding:?}");
        }
    }
}

#[test]
fn csv_without_deletes_has_no_op_column() {
    let pack = pack();
    let item = spec(&pack, "item");
    let bytes = write_csv(
        item,
        &[record(Op::Upsert, &[("item_code", text("420100JC00001"))])],
        HeaderStyle::Labels,
        TextEncoding::Utf8,
    );
    let Ok(text) = String::from_utf8(bytes) else {
        panic!("UTF-8 was asked for");
    };
    assert_eq!(
        text,
        "监管事项编码,监管事项名称,事项类型,实施部门编码,设定依据,生效日期,行政区划代码\r\n420100JC00001,,,,,,\r\n"
    );
}

#[test]
fn files_by_path_and_size_guard() {
    let pack = pack();
    let item = spec(&pack, "item");
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("temp dir: {e}"),
    };
    let path = dir.path().join("items.csv");
    std::fs::write(&path, ITEM_CSV).unwrap_or_else(|e| panic!("write: {e}"));
    let read = read_file(&path, item).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read.len(), 2);

    let unknown = dir.path().join("items.xlsx");
    std::fs::write(&unknown, "x").unwrap_or_else(|e| panic!("write: {e}"));
    let message = read_file(&unknown, item)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("items.xlsx: "), "{message}");

    let missing = read_file(&dir.path().join("gone.jsonl"), item)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("gone.jsonl: cannot read the file"),
        "{missing}"
    );

    let big = dir.path().join("big.jsonl");
    let file = std::fs::File::create(&big).unwrap_or_else(|e| panic!("create: {e}"));
    file.set_len(MAX_FILE_BYTES + 1)
        .unwrap_or_else(|e| panic!("set_len: {e}"));
    let message = read_file(&big, item).map(|_| ()).unwrap_err().to_string();
    assert!(
        message.starts_with("big.jsonl: the file has 268435457 bytes"),
        "{message}"
    );
}
