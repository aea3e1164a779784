//! `regfed bench-xlsx`: import of a large workbook end to end. Writes a workbook of
//! `--rows` action rows (after sheets of the items, subjects and officers they refer to),
//! starts a real node process, and imports the workbook as `regfed submit` does: read on one
//! thread, submitted over mutual TLS in batches, the result workbook written on another
//! thread. Prints rows/s and the peak memory of the importer and of the node.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use regfed_formats::xlsx::{header_text, sheet_name, Workbook};
use regfed_governance::{RulePack, Value};
use regfed_pki::Tier;
use regfed_sample::{action_stream, departments, generate, Sample, SampleConfig};
use rust_xlsxwriter::{Format, Workbook as XlsxWriter};

use crate::import::{self, ImportOptions, ReportTarget};
use crate::local::{self, LocalSpec};

#[derive(Args, Debug)]
pub struct XlsxBenchArgs {
    /// Action rows in the workbook.
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    /// Rows per submitted batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Batches in flight.
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Import by upload (the node reads the workbook) instead of reading it here.
    #[arg(long)]
    pub upload: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

const REGION: &str = "420100";

pub async fn run(args: XlsxBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let depts = departments(REGION, 1);
    let today = chrono::Utc::now().date_naive();
    let cfg = SampleConfig {
        defect_rate: 0.0,
        ..SampleConfig::small(REGION, depts.clone(), today)
    };
    let refs = generate(&cfg);
    let actions = action_stream(&cfg, &refs, 1, args.rows);
    let pack = RulePack::builtin();

    let path = dir.path().join("bench.xlsx");
    let started = Instant::now();
    write_workbook(&path, &pack, &refs, &actions)?;
    let size = std::fs::metadata(&path)?.len();
    let written = started.elapsed();
    drop(actions);
    eprintln!(
        "wrote {} action rows ({:.1} MiB) in {:.1} s",
        args.rows,
        size as f64 / 1048576.0,
        written.as_secs_f64()
    );

    // Reading alone: the reader's own ceiling.
    let started = Instant::now();
    let mut book = Workbook::open(&path)?;
    let plan = book.plan(&pack, None);
    let mut read_rows = 0u64;
    for sheet in &plan.sheets {
        let spec = pack.dataset(&sheet.dataset).context("planned data set")?;
        book.read_sheet(sheet, spec, args.batch, &mut |event| {
            if let regfed_formats::xlsx::SheetEvent::Rows(rows) = event {
                read_rows += rows.len() as u64;
            }
            true
        })?;
    }
    let read = started.elapsed();
    drop(book);

    let node = local::prepare(
        dir.path(),
        &LocalSpec {
            id: "bench-xlsx-1",
            tier: Tier::City,
            region: REGION,
            departments: &depts,
            listen: local::free_port()?,
            http: None,
            handshake_timeout_secs: None,
            extra_config: "",
        },
    )?;
    // The node runs as its own process, so that the importer's memory and the node's are
    // measured apart.
    let log = std::fs::File::create(dir.path().join("node.log"))?;
    let bin = std::env::current_exe().context("cannot find the regfed binary")?;
    let mut server = NodeChild(
        std::process::Command::new(bin)
            .args(["serve", "--config"])
            .arg(&node.config_path)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start regfed serve")?,
    );
    local::wait_ready(&node, Duration::from_secs(20)).await?;
    let identity = node.departments[0].1.clone();
    let client = crate::client::connect(&[node.addr.to_string()], &identity).await?;

    reset_peak_memory();
    let report = dir.path().join("bench-result.xlsx");
    let started = Instant::now();
    let outcome = if args.upload {
        upload(client, &path, &report).await?
    } else {
        let owned = path.clone();
        import::import(
            move || Workbook::open(&owned),
            pack.clone(),
            ImportOptions {
                department: None,
                dataset: None,
                batch: args.batch,
                window: args.window,
            },
            Arc::new(client),
            ReportTarget::File(report.clone()),
            |_| {},
            |_| {},
        )
        .await?
    };
    let elapsed = started.elapsed();
    let peak = peak_memory_bytes("self");
    let node_peak = peak_memory_bytes(&server.0.id().to_string());
    let _ = server.0.kill();
    let _ = server.0.wait();

    let rate = outcome.rows as f64 / elapsed.as_secs_f64();
    let read_rate = read_rows as f64 / read.as_secs_f64();
    let report_size = std::fs::metadata(&report).map(|m| m.len()).unwrap_or(0);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "rows": outcome.rows,
                "accepted": outcome.accepted,
                "rejected": outcome.rejected,
                "seconds": elapsed.as_secs_f64(),
                "rows_per_second": rate,
                "read_rows_per_second": read_rate,
                "peak_memory_bytes": peak,
                "node_peak_memory_bytes": node_peak,
                "workbook_bytes": size,
                "result_bytes": report_size,
                "upload": args.upload,
            })
        );
    } else {
        println!("Excel import, {} rows ({} action rows after {} items, subjects and officers), {:.1} MiB workbook:",
            outcome.rows, args.rows, outcome.rows.saturating_sub(args.rows as u64), size as f64 / 1048576.0);
        println!(
            "  end to end ({}): {:.0} rows/s ({:.1} s; accepted {}, rejected {}, result workbook {:.1} MiB)",
            if args.upload { "uploaded, read by the node" } else { "read here, batches over mutual TLS" },
            rate,
            elapsed.as_secs_f64(),
            outcome.accepted,
            outcome.rejected,
            report_size as f64 / 1048576.0
        );
        println!("  reading alone: {read_rate:.0} rows/s");
        let mib = |b: Option<u64>| {
            b.map_or("not measurable here (no VmHWM in /proc)".to_string(), |b| {
                format!("{:.0} MiB", b as f64 / 1048576.0)
            })
        };
        println!(
            "  peak memory of the importer (reader, batches, result writer): {}",
            mib(peak)
        );
        println!(
            "  peak memory of the node process (for comparison): {}",
            mib(node_peak)
        );
        println!("  targets: >= 20,000 rows/s, < 300 MiB");
    }
    Ok(())
}

