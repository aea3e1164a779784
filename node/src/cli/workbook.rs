//! `regfed submit FILE.xlsx`: a workbook imported sheet by sheet with progress on stderr,
//! either read here and sent in batches, or uploaded for the node to import (`--upload`);
//! then the counts, the rules that failed most, and the result workbook (`--report`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use regfed_formats::xlsx::Workbook;
use regfed_governance::RulePack;
use regfed_proto::v1 as pb;
use serde_json::json;

use super::submit::SubmitArgs;
use crate::import::{self, ImportOptions, ImportOutcome, Progress, ReportTarget};

/// Pieces of an uploaded file, and of the result workbook coming back.
pub const UPLOAD_CHUNK: usize = 1024 * 1024;

/// What one workbook gave, for printing.
struct Done {
    file: String,
    outcome: ImportOutcome,
    /// Failures per rule id.
    rules: BTreeMap<String, u64>,
    /// Every verdict, kept only for `--json`.
    results: Vec<pb::RecordResult>,
}

pub async fn run(args: &SubmitArgs, books: &[&PathBuf]) -> anyhow::Result<()> {
    let client = crate::client::connect(&args.client.nodes, &args.client.identity).await?;
    let mut done = Vec::new();
    for book in books {
        let started = Instant::now();
        let result = if args.upload {
            upload(client.clone(), args, book).await
        } else {
            local(client.clone(), args, book).await
        };
        let finished =
            result.with_context(|| format!("{} was not fully imported", book.display()))?;
        if !args.quiet && !args.client.json {
            let rows = finished.outcome.rows;
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "{}: {rows} rows in {secs:.1} s ({:.0} rows/s)",
                finished.file,
                rows as f64 / secs.max(1e-9)
            );
        }
        done.push(finished);
    }
    if args.client.json {
        print_json(args, &done);
    } else {
        for d in &done {
            print_human(args, d);
        }
    }
    Ok(())
}

/// Reads the workbook here and submits its rows in batches.
async fn local(
    client: crate::client::Client,
    args: &SubmitArgs,
    path: &Path,
) -> anyhow::Result<Done> {
    let file = display_name(path);
    let owned = path.to_path_buf();
    let target = match &args.report {
        Some(report) => ReportTarget::File(report.clone()),
        None => ReportTarget::None,
    };
    let mut rules = BTreeMap::new();
    let mut results = Vec::new();
    let keep = args.client.json;
    let mut printer = ProgressPrinter::new(args.quiet || args.client.json);
    let outcome = import::import(
        move || Workbook::open(&owned),
        RulePack::builtin(),
        ImportOptions {
            department: args.department.clone(),
            dataset: args.dataset.clone(),
            batch: args.batch,
            window: args.window,
        },
        Arc::new(client),
        target,
        |p| printer.show(p),
        |r| {
            count_rules(&mut rules, r);
            if keep {
                results.extend_from_slice(r);
            }
        },
    )
    .await?;
    Ok(Done {
        file,
        outcome,
        rules,
        results,
    })
}

