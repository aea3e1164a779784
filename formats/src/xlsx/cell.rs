//! One spreadsheet cell as read, and the text it gives a field of the standard.
//!
//! Spreadsheets store what a person typed the way Excel understood it: a USCC typed into a
//! General column becomes a number (and loses every digit after the 15th), a date becomes a
//! serial day count. This module turns a cell back into the text the standard expects where
//! that is exact, and names the cell where it is not.

use calamine::Data;
use chrono::{Days, NaiveDate};
use regfed_governance::{FieldSpec, FieldType};

/// Excel keeps 15 significant digits of a number: a whole number this large has lost digits.
const EXACT_DIGITS_LIMIT: f64 = 1e15;

/// The last serial day Excel shows as a date (9999-12-31 in the 1900 system).
const LAST_SERIAL: f64 = 2_958_465.0;

/// A non-empty cell as the workbook holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    /// A cell formatted as a date or time: Excel's serial day count in the workbook's
    /// date system.
    Date(f64),
    Bool(bool),
    /// An Excel error value such as `#N/A` (a formula that failed).
    Error(String),
}

impl Cell {
    /// The cell of a calamine value; `None` for an empty cell or empty text.
    pub(crate) fn from_data(data: Data) -> Option<Cell> {
        match data {
            Data::String(s) if s.is_empty() => None,
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Some(Cell::Text(s)),
            Data::Float(f) => Some(Cell::Number(f)),
            Data::Int(i) => Some(Cell::Number(i as f64)),
            Data::Bool(b) => Some(Cell::Bool(b)),
            Data::DateTime(dt) if dt.is_duration() => Some(Cell::Number(dt.as_f64())),
            Data::DateTime(dt) => Some(Cell::Date(dt.as_f64())),
            Data::Error(e) => Some(Cell::Error(e.to_string())),
            Data::Empty => None,
        }
    }

    /// True for text that is only whitespace: such a cell counts as blank.
    pub(crate) fn is_blank(&self) -> bool {
        matches!(self, Cell::Text(s) if s.trim().is_empty())
    }

    /// True when Excel stored the cell as a number (or a date).
    pub fn is_number(&self) -> bool {
        matches!(self, Cell::Number(_) | Cell::Date(_))
    }
}

/// Which day serial 0 is: Excel's 1900 system (the default) or the 1904 system of old Mac
/// workbooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epoch {
    Excel1900,
    Excel1904,
}

impl Epoch {
    /// The calendar day of a serial number, or `None` outside Excel's date range.
    pub fn date(self, serial: f64) -> Option<NaiveDate> {
        if !serial.is_finite() || !(0.0..=LAST_SERIAL).contains(&serial) {
            return None;
        }
        let days = serial.floor() as u64;
        match self {
            // 1900 counts a 29 February 1900 that never was (serial 60), as Lotus 1-2-3 did:
            // before it, day 1 is 1900-01-01; from 61 on, a serial counts from 1899-12-30.
            Epoch::Excel1900 if days == 0 => None,
            Epoch::Excel1900 if days < 60 => {
                NaiveDate::from_ymd_opt(1899, 12, 31)?.checked_add_days(Days::new(days))
            }
            Epoch::Excel1900 if days == 60 => NaiveDate::from_ymd_opt(1900, 2, 28),
            Epoch::Excel1900 => {
                NaiveDate::from_ymd_opt(1899, 12, 30)?.checked_add_days(Days::new(days))
            }
            Epoch::Excel1904 => {
                NaiveDate::from_ymd_opt(1904, 1, 1)?.checked_add_days(Days::new(days))
            }
        }
    }

    /// The same day as a serial of the 1900 system (what written workbooks use).
    pub fn to_1900(self, serial: f64) -> f64 {
        match self {
            Epoch::Excel1900 => serial,
            Epoch::Excel1904 => serial + 1462.0,
        }
    }
}

/// Why a cell's value cannot be given to a field.
#[derive(Clone, Debug, PartialEq)]
pub enum CellFault {
    /// The cell holds an Excel error value.
    ExcelError(String),
    /// A code or number stored as a number too long for Excel to keep exactly.
    Precision(f64),
}

impl CellFault {
    /// The rule id reported for it.
    pub fn rule(&self) -> &'static str {
        match self {
            CellFault::ExcelError(_) => super::RULE_CELL_ERROR,
            CellFault::Precision(_) => super::RULE_NUMBER_PRECISION,
        }
    }

    pub fn message_zh(&self, field: &FieldSpec) -> String {
        match self {
            CellFault::ExcelError(e) => {
                format!(
                    "{}单元格是 Excel 错误值 {e}（公式出错），无法读取",
                    field.label
                )
            }
            CellFault::Precision(_) => format!(
                "{}被 Excel 存成了数字，超过 15 位的数字已丢失；请将该列设为文本格式后重新录入",
                field.label
            ),
        }
    }

    pub fn message_en(&self, field: &FieldSpec) -> String {
        match self {
            CellFault::ExcelError(e) => format!(
                "the {} cell holds the Excel error {e} (a formula failed), not a value",
                field.name
            ),
            CellFault::Precision(f) => format!(
                "the {} cell holds the number {}: Excel keeps only 15 digits of a number, so digits were lost; format the column as text and type the value again",
                field.name,
                number_text(*f)
            ),
        }
    }
}

