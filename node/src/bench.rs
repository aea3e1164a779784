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

use crate::local::{self, LocalSpec, SampleForm};
use crate::store::{Store, StoreOptions, WriteSet};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Action records governed in the governance benchmark.
    #[arg(long, default_value_t = 200_000)]
    pub governance_records: usize,
    /// Action records ingested end to end (and written raw to sled).
    #[arg(long, default_value_t = 50_000)]
    pub ingest_records: usize,
    /// Records per submitted batch.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

const REGION: &str = "420100";

struct MapLookup {
    departments: HashMap<String, String>,
    records: HashMap<(String, String), Fields>,
}

impl Lookup for MapLookup {
    fn department(&self, code: &str) -> Option<String> {
        self.departments.get(code).cloned()
    }
    fn accepted(&self, dataset: &str, key: &str) -> Option<Fields> {
        self.records.get(&(dataset.to_string(), key.to_string())).cloned()
    }
}

fn per_second(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let today = crate::state::china_day(crate::node::now_millis());
    let depts = departments(REGION, 3);
    let mut cfg = SampleConfig::small(REGION, depts.clone(), today);
    cfg.defect_rate = 0.0;
    let refs = generate(&cfg);
    let pack = RulePack::builtin();
    let region = Region::parse(REGION)?;

    // 1. Governance on one core.
    let lookup = MapLookup {
        departments: depts.iter().map(|d| (d.code.clone(), d.name.clone())).collect(),
        records: refs
            .all()
            .map(|s| ((s.dataset.to_string(), s.key.clone()), s.valid.fields.clone()))
            .collect(),
    };
    let actions = action_stream(&cfg, &refs, 1, args.governance_records);
    let started = Instant::now();
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(actions.len());
    for sample in &actions {
        let ctx = Context {
            pack: &pack,
            regions: RegionTable::builtin(),
            node_region: &region,
            today,
            submitter: sample.department.as_deref(),
            lookup: &lookup,
        };
        verdicts.push(govern(&ctx, "action", &sample.record));
    }
    let governance_secs = started.elapsed();
    let rejected = verdicts.iter().filter(|v| !v.accepted()).count();
    anyhow::ensure!(rejected == 0, "{rejected} generated valid actions were rejected; the benchmark data is wrong");
    let governance_rate = per_second(actions.len(), governance_secs);

    // 2. Raw sled: the same record bytes, batched insert + sync, same durability.
    let n = args.ingest_records.min(verdicts.len());
    let raw_dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let store = Store::open(raw_dir.path(), &StoreOptions::default())?;
    let payloads: Vec<(Vec<u8>, Vec<u8>)> = verdicts[..n]
        .iter()
        .map(|v| (format!("raw/{}", v.key).into_bytes(), serde_json::to_vec(&v.fields).unwrap_or_default()))
        .collect();
    let bytes: usize = payloads.iter().map(|(_, v)| v.len()).sum();
    let started = Instant::now();
    for chunk in payloads.chunks(args.batch) {
        let mut set = WriteSet::default();
        for (k, v) in chunk {
            set.put(k.clone(), v.clone());
        }
        store.commit(set)?;
        store.sync()?;
    }
    let raw_rate = per_second(n, started.elapsed());
    drop(store);

    // 3. End to end: a real node, departments submitting batches over mutual TLS.
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let node = local::prepare(dir.path(), &LocalSpec {
        id: "bench-1",
        tier: Tier::City,
        region: REGION,
        departments: &depts,
        listen: local::free_port()?,
        http: None,
        extra_config: "",
    })?;
    let config = crate::config::Config::load(&node.config_path)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::node::run(config, async move {
        let _ = stop_rx.await;
    }));
    local::wait_ready(&node, Duration::from_secs(20)).await?;
    local::load_samples(&node, &refs, SampleForm::AsSubmitted).await?;
    let ingest: Vec<Sample> = actions.into_iter().take(n).collect();
    let mut by_dept: BTreeMap<String, Vec<crate::cli::submit::Outgoing>> = BTreeMap::new();
    for s in ingest {
        by_dept.entry(s.department.clone().unwrap_or_default()).or_default().push(crate::cli::submit::Outgoing {
            record: s.record,
            source: s.key,
        });
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (dept, records) in by_dept {
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
            crate::cli::submit::send(&mut client, "action", None, &records, batch).await
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??.count("accepted");
    }
    let ingest_rate = per_second(n, started.elapsed());
    let _ = stop_tx.send(());
    server.await??;
    anyhow::ensure!(accepted == n, "only {accepted} of {n} actions were accepted end to end");

    let ratio = ingest_rate / raw_rate;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "governance_records_per_sec": governance_rate,
                "ingest_records_per_sec": ingest_rate,
                "raw_sled_records_per_sec": raw_rate,
                "ingest_over_raw": ratio,
                "governance_records": verdicts.len(),
                "ingest_records": n,
                "record_bytes_avg": bytes / n.max(1),
                "batch": args.batch,
            })
        );
    } else {
        println!("governance         {:>10.0} records/s on one core ({} action records; target >= 150,000)", governance_rate, verdicts.len());
        println!("raw sled limit     {:>10.0} records/s (batches of {}, insert + sync, {} bytes/record avg)", raw_rate, args.batch, bytes / n.max(1));
        println!("end-to-end ingest  {:>10.0} records/s ({} actions, batches of {} over mTLS, durable before ack)", ingest_rate, n, args.batch);
        println!("ingest / raw sled  {:>10.1}% (target >= 40%)", 100.0 * ratio);
    }
    Ok(())
}
