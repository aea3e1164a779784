//! Standardization before checking, as `standard.md` lists it: trim, full-width to
//! half-width, upper-case codes, dates to ISO, amounts to plain numbers, code labels to
//! codes, list text to lists. Every alteration is recorded as a [`Change`]; a value that
//! cannot be understood is left as it is for the checks to report.

use std::borrow::Cow;

use chrono::{Datelike, Days, NaiveDate};

use crate::fieldcheck::{is_decimal, parse_iso_date, same};
use crate::pack::{CodeList, DatasetSpec, FieldSpec, FieldType, RulePack};
use crate::record::{FieldName, Fields, RawRecord, Value};
use crate::verdict::Change;

/// Standardizes every field of a raw record. Fields the data set does not define are kept
/// as they are (the engine reports them); blank values are dropped, as if absent.
pub fn standardize(pack: &RulePack, spec: &DatasetSpec, raw: &RawRecord) -> (Fields, Vec<Change>) {
    let mut changes = Vec::new();
    let mut slots = Vec::new();
    let unknown = standardize_slots(pack, spec, raw, &mut slots, &mut changes);
    (to_fields(spec, &mut slots, &unknown), changes)
}

/// The undefined fields of a record, as submitted.
pub(crate) type Unknown<'r> = Vec<(&'r FieldName, &'r Value)>;

/// Fills `slots` with the standardized values by field index and returns the non-blank
/// fields the data set does not define. Changes are recorded in the record's field order.
/// `slots` is cleared first, so that the caller can reuse its allocation.
pub(crate) fn standardize_slots<'r>(
    pack: &RulePack,
    spec: &DatasetSpec,
    raw: &'r RawRecord,
    slots: &mut Vec<Option<Value>>,
    changes: &mut Vec<Change>,
) -> Unknown<'r> {
    slots.clear();
    slots.resize(spec.fields.len(), None);
    let mut unknown = Vec::new();
    // Both the record's fields and `name_order` are sorted by name: walk them together.
    let order: &[usize] = if spec.name_order.len() == spec.fields.len() {
        &spec.name_order
    } else {
        &[]
    };
    let mut next = 0;
    for (name, value) in &raw.fields {
        let mut slot = None;
        while let Some(&index) = order.get(next) {
            let candidate = spec.fields[index].name.as_str();
            if same(candidate, name) {
                slot = Some(index);
                next += 1;
                break;
            }
            if candidate > name.as_str() {
                break;
            }
            next += 1;
        }
        let slot = if order.is_empty() {
            spec.slot(name)
        } else {
            slot
        };
        match slot {
            Some(index) => {
                slots[index] = standardize_value(pack, &spec.fields[index], value, changes);
            }
            None if value.is_blank() => {}
            None => unknown.push((name, value)),
        }
    }
    unknown
}

/// The record's fields, taken out of its slots (which are left empty), and its undefined
/// fields.
pub(crate) fn to_fields(
    spec: &DatasetSpec,
    slots: &mut [Option<Value>],
    unknown: &Unknown<'_>,
) -> Fields {
    // In name order (when the order is current), so that each field is a push onto a
    // vector of the exact size.
    let present = slots.iter().filter(|s| s.is_some()).count();
    let mut fields = Fields::with_capacity(present + unknown.len());
    let mut take = |i: usize| {
        if let Some(value) = slots[i].take() {
            fields.insert(spec.fields[i].name.clone(), value);
        }
    };
    if spec.name_order.len() == spec.fields.len() {
        spec.name_order.iter().for_each(|i| take(*i));
    } else {
        (0..spec.fields.len()).for_each(take);
    }
    for (name, value) in unknown {
        fields.insert((*name).clone(), (*value).clone());
    }
    fields
}

