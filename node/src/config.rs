//! The node's configuration file: what the deployment is. Parsed strictly
//! (`deny_unknown_fields`) and validated into a typed [`Config`] that reports every
//! problem at once, naming the field.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regfed_governance::{checkdigit, Region, RegionTable, RulePack, Tier};
use regfed_pki::TlsMaterial;
use serde::{Deserialize, Serialize};

use crate::store::{Durability, StoreOptions};

/// The file as written. Relative paths are relative to the file's directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub node: NodeSection,
    pub tls: TlsSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub raft: RaftSection,
    #[serde(default)]
    pub governance: GovernanceSection,
    /// The parent tier this node sends its accepted records to (cities and provinces).
    #[serde(default)]
    pub parent: Option<ParentSection>,
    /// Departments known to this node: those of its own region report to it; those of
    /// regions below it are known so that re-checks and indicators can name them.
    #[serde(default, rename = "department")]
    pub departments: Vec<DepartmentSection>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentSection {
    /// gRPC addresses of the parent tier's nodes (the members of its group), tried in turn.
    pub nodes: Vec<String>,
    /// Records in one upward batch.
    #[serde(default = "default_link_batch")]
    pub batch_records: usize,
    /// Upward batches sent and not yet acknowledged, at most.
    #[serde(default = "default_link_window")]
    pub window: usize,
}

fn default_link_batch() -> usize {
    1000
}
fn default_link_window() -> usize {
    4
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Unique name of this node in the federation, e.g. `wuhan-1`.
    pub id: String,
    /// `city`, `province` or `national`.
    pub tier: String,
    /// GB/T 2260 code of the region this node serves; the national centre is `100000`.
    pub region: String,
    /// gRPC address (mutual TLS), e.g. `127.0.0.1:7301`.
    pub listen: String,
    /// Optional HTTP address for `/metrics` (Prometheus text format).
    #[serde(default)]
    pub http: Option<String>,
    /// Where the sled store lives.
    pub data_dir: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The federation CA certificate (PEM).
    pub ca: PathBuf,
    /// This node's certificate (PEM), issued by `regfed certs issue --role node`.
    pub cert: PathBuf,
    /// This node's private key (PEM). Never logged.
    pub key: PathBuf,
    /// Seconds a client has to complete the TLS handshake.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_secs: u64,
}

fn default_handshake_timeout() -> u64 {
    10
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// sled's cache in MiB (default 128; sled's own default of 1 GiB is too much).
    #[serde(default)]
    pub cache_mb: Option<u64>,
    /// `power` (default: the Raft log is synced with `fdatasync` before acknowledging) or
    /// `process` (written to the kernel only: survives a node crash, not a power loss).
    #[serde(default)]
    pub durability: Durability,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Records in one submitted batch.
    #[serde(default = "default_max_batch")]
    pub max_batch_records: usize,
    /// Bytes of one gRPC message, in and out.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// Requests served at once per connection.
    #[serde(default = "default_concurrency")]
    pub concurrency_per_connection: usize,
    /// Seconds a request may take before it is cancelled.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// Bytes of one uploaded workbook.
    #[serde(default = "default_max_upload")]
    pub max_upload_bytes: usize,
    /// Seconds a submitted batch may wait for its group to commit it before the caller is
    /// told its outcome is unknown (a member cut off from its group, a stalled disk).
    #[serde(default = "default_commit_timeout")]
    pub commit_timeout_secs: u64,
}

