//! The result workbook: the department's sheets with their original values, each problem
//! cell filled (red for errors, yellow for warnings) with a note naming the rule and a
//! valid example, a status and a problems column, and a first sheet of counts per sheet
//! and per rule. Corrected and submitted again, it imports like the original: the status
//! and problems columns and the summary sheet are skipped.
//!
//! Sheets are written in constant-memory mode (rows go to a temporary file as they are
//! written), so a workbook of 100,000 rows costs little more memory than its notes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use regfed_governance::{DatasetSpec, FieldType};
use rust_xlsxwriter::{Color, Format, FormatBorder, Note, Workbook as XlsxWriter, XlsxError};

use super::cell::{Cell, Epoch};
use super::read::{column_name, SheetHeader, SheetRow};
use super::{PROBLEMS_HEADER, STATUS_HEADER, SUMMARY_SHEET};

/// The fill of a cell with an error: red.
pub const ERROR_FILL: u32 = 0xFF7C80;
/// The fill of a cell with a warning: yellow.
pub const WARNING_FILL: u32 = 0xFFEB9C;
const HEADER_FILL: u32 = 0xD9E1F2;
const NOTE_AUTHOR: &str = "regfed";

/// A result workbook that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the result workbook: {0}")]
pub struct ReportError(#[from] XlsxError);

/// What became of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowStatus {
    Accepted,
    Rejected,
    Unchanged,
    /// A cell could not be read, so the row was not sent.
    NotSubmitted,
}

impl RowStatus {
    /// The node's status string: `accepted`, `rejected`, `unchanged`.
    pub fn parse(status: &str) -> Option<RowStatus> {
        match status {
            "accepted" => Some(RowStatus::Accepted),
            "rejected" => Some(RowStatus::Rejected),
            "unchanged" => Some(RowStatus::Unchanged),
            "not_submitted" => Some(RowStatus::NotSubmitted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Accepted => "accepted",
            RowStatus::Rejected => "rejected",
            RowStatus::Unchanged => "unchanged",
            RowStatus::NotSubmitted => "not_submitted",
        }
    }

    fn shown(self) -> &'static str {
        match self {
            RowStatus::Accepted => "通过 accepted",
            RowStatus::Rejected => "退回 rejected",
            RowStatus::Unchanged => "未变化 unchanged",
            RowStatus::NotSubmitted => "未提交 not submitted",
        }
    }
}

/// One problem of a row, as the node (or the reader) named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowIssue {
    pub rule: String,
    pub field: String,
    /// `error` or `warning`.
    pub severity: String,
    pub message_zh: String,
    pub message_en: String,
    /// A valid value of the field.
    pub example: String,
}

impl RowIssue {
    fn is_error(&self) -> bool {
        self.severity != "warning"
    }
}

/// The outcome of one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowVerdict {
    pub status: RowStatus,
    pub issues: Vec<RowIssue>,
}

