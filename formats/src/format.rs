//! The file formats departments submit: JSON Lines and CSV, recognized by extension.

use std::path::Path;

/// A file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`, `.json`).
    Jsonl,
    /// Comma-separated values with a header line of field names or Chinese labels (`.csv`).
    Csv,
}

impl Format {
    /// The format a file's extension names (case-insensitive); `None` for any other.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_extension() {
        let cases = [
            ("a.jsonl", Some(Format::Jsonl)),
            ("dir/a.NDJSON", Some(Format::Jsonl)),
            ("a.json", Some(Format::Jsonl)),
            ("行为.CSV", Some(Format::Csv)),
            ("a.xlsx", None),
            ("csv", None),
        ];
        for (path, format) in cases {
            assert_eq!(Format::from_path(Path::new(path)), format, "{path}");
        }
    }
}
