//! Excel workbooks: templates generated from the rule pack, workbooks read row by row into
//! records, and result workbooks with every problem cell marked.
//!
//! A workbook holds one sheet per data set, named by the data set (`监管行为 action`, or just
//! `action` or `监管行为`); its header row names fields by field name or Chinese label, in
//! any order. Sheets are imported in reference order (item, subject, officer, action), so
//! actions may refer to items and officers of the same workbook. Reading streams an .xlsx
//! sheet cell by cell (memory grows with distinct strings, not rows); .xls, .xlsb and .ods
//! sheets are read whole.

mod cell;
mod read;
mod report;
mod template;

pub use cell::{field_text, number_text, Cell, CellFault, Epoch};
pub use read::{
    column_name, Column, Plan, ReadRowIssue, SheetEvent, SheetHeader, SheetPlan, SheetRow,
    SheetSummary, Workbook, WorkbookError,
};
pub use report::{
    cell_ref, Report, ReportError, RowIssue, RowStatus, RowVerdict, ERROR_FILL, WARNING_FILL,
};
pub use template::{template, TemplateError};

/// Rule id of a cell holding an Excel error value (`#N/A`, `#REF!`, ...).
pub const RULE_CELL_ERROR: &str = "import.cell_error";
/// Rule id of a code typed into a number cell with more digits than Excel keeps.
pub const RULE_NUMBER_PRECISION: &str = "import.number_precision";
/// Rule id of an `op` cell that is neither upsert nor delete.
pub const RULE_OP: &str = "import.op";

/// The sheet of instructions a template starts with; skipped on import.
pub const INSTRUCTIONS_SHEET: &str = "填报说明 instructions";
/// The hidden sheet of code lists behind a template's drop-downs; skipped on import.
pub const LISTS_SHEET: &str = "代码表 lists";
/// The first sheet of a result workbook; skipped on import.
pub const SUMMARY_SHEET: &str = "导入结果 summary";

/// The header of the status column a result workbook adds; ignored on import.
pub const STATUS_HEADER: &str = "处理结果\nstatus";
/// The header of the problems column a result workbook adds; ignored on import.
pub const PROBLEMS_HEADER: &str = "问题说明\nproblems";

/// True for the extensions of workbooks: .xlsx, .xlsm, .xls, .xlsb, .ods.
pub fn is_workbook(path: &std::path::Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["xlsx", "xlsm", "xls", "xlsb", "ods"]
            .iter()
            .any(|w| e.eq_ignore_ascii_case(w))
    })
}

/// The sheet name a template gives a data set: `监管行为 action`.
pub fn sheet_name(spec: &regfed_governance::DatasetSpec) -> String {
    let name = format!("{} {}", spec.label, spec.name);
    // Excel allows 31 characters and none of []:*?/\ in a sheet name.
    let cleaned: String = name
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .collect();
    if cleaned.encode_utf16().count() <= 31 {
        cleaned
    } else {
        spec.name.chars().take(31).collect()
    }
}

/// The text of a header cell a template writes: `*监管事项编码` over `item_code`, the star
/// marking a required field.
pub fn header_text(field: &regfed_governance::FieldSpec) -> String {
    format!(
        "{}{}\n{}",
        if field.required { "*" } else { "" },
        field.label,
        field.name
    )
}

#[cfg(test)]
#[path = "xlsx_test.rs"]
mod tests;
