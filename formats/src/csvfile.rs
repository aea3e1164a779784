//! CSV: a header line of field names or Chinese labels (or `op`), then one record per row.
//! Cells stay text; splitting list cells is standardization's job.

use regfed_governance::{DatasetSpec, Fields, Op, RawRecord, Value};

use crate::encoding::TextEncoding;
use crate::error::{Problem, Problems, ReadError};
use crate::names::{self, Column};
use crate::SourcedRecord;

/// How a written CSV names its columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderStyle {
    /// `item_code`, `item_name`, ...
    FieldNames,
    /// `监管事项编码`, `监管事项名称`, ...: what departments' spreadsheets use.
    Labels,
}

/// Reads a CSV text, collecting every problem of the file.
pub(crate) fn read(
    name: &str,
    text: &str,
    spec: &DatasetSpec,
) -> Result<Vec<SourcedRecord>, ReadError> {
    let mut problems = Problems::new(name);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    // The csv crate's positions point before the blank lines it skips, and its line
    // counter does not count them: find the record's first byte and count newlines.
    let bytes = text.as_bytes();
    let newlines: Vec<usize> = memchr_all(bytes);
    let line_of = |byte: u64| {
        let mut start = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        newlines.partition_point(|&n| n < start) + 1
    };
    let mut header: Option<Vec<Option<Column>>> = None;
    let mut records = Vec::new();
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_of(p.byte()));
                problems.push(Problem::line(line, format!("cannot read the CSV row: {e}")));
                break;
            }
        };
        let line = row.position().map_or(0, |p| line_of(p.byte()));
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let Some(columns) = &header else {
            match read_header(spec, line, &row, &mut problems) {
                Some(columns) => header = Some(columns),
                None => break,
            }
            continue;
        };
        if row.len() != columns.len() {
            problems.push(Problem::line(
                line,
                format!(
                    "the row has {} cells but the header has {}",
                    row.len(),
                    columns.len()
                ),
            ));
            continue;
        }
        if let Some(record) = read_row(spec, line, columns, &row, &mut problems) {
            records.push(SourcedRecord {
                record,
                line,
                source: format!("{name} line {line}"),
            });
        }
    }
    problems.finish(records)
}

/// The offsets of every `\n`.
fn memchr_all(bytes: &[u8]) -> Vec<usize> {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect()
}

/// The header's columns (`None` for a blank header cell), or `None` when the first line is
/// not a header at all.
fn read_header(
    spec: &DatasetSpec,
    line: usize,
    row: &csv::StringRecord,
    problems: &mut Problems,
) -> Option<Vec<Option<Column>>> {
    let columns: Vec<Option<Column>> = row.iter().map(|cell| names::resolve(spec, cell)).collect();
    if columns.iter().all(Option::is_none) {
        let key = spec.key_field();
        problems.push(Problem::line(
            line,
            format!(
                "the first line is not a header: none of its cells names a field of data set {} (such as {} or {})",
                spec.name, key.name, key.label
            ),
        ));
        return None;
    }
    let before = problems.len();
    for (index, (cell, column)) in row.iter().zip(&columns).enumerate() {
        match column {
            None if cell.trim().is_empty() => {}
            None => problems.push(Problem::field(
                line,
                cell,
                names::unknown(spec, "column", cell),
            )),
            Some(column) => {
                let earlier = columns[..index]
                    .iter()
                    .position(|c| c.as_ref() == Some(column));
                if let Some(first) = earlier {
                    let first_cell = row.get(first).unwrap_or_default();
                    problems.push(Problem::field(
                        line,
                        cell,
                        format!(
                            "duplicate column: {cell:?} (column {}) names the same field as {first_cell:?} (column {})",
                            index + 1,
                            first + 1
                        ),
                    ));
                }
            }
        }
    }
    (problems.len() == before).then_some(columns)
}

/// One row's record, or `None` after pushing its problems.
fn read_row(
    spec: &DatasetSpec,
    line: usize,
    columns: &[Option<Column>],
    row: &csv::StringRecord,
    problems: &mut Problems,
) -> Option<RawRecord> {
    let before = problems.len();
    let mut op = Op::Upsert;
    let mut fields = Fields::new();
    for (index, (cell, column)) in row.iter().zip(columns).enumerate() {
        match column {
            None => {
                if !cell.trim().is_empty() {
                    problems.push(Problem::line(
                        line,
                        format!("column {} holds {cell:?} but has no header", index + 1),
                    ));
                }
            }
            Some(Column::Op) => match Op::parse(cell) {
                Some(parsed) => op = parsed,
                None => problems.push(Problem::field(
                    line,
                    "op",
                    format!("op is {cell:?}; use \"upsert\" or \"delete\""),
                )),
            },
            Some(Column::Dataset) => {
                let text = cell.trim();
                if !text.is_empty() && text != spec.name && text != spec.label {
                    problems.push(Problem::field(
                        line,
                        "dataset",
                        format!(
                            "the row says data set {text:?}, but this file is read as data set {}",
                            spec.name
                        ),
                    ));
                }
            }
            Some(Column::Field(field)) => {
                if !cell.is_empty() {
                    fields.insert(field.as_str().into(), Value::Text(cell.into()));
                }
            }
        }
    }
    (problems.len() == before).then(|| RawRecord::new(op, fields))
}

/// Writes records as CSV: the data set's fields in order (then any other field a record
/// carries), `op` last and only when a record is a delete. Lists are joined with `;`.
/// Lines end with CRLF, as spreadsheet software expects.
pub fn write_csv(
    spec: &DatasetSpec,
    records: &[RawRecord],
    header: HeaderStyle,
    encoding: TextEncoding,
) -> Vec<u8> {
    let mut extra: Vec<&str> = records
        .iter()
        .flat_map(|r| r.fields.keys())
        .map(|name| name.as_str())
        .filter(|name| spec.field(name).is_none())
        .collect();
    extra.sort_unstable();
    extra.dedup();
    let with_op = records.iter().any(|r| r.op == Op::Delete);

    let mut out = String::new();
    let mut cells: Vec<String> = spec
        .fields
        .iter()
        .map(|f| match header {
            HeaderStyle::FieldNames => f.name.to_string(),
            HeaderStyle::Labels => f.label.clone(),
        })
        .collect();
    cells.extend(extra.iter().map(|name| name.to_string()));
    if with_op {
        cells.push("op".to_string());
    }
    push_row(&mut out, &cells);
    for record in records {
        cells.clear();
        let names = spec
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .chain(extra.iter().copied());
        for name in names {
            cells.push(
                record
                    .fields
                    .get(name)
                    .map(Value::to_string)
                    .unwrap_or_default(),
            );
        }
        if with_op {
            cells.push(record.op.as_str().to_string());
        }
        push_row(&mut out, &cells);
    }
    encoding.encode(&out)
}

fn push_row(out: &mut String, cells: &[String]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let quote = cell.contains([',', '"', '\r', '\n'])
            || cell.starts_with(char::is_whitespace)
            || cell.ends_with(char::is_whitespace);
        if quote {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push_str("\r\n");
}
