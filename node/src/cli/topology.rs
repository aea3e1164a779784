//! `regfed topology`: a whole federation from one spec file (the CA, each node's
//! configuration and certificate, every department's and operator's identity). Rerunning it
//! on a spec with nodes or departments added keeps the CA and every certificate already
//! issued, and rewrites each node.toml so that new parents and departments appear.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use regfed_governance::{checkdigit, Region, RegionTable, Tier};
use regfed_pki::{
    write_identity_dir, Ca, Identity, Role, TlsMaterial, CA_CERT_FILE, CA_FILE, CA_KEY_FILE,
    CERT_FILE, KEY_FILE,
};
use serde::{Deserialize, Serialize};

use crate::config::{Config, DepartmentSection, NodeSection, RaftSection};

#[derive(Args, Debug)]
pub struct TopologyArgs {
    /// The topology spec: TOML with `[[node]]` and `[[department]]` tables.
    #[arg(long)]
    pub spec: PathBuf,
    /// Where to write `ca/`, `nodes/<id>/` and `identities/`; existing material is kept.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: TopologyArgs) -> anyhow::Result<()> {
    let topology = Topology::load(&args.spec)?;
    let report = topology.write(&args.out)?;
    match report.write_summary(&mut std::io::stdout().lock(), &args.out) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        printed => printed.context("cannot print the summary"),
    }
}

/// Every problem found in a spec, or in the output directory it is written to.
#[derive(Debug, thiserror::Error)]
#[error("{what} has {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))]
pub struct TopologyError {
    pub what: String,
    pub problems: Vec<String>,
}

/// A `[[node]]` table of the spec, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSpec {
    id: String,
    tier: String,
    region: String,
    listen: String,
    #[serde(default)]
    http: Option<String>,
}

/// A `[[department]]` table of the spec, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentSpec {
    region: String,
    code: String,
    name: String,
}

// The spec's top-level tables and the fields of the structs above, so that every unknown
// field of every table is reported at once (serde's `deny_unknown_fields` stops at the
// first); `deny_unknown_fields` stays as the guard should these lists fall behind.
const SPEC_FIELDS: &[&str] = &["node", "department"];
const NODE_FIELDS: &[&str] = &["id", "tier", "region", "listen", "http"];
const DEPARTMENT_FIELDS: &[&str] = &["region", "code", "name"];

/// A node of a validated spec.
#[derive(Clone, Debug)]
struct PlannedNode {
    id: String,
    tier: Tier,
    region: Region,
    listen: SocketAddr,
    http: Option<SocketAddr>,
    /// 1-based position among the nodes of its group (same region, hence same tier).
    raft_id: u64,
    /// The listen addresses of the parent group; none for the national centre, or when
    /// the spec has no node for the parent region.
    parent: Option<Vec<SocketAddr>>,
}

/// A department of a validated spec.
#[derive(Clone, Debug)]
struct PlannedDepartment {
    code: String,
    name: String,
    /// The city-tier region of the node it reports to.
    region: Region,
}

/// A validated spec: every node and department, with the groups and parents derived.
#[derive(Debug)]
pub struct Topology {
    nodes: Vec<PlannedNode>,
    departments: Vec<PlannedDepartment>,
    warnings: Vec<String>,
}

/// What writing a topology did.
#[derive(Debug)]
pub struct Report {
    ca_created: bool,
    nodes: Vec<PlannedNode>,
    departments: usize,
    /// Certificates issued by this run, and those already there and kept.
    issued: usize,
    kept: usize,
    warnings: Vec<String>,
}

