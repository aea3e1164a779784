//! Templates, reading and result workbooks, each read back with calamine (and the zip
//! parts calamine does not expose: notes and data validations).

use std::io::Read as _;

use calamine::{Data, DataType as _, Reader, Xlsx};
use regfed_governance::{RawRecord, RulePack, Value};
use rust_xlsxwriter::{Format, Formula, Workbook as XlsxWriter};

use super::*;

fn pack() -> std::sync::Arc<RulePack> {
    RulePack::builtin()
}

fn open(bytes: &[u8]) -> Xlsx<std::io::Cursor<Vec<u8>>> {
    match Xlsx::new(std::io::Cursor::new(bytes.to_vec())) {
        Ok(book) => book,
        Err(e) => panic!("the workbook opens: {e}"),
    }
}

/// Every part of an .xlsx whose name contains `part`, concatenated.
fn zip_parts(bytes: &[u8], part: &str) -> String {
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())) else {
        panic!("an xlsx is a zip file");
    };
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect();
    let mut text = String::new();
    for name in names.iter().filter(|n| n.contains(part)) {
        if let Ok(mut file) = zip.by_name(name) {
            let _ = file.read_to_string(&mut text);
        }
    }
    text
}

/// Reads every planned sheet of a workbook: headers, rows and the summaries' notes.
fn read_all(
    bytes: Vec<u8>,
    default: Option<&str>,
) -> (Plan, Vec<SheetHeader>, Vec<SheetRow>, Vec<String>) {
    let pack = pack();
    let mut book = match Workbook::from_bytes("test.xlsx", bytes) {
        Ok(book) => book,
        Err(e) => panic!("{e}"),
    };
    let plan = book.plan(&pack, default);
    let mut headers = Vec::new();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for sheet in &plan.sheets {
        let Some(spec) = pack.dataset(&sheet.dataset) else {
            panic!("planned data sets exist");
        };
        let summary = book
            .read_sheet(sheet, spec, 3, &mut |event| {
                match event {
                    SheetEvent::Header(h) => headers.push(h),
                    SheetEvent::Rows(r) => {
                        assert!(r.len() <= 3, "batches hold at most 3 rows");
                        rows.extend(r);
                    }
                }
                true
            })
            .unwrap_or_else(|e| panic!("{e}"));
        notes.extend(summary.notes);
    }
    (plan, headers, rows, notes)
}

fn text(record: &RawRecord, field: &str) -> Option<String> {
    match record.fields.get(field) {
        Some(Value::Text(t)) => Some(t.to_string()),
        Some(Value::List(items)) => Some(items.join(";")),
        None => None,
    }
}

