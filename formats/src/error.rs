//! The error of reading one file: every problem found in it, each naming its line and field.

use std::fmt;

/// At most this many problems are shown by `Display`; the rest are counted.
const SHOWN: usize = 50;

/// At most this many problems are kept; the rest are only counted, so that a huge file
/// full of bad lines cannot exhaust memory.
const KEPT: usize = 1000;

/// One problem in a file: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The 1-based line the problem is on; `None` for the file as a whole.
    pub line: Option<usize>,
    /// The field (or column) at fault, when there is one.
    pub field: Option<String>,
    /// What is wrong, as a sentence fragment without the location.
    pub message: String,
}

impl Problem {
    pub fn file(message: impl Into<String>) -> Self {
        Problem {
            line: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn line(line: usize, message: impl Into<String>) -> Self {
        Problem {
            line: Some(line),
            field: None,
            message: message.into(),
        }
    }

    pub fn field(line: usize, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            line: Some(line),
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// A file that could not be read into records. Holds every problem found, not just the
/// first, so a department can fix its file in one go.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ReadError {
    /// The file's name as given (e.g. `actions.csv`).
    pub file: String,
    /// The problems, in file order (at most the first 1,000).
    pub problems: Vec<Problem>,
    /// How many further problems were found but not kept.
    pub omitted: usize,
}

impl ReadError {
    /// An error with a single problem about the whole file.
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        ReadError {
            file: file.to_string(),
            problems: vec![Problem::file(message)],
            omitted: 0,
        }
    }

    /// How many problems were found in all, kept or not.
    pub fn count(&self) -> usize {
        self.problems.len() + self.omitted
    }
}

impl fmt::Display for ReadError {
    /// One sentence per problem (`actions.csv line 14, field "penalty_amount": ...`), at
    /// most 50, then `and N more problems in actions.csv.`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&self.file)?;
            if let Some(line) = problem.line {
                write!(f, " line {line}")?;
            }
            if let Some(field) = &problem.field {
                write!(f, ", field {field:?}")?;
            }
            write!(f, ": {}", problem.message)?;
            if !problem.message.ends_with(['.', '?', '!']) {
                f.write_str(".")?;
            }
        }
        let more = self.count().saturating_sub(SHOWN);
        if more > 0 {
            let noun = if more == 1 { "problem" } else { "problems" };
            write!(f, "\nand {more} more {noun} in {}.", self.file)?;
        }
        Ok(())
    }
}

/// Collects the problems of one file.
#[derive(Debug)]
pub(crate) struct Problems {
    file: String,
    kept: Vec<Problem>,
    omitted: usize,
}

impl Problems {
    pub fn new(file: &str) -> Self {
        Problems {
            file: file.to_string(),
            kept: Vec::new(),
            omitted: 0,
        }
    }

    pub fn push(&mut self, problem: Problem) {
        if self.kept.len() < KEPT {
            self.kept.push(problem);
        } else {
            self.omitted += 1;
        }
    }

    /// How many problems were pushed, kept or not.
    pub fn len(&self) -> usize {
        self.kept.len() + self.omitted
    }

    /// `Ok(value)` when no problem was found, else the error holding them all.
    pub fn finish<T>(self, value: T) -> Result<T, ReadError> {
        if self.kept.is_empty() {
            Ok(value)
        } else {
            Err(ReadError {
                file: self.file,
                problems: self.kept,
                omitted: self.omitted,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_and_field() {
        let err = ReadError {
            file: "actions.csv".into(),
            problems: vec![
                Problem::field(14, "penalty_amount", "a value is an object"),
                Problem::line(15, "has 3 cells, the header has 11"),
                Problem::file("the file is empty."),
            ],
            omitted: 0,
        };
        assert_eq!(
            err.to_string(),
            "actions.csv line 14, field \"penalty_amount\": a value is an object.\n\
             actions.csv line 15: has 3 cells, the header has 11.\n\
             actions.csv: the file is empty."
        );
    }

    #[test]
    fn display_shows_fifty_then_counts_the_rest() {
        let mut problems = Problems::new("a.jsonl");
        for line in 1..=1203 {
            problems.push(Problem::line(line, "bad"));
        }
        let Err(err) = problems.finish(()) else {
            panic!("problems were pushed");
        };
        assert_eq!(err.count(), 1203);
        let text = err.to_string();
        assert_eq!(text.lines().count(), 51);
        assert!(
            text.ends_with("and 1153 more problems in a.jsonl."),
            "{text}"
        );
    }
}