impl Topology {
    /// Reads and validates a spec file, reporting every problem at once.
    pub fn load(path: &Path) -> anyhow::Result<Topology> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the topology spec {}", path.display()))?;
        Topology::from_toml_str(&text).map_err(|problems| {
            TopologyError {
                what: path.display().to_string(),
                problems,
            }
            .into()
        })
    }

    fn from_toml_str(text: &str) -> Result<Topology, Vec<String>> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| vec![e.to_string().trim().to_string()])?;
        let mut problems = Vec::new();
        for key in table.keys() {
            if !SPEC_FIELDS.contains(&key.as_str()) {
                problems.push(format!(
                    "unknown top-level field `{key}`: a spec has [[node]] and [[department]] tables"
                ));
            }
        }
        table.retain(|key, _| SPEC_FIELDS.contains(&key));
        let nodes: Vec<Option<NodeSpec>> = entries(&mut table, "node", NODE_FIELDS, &mut problems);
        let departments: Vec<Option<DepartmentSpec>> =
            entries(&mut table, "department", DEPARTMENT_FIELDS, &mut problems);
        let topology = Topology::validate(&nodes, &departments, &mut problems);
        if problems.is_empty() {
            Ok(topology)
        } else {
            Err(problems)
        }
    }

    /// Checks the parsed entries (`None` where an entry could not be read; its problem is
    /// already recorded) and derives groups and parents.
    fn validate(
        nodes: &[Option<NodeSpec>],
        departments: &[Option<DepartmentSpec>],
        problems: &mut Vec<String>,
    ) -> Topology {
        let regions = RegionTable::builtin();
        if nodes.is_empty() {
            problems.push("the spec has no [[node]]: a federation needs at least one node".into());
        }

        let mut planned = Vec::new();
        let mut ids: BTreeMap<&str, String> = BTreeMap::new();
        // Every listen and http address, to the field that claimed it first.
        let mut addresses: BTreeMap<SocketAddr, String> = BTreeMap::new();
        // Regions of city-tier nodes: where departments may report.
        let mut city_regions = BTreeSet::new();
        for (i, spec) in nodes.iter().enumerate() {
            let Some(n) = spec else { continue };
            let at = format!("node[{i}] ({})", n.id);
            if n.id.is_empty()
                || n.id == "."
                || n.id == ".."
                || !n
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                problems.push(format!(
                    "{at}: id {:?} must be letters, digits, '-', '_' or '.' (and not . or ..)",
                    n.id
                ));
            } else if let Some(first) = ids.get(n.id.as_str()) {
                problems.push(format!(
                    "{at}: id {} is already {first}'s; ids are unique in the federation",
                    n.id
                ));
            } else {
                ids.insert(&n.id, format!("node[{i}]"));
            }
            let tier = Tier::parse(&n.tier);
            if tier.is_none() {
                problems.push(format!(
                    "{at}: tier {:?} is not one of city, province, national",
                    n.tier
                ));
            }
            let region = match Region::parse(&n.region) {
                Ok(r) if regions.contains(r.as_str()) => Some(r),
                Ok(r) => {
                    problems.push(format!("{at}: region {r} is not a GB/T 2260 region code"));
                    None
                }
                Err(e) => {
                    problems.push(format!("{at}: region: {e}"));
                    None
                }
            };
            if let (Some(tier), Some(region)) = (tier, region) {
                if Tier::of(&region) != tier {
                    problems.push(format!(
                        "{at}: tier is {tier} but region {region} is a {} code",
                        Tier::of(&region)
                    ));
                }
            }
            if let Some(region) = region {
                if Tier::of(&region) == Tier::City {
                    city_regions.insert(region);
                }
            }
            let mut address = |field: &str, text: &str, example: &str| -> Option<SocketAddr> {
                match text.parse::<SocketAddr>() {
                    Ok(addr) => {
                        let here = format!("node[{i}].{field}");
                        if let Some(first) = addresses.get(&addr) {
                            problems
                                .push(format!("{at}: {field} {addr} is already used by {first}"));
                        } else {
                            addresses.insert(addr, here);
                        }
                        Some(addr)
                    }
                    Err(e) => {
                        problems.push(format!(
                            "{at}: {field} {text:?} is not an address like {example}: {e}"
                        ));
                        None
                    }
                }
            };
            let listen = address("listen", &n.listen, "127.0.0.1:7301");
            // `None` when the address is given and unusable.
            let http = match n.http.as_deref() {
                None => Some(None),
                Some(h) => address("http", h, "127.0.0.1:8301").map(Some),
            };
            if let (Some(tier), Some(region), Some(listen), Some(http)) =
                (tier, region, listen, http)
            {
                planned.push(PlannedNode {
                    id: n.id.clone(),
                    tier,
                    region,
                    listen,
                    http,
                    raft_id: 0,
                    parent: None,
                });
            }
        }

        let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
        let mut planned_departments = Vec::new();
        for (j, spec) in departments.iter().enumerate() {
            let Some(d) = spec else { continue };
            let at = format!("department[{j}] ({})", d.code);
            if let Err(e) = checkdigit::check_uscc(&d.code) {
                problems.push(format!(
                    "{at}: code {:?} is not a valid unified social credit code: {e}",
                    d.code
                ));
            } else if let Some(first) = codes.get(d.code.as_str()) {
                problems.push(format!(
                    "{at}: code {} is already department[{first}]'s",
                    d.code
                ));
            } else {
                codes.insert(&d.code, j);
            }
            if d.name.trim().is_empty() {
                problems.push(format!("{at}: name is empty"));
            }
            let region = match Region::parse(&d.region) {
                Ok(r) if !regions.contains(r.as_str()) => {
                    problems.push(format!("{at}: region {r} is not a GB/T 2260 region code"));
                    None
                }
                Ok(r) if Tier::of(&r) != Tier::City => {
                    problems.push(format!(
                        "{at}: region {r} is a {} code; a department reports to a city node",
                        Tier::of(&r)
                    ));
                    None
                }
                Ok(r) if !city_regions.contains(&r) => {
                    problems.push(format!(
                        "{at}: region {r} has no city node; add a [[node]] with tier = \"city\" and region = \"{r}\""
                    ));
                    None
                }
                Ok(r) => Some(r),
                Err(e) => {
                    problems.push(format!("{at}: region: {e}"));
                    None
                }
            };
            if let Some(region) = region {
                planned_departments.push(PlannedDepartment {
                    code: d.code.clone(),
                    name: d.name.clone(),
                    region,
                });
            }
        }

        let mut topology = Topology {
            nodes: planned,
            departments: planned_departments,
            warnings: Vec::new(),
        };
        topology.derive_groups();
        topology
    }

    /// Raft ids within each group and parent addresses, with a warning for every node
    /// whose parent region has no node.
    fn derive_groups(&mut self) {
        let regions = RegionTable::builtin();
        // A group is the nodes of one region: the region fixes the tier.
        let mut groups: BTreeMap<Region, Vec<SocketAddr>> = BTreeMap::new();
        for node in &mut self.nodes {
            let members = groups.entry(node.region).or_default();
            members.push(node.listen);
            node.raft_id = members.len() as u64;
        }
        for node in &mut self.nodes {
            let Some(parent_region) = regions.parent(&node.region) else {
                continue;
            };
            match groups.get(&parent_region) {
                Some(members) => {
                    for addr in members.iter().filter(|a| a.ip().is_unspecified()) {
                        self.warnings.push(format!(
                            "node {} gets parent address {addr}, which it cannot dial; give the parent a routable listen address",
                            node.id
                        ));
                    }
                    node.parent = Some(members.clone());
                }
                None => self.warnings.push(format!(
                    "node {} ({} {}) has no parent: the spec has no node for region {parent_region}, so its node.toml has no [parent]",
                    node.id, node.tier, node.region
                )),
            }
        }
        for node in &self.nodes {
            if node.tier == Tier::City && !self.departments.iter().any(|d| d.region == node.region)
            {
                self.warnings.push(format!(
                    "city node {} has no department: no one can submit to it",
                    node.id
                ));
            }
        }
    }

    /// Writes the CA (once), every certificate not yet issued, and every node.toml; then
    /// loads each node.toml as `regfed serve` will.
    pub fn write(&self, out: &Path) -> anyhow::Result<Report> {
        let ca_dir = out.join("ca");
        let ca_exists = [CA_CERT_FILE, CA_KEY_FILE]
            .iter()
            .any(|f| ca_dir.join(f).symlink_metadata().is_ok());
        let ca = if ca_exists {
            Ca::load(&ca_dir)
                .with_context(|| format!("cannot reuse the CA in {}", ca_dir.display()))?
        } else {
            Ca::generate("regfed federation CA")?
        };

        // Check every certificate already there before writing anything, so that a
        // mismatch leaves the directory as it was (and a new CA unsaved).
        let wanted = self.identities(out);
        let mut problems = Vec::new();
        let mut to_issue = Vec::new();
        for w in &wanted {
            match existing_identity(w, &ca, &ca_dir) {
                Ok(true) => {}
                Ok(false) => to_issue.push(w),
                Err(problem) => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            return Err(TopologyError {
                what: out.display().to_string(),
                problems,
            }
            .into());
        }
        if !ca_exists {
            ca.save(&ca_dir)?;
        }
        for w in &to_issue {
            let issued = ca.issue(&w.identity, &w.hosts)?;
            write_identity_dir(&w.dir, ca.cert_pem(), &issued)
                .with_context(|| format!("cannot write {}", w.dir.display()))?;
        }

        let mut problems = Vec::new();
        for node in &self.nodes {
            let path = node_dir(out, &node.id).join("node.toml");
            write_text(&path, &self.node_toml(node)?)?;
            // Config's own warning (a city without departments) is in `self.warnings`,
            // with the node's name.
            let loaded = tracing::subscriber::with_default(
                tracing::subscriber::NoSubscriber::default(),
                || Config::load(&path),
            );
            if let Err(e) = loaded {
                problems.extend(e.problems.into_iter().map(|p| format!("{}: {p}", e.file)));
            }
        }
        if !problems.is_empty() {
            // A topology that passed validation should always make loadable configs.
            return Err(TopologyError {
                what: "the written node configurations".into(),
                problems,
            }
            .into());
        }

        Ok(Report {
            ca_created: !ca_exists,
            nodes: self.nodes.clone(),
            departments: self.departments.len(),
            issued: to_issue.len(),
            kept: wanted.len() - to_issue.len(),
            warnings: self.warnings.clone(),
        })
    }

    /// Every identity directory the topology needs: nodes, departments, operators.
    fn identities(&self, out: &Path) -> Vec<WantedIdentity> {
        let identities = out.join("identities");
        let mut wanted = Vec::new();
        for node in &self.nodes {
            // The node's certificate names the host it listens on; `Ca::issue` adds
            // localhost and 127.0.0.1 to every node's.
            let hosts = if node.listen.ip().is_unspecified() {
                Vec::new()
            } else {
                vec![node.listen.ip().to_string()]
            };
            wanted.push(WantedIdentity {
                dir: node_dir(out, &node.id),
                identity: Identity {
                    role: Role::Node,
                    tier: pki_tier(node.tier),
                    region: node.region.to_string(),
                    id: node.id.clone(),
                },
                hosts,
            });
        }
        for d in &self.departments {
            wanted.push(WantedIdentity {
                dir: identities.join(&d.code),
                identity: Identity {
                    role: Role::Department,
                    tier: regfed_pki::Tier::City,
                    region: d.region.to_string(),
                    id: d.code.clone(),
                },
                hosts: Vec::new(),
            });
        }
        for node in &self.nodes {
            let id = format!("operator-{}", node.id);
            wanted.push(WantedIdentity {
                dir: identities.join(&id),
                identity: Identity {
                    role: Role::Operator,
                    tier: pki_tier(node.tier),
                    region: node.region.to_string(),
                    id,
                },
                hosts: Vec::new(),
            });
        }
        wanted
    }

    /// The node's configuration file. It names only what the topology decides; every other
    /// setting keeps config.rs's default, so later releases' defaults apply to it too.
    fn node_toml(&self, node: &PlannedNode) -> anyhow::Result<String> {
        let regions = RegionTable::builtin();
        let file = NodeFile {
            node: NodeSection {
                id: node.id.clone(),
                tier: node.tier.as_str().to_string(),
                region: node.region.to_string(),
                listen: node.listen.to_string(),
                http: node.http.map(|h| h.to_string()),
                data_dir: PathBuf::from("data"),
            },
            tls: TlsFiles {
                ca: CA_FILE,
                cert: CERT_FILE,
                key: KEY_FILE,
            },
            raft: RaftSection {
                node_id: node.raft_id,
                members: {
                    let group: Vec<&PlannedNode> = self
                        .nodes
                        .iter()
                        .filter(|n| n.region == node.region)
                        .collect();
                    if group.len() > 1 {
                        group
                            .iter()
                            .map(|n| format!("{}@{}", n.raft_id, n.listen))
                            .collect()
                    } else {
                        Vec::new()
                    }
                },
                join: false,
                snapshot_every_entries: 5000,
                source_ip: None,
            },
            parent: node.parent.as_ref().map(|members| ParentNodes {
                nodes: members.iter().map(|a| a.to_string()).collect(),
            }),
            departments: self
                .departments
                .iter()
                .filter(|d| regions.is_within(&d.region, &node.region))
                .map(|d| DepartmentSection {
                    code: d.code.clone(),
                    name: d.name.clone(),
                    region: Some(d.region.to_string()),
                })
                .collect(),
        };
        let body = toml::to_string(&file)
            .with_context(|| format!("cannot write the configuration of node {}", node.id))?;
        Ok(format!(
            "# Node {} of the federation, written by `regfed topology`; rerunning it rewrites\n\
             # this file. Settings not written here keep their defaults (deploy/node.example.toml).\n\n{body}",
            node.id
        ))
    }
}