#[test]
fn the_template_follows_the_pack() {
    let pack = pack();
    let datasets: Vec<_> = pack.datasets().iter().collect();
    let bytes = template(&pack, &datasets).unwrap_or_else(|e| panic!("{e}"));
    let mut book = open(&bytes);
    let names = book.sheet_names();
    assert_eq!(
        names,
        [
            INSTRUCTIONS_SHEET,
            "监管事项目录 item",
            "监管对象 subject",
            "执法人员 officer",
            "监管行为 action",
            LISTS_SHEET
        ]
    );
    let hidden: Vec<_> = book
        .sheets_metadata()
        .iter()
        .filter(|s| s.visible != calamine::SheetVisible::Visible)
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(hidden, [LISTS_SHEET]);

    let Some(action) = pack.dataset("action") else {
        panic!("action");
    };
    let range = book
        .worksheet_range("监管行为 action")
        .unwrap_or_else(|e| panic!("{e}"));
    for (col, field) in action.fields.iter().enumerate() {
        let header = range.get_value((0, col as u32)).cloned();
        assert_eq!(header, Some(Data::String(header_text(field))));
    }
    assert_eq!(
        range.get_value((0, 0)),
        Some(&Data::String("*行为编号\naction_id".into())),
        "required headers carry a star"
    );
    // Formats: text for codes (Excel keeps digits), dates as dates.
    let sheet_xml = zip_parts(&bytes, "xl/worksheets/sheet5.xml");
    let styles_xml = zip_parts(&bytes, "xl/styles.xml");
    assert!(
        styles_xml.contains(r#"formatCode="@""#),
        "a text format exists"
    );
    assert!(styles_xml.contains("yyyy-mm-dd"), "a date format exists");
    // A drop-down of labels for each code field, from the hidden lists sheet.
    let validations = sheet_xml.matches("<dataValidation ").count();
    let code_fields = action
        .fields
        .iter()
        .filter(|f| f.code_list.is_some())
        .count();
    assert_eq!(validations, code_fields, "{sheet_xml}");
    assert!(sheet_xml.contains("代码表 lists&apos;!$") || sheet_xml.contains("代码表 lists'!$"));
    // Notes on headers name the rules and the example.
    let comments = zip_parts(&bytes, "xl/comments");
    let uscc = action
        .field("subject_uscc")
        .unwrap_or_else(|| panic!("subject_uscc"));
    assert!(comments.contains(&format!("示例 example: {}", uscc.example)));
    assert!(
        comments.contains("action.officers.min2"),
        "rules are listed"
    );
    let lists = book
        .worksheet_range(LISTS_SHEET)
        .unwrap_or_else(|e| panic!("{e}"));
    let labels: Vec<String> = lists
        .cells()
        .filter_map(|(_, _, d)| d.as_string())
        .collect();
    for list in pack.code_lists() {
        for code in &list.codes {
            assert!(labels.contains(&code.label), "{} in {labels:?}", code.label);
        }
    }

    // The template reads back as four empty data sets, every column a field.
    let (plan, headers, rows, notes) = read_all(bytes, None);
    let planned: Vec<&str> = plan.sheets.iter().map(|s| s.dataset.as_str()).collect();
    assert_eq!(planned, ["item", "subject", "officer", "action"]);
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    assert_eq!(headers.len(), 4);
    assert!(rows.is_empty());
    assert!(notes.is_empty(), "{notes:?}");
    for header in &headers {
        assert!(header
            .columns
            .iter()
            .all(|(_, c)| matches!(c, Column::Field(_))));
    }
}

#[test]
fn a_pack_change_changes_the_template() {
    let toml = RulePack::builtin_toml()
        .replace(
            r#"{ code = "JC", label = "行政检查" },"#,
            r#"{ code = "JC", label = "行政检查" },
  { code = "JD", label = "监督抽查" },"#,
        )
        .replace(r#"label = "行为编号""#, r#"label = "行为流水号""#);
    let pack = RulePack::from_toml_str(&toml).unwrap_or_else(|e| panic!("{e}"));
    let datasets: Vec<_> = pack.datasets().iter().collect();
    let bytes = template(&pack, &datasets).unwrap_or_else(|e| panic!("{e}"));
    let mut book = open(&bytes);
    let range = book
        .worksheet_range("监管行为 action")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        range.get_value((0, 0)),
        Some(&Data::String("*行为流水号\naction_id".into()))
    );
    let lists = book
        .worksheet_range(LISTS_SHEET)
        .unwrap_or_else(|e| panic!("{e}"));
    let all: Vec<String> = lists
        .cells()
        .filter_map(|(_, _, d)| d.as_string())
        .collect();
    assert!(all.iter().any(|l| l == "监督抽查"), "{all:?}");
}

/// A department's own export: a title row, labels in another order, an extra column,
/// numbers and serial dates, a formula, merged cells, blank rows, spaces, an error.
fn messy_workbook() -> Vec<u8> {
    let mut book = XlsxWriter::new();
    let sheet = book.add_worksheet();
    let _ = sheet.set_name("监管对象");
    let date = Format::new().set_num_format("yyyy/m/d");
    let cells = |sheet: &mut rust_xlsxwriter::Worksheet| -> Result<(), rust_xlsxwriter::XlsxError> {
        sheet.write_string(0, 0, "2026年第一季度 监管对象 报表")?;
        let headers = [
            "名称",
            "统一社会信用代码",
            "主体类型",
            "注册地行政区划",
            "成立日期",
            "备注",
            "住所",
        ];
        for (col, h) in headers.iter().enumerate() {
            sheet.write_string(2, col as u16, *h)?;
        }
        // Row 4: a clean row with a date cell and a region typed as a number.
        sheet.write_string(3, 0, "武汉示例科技有限公司  ")?;
        sheet.write_string(3, 1, "91420100MA4K0000X1")?;
        sheet.write_string(3, 2, "企业")?;
        sheet.write_number(3, 3, 420100)?;
        sheet.write_number_with_format(3, 4, 46_086.0, &date)?;
        sheet.write_string(3, 5, "老客户")?;
        // Row 5: USCC typed as a number (digits lost); serial date without a format.
        sheet.write_string(4, 0, "ＡＢＣ商贸有限公司")?;
        sheet.write_number(4, 1, 914_201_000_000_000_000.0)?;
        sheet.write_string(4, 2, "1")?;
        sheet.write_formula(4, 3, Formula::new("=420000+100").set_result("420100"))?;
        sheet.write_number(4, 4, 45_000.0)?;
        // Row 6 blank; rows 7-8: the address merged over two rows.
        sheet.write_string(6, 0, "甲公司")?;
        sheet.write_string(7, 0, "乙公司")?;
        sheet.merge_range(6, 6, 7, 6, "武汉市江岸区一路1号", &Format::new())?;
        Ok(())
    };
    cells(sheet).unwrap_or_else(|e| panic!("{e}"));
    book.save_to_buffer().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_messy_export_reads_as_the_person_meant() {
    let (plan, headers, rows, notes) = read_all(messy_workbook(), None);
    assert_eq!(plan.sheets.len(), 1);
    assert_eq!(plan.sheets[0].dataset, "subject");
    assert_eq!(headers[0].row, 2, "the title row is skipped");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("column F") && n.contains("备注")),
        "the extra column is reported: {notes:?}"
    );
    assert_eq!(rows.len(), 4, "the blank row is skipped");
    let Some(first) = &rows[0].record else {
        panic!("row 4 reads: {:?}", rows[0].issues);
    };
    assert_eq!(
        text(first, "name").as_deref(),
        Some("武汉示例科技有限公司  ")
    );
    assert_eq!(text(first, "region_code").as_deref(), Some("420100"));
    assert_eq!(
        text(first, "established_date").as_deref(),
        Some("2026-03-05")
    );
    assert_eq!(text(first, "subject_type").as_deref(), Some("企业"));
    assert!(!first.fields.contains_key("备注"));
    assert_eq!(rows[0].source, "监管对象 row 4");

    assert!(rows[1].record.is_none(), "digits were lost in the USCC");
    assert_eq!(rows[1].issues.len(), 1);
    assert_eq!(rows[1].issues[0].rule, RULE_NUMBER_PRECISION);
    assert_eq!(rows[1].issues[0].col, 1);
    assert!(rows[1].issues[0].message_en.contains("15 digits"));

    let (third, fourth) = (&rows[2], &rows[3]);
    assert_eq!((third.row, fourth.row), (6, 7));
    for row in [third, fourth] {
        let Some(record) = &row.record else {
            panic!("{:?}", row.issues)
        };
        assert_eq!(
            text(record, "address").as_deref(),
            Some("武汉市江岸区一路1号"),
            "merged cells give every row their value"
        );
    }
}