impl RowVerdict {
    /// The verdict of a row that was not sent because a cell could not be read.
    pub fn not_submitted(row: &SheetRow, spec: &DatasetSpec) -> RowVerdict {
        RowVerdict {
            status: RowStatus::NotSubmitted,
            issues: row
                .issues
                .iter()
                .map(|i| RowIssue {
                    rule: i.rule.to_string(),
                    field: i.field.clone(),
                    severity: "error".into(),
                    message_zh: i.message_zh.clone(),
                    message_en: i.message_en.clone(),
                    example: spec
                        .field(&i.field)
                        .map(|f| f.example.clone())
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Date,
    General,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fill {
    None,
    Error,
    Warning,
}

/// The formats cells are written with, by kind and fill.
struct Formats {
    cells: Vec<((Kind, Fill), Format)>,
    header: Format,
    bold: Format,
}

impl Formats {
    fn new() -> Formats {
        let mut cells = Vec::new();
        for kind in [Kind::Text, Kind::Date, Kind::General] {
            for fill in [Fill::None, Fill::Error, Fill::Warning] {
                let mut format = match kind {
                    Kind::Text => Format::new().set_num_format("@"),
                    Kind::Date => Format::new().set_num_format("yyyy-mm-dd"),
                    Kind::General => Format::new(),
                };
                format = match fill {
                    Fill::None => format,
                    Fill::Error => format.set_background_color(Color::RGB(ERROR_FILL)),
                    Fill::Warning => format.set_background_color(Color::RGB(WARNING_FILL)),
                };
                cells.push(((kind, fill), format));
            }
        }
        Formats {
            cells,
            header: Format::new()
                .set_bold()
                .set_text_wrap()
                .set_background_color(Color::RGB(HEADER_FILL))
                .set_border(FormatBorder::Thin),
            bold: Format::new().set_bold(),
        }
    }

    fn get(&self, kind: Kind, fill: Fill) -> &Format {
        self.cells
            .iter()
            .find(|(k, _)| *k == (kind, fill))
            .map(|(_, f)| f)
            .unwrap_or(&self.header)
    }
}

/// Counts of one sheet.
#[derive(Clone, Debug, Default)]
struct SheetCounts {
    name: String,
    dataset: String,
    by_status: BTreeMap<RowStatus, u64>,
}

/// Counts of one rule.
#[derive(Clone, Debug, Default)]
struct RuleCount {
    field: String,
    count: u64,
    message_zh: String,
    example: String,
}

/// Where a sheet goes in the result workbook.
struct Slot {
    index: usize,
    counts: usize,
    columns: HashMap<String, u16>,
    /// The format kind of each column that has one (field columns), by column.
    kinds: Vec<Option<Kind>>,
    status_col: u16,
    problems_col: u16,
    header_row: u32,
    last_row: u32,
}

/// A result workbook being written.
pub struct Report {
    book: XlsxWriter,
    file: String,
    pack: String,
    epoch: Epoch,
    formats: Formats,
    /// Result sheet index by the source workbook's sheet index.
    sheets: HashMap<usize, usize>,
    slots: HashMap<usize, Slot>,
    counts: Vec<SheetCounts>,
    rules: BTreeMap<(String, String), RuleCount>,
    notes: Vec<String>,
}

impl Report {
    /// Starts the result of workbook `file` (checked with rule pack `pack`, `name@version`):
    /// the summary sheet, then one sheet per `(source index, name)` to be imported, in the
    /// source workbook's order.
    pub fn new(
        file: &str,
        pack: &str,
        epoch: Epoch,
        sheets: &[(usize, String)],
    ) -> Result<Report, ReportError> {
        let mut book = XlsxWriter::new();
        // The workbook is zipped when it is saved, after the last batch is answered, on one
        // core while the other waits: for 100,000 rows the default level 6 took 0.7-0.9 s
        // of a 5.5 s import, level 1 takes 0.2 s for a file 1.8 times the size (10.5 MiB).
        book.set_zip_compression_level(1);
        book.add_worksheet()
            .set_name(SUMMARY_SHEET)?
            .set_active(true);
        let mut ordered: Vec<&(usize, String)> = sheets.iter().collect();
        ordered.sort_by_key(|(i, _)| *i);
        ordered.dedup_by_key(|(i, _)| *i);
        let mut map = HashMap::new();
        for (n, (index, name)) in ordered.into_iter().enumerate() {
            book.add_worksheet_with_constant_memory()?.set_name(name)?;
            map.insert(*index, n + 1);
        }
        Ok(Report {
            book,
            file: file.to_string(),
            pack: pack.to_string(),
            epoch,
            formats: Formats::new(),
            sheets: map,
            slots: HashMap::new(),
            counts: Vec::new(),
            rules: BTreeMap::new(),
            notes: Vec::new(),
        })
    }

    /// The rule pack that checked the rows (`name@version`), once known.
    pub fn set_pack(&mut self, pack: &str) {
        self.pack = pack.to_string();
    }

    /// Adds a sentence to the summary's notes (a column or sheet not imported, an import
    /// that stopped early).
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Writes a sheet's header row, with the status and problems headers after it.
    pub fn header(&mut self, header: &SheetHeader, spec: &DatasetSpec) -> Result<(), ReportError> {
        let Some(&index) = self.sheets.get(&header.sheet_index) else {
            return Err(ReportError(XlsxError::ParameterError(format!(
                "sheet {:?} was not announced when the result workbook was started",
                header.sheet
            ))));
        };
        let (status_col, problems_col) = header.report_columns();
        let mut columns = HashMap::new();
        let width = header
            .columns
            .iter()
            .map(|(c, _)| usize::from(*c) + 1)
            .max()
            .unwrap_or(0);
        let mut kinds = vec![None; width];
        for (col, column) in &header.columns {
            if let super::Column::Field(name) = column {
                columns.insert(name.clone(), *col);
                let kind = match spec.field(name).map(|f| f.ty) {
                    Some(FieldType::Date) => Kind::Date,
                    Some(FieldType::Decimal) => Kind::General,
                    _ => Kind::Text,
                };
                kinds[usize::from(*col)] = Some(kind);
            }
        }
        let sheet = self.book.worksheet_from_index(index)?;
        for (col, kind) in kinds.iter().enumerate() {
            let Some(kind) = kind else { continue };
            let col = col as u16;
            sheet.set_column_format(col, self.formats.get(*kind, Fill::None))?;
            sheet.set_column_width(col, 18)?;
        }
        sheet.set_column_width(status_col, 16)?;
        sheet.set_column_width(problems_col, 60)?;
        for (col, cell) in &header.cells {
            write_cell(
                sheet,
                header.row,
                *col,
                cell,
                Some(&self.formats.header),
                self.epoch,
            )?;
        }
        sheet.write_string_with_format(
            header.row,
            status_col,
            STATUS_HEADER,
            &self.formats.header,
        )?;
        sheet.write_string_with_format(
            header.row,
            problems_col,
            PROBLEMS_HEADER,
            &self.formats.header,
        )?;
        sheet.set_freeze_panes(header.row + 1, 0)?;
        self.counts.push(SheetCounts {
            name: header.sheet.clone(),
            dataset: header.dataset.clone(),
            by_status: BTreeMap::new(),
        });
        self.slots.insert(
            header.sheet_index,
            Slot {
                index,
                counts: self.counts.len() - 1,
                columns,
                kinds,
                status_col,
                problems_col,
                header_row: header.row,
                last_row: header.row,
            },
        );
        Ok(())
    }

    /// Writes rows of the sheet at `sheet_index` (in row order) with their verdicts.
    pub fn rows(
        &mut self,
        sheet_index: usize,
        rows: &[SheetRow],
        verdicts: &[RowVerdict],
    ) -> Result<(), ReportError> {
        let Some(slot) = self.slots.get_mut(&sheet_index) else {
            return Err(ReportError(XlsxError::ParameterError(format!(
                "rows of sheet {sheet_index} came before its header"
            ))));
        };
        let sheet = self.book.worksheet_from_index(slot.index)?;
        for (row, verdict) in rows.iter().zip(verdicts) {
            let counts = &mut self.counts[slot.counts];
            *counts.by_status.entry(verdict.status).or_default() += 1;
            // Issues by the column they mark; those of fields the sheet has no column for
            // (a required field left out) mark the status cell.
            let mut marks: BTreeMap<u16, Vec<&RowIssue>> = BTreeMap::new();
            for issue in &verdict.issues {
                let col = slot
                    .columns
                    .get(&issue.field)
                    .copied()
                    .unwrap_or(slot.status_col);
                marks.entry(col).or_default().push(issue);
                let count = self
                    .rules
                    .entry((issue.rule.clone(), issue.severity.clone()))
                    .or_insert_with(|| RuleCount {
                        field: issue.field.clone(),
                        message_zh: issue.message_zh.clone(),
                        example: issue.example.clone(),
                        count: 0,
                    });
                count.count += 1;
            }
            for (col, cell) in &row.cells {
                if *col == slot.status_col || *col == slot.problems_col {
                    continue;
                }
                // The cell keeps its type: a number stays a number even in a text column.
                let column = slot.kinds.get(usize::from(*col)).copied().flatten();
                let kind = match cell {
                    Cell::Date(_) => Kind::Date,
                    Cell::Number(_) | Cell::Bool(_) => Kind::General,
                    Cell::Text(_) | Cell::Error(_) => column.unwrap_or(Kind::Text),
                };
                let fill = fill_of(marks.get(col).map(Vec::as_slice).unwrap_or_default());
                // A cell that looks right under its column's format gets no format of its
                // own: most cells, and writing them costs no format lookup.
                let plain = fill == Fill::None
                    && match cell {
                        Cell::Text(_) | Cell::Error(_) => true,
                        Cell::Number(_) | Cell::Bool(_) => column != Some(Kind::Date),
                        Cell::Date(_) => column == Some(Kind::Date),
                    };
                let format = (!plain).then(|| self.formats.get(kind, fill));
                write_cell(sheet, row.row, *col, cell, format, self.epoch)?;
            }
            for (col, issues) in &marks {
                let cell = row.cell(*col);
                let text = note_text(issues, cell);
                let note = Note::new(text)
                    .set_author(NOTE_AUTHOR)
                    .add_author_prefix(false)
                    .set_width(360)
                    .set_height(160);
                sheet.insert_note(row.row, *col, &note)?;
                if row.cell(*col).is_none() && *col != slot.status_col {
                    // An empty cell with a problem (a required value missing): fill it too.
                    let kind = slot
                        .kinds
                        .get(usize::from(*col))
                        .copied()
                        .flatten()
                        .unwrap_or(Kind::General);
                    sheet.write_blank(row.row, *col, self.formats.get(kind, fill_of(issues)))?;
                }
            }
            let status_fill = match verdict.status {
                RowStatus::Rejected | RowStatus::NotSubmitted => Fill::Error,
                _ if !verdict.issues.is_empty() => Fill::Warning,
                _ => Fill::None,
            };
            if status_fill == Fill::None {
                sheet.write_string(row.row, slot.status_col, verdict.status.shown())?;
            } else {
                sheet.write_string_with_format(
                    row.row,
                    slot.status_col,
                    verdict.status.shown(),
                    self.formats.get(Kind::Text, status_fill),
                )?;
            }
            if !verdict.issues.is_empty() {
                let summary: Vec<String> = verdict
                    .issues
                    .iter()
                    .map(|i| format!("[{}] {}: {}", i.rule, i.field, i.message_zh))
                    .collect();
                sheet.write_string(row.row, slot.problems_col, summary.join("；"))?;
            }
            slot.last_row = slot.last_row.max(row.row);
        }
        Ok(())
    }

    /// Writes the summary and saves the workbook to `path`.
    pub fn save(mut self, path: &Path) -> Result<(), ReportError> {
        self.finish()?;
        self.book.save(path)?;
        Ok(())
    }

    /// Writes the summary and returns the workbook's bytes.
    pub fn into_bytes(mut self) -> Result<Vec<u8>, ReportError> {
        self.finish()?;
        Ok(self.book.save_to_buffer()?)
    }

    fn finish(&mut self) -> Result<(), ReportError> {
        for slot in self.slots.values() {
            let sheet = self.book.worksheet_from_index(slot.index)?;
            let last_col = slot.status_col.max(slot.problems_col);
            sheet.autofilter(slot.header_row, 0, slot.last_row, last_col)?;
        }
        let bold = self.formats.bold.clone();
        let header = self.formats.header.clone();
        let summary = self.book.worksheet_from_index(0)?;
        summary.set_column_width(0, 28)?;
        summary.set_column_width(1, 14)?;
        summary.set_column_width(2, 22)?;
        summary.set_column_width(4, 60)?;
        summary.set_column_width(5, 24)?;
        summary.write_string_with_format(0, 0, "导入结果 Import result", &bold)?;
        summary.write_string(1, 0, "文件 file")?;
        summary.write_string(1, 1, &self.file)?;
        summary.write_string(2, 0, "规则包 rule pack")?;
        summary.write_string(2, 1, &self.pack)?;
        let mut row = 4;
        let statuses = [
            RowStatus::Accepted,
            RowStatus::Rejected,
            RowStatus::Unchanged,
            RowStatus::NotSubmitted,
        ];
        let titles = ["工作表 sheet", "数据集 dataset", "行数 rows"];
        for (col, title) in titles.iter().enumerate() {
            summary.write_string_with_format(row, col as u16, *title, &header)?;
        }
        for (i, status) in statuses.iter().enumerate() {
            summary.write_string_with_format(row, 3 + i as u16, status.shown(), &header)?;
        }
        let mut totals: BTreeMap<RowStatus, u64> = BTreeMap::new();
        for counts in &self.counts {
            row += 1;
            summary.write_string(row, 0, &counts.name)?;
            summary.write_string(row, 1, &counts.dataset)?;
            summary.write_number(row, 2, counts.by_status.values().sum::<u64>() as f64)?;
            for (i, status) in statuses.iter().enumerate() {
                let n = counts.by_status.get(status).copied().unwrap_or(0);
                *totals.entry(*status).or_default() += n;
                summary.write_number(row, 3 + i as u16, n as f64)?;
            }
        }
        row += 1;
        summary.write_string_with_format(row, 0, "合计 total", &bold)?;
        summary.write_number_with_format(row, 2, totals.values().sum::<u64>() as f64, &bold)?;
        for (i, status) in statuses.iter().enumerate() {
            let n = totals.get(status).copied().unwrap_or(0);
            summary.write_number_with_format(row, 3 + i as u16, n as f64, &bold)?;
        }
        row += 2;
        let titles = [
            "规则 rule",
            "级别 severity",
            "字段 field",
            "次数 count",
            "说明 message",
            "示例 example",
        ];
        for (col, title) in titles.iter().enumerate() {
            summary.write_string_with_format(row, col as u16, *title, &header)?;
        }
        let mut rules: Vec<(&(String, String), &RuleCount)> = self.rules.iter().collect();
        rules.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        for ((rule, severity), count) in rules {
            row += 1;
            summary.write_string(row, 0, rule)?;
            summary.write_string(row, 1, severity)?;
            summary.write_string(row, 2, &count.field)?;
            summary.write_number(row, 3, count.count as f64)?;
            summary.write_string(row, 4, &count.message_zh)?;
            summary.write_string(row, 5, &count.example)?;
        }
        if !self.notes.is_empty() {
            row += 2;
            summary.write_string_with_format(row, 0, "说明 notes", &bold)?;
            for note in &self.notes {
                row += 1;
                summary.write_string(row, 0, note)?;
            }
        }
        Ok(())
    }
}

fn fill_of(issues: &[&RowIssue]) -> Fill {
    if issues.iter().any(|i| i.is_error()) {
        Fill::Error
    } else if issues.is_empty() {
        Fill::None
    } else {
        Fill::Warning
    }
}

/// A cell's note: each issue's rule, messages and a valid example, and a hint when Excel
/// stored the cell as a number.
fn note_text(issues: &[&RowIssue], cell: Option<&Cell>) -> String {
    let mut parts: Vec<String> = issues
        .iter()
        .map(|i| {
            let severity = if i.is_error() {
                "错误 error"
            } else {
                "提示 warning"
            };
            let mut text = format!(
                "[{}] {severity}\n{}\n{}",
                i.rule, i.message_zh, i.message_en
            );
            if !i.example.is_empty() {
                text.push_str(&format!("\n示例 example: {}", i.example));
            }
            text
        })
        .collect();
    if cell.is_some_and(Cell::is_number) {
        parts.push(
            "此单元格是数字格式：Excel 会去掉开头的 0 并只保留 15 位数字，请设为文本格式后录入。\nThe cell is a number: Excel drops leading zeros and keeps 15 digits; format it as text and type the value again."
                .into(),
        );
    }
    parts.join("\n\n")
}

fn write_cell(
    sheet: &mut rust_xlsxwriter::Worksheet,
    row: u32,
    col: u16,
    cell: &Cell,
    format: Option<&Format>,
    epoch: Epoch,
) -> Result<(), XlsxError> {
    match (cell, format) {
        (Cell::Text(s) | Cell::Error(s), Some(f)) => {
            sheet.write_string_with_format(row, col, s, f)?
        }
        (Cell::Text(s) | Cell::Error(s), None) => sheet.write_string(row, col, s)?,
        (Cell::Number(n), Some(f)) => sheet.write_number_with_format(row, col, *n, f)?,
        (Cell::Number(n), None) => sheet.write_number(row, col, *n)?,
        (Cell::Date(serial), Some(f)) => {
            sheet.write_number_with_format(row, col, epoch.to_1900(*serial), f)?
        }
        (Cell::Date(serial), None) => sheet.write_number(row, col, epoch.to_1900(*serial))?,
        (Cell::Bool(b), Some(f)) => sheet.write_boolean_with_format(row, col, *b, f)?,
        (Cell::Bool(b), None) => sheet.write_boolean(row, col, *b)?,
    };
    Ok(())
}

/// `C12`: a cell's reference as Excel shows it.
pub fn cell_ref(row: u32, col: u16) -> String {
    format!("{}{}", column_name(col), row + 1)
}
