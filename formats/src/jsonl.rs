//! JSON Lines: one object per line, keys are field names (or labels), values strings,
//! numbers (kept exactly as written) or arrays of them for list fields.

use std::fmt;

use regfed_governance::{DatasetSpec, Fields, Op, RawRecord, Value};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{Problem, Problems};
use crate::names::{self, Column};
use crate::SourcedRecord;

/// Reads every non-blank line of `text` as one record, collecting every problem.
pub(crate) fn read(
    name: &str,
    text: &str,
    spec: &DatasetSpec,
) -> Result<Vec<SourcedRecord>, crate::ReadError> {
    let mut problems = Problems::new(name);
    let mut records = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let number = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(record) = read_line(spec, number, line, &mut problems) {
            records.push(SourcedRecord {
                record,
                line: number,
                source: format!("{name} line {number}"),
            });
        }
    }
    problems.finish(records)
}

/// One line's record, or `None` after pushing its problems.
fn read_line(
    spec: &DatasetSpec,
    number: usize,
    line: &str,
    problems: &mut Problems,
) -> Option<RawRecord> {
    if !line.trim_start().starts_with('{') {
        let message = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(value) => format!("the line is {}, not a JSON object", kind(&value)),
            Err(e) => invalid_json(&e),
        };
        problems.push(Problem::line(number, message));
        return None;
    }
    let entries = match serde_json::from_str::<Entries>(line) {
        Ok(entries) => entries.0,
        Err(e) => {
            problems.push(Problem::line(number, invalid_json(&e)));
            return None;
        }
    };
    let before = problems.len();
    let mut op = Op::Upsert;
    let mut fields = Fields::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for (key, raw) in &entries {
        let column = match names::resolve(spec, key) {
            Some(column) => column,
            None => {
                problems.push(Problem::field(
                    number,
                    key,
                    names::unknown(spec, "field", key),
                ));
                continue;
            }
        };
        let value = match scalar_or_list(raw.get()) {
            Ok(value) => value,
            Err(message) => {
                problems.push(Problem::field(number, key, message));
                continue;
            }
        };
        match column {
            Column::Op => match value.as_ref().map(|v| v.as_text().map(Op::parse)) {
                None => {}
                Some(Some(Some(parsed))) => op = parsed,
                _ => problems.push(Problem::field(
                    number,
                    key,
                    format!("op is {}; use \"upsert\" or \"delete\"", raw.get()),
                )),
            },
            Column::Dataset => {
                let text = value.as_ref().and_then(Value::as_text).map(str::trim);
                if text != Some(spec.name.as_str()) && text != Some(spec.label.as_str()) {
                    problems.push(Problem::field(
                        number,
                        key,
                        format!(
                            "the record says data set {}, but this file is read as data set {}",
                            raw.get(),
                            spec.name
                        ),
                    ));
                }
            }
            Column::Field(field) => {
                if let Some((_, first)) = seen.iter().find(|(f, _)| *f == field) {
                    problems.push(Problem::field(
                        number,
                        key,
                        format!("field {field} is given twice, as {first:?} and as {key:?}"),
                    ));
                    continue;
                }
                seen.push((field.clone(), key.clone()));
                if let Some(value) = value {
                    fields.insert(field.into(), value);
                }
            }
        }
    }
    (problems.len() == before).then(|| RawRecord::new(op, fields))
}

/// A JSON value as a field value: a string or number as text (numbers exactly as written),
/// an array of them as a list; `None` for `null`. Booleans, objects and nested arrays are
/// refused with a message.
fn scalar_or_list(raw: &str) -> Result<Option<Value>, String> {
    if raw.starts_with('[') {
        let items: Vec<Box<RawValue>> = serde_json::from_str(raw).map_err(|e| invalid_json(&e))?;
        let mut list = Vec::with_capacity(items.len());
        for item in &items {
            match scalar(item.get()) {
                Ok(Some(text)) => list.push(text),
                Ok(None) => {}
                Err(found) => {
                    return Err(format!(
                        "a list item is {found}; list items must be strings"
                    ))
                }
            }
        }
        return Ok(Some(Value::List(list)));
    }
    match scalar(raw) {
        Ok(text) => Ok(text.map(Value::from)),
        Err(found) => Err(format!(
            "the value is {found}; values must be strings, numbers or arrays of strings"
        )),
    }
}

/// A string or number's text; `None` for `null`; `Err` naming what else it is.
fn scalar(raw: &str) -> Result<Option<String>, &'static str> {
    match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(raw)
            .map(Some)
            .map_err(|_| "a malformed string"),
        Some(b'n') => Ok(None),
        Some(b't' | b'f') => Err("a boolean"),
        Some(b'{') => Err("an object"),
        Some(b'[') => Err("a nested array"),
        Some(b'-' | b'0'..=b'9') => Ok(Some(raw.to_string())),
        _ => Err("not a JSON value"),
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// `invalid JSON at column 7: expected `:``, without serde_json's own "at line 1 column 7".
fn invalid_json(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let reason = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    format!("invalid JSON at column {}: {reason}", error.column())
}

/// An object's entries in file order, values unparsed (so numbers keep their text).
struct Entries(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// One JSON object per line: fields as keys (lists as arrays of strings), `"op": "delete"`
/// only for deletes.
pub fn write_jsonl(records: &[RawRecord]) -> String {
    let mut out = String::new();
    for record in records {
        let mut object = serde_json::Map::new();
        if record.op == Op::Delete {
            object.insert(
                "op".to_string(),
                serde_json::Value::from(Op::Delete.as_str()),
            );
        }
        for (name, value) in &record.fields {
            let json = match value {
                Value::Text(text) => serde_json::Value::from(text.as_str()),
                Value::List(items) => serde_json::Value::from(items.clone()),
            };
            object.insert(name.to_string(), json);
        }
        out.push_str(&serde_json::Value::Object(object).to_string());
        out.push('\n');
    }
    out
}
