//! Reading a workbook: which sheet holds which data set, then each sheet row by row, in
//! batches, with merged cells filled in and every unreadable cell named.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use calamine::{Data, Dimensions, Ods, Reader, SheetVisible, Xls, Xlsb, Xlsx};
use regfed_governance::{DatasetSpec, Fields, Op, RawRecord, RulePack, Value};

use super::cell::{field_text, Cell, Epoch};
use super::{
    INSTRUCTIONS_SHEET, LISTS_SHEET, PROBLEMS_HEADER, RULE_OP, STATUS_HEADER, SUMMARY_SHEET,
};
use crate::names;

/// Rows before the header (titles, notes) that are skipped while looking for it.
const HEADER_SEARCH_ROWS: u32 = 10;

trait Source: Read + Seek + Send {}
impl<T: Read + Seek + Send> Source for T {}
type Stream = Box<dyn Source>;

enum Book {
    Xlsx(Xlsx<Stream>),
    Xls(Xls<Stream>),
    Xlsb(Xlsb<Stream>),
    Ods(Ods<Stream>),
}

/// A workbook that cannot be opened or read, with the file's name and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct WorkbookError {
    pub file: String,
    pub message: String,
}

/// An open workbook.
pub struct Workbook {
    name: String,
    book: Book,
    epoch: Epoch,
    /// Sheet names in workbook order, with whether each is visible.
    sheets: Vec<(String, bool)>,
}

/// A sheet to import and the data set it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SheetPlan {
    /// Its position in the workbook (0-based).
    pub index: usize,
    pub name: String,
    pub dataset: String,
}

/// The sheets to import, in reference order, and the sheets left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub sheets: Vec<SheetPlan>,
    /// One sentence per sheet that will not be imported, saying why.
    pub notes: Vec<String>,
}

/// What a header cell names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    /// A field of the data set, by field name.
    Field(String),
    Op,
    Dataset,
    /// The status column of a result workbook (ignored).
    Status,
    /// The problems column of a result workbook (ignored).
    Problems,
    /// Not a field: reported, and its values are not imported.
    Unknown,
}

/// A sheet's header row.
#[derive(Clone, Debug, PartialEq)]
pub struct SheetHeader {
    pub sheet: String,
    /// The sheet's position in the workbook.
    pub sheet_index: usize,
    pub dataset: String,
    /// The header's row (0-based).
    pub row: u32,
    /// The header cells as read, by column.
    pub cells: Vec<(u16, Cell)>,
    /// What each header cell names, by column.
    pub columns: Vec<(u16, Column)>,
    /// Data rows the sheet says it has below the header (0 when it does not say).
    pub rows_hint: u64,
}

impl SheetHeader {
    /// The column of a field, if the sheet has one.
    pub fn column_of(&self, field: &str) -> Option<u16> {
        self.columns
            .iter()
            .find(|(_, c)| matches!(c, Column::Field(f) if f == field))
            .map(|(i, _)| *i)
    }

    /// The columns of the status and problems of a result workbook: the ones the sheet has
    /// (a result workbook submitted again), else the two after its last column.
    pub fn report_columns(&self) -> (u16, u16) {
        let find = |want: &Column| {
            self.columns
                .iter()
                .find(|(_, c)| c == want)
                .map(|(i, _)| *i)
        };
        let last = self.cells.iter().map(|(c, _)| *c).max().unwrap_or(0);
        match (find(&Column::Status), find(&Column::Problems)) {
            (Some(s), Some(p)) => (s, p),
            (Some(s), None) => (s, last + 1),
            (None, Some(p)) => (last + 1, p),
            (None, None) => (last + 1, last + 2),
        }
    }
}

/// A problem that keeps a row from being submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRowIssue {
    pub col: u16,
    pub field: String,
    pub rule: &'static str,
    pub message_zh: String,
    pub message_en: String,
}

