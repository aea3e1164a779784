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
    /// Departments that report to this node (city tier).
    #[serde(default, rename = "department")]
    pub departments: Vec<DepartmentSection>,
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
    /// `power` (default: flush and syncfs before acknowledging) or `process` (sled's
    /// flush only: survives a node crash, not a power loss).
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

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_batch_records: default_max_batch(),
            max_message_bytes: default_max_message(),
            concurrency_per_connection: default_concurrency(),
            request_timeout_secs: default_request_timeout(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftSection {
    /// This node's id in its Raft group.
    #[serde(default = "default_raft_id")]
    pub node_id: u64,
}

fn default_raft_id() -> u64 {
    1
}

impl Default for RaftSection {
    fn default() -> Self {
        RaftSection {
            node_id: default_raft_id(),
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
    pub pack: Arc<RulePack>,
    /// Registered departments: code to name.
    pub departments: BTreeMap<String, String>,
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
            if departments.insert(d.code.clone(), d.name.clone()).is_some() {
                problems.push(format!(
                    "department[{i}].code {} is registered twice",
                    d.code
                ));
            }
        }
        if let Some(region) = &region {
            if Tier::of(region) == Tier::City && raw.departments.is_empty() {
                tracing::warn!("No department is registered: no one can submit to this city node.");
            }
        }

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
            },
            raft_id: raw.raft.node_id,
            pack,
            departments,
        })
    }
}