/// The text a cell gives `field`: `Ok(None)` for nothing, an error where the cell's value
/// is not the one the person meant and cannot be recovered.
pub fn field_text(
    cell: &Cell,
    field: &FieldSpec,
    epoch: Epoch,
) -> Result<Option<String>, CellFault> {
    match cell {
        Cell::Text(s) => Ok((!s.is_empty()).then(|| s.clone())),
        Cell::Bool(b) => Ok(Some(if *b { "TRUE" } else { "FALSE" }.to_string())),
        Cell::Error(e) => Err(CellFault::ExcelError(e.clone())),
        Cell::Date(serial) => Ok(Some(match epoch.date(*serial) {
            Some(day) if field.ty == FieldType::Date || serial.fract() == 0.0 => {
                day.format("%Y-%m-%d").to_string()
            }
            Some(day) => {
                let seconds = ((serial.fract() * 86_400.0).round() as u32).min(86_399);
                format!(
                    "{} {:02}:{:02}:{:02}",
                    day.format("%Y-%m-%d"),
                    seconds / 3600,
                    seconds / 60 % 60,
                    seconds % 60
                )
            }
            None => number_text(*serial),
        })),
        Cell::Number(f) => {
            if field.ty == FieldType::Date {
                if let Some(day) = epoch.date(*f).filter(|_| *f >= 1.0) {
                    return Ok(Some(day.format("%Y-%m-%d").to_string()));
                }
            }
            let exact = matches!(field.ty, FieldType::Decimal | FieldType::Date);
            if !exact && f.abs() >= EXACT_DIGITS_LIMIT {
                return Err(CellFault::Precision(*f));
            }
            Ok(Some(number_text(*f)))
        }
    }
}

/// A number as a person would write it: `420100`, `1200.5`, never `4.201e5`.
pub fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regfed_governance::RulePack;

    fn field(dataset: &str, name: &str) -> FieldSpec {
        RulePack::builtin()
            .dataset(dataset)
            .and_then(|d| d.field(name))
            .cloned()
            .unwrap_or_else(|| panic!("{dataset}.{name} is in the builtin pack"))
    }

    #[test]
    fn serial_days_in_both_date_systems() {
        let day = |e: Epoch, s: f64| e.date(s).map(|d| d.to_string());
        assert_eq!(day(Epoch::Excel1900, 1.0).as_deref(), Some("1900-01-01"));
        assert_eq!(day(Epoch::Excel1900, 59.0).as_deref(), Some("1900-02-28"));
        assert_eq!(day(Epoch::Excel1900, 61.0).as_deref(), Some("1900-03-01"));
        assert_eq!(
            day(Epoch::Excel1900, 46_086.75).as_deref(),
            Some("2026-03-05")
        );
        assert_eq!(day(Epoch::Excel1904, 0.0).as_deref(), Some("1904-01-01"));
        assert_eq!(
            day(Epoch::Excel1904, 44_624.0).as_deref(),
            Some("2026-03-05")
        );
        assert_eq!(Epoch::Excel1904.to_1900(44_624.0), 46_086.0);
        assert_eq!(Epoch::Excel1900.date(-1.0), None);
        assert_eq!(Epoch::Excel1900.date(3.0e6), None);
        assert_eq!(Epoch::Excel1900.date(f64::NAN), None);
    }

    #[test]
    fn numbers_become_the_text_that_was_typed() {
        let e = Epoch::Excel1900;
        let region = field("action", "region_code");
        assert_eq!(
            field_text(&Cell::Number(420100.0), &region, e),
            Ok(Some("420100".into()))
        );
        let amount = field("action", "penalty_amount");
        assert_eq!(
            field_text(&Cell::Number(1200.5), &amount, e),
            Ok(Some("1200.5".into()))
        );
        assert_eq!(
            field_text(&Cell::Number(5.0e16), &amount, e),
            Ok(Some("50000000000000000".into()))
        );
        let date = field("action", "action_date");
        assert_eq!(
            field_text(&Cell::Number(46_086.0), &date, e),
            Ok(Some("2026-03-05".into()))
        );
        assert_eq!(
            field_text(&Cell::Date(46_086.5), &date, e),
            Ok(Some("2026-03-05".into()))
        );
        assert_eq!(
            field_text(&Cell::Date(46_086.5), &region, e),
            Ok(Some("2026-03-05 12:00:00".into()))
        );
        assert_eq!(
            field_text(&Cell::Text("  x ".into()), &region, e),
            Ok(Some("  x ".into()))
        );
        assert_eq!(field_text(&Cell::Text(String::new()), &region, e), Ok(None));
    }

    #[test]
    fn lost_digits_and_error_values_are_faults() {
        let e = Epoch::Excel1900;
        let uscc = field("subject", "uscc");
        let fault = field_text(&Cell::Number(913_501_000_000_000_000.0), &uscc, e);
        let Err(fault) = fault else {
            panic!("an 18-digit number in a USCC column lost digits: {fault:?}");
        };
        assert_eq!(fault.rule(), "import.number_precision");
        assert!(fault.message_en(&uscc).contains("913501000000000000"));
        let Err(fault) = field_text(&Cell::Error("#N/A".into()), &uscc, e) else {
            panic!("an error value is a fault");
        };
        assert_eq!(fault.rule(), "import.cell_error");
        assert!(fault.message_zh(&uscc).contains("#N/A"));
    }

    #[test]
    fn calamine_values_map_to_cells() {
        assert_eq!(Cell::from_data(Data::Empty), None);
        assert_eq!(Cell::from_data(Data::String(String::new())), None);
        assert_eq!(Cell::from_data(Data::Int(7)), Some(Cell::Number(7.0)));
        assert_eq!(
            Cell::from_data(Data::Error(calamine::CellErrorType::NA)),
            Some(Cell::Error("#N/A".into()))
        );
        assert!(Cell::Text(" \t".into()).is_blank());
        assert!(!Cell::Number(0.0).is_blank());
    }
}