impl Report {
    /// The summary `regfed topology` prints: the CA, a line per node, the identities,
    /// warnings, and how to start each node.
    pub fn write_summary(&self, w: &mut impl Write, out: &Path) -> std::io::Result<()> {
        let ca = out.join("ca");
        if self.ca_created {
            writeln!(
                w,
                "Created the federation CA in {} (keep ca-key.pem safe).",
                ca.display()
            )?;
        } else {
            writeln!(w, "Reused the federation CA in {}.", ca.display())?;
        }
        let width = self.nodes.iter().map(|n| n.id.len()).max().unwrap_or(0);
        writeln!(w, "Nodes:")?;
        for node in &self.nodes {
            let parent = match &node.parent {
                Some(members) => members
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                None => "-".into(),
            };
            writeln!(
                w,
                "  {:width$}  {:8}  {}  listen {:<21}  parent {parent}",
                node.id,
                node.tier.as_str(),
                node.region,
                node.listen.to_string(),
            )?;
        }
        writeln!(
            w,
            "Department identities: {} (in {}).",
            self.departments,
            out.join("identities").display()
        )?;
        writeln!(
            w,
            "Certificates: {} issued, {} kept as they were.",
            self.issued, self.kept
        )?;
        for warning in &self.warnings {
            writeln!(w, "Warning: {warning}.")?;
        }
        writeln!(w, "Start each node with:")?;
        for node in &self.nodes {
            writeln!(
                w,
                "  regfed serve --config {}",
                node_dir(out, &node.id).join("node.toml").display()
            )?;
        }
        Ok(())
    }
}

