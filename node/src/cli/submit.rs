//! `regfed submit`: read JSONL, CSV or Excel files, send them in batches, print the verdicts;
//! for a workbook, optionally write the result workbook with every problem cell marked.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use clap::Args;
use regfed_governance::{RawRecord, RulePack};
use regfed_proto::v1 as pb;
use serde_json::json;

use super::ClientArgs;

#[derive(Args, Debug)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// item, subject, officer or action. Required for JSONL and CSV; for a workbook, the
    /// data set of sheets whose names name none.
    #[arg(long)]
    pub dataset: Option<String>,
    /// For operators: the department the records belong to.
    #[arg(long)]
    pub department: Option<String>,
    /// Records per batch (one Raft log entry each).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// For a workbook: write the result workbook here (the rows with their verdicts, every
    /// problem cell filled and noted; correct it and submit it again).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// For a workbook: send the file to the node, which imports it with its own rule pack
    /// and answers with the result workbook.
    #[arg(long)]
    pub upload: bool,
    /// For a workbook: batches in flight at once.
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Do not print progress on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// .jsonl, .csv (UTF-8 or GBK), or .xlsx / .xls / .xlsb / .ods workbook files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// One record to send, with where it came from.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub record: RawRecord,
    pub source: String,
}

pub fn to_pb(records: &[Outgoing]) -> Vec<pb::RecordIn> {
    records
        .iter()
        .map(|r| pb::RecordIn {
            op: r.record.op.as_str().to_string(),
            fields: r.record.fields.clone(),
            source: r.source.clone(),
        })
        .collect()
}

/// One record's verdict in the shape of the CLI contract (`regfed submit --json`).
pub fn result_json(r: &pb::RecordResult) -> serde_json::Value {
    json!({
        "key": r.key,
        "status": r.status,
        "version": r.version,
        "source": r.source,
        "issues": r.issues.iter().map(|i| json!({
            "rule": i.rule, "field": i.field, "severity": i.severity,
            "message": format!("{} / {}", i.message_zh, i.message_en),
            "example": i.example,
        })).collect::<Vec<_>>(),
    })
}

/// Totals over all batches, in the shape of the CLI contract.
#[derive(Default)]
pub struct Summary {
    pub results: Vec<pb::RecordResult>,
}

impl Summary {
    pub fn count(&self, status: &str) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "submitted": self.results.len(),
            "accepted": self.count("accepted"),
            "rejected": self.count("rejected"),
            "unchanged": self.count("unchanged"),
            "results": self.results.iter().map(result_json).collect::<Vec<_>>(),
        })
    }

    pub fn print_human(&self) {
        println!(
            "submitted {}, accepted {}, rejected {}, unchanged {}",
            self.results.len(),
            self.count("accepted"),
            self.count("rejected"),
            self.count("unchanged")
        );
        for r in self.results.iter().filter(|r| r.status == "rejected") {
            println!(
                "  rejected {} (version {}, {}):",
                r.key, r.version, r.source
            );
            for i in &r.issues {
                println!(
                    "    [{}] {} {}: {} / {}",
                    i.severity, i.rule, i.field, i.message_zh, i.message_en
                );
                if i.severity == "error" && !i.example.is_empty() {
                    println!("        e.g. {}", i.example);
                }
            }
        }
    }
}

/// How long a submission to a group waits out a change of leader before giving up.
const LEADER_CHANGE_WAIT: Duration = Duration::from_secs(30);

/// Sends `records` in batches of `batch` to the node `client` talks to, returning every
/// verdict; the first batch the node does not accept ends the run.
pub async fn send(
    client: &mut crate::client::Client,
    dataset: &str,
    department: Option<&str>,
    records: &[Outgoing],
    batch: usize,
) -> anyhow::Result<Summary> {
    send_batches(client, None, dataset, department, records, batch).await
}

