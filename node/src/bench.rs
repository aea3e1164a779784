//! `regfed bench`: the performance figures, measured in one run on this machine:
//! governance records/s on one core, end-to-end durable ingest over mutual TLS, and the
//! raw sled limit (batched insert + sync of the same bytes) that ingest is compared to.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use regfed_governance::{govern, Context, Fields, Lookup, Region, RegionTable, RulePack, Verdict};
use regfed_pki::Tier;
use regfed_sample::{action_stream, departments, generate, Sample, SampleConfig};

use crate::cli::submit::{send, Outgoing};
use crate::local::{self, LocalSpec, SampleForm};
use crate::store::{Store, StoreOptions, WriteSet};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Action records governed in the governance benchmark.
    #[arg(long, default_value_t = 200_000)]
    pub governance_records: usize,
    /// Action records ingested end to end (and written raw to sled).
    #[arg(long, default_value_t = 30_000)]
    pub ingest_records: usize,
    /// Records per submitted batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Concurrent clients per department during ingest.
    #[arg(long, default_value_t = 2)]
    pub clients_per_department: usize,
    /// Rounds of each measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

const REGION: &str = "420100";

struct MapLookup {
    departments: HashMap<String, String>,
    /// Data set, then key.
    records: HashMap<String, HashMap<String, Fields>>,
}

impl Lookup for MapLookup {
    fn department(&self, code: &str) -> Option<String> {
        self.departments.get(code).cloned()
    }
    fn is_department(&self, code: &str) -> bool {
        self.departments.contains_key(code)
    }
    fn accepted(&self, dataset: &str, key: &str) -> Option<Fields> {
        self.records.get(dataset).and_then(|m| m.get(key)).cloned()
    }
    fn visit_accepted(&self, dataset: &str, key: &str, visit: &mut dyn FnMut(&Fields)) -> bool {
        match self.records.get(dataset).and_then(|m| m.get(key)) {
            Some(fields) => {
                visit(fields);
                true
            }
            None => false,
        }
    }
}