/// The node.toml `regfed topology` writes; see [`Topology::node_toml`].
#[derive(Serialize)]
struct NodeFile {
    node: NodeSection,
    tls: TlsFiles,
    raft: RaftSection,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<ParentNodes>,
    #[serde(rename = "department", skip_serializing_if = "Vec::is_empty")]
    departments: Vec<DepartmentSection>,
}

/// `[tls]` with the files beside node.toml (the handshake timeout keeps its default).
#[derive(Serialize)]
struct TlsFiles {
    ca: &'static str,
    cert: &'static str,
    key: &'static str,
}

/// `[parent]` with its members (batch size and window keep their defaults).
#[derive(Serialize)]
struct ParentNodes {
    nodes: Vec<String>,
}

/// An identity directory and the certificate it should hold.
struct WantedIdentity {
    dir: PathBuf,
    identity: Identity,
    hosts: Vec<String>,
}

/// Reads the entries of the `[[key]]` array of tables: every unknown field is a problem
/// (and is dropped so that the rest of the entry is still checked); an entry that cannot
/// be read is `None`, its problem recorded.
fn entries<T: serde::de::DeserializeOwned>(
    table: &mut toml::Table,
    key: &str,
    fields: &[&str],
    problems: &mut Vec<String>,
) -> Vec<Option<T>> {
    let Some(value) = table.remove(key) else {
        return Vec::new();
    };
    let toml::Value::Array(items) = value else {
        problems.push(format!(
            "`{key}` must be an array of tables, written [[{key}]]"
        ));
        return Vec::new();
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let mut item = item;
            if let toml::Value::Table(t) = &mut item {
                for name in t.keys().filter(|k| !fields.contains(&k.as_str())) {
                    problems.push(format!(
                        "{key}[{i}]: unknown field `{name}` (expected one of {})",
                        fields.join(", ")
                    ));
                }
                t.retain(|k, _| fields.contains(&k));
            }
            T::deserialize(item)
                .map_err(|e| problems.push(format!("{key}[{i}]: {}", e.to_string().trim())))
                .ok()
        })
        .collect()
}