/// Standardizes one value of a field; `None` when it is blank.
pub fn standardize_value(
    pack: &RulePack,
    field: &FieldSpec,
    value: &Value,
    changes: &mut Vec<Change>,
) -> Option<Value> {
    let is_list = field.ty == FieldType::List;
    match value {
        Value::Text(text) if is_list => {
            let recorded = changes.len();
            let text = scalar(pack, field, text, changes)?;
            let separators = pack.list_separators();
            let items: Vec<String> = text
                .split(|c| separators.contains(&c))
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_string)
                .collect();
            if items.is_empty() {
                // Only separators: as blank as an empty cell, so nothing was altered.
                changes.truncate(recorded);
                return None;
            }
            if !joins_to(&items, &text) {
                record(changes, field, &text, &items.join(";"), "list");
            }
            Some(Value::List(items))
        }
        Value::Text(text) => scalar(pack, field, text, changes).map(|t| Value::Text(t.into())),
        Value::List(items) if is_list => {
            let items: Vec<String> = items
                .iter()
                .filter_map(|item| scalar(pack, field, item, changes).map(Cow::into_owned))
                .collect();
            (!items.is_empty()).then_some(Value::List(items))
        }
        Value::List(_) => {
            scalar(pack, field, &value.to_string(), changes).map(|t| Value::Text(t.into()))
        }
    }
}

/// True when `items` joined by `;` is `text` (the list display), without building it.
fn joins_to(items: &[String], text: &str) -> bool {
    let mut rest = text;
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            match rest.strip_prefix(';') {
                Some(after) => rest = after,
                None => return false,
            }
        }
        match rest.strip_prefix(item.as_str()) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    rest.is_empty()
}

/// The steps for one text: trim, fullwidth, uppercase, then the type's own step.
fn scalar<'t>(
    pack: &RulePack,
    field: &FieldSpec,
    text: &'t str,
    changes: &mut Vec<Change>,
) -> Option<Cow<'t, str>> {
    let trimmed = trim(text);
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.len() != text.len() {
        record(changes, field, text, trimmed, "trim");
    }
    let mut current = Cow::Borrowed(trimmed);
    if let Some(half) = halfwidth(&current) {
        record(changes, field, &current, &half, "fullwidth");
        current = Cow::Owned(half);
    }
    if field.uppercased() && current.bytes().any(|b| b.is_ascii_lowercase()) {
        let upper = current.to_ascii_uppercase();
        record(changes, field, &current, &upper, "uppercase");
        current = Cow::Owned(upper);
    }
    let typed = match field.ty {
        FieldType::Date => normalize_date(&current).map(|d| (d, "date")),
        FieldType::Decimal => normalize_amount(&current).map(|a| (a, "amount")),
        FieldType::Code => code_list(pack, field)
            .filter(|list| !list.contains(&current))
            .and_then(|list| list.code_for(&current))
            .map(|code| (code.to_string(), "code_label")),
        _ => None,
    };
    if let Some((after, step)) = typed {
        record(changes, field, &current, &after, step);
        current = Cow::Owned(after);
    }
    Some(current)
}

/// `str::trim`, with a fast answer for the usual value that starts and ends with a
/// visible ASCII character.
fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// The code list of a code field: by the index the loader resolved when `field` belongs
/// to `pack`, else by name.
fn code_list<'p>(pack: &'p RulePack, field: &FieldSpec) -> Option<&'p CodeList> {
    let name = field.code_list.as_deref()?;
    match pack.codes_of(field) {
        Some(list) if same(&list.name, name) => Some(list),
        _ => pack.code_list(name),
    }
}

fn record(changes: &mut Vec<Change>, field: &FieldSpec, before: &str, after: &str, step: &str) {
    changes.push(Change {
        field: field.name.to_string(),
        before: field.shown(before),
        after: field.shown(after),
        step: step.to_string(),
    });
}

