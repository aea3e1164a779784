//! Reading department files (JSON Lines, CSV in UTF-8 or GBK with field-name or Chinese
//! label headers, Excel workbooks) into raw records, and writing records back out in those
//! formats; Excel templates and result workbooks ([`xlsx`]).
//!
//! Architecture invariant: this crate only parses. It neither standardizes nor checks
//! values (that is `regfed-governance`'s job, so a file's `2026/3/5` or `１,200元` reaches
//! the engine as written); it refuses a file only when it cannot tell which record, field
//! or value a piece of text is, and then names every such place at once.

mod csvfile;
mod encoding;
mod error;
mod format;
mod jsonl;
mod names;
pub mod xlsx;

use std::path::Path;

use regfed_governance::{DatasetSpec, RawRecord};

pub use csvfile::{write_csv, HeaderStyle};
pub use encoding::{decode_text, TextEncoding};
pub use error::{Problem, ReadError};
pub use format::Format;
pub use jsonl::write_jsonl;

/// The largest file read: 256 MiB. Larger files are refused before being read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// One record read from a file, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcedRecord {
    pub record: RawRecord,
    /// The 1-based line the record starts on.
    pub line: usize,
    /// `actions.csv line 12`: for messages about this record.
    pub source: String,
}

/// Reads a file of records of the data set `spec`, its format chosen by extension.
pub fn read_file(path: &Path, spec: &DatasetSpec) -> Result<Vec<SourcedRecord>, ReadError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let Some(format) = Format::from_path(path) else {
        return Err(ReadError::whole_file(
            &name,
            "the file's extension names no known format; use .jsonl (or .ndjson, .json) or .csv",
        ));
    };
    let cannot_read =
        |e: std::io::Error| ReadError::whole_file(&name, format!("cannot read the file: {e}"));
    let size = std::fs::metadata(path).map_err(cannot_read)?.len();
    if size > MAX_FILE_BYTES {
        return Err(too_large(&name, size));
    }
    let bytes = std::fs::read(path).map_err(cannot_read)?;
    read_bytes(&name, &bytes, format, spec)
}

/// Reads the bytes of a file named `name` (used in messages) in `format`.
pub fn read_bytes(
    name: &str,
    bytes: &[u8],
    format: Format,
    spec: &DatasetSpec,
) -> Result<Vec<SourcedRecord>, ReadError> {
    let size = bytes.len() as u64;
    if size > MAX_FILE_BYTES {
        return Err(too_large(name, size));
    }
    let (text, _) = decode_text(name, bytes)?;
    match format {
        Format::Jsonl => jsonl::read(name, &text, spec),
        Format::Csv => csvfile::read(name, &text, spec),
    }
}

fn too_large(name: &str, size: u64) -> ReadError {
    ReadError::whole_file(
        name,
        format!(
            "the file has {size} bytes, more than the limit of {MAX_FILE_BYTES} ({} MiB); split it into smaller files",
            MAX_FILE_BYTES / (1024 * 1024)
        ),
    )
}

#[cfg(test)]
#[path = "lib_test.rs"]
mod tests;