/// True when `wanted.dir` already holds a certificate (kept as it is); false when one must
/// be issued; an error sentence when what is there does not match the spec or the CA.
fn existing_identity(wanted: &WantedIdentity, ca: &Ca, ca_dir: &Path) -> Result<bool, String> {
    let dir = wanted.dir.display();
    if wanted.dir.join(CERT_FILE).symlink_metadata().is_err() {
        return Ok(false);
    }
    let material = TlsMaterial::load_dir(&wanted.dir).map_err(|e| {
        format!("{dir} holds a certificate that cannot be reused ({e}); remove the directory to issue a new one")
    })?;
    let found = material.identity().map_err(|e| {
        format!("{dir} holds a certificate without a usable identity ({e}); remove the directory to issue a new one")
    })?;
    if found != wanted.identity {
        return Err(format!(
            "{dir} holds a certificate for {found}, but the spec makes it {}; remove the directory to issue a new one",
            wanted.identity
        ));
    }
    if material.ca_pem.trim() != ca.cert_pem().trim() {
        return Err(format!(
            "{dir} was issued by another CA than {}; remove the directory to issue a new one",
            ca_dir.join(CA_CERT_FILE).display()
        ));
    }
    Ok(true)
}

fn node_dir(out: &Path, id: &str) -> PathBuf {
    out.join("nodes").join(id)
}

