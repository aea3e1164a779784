//! Importing a workbook, for `regfed submit FILE.xlsx` and the node's upload endpoint alike.
//!
//! Three stages run at once, joined by bounded channels so memory stays bounded whatever
//! the workbook's size:
//!
//! ```text
//! reader thread ──sheets, batches of rows──▶ submitter ──rows + verdicts──▶ writer thread
//! (calamine, streamed)                       (`window` batches in flight)   (result workbook)
//! ```
//!
//! Sheets go in reference order, and every batch of a sheet is answered before the next
//! sheet starts, so actions see the items and officers of the same workbook. Within a sheet,
//! batches are pipelined, except that a batch holding a key still in flight waits for it:
//! two versions of one record are applied in row order. Resubmitting a workbook is safe:
//! identical records are `unchanged`, so an interrupted import is resumed by running it again.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use futures::future::BoxFuture;
use regfed_formats::xlsx::{
    Epoch, Plan, Report, RowIssue, RowStatus, RowVerdict, SheetEvent, SheetHeader, SheetRow,
    SheetSummary, Workbook, WorkbookError,
};
use regfed_governance::{RulePack, Value};
use regfed_proto::v1 as pb;

/// Submits one batch: over gRPC for the CLI, in process for the node's upload endpoint.
pub trait Submitter: Send + Sync + 'static {
    fn submit(
        &self,
        request: pb::SubmitRequest,
    ) -> BoxFuture<'static, anyhow::Result<pb::SubmitResponse>>;
}

impl Submitter for crate::client::Client {
    fn submit(
        &self,
        request: pb::SubmitRequest,
    ) -> BoxFuture<'static, anyhow::Result<pb::SubmitResponse>> {
        let mut client = self.clone();
        Box::pin(async move {
            match regfed_proto::v1::regfed_client::RegfedClient::submit(&mut client, request).await
            {
                Ok(response) => Ok(response.into_inner()),
                Err(status) => Err(anyhow!(crate::client::status_message(&status))),
            }
        })
    }
}

/// How to import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The department submitting (operators must name one).
    pub department: Option<String>,
    /// The data set of sheets whose names name none.
    pub dataset: Option<String>,
    /// Rows per batch (one Raft log entry each).
    pub batch: usize,
    /// Batches in flight at once.
    pub window: usize,
}

/// Where the result workbook goes.
#[derive(Clone, Debug)]
pub enum ReportTarget {
    None,
    File(PathBuf),
    /// Returned in [`ImportOutcome::report`].
    Bytes,
}

/// How far a sheet has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub sheet: String,
    pub dataset: String,
    /// Rows of this sheet answered so far.
    pub rows_done: u64,
    /// Rows the sheet says it has (0 when it does not say).
    pub rows_total: u64,
    /// True once the sheet is finished.
    pub finished: bool,
}

/// What an import did.
#[derive(Clone, Debug, Default)]
pub struct ImportOutcome {
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub unchanged: u64,
    /// Rows with a cell that could not be read: not sent, marked in the result.
    pub not_submitted: u64,
    /// Sheets and columns not imported, and why.
    pub notes: Vec<String>,
    /// The rule pack that checked the rows (`name@version`, from the node's answers).
    pub pack: String,
    /// The result workbook, for [`ReportTarget::Bytes`].
    pub report: Option<Vec<u8>>,
}

/// What the reader thread hands on.
enum Read {
    Plan(Plan, Epoch, String),
    Header(SheetHeader),
    Rows(usize, Vec<SheetRow>),
    SheetDone(SheetSummary),
    Failed(String),
}

/// What the writer thread is given.
enum Write {
    Start {
        file: String,
        epoch: Epoch,
        sheets: Vec<(usize, String)>,
    },
    Pack(String),
    Header(SheetHeader),
    Rows(usize, Vec<SheetRow>, Vec<RowVerdict>),
    Note(String),
}

/// A batch sent and not yet answered.
struct InFlight {
    sheet_index: usize,
    dataset: String,
    rows: Vec<SheetRow>,
    keys: Vec<String>,
    answer: Option<tokio::task::JoinHandle<anyhow::Result<pb::SubmitResponse>>>,
}

