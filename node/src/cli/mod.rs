//! The command line: one file per command. Human-readable output by default, `--json`
//! for the stable shapes of the CLI contract; errors go to stderr as one sentence.

mod certs;
mod cluster;
mod demo;
mod issues;
mod query;
mod sample;
mod serve;
mod stats;
mod status;
pub mod submit;
mod template;
pub mod topology;
pub mod workbook;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "regfed",
    version,
    about = "Regulatory data federation node (互联网+监管)"
)]
pub struct Cli {
    /// Log filter, e.g. `info` or `regfed=debug` (also RUST_LOG).
    #[arg(long, global = true)]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a federation CA, or issue certificates from it.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Run a node from its configuration file until SIGTERM or Ctrl-C.
    Serve(serve::ServeArgs),
    /// Submit records from JSONL or CSV files, or Excel workbooks (with a result workbook).
    Submit(submit::SubmitArgs),
    /// Write an Excel reporting template generated from the rule pack.
    Template(template::TemplateArgs),
    /// Show the rectification queue visible to the caller.
    Issues(issues::IssuesArgs),
    /// Print accepted records of a data set as JSONL, with a resumable cursor.
    Query(query::QueryArgs),
    /// Show the indicators per department and rolled up per region.
    Stats(stats::StatsArgs),
    /// Show a node's identity, Raft role and counts.
    Status(status::StatusArgs),
    /// Show or change the node's Raft group: status, add-learner, promote, remove.
    Cluster(cluster::ClusterArgs),
    /// Write realistic sample data files (with a chosen share of defects).
    Sample(sample::SampleArgs),
    /// Write a federation from a topology spec: CA, node configurations and certificates,
    /// department and operator identities. Rerunning it keeps what exists.
    Topology(topology::TopologyArgs),
    /// Start a local node with generated certificates and load sample data into it.
    Demo(demo::DemoArgs),
    /// Measure governance, end-to-end ingest and the raw sled limit.
    Bench(crate::bench::BenchArgs),
    /// Measure the federation: upward sync and backlog drain, city -> national latency,
    /// beside the raw gRPC and raw sled limits.
    BenchSync(crate::bench_sync::SyncBenchArgs),
    /// Measure high availability: a group of three against a group of one, and failover.
    BenchHa(crate::bench_ha::HaBenchArgs),
    /// Measure Excel import: a workbook of 100,000 action rows end to end, and peak memory.
    BenchXlsx(crate::bench_xlsx::XlsxBenchArgs),
}

impl Command {
    /// Whether the command runs a node in this process (and so serves steady load for
    /// long), rather than a client that should hand memory back as it goes.
    pub fn runs_a_node(&self) -> bool {
        matches!(
            self,
            Command::Serve(_) | Command::Demo(_) | Command::Bench(_) | Command::BenchSync(_)
        )
    }
}

/// Where a client command connects and as whom.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Node address HOST:PORT; repeat for the members of a group (tried in turn).
    #[arg(long = "node", required = true)]
    pub nodes: Vec<String>,
    /// Directory holding ca.pem, cert.pem and key.pem.
    #[arg(long)]
    pub identity: PathBuf,
    /// Print the JSON shapes of the CLI contract instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn init_tracing(cli: &Cli) {
    let filter = cli
        .log
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| match cli.command {
            Command::Serve(_) => "info".into(),
            Command::Demo(_) => "warn".into(),
            _ => "warn".into(),
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Certs(c) => certs::run(c),
        Command::Serve(a) => serve::run(a).await,
        Command::Submit(a) => submit::run(a).await,
        Command::Template(a) => template::run(a).await,
        Command::Issues(a) => issues::run(a).await,
        Command::Query(a) => query::run(a).await,
        Command::Stats(a) => stats::run(a).await,
        Command::Status(a) => status::run(a).await,
        Command::Cluster(a) => cluster::run(a).await,
        Command::Sample(a) => sample::run(a),
        Command::Topology(a) => topology::run(a),
        Command::Demo(a) => demo::run(a).await,
        Command::Bench(a) => crate::bench::run(a).await,
        Command::BenchSync(a) => crate::bench_sync::run(a).await,
        Command::BenchHa(a) => crate::bench_ha::run(a).await,
        Command::BenchXlsx(a) => crate::bench_xlsx::run(a).await,
    }
}

/// An error and its causes as one line: "cannot connect to 127.0.0.1:7301: tls: ...".
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = match cause.downcast_ref::<tonic::Status>() {
            Some(status) => crate::client::status_message(status),
            None => cause.to_string(),
        };
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// A resolved future on SIGTERM or Ctrl-C; a second signal exits at once.
pub async fn shutdown_signal() {
    wait_signal().await;
    tokio::spawn(async {
        wait_signal().await;
        eprintln!("Second signal: exiting now.");
        std::process::exit(130);
    });
}

async fn wait_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