/// One data row.
#[derive(Clone, Debug, PartialEq)]
pub struct SheetRow {
    /// Its row (0-based; Excel shows row + 1).
    pub row: u32,
    /// Its non-empty cells as read (merged cells filled in from their first cell).
    pub cells: Vec<(u16, Cell)>,
    /// The record to submit; `None` when a cell could not be read (see `issues`).
    pub record: Option<RawRecord>,
    pub issues: Vec<ReadRowIssue>,
    /// `监管行为 action row 12`: for messages about this row.
    pub source: String,
}

impl SheetRow {
    /// The cell in column `col`.
    pub fn cell(&self, col: u16) -> Option<&Cell> {
        self.cells.iter().find(|(c, _)| *c == col).map(|(_, v)| v)
    }
}

/// What a sheet gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SheetSummary {
    /// Data rows read (blank rows not counted).
    pub rows: u64,
    /// False when the sheet was left out (no header, duplicate columns); `notes` says why.
    pub imported: bool,
    /// Columns not imported, missing required columns, or why the sheet was left out.
    pub notes: Vec<String>,
}

/// What reading a sheet hands on, in order: its header, then batches of rows.
pub enum SheetEvent {
    Header(SheetHeader),
    Rows(Vec<SheetRow>),
}

/// The column letters Excel shows for a 0-based column: 0 is `A`, 26 is `AA`.
pub fn column_name(col: u16) -> String {
    let mut n = u32::from(col) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

impl Workbook {
    /// Opens a workbook file; its format is told by its first bytes (and, for zip files,
    /// its extension: .ods, .xlsb, else .xlsx).
    pub fn open(path: &Path) -> Result<Workbook, WorkbookError> {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let file = File::open(path).map_err(|e| WorkbookError {
            file: name.clone(),
            message: format!("cannot open the file: {e}"),
        })?;
        Workbook::from_stream(&name, Box::new(BufReader::new(file)))
    }

    /// Opens a workbook held in memory; `name` (with its extension) is used in messages.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Workbook, WorkbookError> {
        Workbook::from_stream(name, Box::new(Cursor::new(bytes)))
    }

    fn from_stream(name: &str, mut stream: Stream) -> Result<Workbook, WorkbookError> {
        let fail = |message: String| WorkbookError {
            file: name.to_string(),
            message,
        };
        let mut magic = [0u8; 8];
        let read = stream
            .read(&mut magic)
            .and_then(|n| stream.seek(SeekFrom::Start(0)).map(|_| n))
            .map_err(|e| fail(format!("cannot read the file: {e}")))?;
        let lower = name.to_lowercase();
        let zip = read >= 4 && magic[..4] == *b"PK\x03\x04";
        let ole = read == 8 && magic == [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        let opened = |e: &dyn std::fmt::Display| fail(format!("cannot open the workbook: {e}"));
        let book = if ole {
            Book::Xls(Xls::new(stream).map_err(|e| opened(&e))?)
        } else if zip && lower.ends_with(".ods") {
            Book::Ods(Ods::new(stream).map_err(|e| opened(&e))?)
        } else if zip && lower.ends_with(".xlsb") {
            Book::Xlsb(Xlsb::new(stream).map_err(|e| opened(&e))?)
        } else if zip {
            Book::Xlsx(Xlsx::new(stream).map_err(|e| opened(&e))?)
        } else {
            return Err(fail(
                "is not an Excel workbook (.xlsx, .xls, .xlsb) or an OpenDocument spreadsheet (.ods); save it in one of those formats, or as CSV".into(),
            ));
        };
        let (epoch, metadata) = match &book {
            Book::Xlsx(b) => (epoch(b.has_1904_epoch()), b.sheets_metadata()),
            Book::Xls(b) => (epoch(b.has_1904_epoch()), b.sheets_metadata()),
            Book::Xlsb(b) => (Epoch::Excel1900, b.sheets_metadata()),
            Book::Ods(b) => (Epoch::Excel1900, b.sheets_metadata()),
        };
        let sheets = metadata
            .iter()
            .map(|s| (s.name.clone(), s.visible == SheetVisible::Visible))
            .collect();
        Ok(Workbook {
            name: name.to_string(),
            book,
            epoch,
            sheets,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Sheet names in workbook order.
    pub fn sheet_names(&self) -> Vec<String> {
        self.sheets.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Which sheets to import, as which data set, in reference order. A sheet is named by
    /// its data set (name or label, alone or within the sheet name); a sheet that names
    /// none is read as `default_dataset` when one is given. The sheets regfed itself writes
    /// (instructions, code lists, result summary) are skipped.
    pub fn plan(&self, pack: &RulePack, default_dataset: Option<&str>) -> Plan {
        let mut plan = Plan::default();
        for (index, (name, visible)) in self.sheets.iter().enumerate() {
            if [INSTRUCTIONS_SHEET, LISTS_SHEET, SUMMARY_SHEET].contains(&name.as_str()) {
                continue;
            }
            let dataset = dataset_of_sheet(pack, name)
                .map(|d| d.name.clone())
                .or_else(|| default_dataset.map(str::to_string));
            match dataset {
                Some(dataset) => plan.sheets.push(SheetPlan {
                    index,
                    name: name.clone(),
                    dataset,
                }),
                None if !visible => {}
                None => {
                    let known: Vec<String> = pack
                        .datasets()
                        .iter()
                        .map(|d| format!("{} {}", d.label, d.name))
                        .collect();
                    plan.notes.push(format!(
                        "sheet {name:?} was not imported: its name names no data set ({}); rename the sheet, or give the data set with --dataset",
                        known.join(", ")
                    ));
                }
            }
        }
        let order = |dataset: &str| {
            pack.datasets()
                .iter()
                .position(|d| d.name == dataset)
                .unwrap_or(usize::MAX)
        };
        plan.sheets.sort_by_key(|s| (order(&s.dataset), s.index));
        plan
    }

    /// Reads one sheet: hands `emit` the header, then the rows in batches of `batch`.
    /// Stops early, without error, when `emit` returns false.
    pub fn read_sheet(
        &mut self,
        sheet: &SheetPlan,
        spec: &DatasetSpec,
        batch: usize,
        emit: &mut dyn FnMut(SheetEvent) -> bool,
    ) -> Result<SheetSummary, WorkbookError> {
        let mut state = SheetState::new(sheet, spec, self.epoch, batch.max(1), emit);
        let fail = |e: &dyn std::fmt::Display| WorkbookError {
            file: self.name.clone(),
            message: format!("cannot read sheet {:?}: {e}", sheet.name),
        };
        match &mut self.book {
            Book::Xlsx(book) => {
                // Merged cells are listed after the cells: a second pass over the sheet.
                state.merges = book
                    .merge_cells_by_sheet_name(&sheet.name)
                    .map_err(|e| fail(&e))?;
                let mut reader = book
                    .worksheet_cells_reader(&sheet.name)
                    .map_err(|e| fail(&e))?;
                state.rows_hint = u64::from(reader.dimensions().end.0);
                let mut row = None;
                let mut cells = Vec::new();
                while let Some(cell) = reader.next_cell().map_err(|e| fail(&e))? {
                    if state.done {
                        break;
                    }
                    let (r, c) = cell.get_position();
                    if row != Some(r) {
                        if let Some(previous) = row {
                            state.row(previous, std::mem::take(&mut cells));
                        }
                        row = Some(r);
                    }
                    let Ok(c) = u16::try_from(c) else { continue };
                    if let Some(value) = Cell::from_data(Data::from(cell.get_value().clone())) {
                        cells.push((c, value));
                    }
                }
                if let Some(previous) = row {
                    state.row(previous, cells);
                }
            }
            Book::Xls(book) => {
                state.merges = book
                    .merge_cells_by_sheet_name(&sheet.name)
                    .map_err(|e| fail(&e))?;
                let range = book.worksheet_range(&sheet.name).map_err(|e| fail(&e))?;
                state.range(&range);
            }
            Book::Xlsb(book) => {
                let range = book.worksheet_range(&sheet.name).map_err(|e| fail(&e))?;
                state.range(&range);
            }
            Book::Ods(book) => {
                let range = book.worksheet_range(&sheet.name).map_err(|e| fail(&e))?;
                state.range(&range);
            }
        }
        Ok(state.finish())
    }
}

fn epoch(is_1904: bool) -> Epoch {
    if is_1904 {
        Epoch::Excel1904
    } else {
        Epoch::Excel1900
    }
}

/// The data set a sheet name names: the whole name, one of its words, or a label within
/// it, when exactly one data set matches.
fn dataset_of_sheet<'a>(pack: &'a RulePack, name: &str) -> Option<&'a DatasetSpec> {
    let name = name.trim();
    let same = |word: &str, d: &DatasetSpec| word.eq_ignore_ascii_case(&d.name) || word == d.label;
    if let Some(d) = pack.datasets().iter().find(|d| same(name, d)) {
        return Some(d);
    }
    let words: Vec<&str> = name
        .split(|c: char| c.is_whitespace() || "-_.()（）【】".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    let by_word: Vec<&DatasetSpec> = pack
        .datasets()
        .iter()
        .filter(|d| words.iter().any(|w| same(w, d)))
        .collect();
    if let [one] = by_word.as_slice() {
        return Some(one);
    }
    let by_label: Vec<&DatasetSpec> = pack
        .datasets()
        .iter()
        .filter(|d| name.contains(&d.label))
        .collect();
    match by_label.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// What a header cell names.
fn resolve_header(spec: &DatasetSpec, text: &str) -> Column {
    let trimmed = text.trim();
    let is = |reserved: &str| {
        trimmed == reserved
            || reserved
                .split('\n')
                .any(|word| trimmed.eq_ignore_ascii_case(word))
    };
    if is(STATUS_HEADER) {
        return Column::Status;
    }
    if is(PROBLEMS_HEADER) {
        return Column::Problems;
    }
    match names::resolve(spec, text) {
        Some(names::Column::Field(f)) => Column::Field(f),
        Some(names::Column::Op) => Column::Op,
        Some(names::Column::Dataset) => Column::Dataset,
        None => Column::Unknown,
    }
}

/// The state of reading one sheet.
struct SheetState<'a> {
    plan: &'a SheetPlan,
    spec: &'a DatasetSpec,
    epoch: Epoch,
    batch: usize,
    emit: &'a mut dyn FnMut(SheetEvent) -> bool,
    /// What each column names, indexed by column, once the header is found.
    columns: Option<Vec<Column>>,
    header_row: u32,
    /// Non-blank rows seen while looking for the header.
    searched: u32,
    merges: Vec<Dimensions>,
    next_merge: usize,
    /// Merged regions covering the current row, with their first cell's value.
    active: Vec<(Dimensions, Option<Cell>)>,
    pending: Vec<SheetRow>,
    rows: u64,
    rows_hint: u64,
    notes: Vec<String>,
    imported: bool,
    done: bool,
}

impl<'a> SheetState<'a> {
    fn new(
        plan: &'a SheetPlan,
        spec: &'a DatasetSpec,
        epoch: Epoch,
        batch: usize,
        emit: &'a mut dyn FnMut(SheetEvent) -> bool,
    ) -> Self {
        SheetState {
            plan,
            spec,
            epoch,
            batch,
            emit,
            columns: None,
            header_row: 0,
            searched: 0,
            merges: Vec::new(),
            next_merge: 0,
            active: Vec::new(),
            pending: Vec::new(),
            rows: 0,
            rows_hint: 0,
            notes: Vec::new(),
            imported: false,
            done: false,
        }
    }

    fn range(&mut self, range: &calamine::Range<Data>) {
        let (first_row, first_col) = range.start().unwrap_or((0, 0));
        self.rows_hint = range.end().map_or(0, |(r, _)| u64::from(r));
        for (i, cells) in range.rows().enumerate() {
            if self.done {
                break;
            }
            let row: Vec<(u16, Cell)> = cells
                .iter()
                .enumerate()
                .filter_map(|(j, data)| {
                    let col = u16::try_from(first_col as usize + j).ok()?;
                    Cell::from_data(data.clone()).map(|c| (col, c))
                })
                .collect();
            self.row(first_row + i as u32, row);
        }
    }

    fn row(&mut self, row: u32, mut cells: Vec<(u16, Cell)>) {
        if self.done {
            return;
        }
        let blank = cells.iter().all(|(_, c)| c.is_blank());
        if self.columns.is_none() {
            if !blank {
                self.header(row, cells);
            }
            return;
        }
        self.fill_merged(row, &mut cells);
        if blank {
            return;
        }
        let columns = self.columns.as_deref().unwrap_or_default();
        let record = build_row(self.plan, self.spec, self.epoch, columns, row, cells);
        self.rows += 1;
        self.pending.push(record);
        if self.pending.len() >= self.batch {
            let rows = std::mem::take(&mut self.pending);
            if !(self.emit)(SheetEvent::Rows(rows)) {
                self.done = true;
            }
        }
    }

    /// Takes the first row that names a field as the header; titles above it are skipped.
    fn header(&mut self, row: u32, cells: Vec<(u16, Cell)>) {
        let spec = self.spec;
        let sheet = &self.plan.name;
        let columns: Vec<(u16, Column)> = cells
            .iter()
            .map(|(c, cell)| {
                let column = match cell {
                    Cell::Text(text) => resolve_header(spec, text),
                    _ => Column::Unknown,
                };
                (*c, column)
            })
            .collect();
        if !columns.iter().any(|(_, c)| matches!(c, Column::Field(_))) {
            self.searched += 1;
            if self.searched >= HEADER_SEARCH_ROWS {
                self.skip(format!(
                    "sheet {sheet:?} was not imported: none of its first {HEADER_SEARCH_ROWS} rows is a header naming a field of data set {} (such as {} or {})",
                    spec.name,
                    spec.key_field().name,
                    spec.key_field().label
                ));
            }
            return;
        }
        for (i, (col, column)) in columns.iter().enumerate() {
            let text = header_cell_text(&cells, *col);
            match column {
                Column::Unknown => self.notes.push(format!(
                    "sheet {sheet:?} column {} ({text:?}) was not imported: {}",
                    column_name(*col),
                    names::unknown(spec, "column", &text)
                )),
                Column::Field(_) | Column::Op | Column::Dataset => {
                    if let Some((first, _)) = columns[..i].iter().find(|(_, c)| c == column) {
                        self.skip(format!(
                            "sheet {sheet:?} was not imported: columns {} and {} both name {}; delete one",
                            column_name(*first),
                            column_name(*col),
                            header_cell_text(&cells, *first).replace('\n', " ")
                        ));
                        return;
                    }
                }
                Column::Status | Column::Problems => {}
            }
        }
        for field in spec.fields.iter().filter(|f| f.required) {
            let present = columns
                .iter()
                .any(|(_, c)| matches!(c, Column::Field(f) if *f == field.name));
            if !present {
                self.notes.push(format!(
                    "sheet {sheet:?} has no column for the required field {} ({}): every row is rejected for it",
                    field.name, field.label
                ));
            }
        }
        let width = columns
            .iter()
            .map(|(c, _)| usize::from(*c) + 1)
            .max()
            .unwrap_or(0);
        let mut dense = vec![Column::Unknown; width];
        for (col, column) in &columns {
            dense[usize::from(*col)] = column.clone();
        }
        self.columns = Some(dense);
        self.header_row = row;
        self.imported = true;
        self.rows_hint = self.rows_hint.saturating_sub(u64::from(row));
        self.merges.retain(|m| m.start.0 > row);
        self.merges.sort_by_key(|m| m.start);
        let header = SheetHeader {
            sheet: self.plan.name.clone(),
            sheet_index: self.plan.index,
            dataset: self.plan.dataset.clone(),
            row,
            cells,
            columns,
            rows_hint: self.rows_hint,
        };
        if !(self.emit)(SheetEvent::Header(header)) {
            self.done = true;
        }
    }

    fn skip(&mut self, note: String) {
        self.notes.push(note);
        self.imported = false;
        self.done = true;
    }

    /// Gives the empty cells of a merged region the value of its first cell.
    fn fill_merged(&mut self, row: u32, cells: &mut Vec<(u16, Cell)>) {
        self.active.retain(|(m, _)| m.end.0 >= row);
        while let Some(m) = self
            .merges
            .get(self.next_merge)
            .filter(|m| m.start.0 <= row)
        {
            if m.end.0 >= row {
                self.active.push((*m, None));
            }
            self.next_merge += 1;
        }
        if self.active.is_empty() {
            return;
        }
        let mut added = false;
        for (region, value) in &mut self.active {
            if region.start.0 == row {
                *value = cells
                    .iter()
                    .find(|(c, _)| u32::from(*c) == region.start.1)
                    .map(|(_, v)| v.clone());
            }
            let Some(value) = value else { continue };
            for col in region.start.1..=region.end.1 {
                let Ok(col) = u16::try_from(col) else { break };
                if (row, u32::from(col)) == region.start {
                    continue;
                }
                match cells.iter_mut().find(|(c, _)| *c == col) {
                    Some((_, cell)) if cell.is_blank() => *cell = value.clone(),
                    Some(_) => {}
                    None => {
                        cells.push((col, value.clone()));
                        added = true;
                    }
                }
            }
        }
        if added {
            cells.sort_by_key(|(c, _)| *c);
        }
    }

    fn finish(mut self) -> SheetSummary {
        if !self.pending.is_empty() && !self.done {
            let rows = std::mem::take(&mut self.pending);
            (self.emit)(SheetEvent::Rows(rows));
        }
        if self.columns.is_none() && !self.notes.iter().any(|n| n.contains("not imported")) {
            self.notes.push(format!(
                "sheet {:?} was not imported: it has no header row naming a field of data set {}",
                self.plan.name, self.spec.name
            ));
        }
        SheetSummary {
            rows: self.rows,
            imported: self.imported,
            notes: self.notes,
        }
    }
}

fn header_cell_text(cells: &[(u16, Cell)], col: u16) -> String {
    match cells.iter().find(|(c, _)| *c == col).map(|(_, v)| v) {
        Some(Cell::Text(t)) => t.clone(),
        Some(Cell::Number(f) | Cell::Date(f)) => super::number_text(*f),
        Some(Cell::Bool(b)) => b.to_string(),
        Some(Cell::Error(e)) => e.clone(),
        None => String::new(),
    }
}

/// A data row's record, or its issues when a cell cannot be read.
fn build_row(
    plan: &SheetPlan,
    spec: &DatasetSpec,
    epoch: Epoch,
    columns: &[Column],
    row: u32,
    cells: Vec<(u16, Cell)>,
) -> SheetRow {
    let mut fields = Fields::new();
    let mut op = Op::Upsert;
    let mut issues = Vec::new();
    for (col, cell) in &cells {
        match columns.get(usize::from(*col)) {
            Some(Column::Field(name)) => {
                let Some(field) = spec.field(name) else {
                    continue;
                };
                match field_text(cell, field, epoch) {
                    Ok(Some(text)) => {
                        fields.insert(field.name.clone(), Value::Text(text.into()));
                    }
                    Ok(None) => {}
                    Err(fault) => issues.push(ReadRowIssue {
                        col: *col,
                        field: name.clone(),
                        rule: fault.rule(),
                        message_zh: fault.message_zh(field),
                        message_en: fault.message_en(field),
                    }),
                }
            }
            Some(Column::Op) => {
                let text = header_cell_text(&cells, *col);
                match Op::parse(&text) {
                    Some(parsed) => op = parsed,
                    None => issues.push(ReadRowIssue {
                        col: *col,
                        field: "op".into(),
                        rule: RULE_OP,
                        message_zh: format!("操作列为 {text:?}，应为 upsert 或 delete"),
                        message_en: format!("op is {text:?}; use \"upsert\" or \"delete\""),
                    }),
                }
            }
            _ => {}
        }
    }
    SheetRow {
        row,
        record: issues.is_empty().then(|| RawRecord::new(op, fields)),
        cells,
        issues,
        source: format!("{} row {}", plan.name, row + 1),
    }
}