#[test]
fn formulas_give_their_cached_values_and_serials_their_dates() {
    let mut book = XlsxWriter::new();
    let sheet = book.add_worksheet();
    let written = (|| -> Result<(), rust_xlsxwriter::XlsxError> {
        sheet.set_name("action")?;
        sheet.write_string(0, 0, "action_id")?;
        sheet.write_string(0, 1, "action_date")?;
        sheet.write_string(0, 2, "penalty_amount")?;
        sheet.write_string(0, 3, "op")?;
        sheet.write_formula(1, 0, Formula::new("=\"A-\"&\"0001\"").set_result("A-0001"))?;
        sheet.write_number(1, 1, 46_086.0)?;
        sheet.write_formula(1, 2, Formula::new("=1000+200.5").set_result("1200.5"))?;
        sheet.write_string(1, 3, "delete")?;
        sheet.write_string(2, 0, "A-0002")?;
        sheet.write_string(2, 3, "remove")?;
        Ok(())
    })();
    written.unwrap_or_else(|e| panic!("{e}"));
    let bytes = book.save_to_buffer().unwrap_or_else(|e| panic!("{e}"));
    let (_, _, rows, _) = read_all(bytes, None);
    let Some(record) = &rows[0].record else {
        panic!("{:?}", rows[0].issues);
    };
    assert_eq!(text(record, "action_id").as_deref(), Some("A-0001"));
    assert_eq!(text(record, "action_date").as_deref(), Some("2026-03-05"));
    assert_eq!(text(record, "penalty_amount").as_deref(), Some("1200.5"));
    assert_eq!(record.op, regfed_governance::Op::Delete);
    assert!(rows[1].record.is_none());
    assert_eq!(rows[1].issues[0].rule, RULE_OP);
}