/// CPU time the process has used so far, all threads, user and system.
fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// `n` records over `elapsed`, as records/s.
pub(crate) fn per_second(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The median of a benchmark's rounds (the upper one of an even count); 0 for none.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// CPU time (user and system) a process has used so far, in seconds: Linux's
/// `/proc/{pid}/stat`; `None` elsewhere or when the process is gone.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_ascii_whitespace();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the system and has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}

/// Each round's rate for a report line: `41129, 39694, 32694`.
pub(crate) fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let today = crate::state::china_day(crate::node::now_millis());
    let depts = departments(REGION, 3);
    let mut cfg = SampleConfig::small(REGION, depts.clone(), today);
    cfg.defect_rate = 0.0;
    let refs = generate(&cfg);
    let pack = RulePack::builtin();
    let region = Region::parse(REGION)?;
    let rounds = args.rounds.max(1);
    let lookup = MapLookup {
        departments: depts
            .iter()
            .map(|d| (d.code.clone(), d.name.clone()))
            .collect(),
        records: refs.all().fold(
            HashMap::new(),
            |mut m: HashMap<String, HashMap<String, Fields>>, s| {
                m.entry(s.dataset.to_string())
                    .or_default()
                    .insert(s.key.clone(), s.valid.fields.clone());
                m
            },
        ),
    };
    let govern_all = |samples: &[Sample]| -> Vec<Verdict> {
        samples
            .iter()
            .map(|sample| {
                let ctx = Context {
                    pack: &pack,
                    regions: RegionTable::builtin(),
                    node_region: &region,
                    today,
                    submitter: sample.department.as_deref(),
                    lookup: &lookup,
                };
                govern(&ctx, "action", &sample.record)
            })
            .collect()
    };

    // 1. Governance on one core: the same records, several rounds, a batch at a time as
    // the node governs them (each batch's verdicts are dropped before the next, as the
    // node's go into the log: keeping all 200,000 alive measured the allocator's first
    // touch of fresh memory, a tenth of the time on this machine).
    let actions = action_stream(&cfg, &refs, 1, args.governance_records);
    let mut governance = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let mut rejected = 0;
        for batch in actions.chunks(args.batch.max(1)) {
            rejected += govern_all(batch).iter().filter(|v| !v.accepted()).count();
        }
        governance.push(per_second(actions.len(), started.elapsed()));
        anyhow::ensure!(
            rejected == 0,
            "{rejected} generated valid actions were rejected; the benchmark data is wrong"
        );
    }
    drop(actions);

    // 2 and 3, alternating round by round so that both see the same machine: the raw sled
    // limit (the records' standardized bytes, batched insert + sync, same durability) and
    // end-to-end ingest (departments submitting batches to a real node over mutual TLS).
    let n = args.ingest_records;
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let node = local::prepare(
        dir.path(),
        &LocalSpec {
            id: "bench-1",
            tier: Tier::City,
            region: REGION,
            departments: &depts,
            listen: local::free_port()?,
            http: None,
            handshake_timeout_secs: None,
            extra_config: "",
        },
    )?;
    let config = crate::config::Config::load(&node.config_path)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::node::run(config, async move {
        let _ = stop_rx.await;
    }));
    local::wait_ready(&node, Duration::from_secs(20)).await?;
    local::load_samples(&node, &refs, SampleForm::AsSubmitted).await?;

    let raw_dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let store = Store::open(raw_dir.path(), &StoreOptions::default())?;
    let (mut raw, mut ingest, mut record_bytes) = (Vec::new(), Vec::new(), 0);
    let mut cpu_per_record = Vec::new();
    for round in 0..rounds {
        let samples = action_stream(&cfg, &refs, 1 + (round * n) as u64, n);
        let verdicts = govern_all(&samples);
        let payloads: Vec<(Vec<u8>, Vec<u8>)> = verdicts
            .iter()
            .map(|v| {
                (
                    format!("raw/{}", v.key).into_bytes(),
                    crate::codec::encode(&v.fields),
                )
            })
            .collect();
        record_bytes = payloads.iter().map(|(_, v)| v.len()).sum::<usize>() / n.max(1);
        let started = Instant::now();
        for chunk in payloads.chunks(args.batch) {
            let mut set = WriteSet::default();
            for (k, v) in chunk {
                set.put(k.clone(), v.clone());
            }
            store.commit(set)?;
            store.sync()?;
        }
        raw.push(per_second(n, started.elapsed()));

        let mut by_dept: BTreeMap<String, Vec<Outgoing>> = BTreeMap::new();
        for s in samples {
            by_dept
                .entry(s.department.clone().unwrap_or_default())
                .or_default()
                .push(Outgoing {
                    record: s.record,
                    source: s.key,
                });
        }
        // Each department's records split among its clients, moved, before the clock starts.
        let per = args.clients_per_department.max(1);
        let mut streams = Vec::new();
        for (dept, mut records) in by_dept {
            let chunk = records.len().div_ceil(per).max(1);
            while !records.is_empty() {
                let rest = records.split_off(chunk.min(records.len()));
                streams.push((dept.clone(), records));
                records = rest;
            }
        }
        let started = Instant::now();
        let cpu_before = process_cpu();
        let mut tasks = Vec::new();
        for (dept, records) in streams {
            let identity = node
                .departments
                .iter()
                .find(|(d, _)| d.code == dept)
                .map(|(_, p)| p.clone())
                .context("a sample department has no identity")?;
            let nodes = vec![node.addr.to_string()];
            let batch = args.batch;
            tasks.push(tokio::spawn(async move {
                let mut client = crate::client::connect(&nodes, &identity).await?;
                send(&mut client, "action", None, &records, batch).await
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            accepted += t.await??.count("accepted");
        }
        ingest.push(per_second(n, started.elapsed()));
        cpu_per_record.push((process_cpu() - cpu_before).as_secs_f64() * 1e6 / n.max(1) as f64);
        anyhow::ensure!(
            accepted == n,
            "only {accepted} of {n} actions were accepted end to end"
        );
    }
    let _ = stop_tx.send(());
    server.await??;

    let ratios: Vec<f64> = ingest.iter().zip(&raw).map(|(i, r)| i / r).collect();
    let (g_best, g) = (
        governance.iter().cloned().fold(0.0, f64::max),
        median(&mut governance),
    );
    let (r, i) = (median(&mut raw.clone()), median(&mut ingest.clone()));
    let ratio = median(&mut ratios.clone());
    let cpu = median(&mut cpu_per_record);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "governance_records_per_sec": g,
                "governance_best_records_per_sec": g_best,
                "ingest_records_per_sec": i,
                "raw_sled_records_per_sec": r,
                "ingest_over_raw": ratio,
                "ingest_cpu_micros_per_record": cpu,
                "rounds": rounds,
                "governance_records": args.governance_records,
                "ingest_records": n,
                "record_bytes_avg": record_bytes,
                "batch": args.batch,
            })
        );
    } else {
        println!("governance         {g:>10.0} records/s on one core, median of {rounds} (best {g_best:.0}; {} action records; target >= 150,000)", args.governance_records);
        println!("raw sled limit     {r:>10.0} records/s, median (rounds: {}; batches of {}, insert + sync, {record_bytes} bytes/record)", list(&raw), args.batch);
        println!("end-to-end ingest  {i:>10.0} records/s, median (rounds: {}; {n} actions a round, batches of {} over mTLS, durable before ack)", list(&ingest), args.batch);
        println!(
            "ingest CPU         {cpu:>10.1} us per record, all threads (node and clients), median"
        );
        println!(
            "ingest / raw sled  {:>10.1}% median of the rounds' ratios (rounds: {}; target >= 40%)",
            100.0 * ratio,
            ratios
                .iter()
                .map(|x| format!("{:.0}%", 100.0 * x))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