fn default_max_batch() -> usize {
    10_000
}
fn default_max_message() -> usize {
    64 * 1024 * 1024
}
fn default_concurrency() -> usize {
    32
}
fn default_request_timeout() -> u64 {
    120
}
fn default_max_upload() -> usize {
    64 * 1024 * 1024
}
fn default_commit_timeout() -> u64 {
    30
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_batch_records: default_max_batch(),
            max_message_bytes: default_max_message(),
            concurrency_per_connection: default_concurrency(),
            request_timeout_secs: default_request_timeout(),
            max_upload_bytes: default_max_upload(),
            commit_timeout_secs: default_commit_timeout(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftSection {
    /// This node's id in its Raft group.
    #[serde(default = "default_raft_id")]
    pub node_id: u64,
    /// The group's initial members as `"<id>@<host:port>"`, the same list on every member,
    /// this node included; empty for a group of one. Used once, to initialize the group;
    /// later changes go through `regfed cluster`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// This node joins an existing group (`regfed cluster add-learner`, then `promote`):
    /// it never initializes one, and waits to be added.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub join: bool,
    /// Log entries (batches) between snapshots; the log is purged behind each.
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every_entries: u64,
    /// The local address connections to the group's members leave from, on hosts with
    /// several addresses (so that peers and firewalls see this node's own); by default the
    /// system chooses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<std::net::IpAddr>,
}

fn default_snapshot_every() -> u64 {
    5000
}

fn default_raft_id() -> u64 {
    1
}

impl Default for RaftSection {
    fn default() -> Self {
        RaftSection {
            node_id: default_raft_id(),
            members: Vec::new(),
            join: false,
            snapshot_every_entries: default_snapshot_every(),
            source_ip: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceSection {
    /// A rule pack file replacing the built-in standard.
    #[serde(default)]
    pub pack: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentSection {
    /// The department's unified social credit code.
    pub code: String,
    pub name: String,
    /// The city whose node the department reports to; defaults to this node's region.
    #[serde(default)]
    pub region: Option<String>,
}

/// A department known to the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Department {
    pub name: String,
    /// The city-tier region it reports in.
    pub region: Region,
}

/// Where and how this node sends its accepted records upward.
#[derive(Clone, Debug)]
pub struct ParentLink {
    pub nodes: Vec<String>,
    pub batch_records: usize,
    pub window: usize,
    /// The parent tier's region, derived from this node's region.
    pub region: Region,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub id: String,
    pub tier: Tier,
    pub region: Region,
    pub listen: SocketAddr,
    pub http: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub tls: TlsMaterial,
    pub handshake_timeout: Duration,
    pub limits: LimitsSection,
    pub store: StoreOptions,
    pub raft_id: u64,
    /// The group's initial members by Raft id: gRPC addresses.
    pub raft_members: BTreeMap<u64, String>,
    /// Join an existing group instead of initializing one.
    pub raft_join: bool,
    pub raft_snapshot_every: u64,
    pub raft_source_ip: Option<std::net::IpAddr>,
    pub pack: Arc<RulePack>,
    /// Known departments by code: this region's (who may submit) and those below it.
    pub departments: BTreeMap<String, Department>,
    pub parent: Option<ParentLink>,
}

impl Config {
    /// The department registered to report to this node itself.
    pub fn local_department(&self, code: &str) -> Option<&Department> {
        self.departments
            .get(code)
            .filter(|d| d.region == self.region)
    }

    /// A department's name, if the node knows it.
    pub fn department_name(&self, code: &str) -> Option<&str> {
        self.departments.get(code).map(|d| d.name.as_str())
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, thiserror::Error)]
#[error("{file} has {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<String>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let fail = |problems: Vec<String>| ConfigError {
            file: file.clone(),
            problems,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(vec![format!("cannot read it: {e}")]))?;
        let raw: NodeConfig =
            toml::from_str(&text).map_err(|e| fail(vec![e.to_string().trim().to_string()]))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_raw(raw, base).map_err(fail)
    }

    /// Validates `raw`, resolving relative paths against `base`.
    pub fn from_raw(raw: NodeConfig, base: &Path) -> Result<Config, Vec<String>> {
        let mut problems = Vec::new();
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let regions = RegionTable::builtin();

        if raw.node.id.is_empty()
            || !raw
                .node
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            problems.push(format!(
                "node.id {:?} must be non-empty letters, digits, '-', '_' or '.'",
                raw.node.id
            ));
        }
        let tier = Tier::parse(&raw.node.tier);
        if tier.is_none() {
            problems.push(format!(
                "node.tier {:?} is not one of city, province, national",
                raw.node.tier
            ));
        }
        let region = match Region::parse(&raw.node.region) {
            Ok(r) if regions.contains(r.as_str()) => Some(r),
            Ok(r) => {
                problems.push(format!("node.region {r} is not a GB/T 2260 region code"));
                None
            }
            Err(e) => {
                problems.push(format!("node.region: {e}"));
                None
            }
        };
        if let (Some(tier), Some(region)) = (tier, &region) {
            if Tier::of(region) != tier {
                problems.push(format!(
                    "node.tier is {tier} but region {region} is a {} code",
                    Tier::of(region)
                ));
            }
        }
        let listen = raw.node.listen.parse::<SocketAddr>().map_err(|e| {
            problems.push(format!(
                "node.listen {:?} is not an address like 127.0.0.1:7301: {e}",
                raw.node.listen
            ))
        });
        let http = match &raw.node.http {
            Some(h) => h.parse::<SocketAddr>().map(Some).map_err(|e| {
                problems.push(format!(
                    "node.http {h:?} is not an address like 127.0.0.1:8301: {e}"
                ))
            }),
            None => Ok(None),
        };
        let tls = TlsMaterial::load_files(
            &resolve(&raw.tls.ca),
            &resolve(&raw.tls.cert),
            &resolve(&raw.tls.key),
        )
        .map_err(|e| problems.push(format!("tls: {e}")));
        if raw.tls.handshake_timeout_secs == 0 {
            problems.push("tls.handshake_timeout_secs must be at least 1".into());
        }
        if raw.limits.commit_timeout_secs == 0 {
            problems.push("limits.commit_timeout_secs must be at least 1".into());
        }
        if raw.limits.max_batch_records == 0 {
            problems.push("limits.max_batch_records must be at least 1".into());
        }
        if raw.limits.max_message_bytes < 64 * 1024 {
            problems.push("limits.max_message_bytes must be at least 65536".into());
        }
        let pack = match &raw.governance.pack {
            None => Ok(RulePack::builtin()),
            Some(p) => {
                let p = resolve(p);
                std::fs::read_to_string(&p)
                    .map_err(|e| format!("governance.pack: cannot read {}: {e}", p.display()))
                    .and_then(|text| {
                        RulePack::from_toml_str(&text)
                            .map(Arc::new)
                            .map_err(|e| format!("governance.pack {}: {e}", p.display()))
                    })
                    .map_err(|e| problems.push(e))
            }
        };
        let mut departments = BTreeMap::new();
        for (i, d) in raw.departments.iter().enumerate() {
            if let Err(e) = checkdigit::check_uscc(&d.code) {
                problems.push(format!(
                    "department[{i}].code {:?} is not a valid unified social credit code: {e}",
                    d.code
                ));
            }
            if d.name.trim().is_empty() {
                problems.push(format!("department[{i}].name is empty"));
            }
            let dept_region = match (&d.region, &region) {
                (None, Some(here)) => Some(*here),
                (None, None) => None,
                (Some(code), here) => match Region::parse(code) {
                    Ok(r) if !regions.contains(r.as_str()) => {
                        problems.push(format!(
                            "department[{i}].region {r} is not a GB/T 2260 region code"
                        ));
                        None
                    }
                    Ok(r) => {
                        if let Some(here) = here {
                            if !regions.is_within(&r, here) {
                                problems.push(format!(
                                    "department[{i}].region {r} does not lie within this node's region {here}"
                                ));
                            }
                        }
                        Some(r)
                    }
                    Err(e) => {
                        problems.push(format!("department[{i}].region: {e}"));
                        None
                    }
                },
            };
            if let Some(dept_region) = dept_region {
                let known = Department {
                    name: d.name.clone(),
                    region: dept_region,
                };
                if departments.insert(d.code.clone(), known).is_some() {
                    problems.push(format!(
                        "department[{i}].code {} is registered twice",
                        d.code
                    ));
                }
            }
        }
        if let Some(region) = &region {
            if Tier::of(region) == Tier::City && raw.departments.is_empty() {
                tracing::warn!("No department is registered: no one can submit to this city node.");
            }
        }
        let mut raft_members = BTreeMap::new();
        for (i, m) in raw.raft.members.iter().enumerate() {
            let parsed = m.split_once('@').and_then(|(id, addr)| {
                let port_ok = addr
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
                Some((id.parse::<u64>().ok()?, addr.to_string())).filter(|_| port_ok)
            });
            match parsed {
                Some((id, addr)) => {
                    if raft_members.insert(id, addr).is_some() {
                        problems.push(format!("raft.members[{i}]: id {id} is listed twice"));
                    }
                }
                None => problems.push(format!(
                    "raft.members[{i}] {m:?} is not \"<id>@<host:port>\", e.g. \"2@10.0.1.12:7301\""
                )),
            }
        }
        if raw.raft.snapshot_every_entries < 10 {
            problems.push("raft.snapshot_every_entries must be at least 10".into());
        }
        if !raw.raft.members.is_empty() && !raft_members.contains_key(&raw.raft.node_id) {
            problems.push(format!(
                "raft.members does not list this node's own id {} (raft.node_id)",
                raw.raft.node_id
            ));
        }
        if let (true, Ok(listen)) = (raft_members.is_empty(), &listen) {
            raft_members.insert(raw.raft.node_id, listen.to_string());
        }
        let parent = match (&raw.parent, &region) {
            (Some(p), Some(region)) => match regions.parent(region) {
                None => {
                    problems.push(format!(
                        "parent: the national centre ({region}) has no parent tier; remove [parent]"
                    ));
                    None
                }
                Some(parent_region) => {
                    if p.nodes.is_empty() {
                        problems.push(
                            "parent.nodes is empty: list the parent tier's node addresses".into(),
                        );
                    }
                    for n in &p.nodes {
                        if n.rsplit_once(':')
                            .and_then(|(_, port)| port.parse::<u16>().ok())
                            .is_none()
                        {
                            problems.push(format!(
                                "parent.nodes: {n:?} is not an address like 127.0.0.1:7201"
                            ));
                        }
                    }
                    if p.batch_records == 0 {
                        problems.push("parent.batch_records must be at least 1".into());
                    }
                    if p.window == 0 {
                        problems.push("parent.window must be at least 1".into());
                    }
                    Some(ParentLink {
                        nodes: p.nodes.clone(),
                        batch_records: p.batch_records,
                        window: p.window,
                        region: parent_region,
                    })
                }
            },
            _ => None,
        };

        if !problems.is_empty() {
            return Err(problems);
        }
        // Every Err above pushed a problem, so these are all Ok/Some here.
        let (Some(tier), Some(region), Ok(listen), Ok(http), Ok(tls), Ok(pack)) =
            (tier, region, listen, http, tls, pack)
        else {
            unreachable!("every failed field recorded a problem");
        };
        Ok(Config {
            id: raw.node.id,
            tier,
            region,
            listen,
            http,
            data_dir: resolve(&raw.node.data_dir),
            tls,
            handshake_timeout: Duration::from_secs(raw.tls.handshake_timeout_secs),
            limits: raw.limits,
            store: StoreOptions {
                cache_bytes: raw.store.cache_mb.unwrap_or(128) * 1024 * 1024,
                durability: raw.store.durability,
                ..StoreOptions::default()
            },
            raft_id: raw.raft.node_id,
            raft_members,
            raft_join: raw.raft.join,
            raft_snapshot_every: raw.raft.snapshot_every_entries,
            raft_source_ip: raw.raft.source_ip,
            pack,
            departments,
            parent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented example stays a valid configuration: every section and field known,
    /// every value accepted (its TLS files aside, which a deployment provides).
    #[test]
    fn the_example_configuration_is_valid() {
        let text = include_str!("../../deploy/node.example.toml");
        let raw: NodeConfig = toml::from_str(text).expect("the example parses");
        let problems = Config::from_raw(raw, Path::new("/nonexistent")).expect_err("no TLS files");
        assert!(
            problems.iter().all(|p| p.starts_with("tls:")),
            "only the TLS files are missing: {problems:?}"
        );
    }
}