#[test]
fn sheets_are_found_by_name_and_a_default_covers_the_rest() {
    let mut book = XlsxWriter::new();
    for name in ["Sheet1", "人员 officer 2026", "执法人员"] {
        let sheet = book.add_worksheet();
        let _ = sheet.set_name(name);
        let _ = sheet.write_string(0, 0, "cert_no");
        let _ = sheet.write_string(0, 1, "action_id");
        let _ = sheet.write_string(1, 0, "C-1");
    }
    let bytes = book.save_to_buffer().unwrap_or_else(|e| panic!("{e}"));
    let pack = pack();
    let book = Workbook::from_bytes("x.xlsx", bytes.clone()).unwrap_or_else(|e| panic!("{e}"));
    let plan = book.plan(&pack, None);
    let names: Vec<&str> = plan.sheets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["人员 officer 2026", "执法人员"]);
    assert_eq!(plan.notes.len(), 1);
    assert!(plan.notes[0].contains("\"Sheet1\""), "{:?}", plan.notes);
    let plan = book.plan(&pack, Some("action"));
    let datasets: Vec<&str> = plan.sheets.iter().map(|s| s.dataset.as_str()).collect();
    assert_eq!(
        datasets,
        ["officer", "officer", "action"],
        "reference order"
    );
    assert!(plan.notes.is_empty());
}

#[test]
fn duplicate_columns_leave_the_sheet_out() {
    let mut book = XlsxWriter::new();
    let sheet = book.add_worksheet();
    let _ = sheet.set_name("item");
    let _ = sheet.write_string(0, 0, "item_code");
    let _ = sheet.write_string(0, 1, "监管事项编码");
    let _ = sheet.write_string(1, 0, "X");
    let bytes = book.save_to_buffer().unwrap_or_else(|e| panic!("{e}"));
    let (_, headers, rows, notes) = read_all(bytes, None);
    assert!(headers.is_empty() && rows.is_empty());
    assert!(
        notes.iter().any(|n| n.contains("columns A and B")),
        "{notes:?}"
    );
}

#[test]
fn not_a_workbook_is_named() {
    let Err(e) = Workbook::from_bytes("data.xlsx", b"item_code,item_name\n".to_vec()) else {
        panic!("CSV bytes are not a workbook");
    };
    assert_eq!(e.file, "data.xlsx");
    assert!(e.message.contains("is not an Excel workbook"), "{e}");
    let Err(e) = Workbook::from_bytes("broken.xlsx", b"PK\x03\x04garbage".to_vec()) else {
        panic!("a broken zip is not a workbook");
    };
    assert!(e.message.starts_with("cannot open the workbook"), "{e}");
}

