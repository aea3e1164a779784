//! `regfed bench-sync`: the federation's figures, measured in one run on this machine.
//!
//! A city accumulates a backlog while its province is down; the province comes up and the
//! backlog drains (upward sync records/s, the province committing durably). Beside each
//! drain, on the same bytes: the raw gRPC batch throughput over mutual TLS (a parent that
//! only acknowledges) and the raw sled limit (batched insert + sync). That is one round;
//! the province is killed and the next round begins, and the median of the rounds' ratios
//! is reported, since this machine's speed moves by half within minutes. Then the national
//! centre comes up and the province's whole backlog drains to it, and a steady load runs
//! through city -> province -> national, each record's hops giving the end-to-end latency.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use futures::Stream;
use prost::Message as _;
use regfed_proto::v1 as pb;
use regfed_sample::{action_stream, generate, SampleConfig};
use tonic::{Request, Response, Status, Streaming};

use crate::bench::per_second;
use crate::federation::{self, NodePlan};
use crate::local::{self, LocalNode, Processes, SampleForm};
use crate::store::{Store, StoreOptions, WriteSet};
use regfed_pki::{Tier, TlsMaterial};

#[derive(Args, Debug)]
pub struct SyncBenchArgs {
    /// Actions accumulated at the city while its province is down, then drained.
    #[arg(long, default_value_t = 100_000)]
    pub backlog: usize,
    /// Actions per second of the steady load whose latency is measured.
    #[arg(long, default_value_t = 1000)]
    pub rate: usize,
    /// Seconds of steady load.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Records per upward batch (and per raw batch).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Rounds of backlog, limits and drain; the median of the rounds' ratios is reported.
    /// The province is killed between rounds and drains each new backlog on top of what
    /// it already holds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Seconds the backlog may take to reach the national centre.
    #[arg(long, default_value_t = 1800)]
    pub drain_timeout_secs: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A node's status, over one kept connection per node: the polls below run every few
/// milliseconds, and a TLS handshake for each would take CPU from what is measured.
async fn status(node: &LocalNode) -> anyhow::Result<pb::StatusResponse> {
    type Clients = std::sync::Mutex<std::collections::BTreeMap<String, crate::client::Client>>;
    static CLIENTS: Clients = std::sync::Mutex::new(std::collections::BTreeMap::new());
    let clients = || CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    let addr = node.addr.to_string();
    let kept = clients().get(&addr).cloned();
    let mut client = match kept {
        Some(client) => client,
        None => {
            let client =
                crate::client::connect(std::slice::from_ref(&addr), &node.operator).await?;
            clients().insert(addr.clone(), client.clone());
            client
        }
    };
    match client.status(pb::StatusRequest {}).await {
        Ok(response) => Ok(response.into_inner()),
        Err(status) => {
            clients().remove(&addr);
            Err(status.into())
        }
    }
}

/// A parent that acknowledges every batch and does nothing else: the gRPC limit.
struct AckOnly;

#[tonic::async_trait]
impl pb::federation_server::Federation for AckOnly {
    type LinkStream = Pin<Box<dyn Stream<Item = Result<pb::LinkDown, Status>> + Send>>;