/// Full-width ASCII (U+FF01..U+FF5E) and the ideographic space (U+3000) to half-width;
/// `None` when there is nothing to convert.
pub(crate) fn halfwidth(text: &str) -> Option<String> {
    let is_wide = |c: char| matches!(c, '\u{FF01}'..='\u{FF5E}' | '\u{3000}');
    if text.is_ascii() || !text.chars().any(is_wide) {
        return None;
    }
    Some(
        text.chars()
            .map(|c| match c {
                '\u{3000}' => ' ',
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .collect(),
    )
}

/// A date in one of the accepted forms, as `YYYY-MM-DD`; `None` when it already is ISO or
/// is not understood.
pub(crate) fn normalize_date(text: &str) -> Option<String> {
    if parse_iso_date(text).is_some() {
        return None;
    }
    let date = parse_loose_date(text)?;
    Some(iso_date(date))
}

/// `YYYY-MM-DD`, as `%Y-%m-%d` formats it, without the formatting machinery; a year
/// outside 0..=9999 (never parsed here) falls back to chrono.
fn iso_date(date: NaiveDate) -> String {
    let Ok(year) = u32::try_from(date.year()) else {
        return date.format("%Y-%m-%d").to_string();
    };
    if year > 9999 {
        return date.format("%Y-%m-%d").to_string();
    }
    let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
    let mut out = String::with_capacity(10);
    out.extend([
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
    ]);
    out.push('-');
    out.extend([digit(date.month() / 10), digit(date.month())]);
    out.push('-');
    out.extend([digit(date.day() / 10), digit(date.day())]);
    out
}

/// `YYYY-MM-DD`, `YYYY-M-D`, `YYYY/M/D`, `YYYY.M.D`, `YYYYMMDD`, `YYYY年M月D日`, any of them
/// followed by a time of day, or an Excel serial number (1900 date system) of five digits,
/// with or without a fraction: 10000 (1927-05-18) to 99999 (2173-10-14). Shorter serials
/// are not taken as dates: a bare `2024` is far more likely a mistake than 1905-07-16.
fn parse_loose_date(text: &str) -> Option<NaiveDate> {
    let text = match text.find([' ', 'T']) {
        Some(i) if is_time_of_day(text[i + 1..].trim()) => text[..i].trim_end(),
        _ => text,
    };
    if let Some(date) = parse_iso_date(text) {
        return Some(date);
    }
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        return ymd(&text[..4], &text[4..6], &text[6..]);
    }
    if let Some(rest) = text.strip_suffix('日') {
        let (year, rest) = rest.split_once('年')?;
        let (month, day) = rest.split_once('月')?;
        return ymd(year.trim(), month.trim(), day.trim());
    }
    for separator in ['-', '/', '.'] {
        let mut parts = text.split(separator);
        if let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            return ymd(y, m, d);
        }
    }
    excel_serial(text)
}

fn is_time_of_day(text: &str) -> bool {
    text.contains(':')
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
}

fn ymd(year: &str, month: &str, day: &str) -> Option<NaiveDate> {
    let digits = |s: &str, min: usize, max: usize| -> Option<u32> {
        (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let year = digits(year, 4, 4)?;
    NaiveDate::from_ymd_opt(year as i32, digits(month, 1, 2)?, digits(day, 1, 2)?)
}

/// Excel's 1900 date system counts 1900-01-01 as 1 and has a phantom 1900-02-29 (60), so
/// from 61 on a serial is a day count from 1899-12-30.
fn excel_serial(text: &str) -> Option<NaiveDate> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, "0"),
    };
    if whole.len() != 5
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.is_empty()
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let serial: u64 = whole.parse().ok()?;
    NaiveDate::from_ymd_opt(1899, 12, 30)?.checked_add_days(Days::new(serial))
}

/// An amount without `元`, `¥`, `￥`, spaces or thousands separators, when what is left is a
/// number (thousands groups must be of three digits); `None` when nothing changes or the
/// text is not understood.
pub(crate) fn normalize_amount(text: &str) -> Option<String> {
    if is_decimal(text) {
        return None;
    }
    let bare: String = text
        .chars()
        .filter(|c| !matches!(c, '元' | '¥' | '￥' | ' '))
        .collect();
    let (whole, fraction) = match bare.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (bare.as_str(), None),
    };
    let unsigned = whole.trim_start_matches(['-', '+']);
    if unsigned.contains(',') {
        let mut groups = unsigned.split(',');
        let first_ok = groups.next().is_some_and(|g| (1..=3).contains(&g.len()));
        if !first_ok || !groups.all(|g| g.len() == 3) {
            return None;
        }
    }
    let mut plain = whole.replace(',', "");
    if let Some(fraction) = fraction {
        plain.push('.');
        plain.push_str(fraction);
    }
    is_decimal(&plain).then_some(plain)
}

#[cfg(test)]
#[path = "standardize_test.rs"]
mod tests;
