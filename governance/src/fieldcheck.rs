//! The checks every field gets from its spec (type, code list, pattern, length), shared by
//! the engine and by the pack loader, which runs them on each field's example.

use std::borrow::Cow;

use chrono::NaiveDate;

use crate::checkdigit::{check_id_card, check_uscc};
use crate::pack::{CodeList, FieldSpec, FieldType};
use crate::record::Value;
use crate::region::RegionTable;

/// A failed field check: the rule-id suffix (`pattern`, `uscc`, ...) and the messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldFailure {
    pub check: &'static str,
    pub message_zh: String,
    pub message_en: String,
}

/// Checks a present, standardized value against its field spec. A list is checked item by
/// item and the first bad item is reported. The first failing check of a value wins: a
/// value that is not a date is not also reported for its length.
pub(crate) fn check_field(
    field: &FieldSpec,
    codes: Option<&CodeList>,
    regions: &RegionTable,
    today: NaiveDate,
    value: &Value,
) -> Result<(), FieldFailure> {
    match value {
        Value::Text(text) => check_text(field, codes, regions, today, text, false),
        Value::List(items) => {
            let in_list = field.ty == FieldType::List;
            for item in items {
                check_text(field, codes, regions, today, item, in_list)?;
            }
            Ok(())
        }
    }
}

fn check_text(
    field: &FieldSpec,
    codes: Option<&CodeList>,
    regions: &RegionTable,
    today: NaiveDate,
    text: &str,
    in_list: bool,
) -> Result<(), FieldFailure> {
    let fail = |check: &'static str, zh: String, en: String| {
        let shown = field.shown(text);
        let (subject_zh, subject_en) = if in_list {
            (
                format!("{}({})中的“{}”", field.label, field.name, shown),
                format!("{} item \"{}\"", field.name, shown),
            )
        } else {
            (
                format!("{}({})的值“{}”", field.label, field.name, shown),
                format!("{} \"{}\"", field.name, shown),
            )
        };
        Err(FieldFailure {
            check,
            message_zh: format!("{subject_zh}{zh}"),
            message_en: format!("{subject_en} {en}"),
        })
    };
    match field.ty {
        FieldType::Code => {
            if !codes.is_some_and(|list| list.contains(text)) {
                let (name, described) = codes.map_or((Cow::Borrowed("?"), String::new()), |l| {
                    (Cow::Borrowed(l.name.as_str()), l.describe())
                });
                return fail(
                    "code",
                    format!("不在代码表{name}中，可选：{described}"),
                    format!("is not in code list {name} ({described})"),
                );
            }
        }
        FieldType::Uscc => {
            if let Err(e) = check_uscc(text) {
                return fail(
                    "uscc",
                    format!("不是有效的统一社会信用代码：{}", e.message_zh()),
                    format!("is not a valid unified social credit code: {e}"),
                );
            }
        }
        FieldType::IdCard => {
            if let Err(e) = check_id_card(text, today) {
                return fail(
                    "id_card",
                    format!("不是有效的居民身份证号码：{}", e.message_zh()),
                    format!("is not a valid resident identity number: {e}"),
                );
            }
        }
        FieldType::Region => {
            if !regions.contains(text) {
                return fail(
                    "region",
                    "不是有效的行政区划代码（GB/T 2260）".to_string(),
                    "is not a GB/T 2260 region code".to_string(),
                );
            }
        }
        FieldType::Date => {
            if parse_iso_date(text).is_none() {
                return fail(
                    "date",
                    "不是有效日期，应为YYYY-MM-DD".to_string(),
                    "is not a date (expected YYYY-MM-DD)".to_string(),
                );
            }
        }
        FieldType::Decimal => {
            if !is_decimal(text) {
                return fail(
                    "decimal",
                    "不是有效的数字".to_string(),
                    "is not a number".to_string(),
                );
            }
        }
        FieldType::String | FieldType::List => {}
    }
    if let Some(regex) = &field.regex {
        if !regex.is_match(text) {
            let pattern = field.pattern.as_deref().unwrap_or_default();
            return fail(
                "pattern",
                format!("格式不正确，应符合 {pattern}"),
                format!("does not match the pattern {pattern}"),
            );
        }
    }
    if field.min_len.is_some() || field.max_len.is_some() {
        let count = if text.is_ascii() {
            text.len()
        } else {
            text.chars().count()
        };
        let too_short = field.min_len.is_some_and(|min| count < min);
        let too_long = field.max_len.is_some_and(|max| count > max);
        if too_short || too_long {
            let (zh, en) = match (field.min_len, field.max_len) {
                (Some(min), Some(max)) => (format!("{min}至{max}"), format!("{min} to {max}")),
                (Some(min), None) => (format!("至少{min}"), format!("at least {min}")),
                (None, Some(max)) => (format!("至多{max}"), format!("at most {max}")),
                (None, None) => (String::new(), String::new()),
            };
            return fail(
                "length",
                format!("长度为{count}个字符，应为{zh}个字符"),
                format!("has {count} characters; it must have {en}"),
            );
        }
    }
    Ok(())
}

/// The issue of a required field that is absent.
pub(crate) fn required_failure(field: &FieldSpec) -> FieldFailure {
    FieldFailure {
        check: "required",
        message_zh: format!("缺少必填字段{}({})", field.label, field.name),
        message_en: format!("{} ({}) is required but missing", field.name, field.label),
    }
}

/// String equality without a library call: the engine compares many short strings, for
/// which an inline loop beats `memcmp`.
#[inline]
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// Parses exactly `YYYY-MM-DD` (a real date), the form standardization gives every date,
/// without the generality of a format string.
pub fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)
}

/// `[+-]?digits[.digits]`.
pub(crate) fn is_decimal(text: &str) -> bool {
    let unsigned = text
        .strip_prefix('-')
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && fraction.is_none_or(digits)
}

#[cfg(test)]
#[path = "fieldcheck_test.rs"]
mod tests;