    async fn link(
        &self,
        request: Request<Streaming<pb::LinkUp>>,
    ) -> Result<Response<Self::LinkStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok(Some(m)) = inbound.message().await {
                if let Some(pb::link_up::Msg::Batch(b)) = m.msg {
                    let ack = pb::LinkDown {
                        msg: Some(pb::link_down::Msg::Ack(pb::UpAck {
                            last_seq: b.last_seq,
                            accepted: b.records.len() as u32,
                            ..Default::default()
                        })),
                    };
                    if tx.send(Ok(ack)).await.is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// Streams `batches` to an acknowledge-only parent over mutual TLS with a window of 4;
/// answers records/s.
async fn raw_grpc(
    server_tls: &TlsMaterial,
    client_tls: &TlsMaterial,
    batches: &[pb::UpBatch],
) -> anyhow::Result<f64> {
    let addr = local::free_port()?;
    let tls = tonic::transport::ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(
            &server_tls.cert_pem,
            &server_tls.key_pem,
        ))
        .client_ca_root(tonic::transport::Certificate::from_pem(&server_tls.ca_pem));
    let server = tonic::transport::Server::builder()
        .tls_config(tls)?
        .add_service(
            pb::federation_server::FederationServer::new(AckOnly)
                .max_decoding_message_size(crate::client::MAX_MESSAGE_BYTES),
        )
        .serve(addr);
    let server = tokio::spawn(server);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let channel = crate::client::connect_channel(&[addr.to_string()], client_tls).await?;
    let mut client = pb::federation_client::FederationClient::new(channel)
        .max_encoding_message_size(crate::client::MAX_MESSAGE_BYTES);
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::LinkUp>(8);
    let records: usize = batches.iter().map(|b| b.records.len()).sum();
    let started = Instant::now();
    let mut inbound = client
        .link(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut acked = 0;
    let mut sent = 0;
    while acked < batches.len() {
        while sent < batches.len() && sent - acked < 4 {
            tx.send(pb::LinkUp {
                msg: Some(pb::link_up::Msg::Batch(batches[sent].clone())),
            })
            .await?;
            sent += 1;
        }
        inbound.message().await?.context("the raw parent closed")?;
        acked += 1;
    }
    let rate = per_second(records, started.elapsed());
    server.abort();
    Ok(rate)
}

/// Waits until `child` is linked to its parent; `failure` if it is not within `deadline`.
async fn wait_linked(child: &LocalNode, deadline: Duration, failure: &str) -> anyhow::Result<()> {
    let waiting = Instant::now();
    while !status(child).await?.parent_connected {
        anyhow::ensure!(waiting.elapsed() < deadline, "{failure}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub async fn run(args: SyncBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let plan = vec![
        NodePlan::new("national", Tier::National, "100000", 0)?,
        NodePlan::new("hubei", Tier::Province, "420000", 0)?,
        NodePlan::new("wuhan", Tier::City, "420100", 3)?,
    ];
    let nodes = federation::prepare(dir.path(), &plan, "")?;
    let (national, hubei, wuhan) = (&nodes[0], &nodes[1], &nodes[2]);
    // Each node is a process of its own, as in production: in one process, sled's
    // process-wide lock would make the city's reads wait on the province's commits.
    let mut servers = vec![Processes::spawn(std::slice::from_ref(wuhan), dir.path())?];
    local::wait_ready(wuhan, Duration::from_secs(30)).await?;

    let today = crate::state::china_day(crate::node::now_millis());
    let depts = wuhan.departments.iter().map(|(d, _)| d.clone()).collect();
    let mut cfg = SampleConfig::small(&wuhan.region, depts, today);
    cfg.defect_rate = 0.0;
    let refs = generate(&cfg);
    local::load_samples(wuhan, &refs, SampleForm::AsSubmitted).await?;

    let mut rounds = Vec::with_capacity(args.rounds);
    let mut province: Option<Processes> = None;
    for round in 0..args.rounds.max(1) {
        let first = 1 + (round * args.backlog) as u64;
        rounds.push(
            sync_round(
                &args,
                &cfg,
                &refs,
                wuhan,
                hubei,
                dir.path(),
                &mut province,
                first,
            )
            .await?,
        );
        if round + 1 < args.rounds {
            if let Some(p) = &mut province {
                p.kill(0);
            }
        }
    }
    let target: u64 = status(wuhan).await?.records.values().sum();
    let backlog = status(hubei).await?.outbox_pending as usize;
    servers.extend(province);
    let deadline = Duration::from_secs(args.drain_timeout_secs);
    servers.push(Processes::spawn(
        std::slice::from_ref(national),
        dir.path(),
    )?);
    wait_linked(hubei, deadline, "the province did not link to the centre").await?;
    let started = Instant::now();
    let national_at = loop {
        let held: u64 = status(national)
            .await
            .map(|s| s.records.values().sum())
            .unwrap_or(0);
        if held >= target {
            break started.elapsed();
        }
        if started.elapsed() > deadline {
            anyhow::bail!(
                "the backlog did not drain to the centre within {deadline:?}: national {:?}",
                status(national).await?
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let national_rate = per_second(backlog, national_at);

    // 4. Steady load: `rate` actions a second, in tenths of a second.
    let per_tick = (args.rate / 10).max(1);
    let ticks = args.seconds * 10;
    let steady = action_stream(
        &cfg,
        &refs,
        (args.rounds.max(1) * args.backlog) as u64 + 1,
        per_tick * ticks as usize,
    );
    let keys: BTreeSet<String> = steady.iter().map(|s| s.key.clone()).collect();
    let mut interval = tokio::time::interval(Duration::from_millis(100));
    let mut chunks = steady.chunks(per_tick);
    let mut tasks = Vec::new();
    for _ in 0..ticks {
        interval.tick().await;
        let Some(chunk) = chunks.next() else { break };
        let (node, chunk) = (wuhan.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            local::submit_actions(&node, chunk, 2, usize::MAX).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let target: u64 = status(wuhan).await?.records.values().sum();
    let deadline = Instant::now() + Duration::from_secs(120);
    while status(national).await?.records.values().sum::<u64>() < target {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the steady load did not reach the centre within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client =
        crate::client::connect(&[national.addr.to_string()], &national.operator).await?;
    let mut latencies = Vec::new();
    let mut after = String::new();
    loop {
        let page = client
            .query(pb::QueryRequest {
                dataset: "action".into(),
                after: after.clone(),
                limit: 10_000,
                region: String::new(),
            })
            .await?
            .into_inner();
        for r in page.records.iter().filter(|r| keys.contains(&r.key)) {
            if let (Some(first), Some(last)) = (r.hops.first(), r.hops.last()) {
                latencies.push(last.received_at_ms - first.received_at_ms);
            }
        }
        after = page.cursor;
        if !page.more {
            break;
        }
    }
    latencies.sort_unstable();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    drop(servers);

    let median_of = |f: fn(&Round) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(f).collect();
        crate::bench::median(&mut values)
    };
    let list = |f: fn(&Round) -> f64, scale: f64, unit: &str| {
        rounds
            .iter()
            .map(|r| format!("{:.0}{unit}", scale * f(r)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ratio = median_of(Round::ratio);
    let (drain_rate, grpc_rate, sled_rate) = (
        median_of(|r| r.drain_rate),
        median_of(|r| r.grpc_rate),
        median_of(|r| r.sled_rate),
    );
    let record_bytes = rounds.first().map_or(0, |r| r.record_bytes);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "city_ingest_records_per_sec": median_of(|r| r.ingest_rate),
                "backlog_records": args.backlog,
                "rounds": rounds.iter().map(|r| serde_json::json!({
                    "sync_records_per_sec": r.drain_rate,
                    "raw_grpc_records_per_sec": r.grpc_rate,
                    "raw_sled_records_per_sec": r.sled_rate,
                    "sync_over_lesser_limit": r.ratio(),
                })).collect::<Vec<_>>(),
                "sync_records_per_sec": drain_rate,
                "province_to_national_records_per_sec": national_rate,
                "raw_grpc_records_per_sec": grpc_rate,
                "raw_sled_records_per_sec": sled_rate,
                "sync_over_lesser_limit": ratio,
                "latency_ms": {"p50": p50, "p99": p99, "records": latencies.len(), "rate": args.rate},
                "record_bytes_avg": record_bytes,
                "batch": args.batch,
            })
        );
    } else {
        println!("city ingest          {:>10.0} records/s, median ({} actions a round while the province was down)", median_of(|r| r.ingest_rate), args.backlog);
        println!("upward sync          {drain_rate:>10.0} records/s, median (rounds: {}): a backlog of {} drained city -> province (province re-checking and committing durably)", list(|r| r.drain_rate, 1.0, ""), args.backlog);
        println!("  and on up          {national_rate:>10.0} records/s: the province's backlog of {backlog} drained to the national centre in {:.1} s", national_at.as_secs_f64());
        println!("raw gRPC limit       {grpc_rate:>10.0} records/s, median (rounds: {}; the same batches over mutual TLS to a parent that only acknowledges; {record_bytes} bytes/record)", list(|r| r.grpc_rate, 1.0, ""));
        println!("raw sled limit       {sled_rate:>10.0} records/s, median (rounds: {}; the same records, batched insert + sync)", list(|r| r.sled_rate, 1.0, ""));
        println!(
            "sync / lesser limit  {:>10.1}% median of the rounds' ratios (rounds: {}; target >= 40%)",
            100.0 * ratio,
            list(Round::ratio, 100.0, "%")
        );
        println!("city -> national     p50 {p50} ms, p99 {p99} ms over {} records at {} records/s for {} s (target p99 < 1000 ms)", latencies.len(), args.rate, args.seconds);
    }
    Ok(())
}

/// One round's figures: a backlog drained beside the two limits measured on its bytes.
struct Round {
    ingest_rate: f64,
    drain_rate: f64,
    grpc_rate: f64,
    sled_rate: f64,
    record_bytes: usize,
}

impl Round {
    fn ratio(&self) -> f64 {
        self.drain_rate / self.grpc_rate.min(self.sled_rate)
    }
}

/// Accumulates a backlog at the city while the province is down, measures the two limits
/// on the same records, then starts (or restarts) the province and times the drain.
#[allow(clippy::too_many_arguments)]
async fn sync_round(
    args: &SyncBenchArgs,
    cfg: &SampleConfig,
    refs: &regfed_sample::SampleSet,
    wuhan: &LocalNode,
    hubei: &LocalNode,
    dir: &std::path::Path,
    province: &mut Option<Processes>,
    first_action: u64,
) -> anyhow::Result<Round> {
    // 1. The backlog, accumulated while the province is down.
    let samples = action_stream(cfg, refs, first_action, args.backlog);
    let started = Instant::now();
    let accepted = local::submit_actions(wuhan, samples, 2, args.batch).await?;
    let ingest_rate = per_second(accepted, started.elapsed());
    let backlog = status(wuhan).await?.outbox_pending as usize;
    anyhow::ensure!(
        accepted == args.backlog,
        "only {accepted} of {} generated valid actions were accepted at the city",
        args.backlog
    );

    // 2. The same bytes through the two limits.
    let up_batches: Vec<pb::UpBatch> = {
        let samples = action_stream(cfg, refs, first_action, args.backlog.min(50_000));
        let received_at = crate::node::now_millis();
        samples
            .chunks(args.batch)
            .enumerate()
            .map(|(i, chunk)| {
                let first = (i * args.batch) as u64 + 1;
                pb::UpBatch {
                    first_seq: first,
                    last_seq: first + chunk.len() as u64 - 1,
                    records: chunk
                        .iter()
                        .enumerate()
                        .map(|(j, s)| pb::UpRecord {
                            seq: first + j as u64,
                            dataset: "action".into(),
                            key: s.key.clone(),
                            version: 1,
                            op: "upsert".into(),
                            fields: s.record.fields.clone(),
                            origin_region: wuhan.region.clone(),
                            origin_department: s.department.clone().unwrap_or_default(),
                            reported_at_ms: received_at,
                            hops: vec![pb::Hop {
                                tier: "city".into(),
                                region: wuhan.region.clone(),
                                received_at_ms: received_at,
                            }],
                        })
                        .collect(),
                }
            })
            .collect()
    };
    let raw_records: usize = up_batches.iter().map(|b| b.records.len()).sum();
    let hubei_tls = TlsMaterial::load_dir(&hubei.dir.join("nodes").join(&hubei.id))?;
    let wuhan_tls = TlsMaterial::load_dir(&wuhan.dir.join("nodes").join(&wuhan.id))?;
    let grpc_rate = raw_grpc(&hubei_tls, &wuhan_tls, &up_batches).await?;
    let raw_dir = tempfile::tempdir()?;
    let store = Store::open(raw_dir.path(), &StoreOptions::default())?;
    let started = Instant::now();
    for b in &up_batches {
        let mut set = WriteSet::default();
        for r in &b.records {
            set.put(format!("raw/{}", r.key).into_bytes(), r.encode_to_vec());
        }
        store.commit(set)?;
        store.sync()?;
    }
    let sled_rate = per_second(raw_records, started.elapsed());
    let record_bytes = up_batches
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| r.encoded_len())
        .sum::<usize>()
        / raw_records.max(1);
    drop(store);

    // 3. The province comes up: the backlog drains to it (the centre still down, so the
    //    province has the machine's two cores with the city).
    let target: u64 = status(wuhan).await?.records.values().sum();
    match province {
        Some(p) => p.restart(0, dir)?,
        None => *province = Some(Processes::spawn(std::slice::from_ref(hubei), dir)?),
    }
    let deadline = Duration::from_secs(args.drain_timeout_secs);
    // The clock starts when the city's link is up again (its reconnect backoff is not the
    // drain rate).
    wait_linked(wuhan, deadline, "the city did not link to the province").await?;
    let started = Instant::now();
    loop {
        if status(wuhan).await?.outbox_pending == 0 {
            break;
        }
        if started.elapsed() > deadline {
            anyhow::bail!(
                "the backlog did not drain to the province within {deadline:?}: city {:?}",
                status(wuhan).await?
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_rate = per_second(backlog, started.elapsed());
    let province_held: u64 = status(hubei).await?.records.values().sum();
    anyhow::ensure!(
        province_held == target,
        "the province holds {province_held} records, the city {target}: generated valid records were rejected above"
    );
    Ok(Round {
        ingest_rate,
        drain_rate,
        grpc_rate,
        sled_rate,
        record_bytes,
    })
}