/// Imports the workbook `open` opens (on a blocking thread), checked against `pack` for
/// sheet and header names, submitting through `submitter`. `on_progress` hears of each
/// answered batch, `on_results` gets every verdict in row order.
pub async fn import(
    open: impl FnOnce() -> Result<Workbook, WorkbookError> + Send + 'static,
    pack: Arc<RulePack>,
    options: ImportOptions,
    submitter: Arc<dyn Submitter>,
    target: ReportTarget,
    mut on_progress: impl FnMut(&Progress),
    mut on_results: impl FnMut(&[pb::RecordResult]),
) -> anyhow::Result<ImportOutcome> {
    if let Some(dataset) = &options.dataset {
        if pack.dataset(dataset).is_none() {
            return Err(anyhow!(
                "unknown data set {dataset:?}; use item, subject, officer or action"
            ));
        }
    }
    let batch = options.batch.max(1);
    let window = options.window.max(1);

    let (read_tx, mut read_rx) = tokio::sync::mpsc::channel::<Read>(2);
    let reader_pack = pack.clone();
    let default_dataset = options.dataset.clone();
    let reader = tokio::task::spawn_blocking(move || {
        read_workbook(
            open,
            &reader_pack,
            default_dataset.as_deref(),
            batch,
            &read_tx,
        )
    });

    // The writer's queue is bounded too: a slow disk slows the import, never fills memory.
    let (write_tx, writer) = match &target {
        ReportTarget::None => (None, None),
        target => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Write>(window + 2);
            let target = target.clone();
            let pack = pack.clone();
            let writer = tokio::task::spawn_blocking(move || write_report(rx, &pack, target));
            (Some(tx), Some(writer))
        }
    };
    // A writer that failed says why in its own result; the import goes on.
    macro_rules! report {
        ($message:expr) => {
            if let Some(tx) = &write_tx {
                let _ = tx.send($message).await;
            }
        };
    }

    let mut outcome = ImportOutcome::default();
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut keys_in_flight: HashMap<String, usize> = HashMap::new();
    let mut progress: HashMap<usize, Progress> = HashMap::new();
    let mut failure: Option<anyhow::Error> = None;

    // Awaits the oldest batch and hands its verdicts on.
    macro_rules! complete_oldest {
        () => {
            if let Some(flight) = in_flight.pop_front() {
                for key in &flight.keys {
                    if let Some(n) = keys_in_flight.get_mut(key) {
                        *n -= 1;
                        if *n == 0 {
                            keys_in_flight.remove(key);
                        }
                    }
                }
                match answered(flight, &pack, &mut outcome, &mut on_results).await {
                    Ok((sheet_index, rows, verdicts, pack_name)) => {
                        if outcome.pack.is_empty() && !pack_name.is_empty() {
                            outcome.pack = pack_name.clone();
                            report!(Write::Pack(pack_name));
                        }
                        if let Some(p) = progress.get_mut(&sheet_index) {
                            p.rows_done += rows.len() as u64;
                            on_progress(p);
                        }
                        report!(Write::Rows(sheet_index, rows, verdicts));
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
        };
    }

    while failure.is_none() {
        let Some(message) = read_rx.recv().await else {
            break;
        };
        match message {
            Read::Plan(plan, epoch, file) => {
                let sheets = plan
                    .sheets
                    .iter()
                    .map(|s| (s.index, s.name.clone()))
                    .collect();
                report!(Write::Start {
                    file,
                    epoch,
                    sheets,
                });
                for note in &plan.notes {
                    report!(Write::Note(note.clone()));
                }
                outcome.notes.extend(plan.notes);
            }
            Read::Header(header) => {
                progress.insert(
                    header.sheet_index,
                    Progress {
                        sheet: header.sheet.clone(),
                        dataset: header.dataset.clone(),
                        rows_done: 0,
                        rows_total: header.rows_hint,
                        finished: false,
                    },
                );
                report!(Write::Header(header));
            }
            Read::Rows(sheet_index, rows) => {
                let Some(p) = progress.get(&sheet_index) else {
                    continue;
                };
                let dataset = p.dataset.clone();
                let key_field = pack
                    .dataset(&dataset)
                    .map(|d| d.key.clone())
                    .unwrap_or_default();
                let keys: Vec<String> = rows
                    .iter()
                    .filter_map(|r| r.record.as_ref())
                    .filter_map(|r| match r.fields.get(key_field.as_str()) {
                        Some(Value::Text(t)) => Some(t.trim().to_string()),
                        _ => None,
                    })
                    .collect();
                while in_flight.len() >= window
                    || (!in_flight.is_empty()
                        && keys.iter().any(|k| keys_in_flight.contains_key(k)))
                {
                    complete_oldest!();
                }
                for key in &keys {
                    *keys_in_flight.entry(key.clone()).or_default() += 1;
                }
                let records: Vec<pb::RecordIn> = rows
                    .iter()
                    .filter_map(|row| {
                        row.record.as_ref().map(|r| pb::RecordIn {
                            op: r.op.as_str().to_string(),
                            fields: r.fields.clone(),
                            source: row.source.clone(),
                        })
                    })
                    .collect();
                let answer = (!records.is_empty()).then(|| {
                    let request = pb::SubmitRequest {
                        dataset: dataset.clone(),
                        records,
                        department: options.department.clone().unwrap_or_default(),
                    };
                    tokio::spawn(submitter.submit(request))
                });
                in_flight.push_back(InFlight {
                    sheet_index,
                    dataset,
                    rows,
                    keys,
                    answer,
                });
            }
            Read::SheetDone(summary) => {
                while !in_flight.is_empty() {
                    complete_oldest!();
                }
                for p in progress.values_mut().filter(|p| !p.finished) {
                    p.finished = true;
                    on_progress(p);
                }
                for note in &summary.notes {
                    report!(Write::Note(note.clone()));
                }
                outcome.notes.extend(summary.notes);
            }
            Read::Failed(message) => {
                failure = Some(anyhow!(message));
            }
        }
    }
    // Answers already on their way are reported, even after a failure.
    while !in_flight.is_empty() {
        complete_oldest!();
    }
    drop(read_rx);
    let _ = reader.await;
    if let Some(e) = &failure {
        report!(Write::Note(format!(
            "the import stopped early: {}; the rows above were answered; submit the same workbook again to continue (identical rows are unchanged)",
            crate::cli::error_chain(e)
        )));
    }
    drop(write_tx);
    if let Some(writer) = writer {
        let report = writer
            .await
            .context("the result workbook's writer failed")?
            .context("cannot write the result workbook")?;
        outcome.report = report;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// The reader thread: opens the workbook, plans it and reads every planned sheet.
fn read_workbook(
    open: impl FnOnce() -> Result<Workbook, WorkbookError>,
    pack: &RulePack,
    default_dataset: Option<&str>,
    batch: usize,
    tx: &tokio::sync::mpsc::Sender<Read>,
) {
    let mut book = match open() {
        Ok(book) => book,
        Err(e) => {
            let _ = tx.blocking_send(Read::Failed(e.to_string()));
            return;
        }
    };
    let plan = book.plan(pack, default_dataset);
    let sheets = plan.sheets.clone();
    if plan.sheets.is_empty() {
        let mut message = format!(
            "{}: no sheet to import: name each sheet by its data set (item, subject, officer, action, or their Chinese names), or give --dataset",
            book.name()
        );
        if !plan.notes.is_empty() {
            message.push_str(&format!(" ({})", plan.notes.join("; ")));
        }
        let _ = tx.blocking_send(Read::Failed(message));
        return;
    }
    if tx
        .blocking_send(Read::Plan(plan, book.epoch(), book.name().to_string()))
        .is_err()
    {
        return;
    }
    for sheet in &sheets {
        let Some(spec) = pack.dataset(&sheet.dataset) else {
            continue;
        };
        let read = book.read_sheet(sheet, spec, batch, &mut |event| match event {
            SheetEvent::Header(header) => tx.blocking_send(Read::Header(header)).is_ok(),
            SheetEvent::Rows(rows) => tx.blocking_send(Read::Rows(sheet.index, rows)).is_ok(),
        });
        let sent = match read {
            Ok(summary) => tx.blocking_send(Read::SheetDone(summary)),
            Err(e) => tx.blocking_send(Read::Failed(e.to_string())),
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Pairs an answered batch's verdicts with its rows.
#[allow(clippy::type_complexity)]
async fn answered(
    flight: InFlight,
    pack: &RulePack,
    outcome: &mut ImportOutcome,
    on_results: &mut impl FnMut(&[pb::RecordResult]),
) -> anyhow::Result<(usize, Vec<SheetRow>, Vec<RowVerdict>, String)> {
    let first = flight
        .rows
        .first()
        .map(|r| r.source.clone())
        .unwrap_or_default();
    let response = match flight.answer {
        None => pb::SubmitResponse::default(),
        Some(handle) => handle
            .await
            .context("the submitting task failed")?
            .with_context(|| {
                format!("the batch starting at {first} was not accepted by the node")
            })?,
    };
    let submitted = flight.rows.iter().filter(|r| r.record.is_some()).count();
    if response.results.len() != submitted {
        return Err(anyhow!(
            "the node answered {} verdicts for the {submitted} records of the batch starting at {first}",
            response.results.len()
        ));
    }
    on_results(&response.results);
    let mut results = response.results.into_iter();
    let mut verdicts = Vec::with_capacity(flight.rows.len());
    let spec = pack
        .dataset(&flight.dataset)
        .ok_or_else(|| anyhow!("unknown data set {}", flight.dataset))?;
    for row in &flight.rows {
        outcome.rows += 1;
        let verdict = if row.record.is_some() {
            let result = results.next().unwrap_or_default();
            let status = RowStatus::parse(&result.status).unwrap_or(RowStatus::Rejected);
            RowVerdict {
                status,
                issues: result
                    .issues
                    .into_iter()
                    .map(|i| RowIssue {
                        rule: i.rule,
                        field: i.field,
                        severity: i.severity,
                        message_zh: i.message_zh,
                        message_en: i.message_en,
                        example: i.example,
                    })
                    .collect(),
            }
        } else {
            RowVerdict::not_submitted(row, spec)
        };
        match verdict.status {
            RowStatus::Accepted => outcome.accepted += 1,
            RowStatus::Rejected => outcome.rejected += 1,
            RowStatus::Unchanged => outcome.unchanged += 1,
            RowStatus::NotSubmitted => outcome.not_submitted += 1,
        }
        verdicts.push(verdict);
    }
    Ok((flight.sheet_index, flight.rows, verdicts, response.pack))
}

/// The writer thread: the result workbook, from the first `Start` to the channel's end.
fn write_report(
    mut rx: tokio::sync::mpsc::Receiver<Write>,
    pack: &RulePack,
    target: ReportTarget,
) -> anyhow::Result<Option<Vec<u8>>> {
    let mut report: Option<Report> = None;
    let mut pending_notes = Vec::new();
    while let Some(message) = rx.blocking_recv() {
        match message {
            Write::Start {
                file,
                epoch,
                sheets,
            } => {
                let mut started = Report::new(&file, "", epoch, &sheets)?;
                for note in pending_notes.drain(..) {
                    started.note(note);
                }
                report = Some(started);
            }
            Write::Pack(name) => {
                if let Some(report) = &mut report {
                    report.set_pack(&name);
                }
            }
            Write::Header(header) => {
                if let Some(report) = &mut report {
                    let spec = pack
                        .dataset(&header.dataset)
                        .ok_or_else(|| anyhow!("unknown data set {}", header.dataset))?;
                    report.header(&header, spec)?;
                }
            }
            Write::Rows(sheet_index, rows, verdicts) => {
                if let Some(report) = &mut report {
                    report.rows(sheet_index, &rows, &verdicts)?;
                }
            }
            Write::Note(note) => match &mut report {
                Some(report) => report.note(note),
                None => pending_notes.push(note),
            },
        }
    }
    let Some(report) = report else {
        return Ok(None);
    };
    match target {
        ReportTarget::None => Ok(None),
        ReportTarget::File(path) => {
            report
                .save(&path)
                .with_context(|| format!("cannot save {}", path.display()))?;
            Ok(None)
        }
        ReportTarget::Bytes => Ok(Some(report.into_bytes()?)),
    }
}