/// [`send`] to a group through any of its members `nodes`, as `identity`, riding out a
/// change of leader: when a member answers that it is not the leader (the group is
/// electing one) or the connection fails, it connects again and sends the same batch,
/// for up to [`LEADER_CHANGE_WAIT`]. Neither answer applied the batch, unless the old
/// leader committed it just before it fell; then its records come back `unchanged` with
/// their status, never stored twice.
pub async fn send_to_group(
    nodes: &[String],
    identity: &Path,
    dataset: &str,
    department: Option<&str>,
    records: &[Outgoing],
    batch: usize,
) -> anyhow::Result<Summary> {
    let mut client = crate::client::connect(nodes, identity).await?;
    let group = Some((nodes, identity));
    send_batches(&mut client, group, dataset, department, records, batch).await
}

/// Whether a failed submission may be sent again: the member was not the leader, or the
/// connection to it failed.
fn worth_resending(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    )
}

async fn send_batches(
    client: &mut crate::client::Client,
    group: Option<(&[String], &Path)>,
    dataset: &str,
    department: Option<&str>,
    records: &[Outgoing],
    batch: usize,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    for (n, chunk) in records.chunks(batch.max(1)).enumerate() {
        let request = || pb::SubmitRequest {
            dataset: dataset.to_string(),
            records: to_pb(chunk),
            department: department.unwrap_or_default().to_string(),
        };
        let mut first_failure: Option<Instant> = None;
        let response = loop {
            let status = match client.submit(request()).await {
                Ok(response) => break response,
                Err(status) => status,
            };
            let failed = || {
                format!(
                    "batch {} ({} records) was not accepted by the node",
                    n + 1,
                    chunk.len()
                )
            };
            let Some((nodes, identity)) = group.filter(|_| worth_resending(&status)) else {
                return Err(anyhow!(crate::client::status_message(&status))).with_context(failed);
            };
            let since = *first_failure.get_or_insert_with(Instant::now);
            if since.elapsed() >= LEADER_CHANGE_WAIT {
                return Err(anyhow!(crate::client::status_message(&status))).with_context(|| {
                    format!(
                        "{}, after {} s of waiting for the group to have a leader",
                        failed(),
                        LEADER_CHANGE_WAIT.as_secs()
                    )
                });
            }
            tracing::info!(batch = n + 1, reason = %crate::client::status_message(&status), "Sending the batch again: the group may be electing a leader.");
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Ok(again) = crate::client::connect(nodes, identity).await {
                *client = again;
            }
        };
        summary.results.extend(response.into_inner().results);
    }
    Ok(summary)
}

pub async fn run(args: SubmitArgs) -> anyhow::Result<()> {
    let (books, texts): (Vec<&PathBuf>, Vec<&PathBuf>) = args
        .files
        .iter()
        .partition(|f| regfed_formats::xlsx::is_workbook(f));
    if !books.is_empty() && !texts.is_empty() {
        return Err(anyhow!(
            "give workbooks and JSONL/CSV files in separate runs: {} is a workbook, {} is not",
            books[0].display(),
            texts[0].display()
        ));
    }
    if args.report.is_some() && books.len() != 1 {
        return Err(anyhow!(
            "--report writes the result of one workbook: give exactly one .xlsx, .xls, .xlsb or .ods file"
        ));
    }
    if args.upload && books.is_empty() {
        return Err(anyhow!(
            "--upload sends a workbook: give an .xlsx, .xls, .xlsb or .ods file"
        ));
    }
    if !books.is_empty() {
        return super::workbook::run(&args, &books).await;
    }
    let pack = RulePack::builtin();
    let Some(dataset) = args.dataset.as_deref() else {
        return Err(anyhow!(
            "--dataset is required for JSONL and CSV files: item, subject, officer or action"
        ));
    };
    let spec = pack.dataset(dataset).ok_or_else(|| {
        anyhow!("unknown data set {dataset:?}; use item, subject, officer or action")
    })?;
    let mut records = Vec::new();
    for file in &args.files {
        let read = regfed_formats::read_file(file, spec)?;
        records.extend(read.into_iter().map(|r| Outgoing {
            record: r.record,
            source: r.source,
        }));
    }
    let summary = send_to_group(
        &args.client.nodes,
        &args.client.identity,
        dataset,
        args.department.as_deref(),
        &records,
        args.batch,
    )
    .await?;
    if args.client.json {
        println!("{}", summary.to_json());
    } else {
        summary.print_human();
    }
    Ok(())
}
