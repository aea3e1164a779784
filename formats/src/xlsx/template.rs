//! Reporting templates, generated from the rule pack: a change of the pack (a label, a
//! code, a pattern, a rule) changes the template with no code change.
//!
//! Sheets: instructions first, then one sheet per data set in reference order, then a
//! hidden sheet of code lists behind the drop-downs. Each data sheet has one header row
//! (`*监管事项编码` over `item_code`; the star marks a required field) with a note giving the
//! field's type, rules and a valid example; code-list columns have a drop-down of labels;
//! date columns are formatted as dates; code, USCC, identity and certificate columns are
//! formatted as text, so Excel keeps their leading zeros and all their digits.

use regfed_governance::{DatasetSpec, FieldSpec, FieldType, RulePack};
use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, Format, FormatBorder, Formula, Note,
    Workbook as XlsxWriter, XlsxError,
};

use super::{header_text, sheet_name, INSTRUCTIONS_SHEET, LISTS_SHEET};

/// The last row a drop-down covers (Excel's last row, 0-based).
const LAST_ROW: u32 = 1_048_575;

/// A template that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the template: {0}")]
pub struct TemplateError(#[from] XlsxError);

/// The template for `datasets` (of `pack`, in the order given) as .xlsx bytes.
pub fn template(pack: &RulePack, datasets: &[&DatasetSpec]) -> Result<Vec<u8>, TemplateError> {
    let mut book = XlsxWriter::new();
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_font_size(14);
    let wrap = Format::new().set_text_wrap();
    let table_header = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xD9E1F2))
        .set_border(FormatBorder::Thin);

    // The code lists the data sets use, each in a column of the hidden lists sheet.
    let mut lists: Vec<&regfed_governance::CodeList> = Vec::new();
    for spec in datasets {
        for field in &spec.fields {
            if let Some(list) = pack.codes_of(field) {
                if !lists.iter().any(|l| l.name == list.name) {
                    lists.push(list);
                }
            }
        }
    }

    let intro = book.add_worksheet().set_name(INSTRUCTIONS_SHEET)?;
    intro.set_active(true);
    intro.set_column_width(0, 30)?;
    intro.set_column_width(1, 26)?;
    intro.set_column_width(2, 40)?;
    intro.set_column_width(3, 40)?;
    intro.write_string_with_format(0, 0, "互联网+监管 数据填报模板  Reporting template", &title)?;
    intro.write_string(
        1,
        0,
        format!("规则包 rule pack: {} {}", pack.name(), pack.version()),
    )?;
    let steps = [
        "1. 每个数据集一个工作表，表头下每行填一条记录；工作表按名称识别，请勿改名。One sheet per data set, one record per row below the header; sheets are recognised by their names: do not rename them.",
        "2. 带 * 的列为必填项。鼠标移到表头可查看字段的规则和填写示例。Columns marked * are required. Hover over a header for the field's rules and a valid example.",
        "3. 代码列有下拉列表，可选择名称，也可直接填写代码。Code columns have a drop-down of labels; the codes themselves are accepted too.",
        "4. 日期填写为 YYYY-MM-DD（如 2026-03-05）。Dates as YYYY-MM-DD (e.g. 2026-03-05).",
        "5. 编码、统一社会信用代码、身份证号、证件号列为文本格式，请勿改为数字格式，否则会丢失开头的 0 和第 15 位以后的数字。Code, USCC, identity and certificate columns are text: keep them so, or Excel drops leading zeros and every digit after the 15th.",
        "6. 多个执法证号用分号（；或 ;）分隔。Separate several certificate numbers with ; or ；.",
        "7. 删除一条已报送的记录：增加一列 op，在该行填 delete。To delete a reported record, add a column op and write delete in its row.",
        "8. 提交 Submit: regfed submit --node HOST:PORT --identity DIR 文件.xlsx --report 结果.xlsx",
        "9. 结果工作簿中有问题的单元格标为红色并附批注（规则和示例）；修改后将该文件再次提交即可，只有修改过的行会变化。The result workbook marks every problem cell red with a note (rule and example); correct them and submit that file again: only the corrected rows change.",
    ];
    for (i, step) in steps.iter().enumerate() {
        intro.write_string(3 + i as u32, 0, *step)?;
    }
    let mut row = 4 + steps.len() as u32;
    for (col, text) in [
        "工作表 sheet",
        "数据集 data set",
        "必填字段 required fields",
        "其他字段 other fields",
    ]
    .iter()
    .enumerate()
    {
        intro.write_string_with_format(row, col as u16, *text, &table_header)?;
    }
    for spec in datasets {
        row += 1;
        let names = |required: bool| {
            spec.fields
                .iter()
                .filter(|f| f.required == required)
                .map(|f| format!("{} {}", f.label, f.name))
                .collect::<Vec<_>>()
                .join("、")
        };
        intro.write_string(row, 0, sheet_name(spec))?;
        intro.write_string(row, 1, format!("{} {}", spec.label, spec.name))?;
        intro.write_string_with_format(row, 2, names(true), &wrap)?;
        intro.write_string_with_format(row, 3, names(false), &wrap)?;
    }
    row += 2;
    for (col, text) in ["代码表 code list", "代码 code", "名称 label"]
        .iter()
        .enumerate()
    {
        intro.write_string_with_format(row, col as u16, *text, &table_header)?;
    }
    for list in &lists {
        for code in &list.codes {
            row += 1;
            intro.write_string(row, 0, format!("{} {}", list.label, list.name))?;
            intro.write_string(row, 1, &code.code)?;
            intro.write_string(row, 2, &code.label)?;
        }
    }

    let text = Format::new().set_num_format("@");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let header = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_background_color(Color::RGB(0xD9E1F2))
        .set_border(FormatBorder::Thin);
    let required_header = header.clone().set_font_color(Color::RGB(0xC00000));
    for spec in datasets {
        let sheet = book.add_worksheet().set_name(sheet_name(spec))?;
        sheet.set_row_height(0, 36)?;
        sheet.set_freeze_panes(1, 0)?;
        for (col, field) in spec.fields.iter().enumerate() {
            let col = col as u16;
            match field.ty {
                FieldType::Date => sheet.set_column_format(col, &date)?,
                FieldType::Decimal => sheet,
                _ => sheet.set_column_format(col, &text)?,
            };
            let width = field
                .label
                .chars()
                .count()
                .saturating_mul(2)
                .max(field.example.chars().count())
                .clamp(12, 40);
            sheet.set_column_width(col, width as f64 + 2.0)?;
            let format = if field.required {
                &required_header
            } else {
                &header
            };
            sheet.write_string_with_format(0, col, header_text(field), format)?;
            let note = Note::new(describe(pack, spec, field))
                .set_author("regfed")
                .add_author_prefix(false)
                .set_width(420)
                .set_height(220);
            sheet.insert_note(0, col, &note)?;
            if let Some(list) = pack.codes_of(field) {
                let position = lists.iter().position(|l| l.name == list.name).unwrap_or(0);
                let column = super::column_name(position as u16);
                let source = format!(
                    "='{LISTS_SHEET}'!${column}$2:${column}${}",
                    list.codes.len() + 1
                );
                let codes: Vec<&str> = list.codes.iter().map(|c| c.code.as_str()).collect();
                let validation = DataValidation::new()
                    .allow_list_formula(Formula::new(source))
                    .set_error_style(DataValidationErrorStyle::Warning)
                    .set_error_title(clip(&field.label, 32))?
                    .set_error_message(clip(
                        &format!(
                            "请从列表中选择{}，或填写代码 {}。Pick a label from the list, or write a code: {}.",
                            list.label,
                            codes.join("/"),
                            codes.join(", ")
                        ),
                        255,
                    ))?;
                sheet.add_data_validation(1, col, LAST_ROW, col, &validation)?;
            }
        }
    }

    let sheet = book.add_worksheet().set_name(LISTS_SHEET)?;
    for (col, list) in lists.iter().enumerate() {
        let col = col as u16;
        sheet.set_column_width(col, 24)?;
        sheet.write_string_with_format(0, col, format!("{} {}", list.label, list.name), &bold)?;
        for (i, code) in list.codes.iter().enumerate() {
            sheet.write_string(1 + i as u32, col, &code.label)?;
        }
    }
    sheet.set_hidden(true);
    Ok(book.save_to_buffer()?)
}