/// Uploads the workbook as `regfed submit --upload` does and writes the result workbook.
async fn upload(
    client: crate::client::Client,
    path: &std::path::Path,
    report: &std::path::Path,
) -> anyhow::Result<import::ImportOutcome> {
    let bytes = std::fs::read(path)?;
    let mut outcome =
        crate::cli::workbook::upload_bytes(client, "bench.xlsx", bytes, None, None, |_| {}, |_| {})
            .await?;
    std::fs::write(report, outcome.report.take().unwrap_or_default())?;
    Ok(outcome)
}

/// Writes the workbook a department would: one sheet per data set, template headers,
/// every value as text.
fn write_workbook(
    path: &std::path::Path,
    pack: &RulePack,
    refs: &regfed_sample::SampleSet,
    actions: &[Sample],
) -> anyhow::Result<()> {
    let mut book = XlsxWriter::new();
    let text = Format::new().set_num_format("@");
    for spec in pack.datasets() {
        let samples: &[Sample] = if spec.name == "action" {
            actions
        } else {
            refs.dataset(&spec.name)
        };
        let sheet = book.add_worksheet_with_constant_memory()?;
        sheet.set_name(sheet_name(spec))?;
        for (col, field) in spec.fields.iter().enumerate() {
            sheet.write_string(0, col as u16, header_text(field))?;
        }
        for (row, sample) in samples.iter().enumerate() {
            for (col, field) in spec.fields.iter().enumerate() {
                let value = match sample.record.fields.get(&field.name) {
                    Some(Value::Text(t)) => t.to_string(),
                    Some(Value::List(items)) => items.join(";"),
                    None => continue,
                };
                sheet.write_string_with_format(row as u32 + 1, col as u16, value, &text)?;
            }
        }
    }
    book.save(path)?;
    Ok(())
}

/// Kills the node process when the benchmark ends, however it ends.
struct NodeChild(std::process::Child);

impl Drop for NodeChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resets the kernel's peak-RSS mark of this process, so that what the workbook's
/// generation used is not counted.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A process's peak resident memory (VmHWM; for this process, since the last reset).
fn peak_memory_bytes(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
