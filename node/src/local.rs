//! A node prepared on this machine: CA, certificates, configuration and client
//! identities in one directory. Used by `regfed demo`, `regfed bench` and the tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context as _;
use regfed_pki::{write_identity_dir, Ca, Identity, Role, Tier};
use regfed_sample::Department;

#[derive(Clone, Debug)]
pub struct LocalNode {
    pub dir: PathBuf,
    pub id: String,
    pub region: String,
    pub config_path: PathBuf,
    pub addr: SocketAddr,
    pub http: Option<SocketAddr>,
    pub operator: PathBuf,
    /// Each registered department and its identity directory.
    pub departments: Vec<(Department, PathBuf)>,
}

/// What to prepare.
pub struct LocalSpec<'a> {
    pub id: &'a str,
    pub tier: Tier,
    pub region: &'a str,
    pub departments: &'a [Department],
    pub listen: SocketAddr,
    pub http: Option<SocketAddr>,
    /// Seconds a client has to finish the TLS handshake (default 10).
    pub handshake_timeout_secs: Option<u64>,
    /// Extra TOML appended to the node configuration (e.g. a `[store]` section).
    pub extra_config: &'a str,
}

/// A free TCP port on 127.0.0.1, as the OS picks it.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a local port")?;
    Ok(listener.local_addr()?)
}

/// Writes `DIR/ca`, `DIR/nodes/<id>/` (node.toml and its certificates),
/// `DIR/identities/<department code>/` and `DIR/identities/operator-<id>/`.
/// Reuses an existing CA in `DIR/ca`.
pub fn prepare(dir: &Path, spec: &LocalSpec<'_>) -> anyhow::Result<LocalNode> {
    let ca_dir = dir.join("ca");
    let ca = if ca_dir.join("ca.pem").exists() {
        Ca::load(&ca_dir)?
    } else {
        let ca = Ca::generate("regfed local CA")?;
        ca.save(&ca_dir)?;
        ca
    };
    let node_dir = dir.join("nodes").join(spec.id);
    let node_identity = Identity {
        role: Role::Node,
        tier: spec.tier,
        region: spec.region.to_string(),
        id: spec.id.to_string(),
    };
    let issued = ca.issue(&node_identity, &[spec.listen.ip().to_string()])?;
    write_identity_dir(&node_dir, ca.cert_pem(), &issued)?;

    let mut departments = Vec::new();
    let mut dept_toml = String::new();
    for d in spec.departments {
        let identity = Identity {
            role: Role::Department,
            tier: spec.tier,
            region: spec.region.to_string(),
            id: d.code.clone(),
        };
        let path = dir.join("identities").join(&d.code);
        write_identity_dir(&path, ca.cert_pem(), &ca.issue(&identity, &[])?)?;
        departments.push((d.clone(), path));
        dept_toml.push_str(&format!(
            "\n[[department]]\ncode = {:?}\nname = {:?}\n",
            d.code, d.name
        ));
    }
    let operator = dir.join("identities").join(format!("operator-{}", spec.id));
    let op_identity = Identity {
        role: Role::Operator,
        tier: spec.tier,
        region: spec.region.to_string(),
        id: format!("operator-{}", spec.id),
    };
    write_identity_dir(&operator, ca.cert_pem(), &ca.issue(&op_identity, &[])?)?;

    let http = spec
        .http
        .map(|h| format!("http = \"{h}\"\n"))
        .unwrap_or_default();
    let handshake = spec
        .handshake_timeout_secs
        .map(|s| format!("handshake_timeout_secs = {s}\n"))
        .unwrap_or_default();
    let config = format!(
        "# regfed node configuration, written by regfed.\n[node]\nid = {:?}\ntier = {:?}\nregion = {:?}\nlisten = \"{}\"\n{http}data_dir = \"data\"\n\n[tls]\nca = \"ca.pem\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n{handshake}\n{}\n{dept_toml}",
        spec.id,
        spec.tier.as_str(),
        spec.region,
        spec.listen,
        spec.extra_config,
    );
    let config_path = node_dir.join("node.toml");
    std::fs::write(&config_path, config)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    Ok(LocalNode {
        dir: dir.to_path_buf(),
        id: spec.id.to_string(),
        region: spec.region.to_string(),
        config_path,
        addr: spec.listen,
        http: spec.http,
        operator,
        departments,
    })
}