/// The note on a field's header: what it holds, its rules and a valid example.
fn describe(pack: &RulePack, spec: &DatasetSpec, field: &FieldSpec) -> String {
    let mut lines = vec![
        format!("{} {}", field.label, field.name),
        if field.required {
            "必填 required".to_string()
        } else {
            "选填 optional".to_string()
        },
        format!("类型 type: {}", type_text(field.ty)),
    ];
    if let Some(pattern) = &field.pattern {
        lines.push(format!("格式 pattern: {pattern}"));
    }
    match (field.min_len, field.max_len) {
        (Some(min), Some(max)) => lines.push(format!("长度 length: {min}–{max}")),
        (None, Some(max)) => lines.push(format!("长度 length: ≤ {max}")),
        (Some(min), None) => lines.push(format!("长度 length: ≥ {min}")),
        (None, None) => {}
    }
    if let Some(list) = pack.codes_of(field) {
        let codes: Vec<String> = list
            .codes
            .iter()
            .map(|c| format!("{} {}", c.code, c.label))
            .collect();
        lines.push(format!("代码 codes ({}): {}", list.label, codes.join("、")));
    }
    let rules: Vec<String> = spec
        .rules
        .iter()
        .filter(|r| r.check.field() == field.name)
        .map(|r| {
            let message = r
                .message_zh
                .replace("{label}", &field.label)
                .replace("{field}", &field.name)
                .replace("{dataset}", &spec.label);
            format!("• {}: {message}", r.id)
        })
        .collect();
    if !rules.is_empty() {
        lines.push("规则 rules:".into());
        lines.extend(rules);
    }
    lines.push(format!("示例 example: {}", field.example));
    lines.join("\n")
}

fn type_text(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "文本 text",
        FieldType::Code => "代码 code (from a code list)",
        FieldType::Uscc => "统一社会信用代码 USCC (18 characters, check digit)",
        FieldType::IdCard => "公民身份号码 identity number (18 characters, check digit)",
        FieldType::Region => "行政区划代码 GB/T 2260 region code (6 digits)",
        FieldType::Date => "日期 date (YYYY-MM-DD)",
        FieldType::Decimal => "数值 decimal",
        FieldType::List => "列表 list (separated by ; or ；)",
    }
}

/// At most `limit` UTF-16 units of `text` (Excel's limits on validation texts).
fn clip(text: &str, limit: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        used += c.len_utf16();
        if used > limit {
            break;
        }
        out.push(c);
    }
    out
}