/// Sends the workbook to the node, which imports it and answers with progress, verdicts,
/// a summary and the result workbook.
async fn upload(
    client: crate::client::Client,
    args: &SubmitArgs,
    path: &Path,
) -> anyhow::Result<Done> {
    let file = display_name(path);
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > regfed_formats::MAX_FILE_BYTES {
        return Err(anyhow!(
            "{file} has {size} bytes, more than the upload limit of {} MiB; split it",
            regfed_formats::MAX_FILE_BYTES / (1024 * 1024)
        ));
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut printer = ProgressPrinter::new(args.quiet || args.client.json);
    let mut rules = BTreeMap::new();
    let mut results = Vec::new();
    let mut outcome = upload_bytes(
        client,
        &file,
        bytes,
        args.department.as_deref(),
        args.dataset.as_deref(),
        |p| printer.show(p),
        |r| {
            count_rules(&mut rules, &r);
            if args.client.json {
                results.extend(r);
            }
        },
    )
    .await?;
    if let Some(path) = &args.report {
        let report = outcome.report.take().unwrap_or_default();
        std::fs::write(path, report)
            .with_context(|| format!("cannot write the result workbook {}", path.display()))?;
    }
    Ok(Done {
        file,
        outcome,
        rules,
        results,
    })
}

/// Uploads the workbook `bytes` named `file_name` for the node to import, and gathers its
/// answer: `on_progress` and `on_results` hear of each event, the outcome carries the
/// result workbook in `report`.
pub async fn upload_bytes(
    mut client: crate::client::Client,
    file_name: &str,
    bytes: Vec<u8>,
    department: Option<&str>,
    dataset: Option<&str>,
    mut on_progress: impl FnMut(&Progress),
    mut on_results: impl FnMut(Vec<pb::RecordResult>),
) -> anyhow::Result<ImportOutcome> {
    // The first message names the file; every message carries the next piece of it.
    let messages: Vec<pb::UploadRequest> = bytes
        .chunks(UPLOAD_CHUNK)
        .enumerate()
        .map(|(i, piece)| {
            let first = |value: Option<&str>| {
                if i == 0 {
                    value.unwrap_or_default().to_string()
                } else {
                    String::new()
                }
            };
            pb::UploadRequest {
                file_name: first(Some(file_name)),
                department: first(department),
                dataset: first(dataset),
                data: piece.to_vec(),
            }
        })
        .collect();
    drop(bytes);
    let mut events = client
        .upload(tokio_stream::iter(messages))
        .await
        .map_err(|s| anyhow!(crate::client::status_message(&s)))?
        .into_inner();
    let mut outcome = None;
    let mut report = Vec::new();
    while let Some(event) = events
        .message()
        .await
        .map_err(|s| anyhow!(crate::client::status_message(&s)))?
    {
        match event.kind {
            Some(pb::upload_event::Kind::Progress(p)) => on_progress(&Progress {
                finished: p.rows_total > 0 && p.rows_done >= p.rows_total,
                sheet: p.sheet,
                dataset: p.dataset,
                rows_done: p.rows_done,
                rows_total: p.rows_total,
            }),
            Some(pb::upload_event::Kind::Results(r)) => on_results(r.results),
            Some(pb::upload_event::Kind::Summary(s)) => {
                outcome = Some(ImportOutcome {
                    rows: s.rows,
                    accepted: s.accepted,
                    rejected: s.rejected,
                    unchanged: s.unchanged,
                    not_submitted: s.not_submitted,
                    notes: s.notes,
                    pack: s.pack,
                    report: None,
                });
            }
            Some(pb::upload_event::Kind::Report(piece)) => report.extend_from_slice(&piece),
            None => {}
        }
    }
    let mut outcome =
        outcome.ok_or_else(|| anyhow!("the node closed the upload without a summary"))?;
    outcome.report = Some(report);
    Ok(outcome)
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn count_rules(rules: &mut BTreeMap<String, u64>, results: &[pb::RecordResult]) {
    for result in results.iter().filter(|r| r.status == "rejected") {
        for issue in result.issues.iter().filter(|i| i.severity == "error") {
            *rules.entry(issue.rule.clone()).or_default() += 1;
        }
    }
}

/// Progress lines on stderr: at most one every two seconds per sheet, and one when a
/// sheet is finished.
struct ProgressPrinter {
    quiet: bool,
    started: Instant,
    last: Option<Instant>,
}

impl ProgressPrinter {
    fn new(quiet: bool) -> Self {
        ProgressPrinter {
            quiet,
            started: Instant::now(),
            last: None,
        }
    }

    fn show(&mut self, p: &Progress) {
        if self.quiet {
            return;
        }
        let now = Instant::now();
        if !p.finished && self.last.is_some_and(|l| now - l < Duration::from_secs(2)) {
            return;
        }
        self.last = Some(now);
        let rate = p.rows_done as f64 / (now - self.started).as_secs_f64().max(1e-9);
        let share = if p.rows_total > 0 {
            format!(
                " ({:.0}%)",
                100.0 * p.rows_done as f64 / p.rows_total as f64
            )
        } else {
            String::new()
        };
        let total = if p.rows_total > 0 {
            format!("/{}", p.rows_total)
        } else {
            String::new()
        };
        let state = if p.finished { "done" } else { "…" };
        eprintln!(
            "  {} [{}]: {}{total} rows{share}, {rate:.0} rows/s {state}",
            p.sheet, p.dataset, p.rows_done
        );
        let _ = std::io::stderr().flush();
        if p.finished {
            self.started = Instant::now();
            self.last = None;
        }
    }
}

fn print_human(args: &SubmitArgs, d: &Done) {
    let o = &d.outcome;
    println!(
        "{}: {} rows: accepted {}, rejected {}, unchanged {}, not submitted {}",
        d.file, o.rows, o.accepted, o.rejected, o.unchanged, o.not_submitted
    );
    if !d.rules.is_empty() {
        let mut rules: Vec<(&String, &u64)> = d.rules.iter().collect();
        rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        println!("  rejections by rule:");
        for (rule, n) in rules.iter().take(15) {
            println!("    {n:>8}  {rule}");
        }
        if rules.len() > 15 {
            println!("    ... and {} more rules", rules.len() - 15);
        }
    }
    for note in &o.notes {
        println!("  note: {note}");
    }
    match &args.report {
        Some(path) => println!(
            "  result workbook: {} (problem cells are red, with a note; correct them and submit that file again)",
            path.display()
        ),
        None if o.rejected + o.not_submitted > 0 => println!(
            "  add --report RESULT.xlsx to get the workbook back with every problem cell marked"
        ),
        None => {}
    }
}

fn print_json(args: &SubmitArgs, done: &[Done]) {
    let sum = |f: fn(&ImportOutcome) -> u64| done.iter().map(|d| f(&d.outcome)).sum::<u64>();
    let results: Vec<serde_json::Value> = done
        .iter()
        .flat_map(|d| d.results.iter())
        .map(super::submit::result_json)
        .collect();
    let notes: Vec<&String> = done.iter().flat_map(|d| d.outcome.notes.iter()).collect();
    println!(
        "{}",
        json!({
            "submitted": sum(|o| o.accepted + o.rejected + o.unchanged),
            "accepted": sum(|o| o.accepted),
            "rejected": sum(|o| o.rejected),
            "unchanged": sum(|o| o.unchanged),
            "not_submitted": sum(|o| o.not_submitted),
            "rows": sum(|o| o.rows),
            "notes": notes,
            "report": args.report.as_ref().map(|p| p.display().to_string()),
            "results": results,
        })
    );
}