/// Polls `status` until the node answers, or fails after `timeout` with the last error.
pub async fn wait_ready(node: &LocalNode, timeout: std::time::Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    let nodes = vec![node.addr.to_string()];
    loop {
        let last = match crate::client::connect(&nodes, &node.operator).await {
            Ok(mut client) => match client.status(regfed_proto::v1::StatusRequest {}).await {
                Ok(s) if s.get_ref().raft_role == "leader" => return Ok(()),
                Ok(s) => format!("raft role is {}", s.get_ref().raft_role),
                Err(s) => crate::client::status_message(&s),
            },
            Err(e) => crate::cli::error_chain(&e),
        };
        if std::time::Instant::now() > deadline {
            anyhow::bail!(
                "node {} at {} did not become ready within {timeout:?}; last: {last}",
                node.id,
                node.addr
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The verdicts of loading a sample set, by data set and key.
#[derive(Default)]
pub struct LoadReport {
    pub results: std::collections::BTreeMap<(String, String), regfed_proto::v1::RecordResult>,
}

impl LoadReport {
    pub fn count(&self, dataset: &str, status: &str) -> usize {
        self.results
            .iter()
            .filter(|((d, _), r)| d == dataset && r.status == status)
            .count()
    }
}

/// Submits a sample set in reference order, each department submitting its own records
/// (subjects through the first department), `version` choosing the submitted or the
/// corrected form of each sample.
pub async fn load_samples(
    node: &LocalNode,
    set: &regfed_sample::SampleSet,
    form: SampleForm,
) -> anyhow::Result<LoadReport> {
    use crate::cli::submit::{send_to_group, Outgoing};
    let mut report = LoadReport::default();
    let nodes = vec![node.addr.to_string()];
    let pack = regfed_governance::RulePack::builtin();
    for spec in pack.datasets() {
        for (dept, identity) in &node.departments {
            let records: Vec<Outgoing> = set
                .dataset(&spec.name)
                .iter()
                .filter(|s| submitter(s, &node.departments[0].0.code) == dept.code)
                .filter(|s| form != SampleForm::CorrectedDefectsOnly || s.defect.is_some())
                .map(|s| Outgoing {
                    record: if form == SampleForm::AsSubmitted {
                        s.record.clone()
                    } else {
                        s.valid.clone()
                    },
                    source: format!("sample {} {}", spec.name, s.key),
                })
                .collect();
            if records.is_empty() {
                continue;
            }
            let summary = send_to_group(&nodes, identity, &spec.name, None, &records, 1000).await?;
            for r in summary.results {
                report.results.insert((spec.name.clone(), r.key.clone()), r);
            }
        }
    }
    Ok(report)
}

/// Submits action `samples` at `node`, each by its department, with `clients` concurrent
/// clients per department sending batches of `batch`; answers how many were accepted.
pub async fn submit_actions(
    node: &LocalNode,
    samples: Vec<regfed_sample::Sample>,
    clients: usize,
    batch: usize,
) -> anyhow::Result<usize> {
    use crate::cli::submit::{send_to_group, Outgoing};
    let mut by_dept: std::collections::BTreeMap<String, Vec<Outgoing>> = Default::default();
    for s in samples {
        by_dept
            .entry(s.department.clone().unwrap_or_default())
            .or_default()
            .push(Outgoing {
                record: s.record,
                source: s.key,
            });
    }
    let mut tasks = Vec::new();
    for (dept, records) in by_dept {
        let identity = node
            .departments
            .iter()
            .find(|(d, _)| d.code == dept)
            .map(|(_, p)| p.clone())
            .with_context(|| format!("department {dept} of the samples has no identity"))?;
        let part = records.len().div_ceil(clients.max(1)).max(1);
        for part in records.chunks(part) {
            let (nodes, identity, part) =
                (vec![node.addr.to_string()], identity.clone(), part.to_vec());
            tasks.push(tokio::spawn(async move {
                send_to_group(&nodes, &identity, "action", None, &part, batch).await
            }));
        }
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??.count("accepted");
    }
    Ok(accepted)
}

/// The department that submits a sample: its own, or `first` for records that belong to
/// no department (subjects).
pub fn submitter<'a>(sample: &'a regfed_sample::Sample, first: &'a str) -> &'a str {
    sample.department.as_deref().unwrap_or(first)
}

/// Which form of each sample to submit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleForm {
    /// `record`: with its injected defect, if any.
    AsSubmitted,
    /// `valid` of the defective samples only: a department's corrections.
    CorrectedDefectsOnly,
}

/// Nodes running as `regfed serve` processes of their own, as they run in production;
/// killed (SIGKILL) on drop. Each logs to `{dir}/{id}.log`.
pub struct Processes(Vec<(LocalNode, Option<Child>)>);

impl Processes {
    pub fn spawn(nodes: &[LocalNode], dir: &Path) -> anyhow::Result<Self> {
        let bin = std::env::current_exe().context("cannot find the regfed binary")?;
        let mut all = Vec::new();
        for n in nodes {
            let log = std::fs::File::create(dir.join(format!("{}.log", n.id)))?;
            let child = Command::new(&bin)
                .args(["serve", "--config"])
                .arg(&n.config_path)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("cannot start regfed serve")?;
            all.push((n.clone(), Some(child)));
        }
        Ok(Processes(all))
    }

    /// The process id of each node, `None` for one killed and not restarted.
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.0
            .iter()
            .map(|(_, c)| c.as_ref().map(Child::id))
            .collect()
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.0[i].1.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self, i: usize, dir: &Path) -> anyhow::Result<()> {
        let mut one = Processes::spawn(&[self.0[i].0.clone()], dir)?;
        self.0[i].1 = one.0[0].1.take();
        Ok(())
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for i in 0..self.0.len() {
            self.kill(i);
        }
    }
}