fn pki_tier(tier: Tier) -> regfed_pki::Tier {
    match tier {
        Tier::City => regfed_pki::Tier::City,
        Tier::Province => regfed_pki::Tier::Province,
        Tier::National => regfed_pki::Tier::National,
    }
}

/// Replaces `path` whole: a reader sees the old file or the new one, never half of one.
fn write_text(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use regfed_governance::Region;
    use regfed_pki::{Identity, Role, Tier, TlsMaterial};
    use regfed_sample::{departments, Department};

    use super::{Topology, TopologyError};
    use crate::config::Config;

    /// National, province, and two cities of Hubei with two departments each.
    const NODES: &[(&str, &str, &str, &str)] = &[
        ("national-1", "national", "100000", "127.0.0.1:7101"),
        ("hubei-1", "province", "420000", "127.0.0.1:7201"),
        ("wuhan-1", "city", "420100", "127.0.0.1:7301"),
        ("yichang-1", "city", "420500", "127.0.0.1:7302"),
    ];

    fn three_tier_departments() -> Vec<(&'static str, Department)> {
        let mut all = Vec::new();
        for region in ["420100", "420500"] {
            all.extend(departments(region, 2).into_iter().map(|d| (region, d)));
        }
        all
    }

    fn spec_text(nodes: &[(&str, &str, &str, &str)], departments: &[(&str, Department)]) -> String {
        let mut text = String::new();
        for (id, tier, region, listen) in nodes {
            text.push_str(&format!(
                "[[node]]\nid = \"{id}\"\ntier = \"{tier}\"\nregion = \"{region}\"\nlisten = \"{listen}\"\n\n"
            ));
        }
        for (region, d) in departments {
            text.push_str(&format!(
                "[[department]]\nregion = \"{region}\"\ncode = \"{}\"\nname = \"{}\"\n\n",
                d.code, d.name
            ));
        }
        text
    }

    /// Writes `text` as the spec and the topology into `dir/out`.
    fn write(dir: &Path, text: &str) -> anyhow::Result<super::Report> {
        let spec = dir.join("spec.toml");
        std::fs::write(&spec, text)?;
        Topology::load(&spec)?.write(&dir.join("out"))
    }

    fn load(out: &Path, id: &str) -> Config {
        let path = out.join("nodes").join(id).join("node.toml");
        Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn parent_of(config: &Config) -> Option<Vec<String>> {
        config.parent.as_ref().map(|p| p.nodes.clone())
    }

    fn department_regions(config: &Config) -> BTreeMap<String, String> {
        config
            .departments
            .iter()
            .map(|(code, d)| (code.clone(), d.region.to_string()))
            .collect()
    }

    fn identity_in(dir: &Path) -> Identity {
        let material = TlsMaterial::load_dir(dir).unwrap_or_else(|e| panic!("{e}"));
        material.identity().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every file under `dir` with its bytes.
    fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut found = BTreeMap::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    found.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        found
    }

    #[test]
    fn three_tiers_make_loadable_configs_with_parents_and_departments() {
        let dir = tempfile::tempdir().unwrap();
        let depts = three_tier_departments();
        let report = write(dir.path(), &spec_text(NODES, &depts)).unwrap();
        assert!(report.ca_created);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!((report.issued, report.kept), (4 + 4 + 4, 0));
        let out = dir.path().join("out");

        let national = load(&out, "national-1");
        let hubei = load(&out, "hubei-1");
        let wuhan = load(&out, "wuhan-1");
        let yichang = load(&out, "yichang-1");
        assert_eq!(parent_of(&national), None);
        assert_eq!(parent_of(&hubei), Some(vec!["127.0.0.1:7101".to_string()]));
        assert_eq!(parent_of(&wuhan), Some(vec!["127.0.0.1:7201".to_string()]));
        assert_eq!(
            parent_of(&yichang),
            Some(vec!["127.0.0.1:7201".to_string()])
        );
        assert_eq!(
            hubei.parent.as_ref().map(|p| p.region),
            Some(Region::national())
        );
        for config in [&national, &hubei, &wuhan, &yichang] {
            assert_eq!(config.raft_id, 1, "{}", config.id);
            assert_eq!(
                config.data_dir,
                out.join("nodes").join(&config.id).join("data")
            );
        }
        assert_eq!(wuhan.listen.to_string(), "127.0.0.1:7301");

        let all: BTreeMap<String, String> = depts
            .iter()
            .map(|(region, d)| (d.code.clone(), region.to_string()))
            .collect();
        let of = |region: &str| -> BTreeMap<String, String> {
            all.clone()
                .into_iter()
                .filter(|(_, r)| r == region)
                .collect()
        };
        assert_eq!(department_regions(&national), all);
        assert_eq!(department_regions(&hubei), all);
        assert_eq!(department_regions(&wuhan), of("420100"));
        assert_eq!(department_regions(&yichang), of("420500"));
        for (region, d) in &depts {
            let expected = if *region == "420100" {
                &wuhan
            } else {
                &yichang
            };
            assert!(expected.local_department(&d.code).is_some(), "{}", d.code);
            assert_eq!(national.department_name(&d.code), Some(d.name.as_str()));
        }

        // The node's own certificate, beside node.toml.
        assert_eq!(
            identity_in(&out.join("nodes/wuhan-1")),
            Identity::new(Role::Node, Tier::City, "420100", "wuhan-1").unwrap()
        );
        for (region, d) in &depts {
            assert_eq!(
                identity_in(&out.join("identities").join(&d.code)),
                Identity::new(Role::Department, Tier::City, *region, d.code.as_str()).unwrap()
            );
        }
        for (id, tier, region, _) in NODES {
            let operator = format!("operator-{id}");
            let tier = Tier::parse(tier).unwrap();
            assert_eq!(
                identity_in(&out.join("identities").join(&operator)),
                Identity::new(Role::Operator, tier, *region, operator.as_str()).unwrap()
            );
        }
        assert!(out.join("ca/ca.pem").is_file() && out.join("ca/ca-key.pem").is_file());

        let mut summary = Vec::new();
        report.write_summary(&mut summary, &out).unwrap();
        let summary = String::from_utf8(summary).unwrap();
        for line in [
            "Created the federation CA in",
            "  wuhan-1     city      420100  listen 127.0.0.1:7301         parent 127.0.0.1:7201",
            "Department identities: 4 (in",
            "Certificates: 12 issued, 0 kept as they were.",
        ] {
            assert!(summary.contains(line), "{line:?} not in:\n{summary}");
        }
        for (id, ..) in NODES {
            let config = out.join("nodes").join(id).join("node.toml");
            let serve = format!("  regfed serve --config {}", config.display());
            assert!(summary.contains(&serve), "{serve:?} not in:\n{summary}");
        }
    }

    #[test]
    fn rerun_with_more_nodes_keeps_the_ca_and_every_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut depts = three_tier_departments();
        write(dir.path(), &spec_text(NODES, &depts)).unwrap();
        let before = files(&out);

        // A second province node and a third Wuhan department.
        let mut nodes = NODES.to_vec();
        nodes.push(("hubei-2", "province", "420000", "127.0.0.1:7202"));
        let extra = departments("420100", 3).pop().unwrap();
        depts.push(("420100", extra.clone()));
        let report = write(dir.path(), &spec_text(&nodes, &depts)).unwrap();
        assert!(!report.ca_created);
        assert_eq!((report.issued, report.kept), (3, 12));

        let after = files(&out);
        for (path, bytes) in &before {
            if path.file_name().is_some_and(|n| n == "node.toml") {
                continue;
            }
            assert!(after.get(path) == Some(bytes), "{} changed", path.display());
        }

        // node.toml files are rewritten: the new group member and department appear.
        let hubei_group = vec!["127.0.0.1:7201".to_string(), "127.0.0.1:7202".to_string()];
        assert_eq!(parent_of(&load(&out, "wuhan-1")), Some(hubei_group.clone()));
        assert_eq!(parent_of(&load(&out, "yichang-1")), Some(hubei_group));
        let hubei_2 = load(&out, "hubei-2");
        assert_eq!(hubei_2.raft_id, 2);
        assert_eq!(hubei_2.departments.len(), 5);
        assert!(load(&out, "wuhan-1")
            .local_department(&extra.code)
            .is_some());
        assert!(out
            .join("identities")
            .join(&extra.code)
            .join("cert.pem")
            .is_file());
        assert!(out.join("identities/operator-hubei-2/cert.pem").is_file());
    }

    #[test]
    fn a_bad_spec_reports_every_problem_and_writes_nothing() {
        let good = departments("420100", 1).remove(0);
        let text = format!(
            r#"
colour = "blue"

[[node]]
id = "wuhan-1"
tier = "city"
region = "420100"
listen = "127.0.0.1:7301"
zone = "a"

[[node]]
id = "wuhan-1"
tier = "province"
region = "420100"
listen = "127.0.0.1:7301"
http = "127.0.0.1:7301"

[[node]]
id = "nowhere-1"
tier = "city"
region = "123400"
listen = "localhost"

[[department]]
region = "420100"
code = "{code}"
name = "甲"

[[department]]
region = "420100"
code = "{code}"
name = "乙"

[[department]]
region = "420100"
code = "11420100MB0000000A"
name = "丙"

[[department]]
region = "420500"
code = "{other}"
name = "丁"
"#,
            code = good.code,
            other = departments("420500", 1).remove(0).code,
        );
        let dir = tempfile::tempdir().unwrap();
        let error = write(dir.path(), &text).unwrap_err();
        let problems = &error
            .downcast_ref::<TopologyError>()
            .unwrap_or_else(|| panic!("not a TopologyError: {error:#}"))
            .problems;
        let expected = [
            "unknown top-level field `colour`",
            "node[0]: unknown field `zone`",
            "node[1] (wuhan-1): id wuhan-1 is already node[0]'s",
            "node[1] (wuhan-1): tier is province but region 420100 is a city code",
            "node[1] (wuhan-1): listen 127.0.0.1:7301 is already used by node[0].listen",
            "node[1] (wuhan-1): http 127.0.0.1:7301 is already used by node[0].listen",
            "node[2] (nowhere-1): region 123400 is not a GB/T 2260 region code",
            "node[2] (nowhere-1): listen \"localhost\" is not an address",
            "department[1]",
            "is already department[0]'s",
            "department[2] (11420100MB0000000A): code \"11420100MB0000000A\" is not a valid unified social credit code",
            "region 420500 has no city node",
        ];
        for e in expected {
            assert!(
                problems.iter().any(|p| p.contains(e)),
                "no problem says {e:?}; got:\n{error}"
            );
        }
        assert_eq!(problems.len(), expected.len() - 1, "{error}");
        assert!(!dir.path().join("out").exists());
    }

    #[test]
    fn a_missing_parent_tier_is_a_warning_and_no_parent_section() {
        let dir = tempfile::tempdir().unwrap();
        let depts: Vec<_> = departments("420100", 1)
            .into_iter()
            .map(|d| ("420100", d))
            .collect();
        let nodes = [
            ("national-1", "national", "100000", "127.0.0.1:7101"),
            ("wuhan-1", "city", "420100", "127.0.0.1:7301"),
        ];
        let report = write(dir.path(), &spec_text(&nodes, &depts)).unwrap();
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert!(
            report.warnings[0].contains("wuhan-1") && report.warnings[0].contains("420000"),
            "{:?}",
            report.warnings
        );
        let out = dir.path().join("out");
        assert_eq!(parent_of(&load(&out, "wuhan-1")), None);
        let text = std::fs::read_to_string(out.join("nodes/wuhan-1/node.toml")).unwrap();
        assert!(!text.contains("[parent]"), "{text}");
    }

    #[test]
    fn a_kept_certificate_must_still_match_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let depts = three_tier_departments();
        write(dir.path(), &spec_text(NODES, &depts)).unwrap();
        let out = dir.path().join("out");
        let before = files(&out);

        // yichang-1 moved to Wuhan's group: its certificate names 420500.
        let mut nodes = NODES.to_vec();
        nodes[3] = ("yichang-1", "city", "420100", "127.0.0.1:7302");
        let depts: Vec<_> = depts.into_iter().filter(|(r, _)| *r == "420100").collect();
        let error = write(dir.path(), &spec_text(&nodes, &depts)).unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.contains("nodes/yichang-1 holds a certificate for node yichang-1 (city 420500)"),
            "{text}"
        );
        assert!(text.contains("operator-yichang-1"), "{text}");
        assert_eq!(files(&out), before, "a refused run changed files");
    }
}