#[test]
fn the_result_marks_problem_cells_and_reads_back_as_the_original() {
    let bytes = messy_workbook();
    let (plan, headers, rows, notes) = read_all(bytes, None);
    let pack = pack();
    let Some(spec) = pack.dataset("subject") else {
        panic!("subject");
    };
    let sheets: Vec<(usize, String)> = plan
        .sheets
        .iter()
        .map(|s| (s.index, s.name.clone()))
        .collect();
    let mut report = Report::new(
        "messy.xlsx",
        "regfed-standard@1.0.0",
        Epoch::Excel1900,
        &sheets,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    report
        .header(&headers[0], spec)
        .unwrap_or_else(|e| panic!("{e}"));
    let issue = |rule: &str, field: &str, severity: &str| RowIssue {
        rule: rule.into(),
        field: field.into(),
        severity: severity.into(),
        message_zh: format!("{field} 有误"),
        message_en: format!("{field} is wrong"),
        example: "91350100M000100Y43".into(),
    };
    let verdicts = vec![
        RowVerdict {
            status: RowStatus::Rejected,
            issues: vec![
                issue("subject.uscc.uscc", "uscc", "error"),
                issue("subject.legal_rep.required_when", "legal_rep", "error"),
            ],
        },
        RowVerdict::not_submitted(&rows[1], spec),
        RowVerdict {
            status: RowStatus::Accepted,
            issues: vec![issue("subject.address.short", "address", "warning")],
        },
        RowVerdict {
            status: RowStatus::Unchanged,
            issues: vec![],
        },
    ];
    report
        .rows(headers[0].sheet_index, &rows, &verdicts)
        .unwrap_or_else(|e| panic!("{e}"));
    for note in notes {
        report.note(note);
    }
    let out = report.into_bytes().unwrap_or_else(|e| panic!("{e}"));

    let mut book = open(&out);
    assert_eq!(book.sheet_names(), [SUMMARY_SHEET, "监管对象"]);
    let range = book
        .worksheet_range("监管对象")
        .unwrap_or_else(|e| panic!("{e}"));
    // Original values in their original cells; status and problems after the last column.
    assert_eq!(
        range.get_value((3, 0)),
        Some(&Data::String("武汉示例科技有限公司  ".into()))
    );
    assert_eq!(
        range.get_value((4, 1)),
        Some(&Data::Float(914_201_000_000_000_000.0))
    );
    assert_eq!(
        range.get_value((2, 7)),
        Some(&Data::String(STATUS_HEADER.into()))
    );
    assert_eq!(
        range.get_value((2, 8)),
        Some(&Data::String(PROBLEMS_HEADER.into()))
    );
    assert_eq!(
        range.get_value((3, 7)),
        Some(&Data::String("退回 rejected".into()))
    );
    assert_eq!(
        range.get_value((4, 7)),
        Some(&Data::String("未提交 not submitted".into()))
    );
    assert_eq!(
        range.get_value((6, 7)),
        Some(&Data::String("通过 accepted".into()))
    );
    let problems = range
        .get_value((3, 8))
        .and_then(|d| d.as_string())
        .unwrap_or_default();
    assert!(problems.contains("[subject.uscc.uscc] uscc"), "{problems}");

    let styles = book
        .worksheet_style("监管对象")
        .unwrap_or_else(|e| panic!("{e}"));
    let fill = |row: u32, col: u32| {
        styles
            .get((row, col))
            .and_then(|s| s.fill.as_ref())
            .and_then(|f| f.get_color())
            .map(|c| (u32::from(c.red) << 16) | (u32::from(c.green) << 8) | u32::from(c.blue))
    };
    assert_eq!(fill(3, 1), Some(ERROR_FILL), "the USCC cell is red");
    assert_eq!(fill(4, 1), Some(ERROR_FILL), "the number USCC is red");
    assert_eq!(fill(6, 6), Some(WARNING_FILL), "a warning is yellow");
    assert_eq!(fill(3, 0), None, "a good cell is not filled");
    assert_eq!(
        fill(3, 7),
        Some(ERROR_FILL),
        "the legal_rep issue has no column: status"
    );

    let comments = zip_parts(&out, "xl/comments");
    assert!(comments.contains(r#"ref="B4""#), "{comments}");
    assert!(comments.contains("[subject.uscc.uscc] 错误 error"));
    assert!(comments.contains("示例 example: 91350100M000100Y43"));
    assert!(
        comments.contains("Excel drops leading zeros"),
        "a number cell gets the hint"
    );
    assert!(comments.contains(RULE_NUMBER_PRECISION));

    let summary = book
        .worksheet_range(SUMMARY_SHEET)
        .unwrap_or_else(|e| panic!("{e}"));
    let cells: Vec<String> = summary
        .cells()
        .filter_map(|(_, _, d)| d.as_string())
        .collect();
    assert!(cells.iter().any(|c| c == "subject.uscc.uscc"));
    assert!(
        cells.iter().any(|c| c.contains("备注")),
        "notes reach the summary"
    );

    // Submitted again, the result reads as the original did.
    let (plan2, _, rows2, _) = read_all(out, None);
    assert_eq!(plan2.sheets.len(), 1, "the summary sheet is skipped");
    assert_eq!(rows2.len(), rows.len());
    for (a, b) in rows.iter().zip(&rows2) {
        assert_eq!(a.record, b.record, "row {}", a.row + 1);
    }
}

#[test]
fn column_letters() {
    assert_eq!(column_name(0), "A");
    assert_eq!(column_name(25), "Z");
    assert_eq!(column_name(26), "AA");
    assert_eq!(column_name(701), "ZZ");
    assert_eq!(column_name(702), "AAA");
    assert_eq!(cell_ref(11, 2), "C12");
}
