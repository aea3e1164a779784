//! A federation on one machine: a node per region of a plan, each linked to its parent by
//! region, with certificates from one CA. Used by `regfed demo`, the tests and the
//! benchmarks; `regfed topology` writes the same layout from a spec file for real
//! deployments.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use regfed_governance::{Region, RegionTable};
use regfed_pki::Tier;
use regfed_sample::Department;

use crate::local::{self, LocalNode, LocalSpec};

/// One node of a planned federation.
#[derive(Clone, Debug)]
pub struct NodePlan {
    pub id: String,
    pub tier: Tier,
    pub region: String,
    /// The departments reporting to it (cities only).
    pub departments: Vec<Department>,
    /// Where it finds its parent, when not at the parent's own address (a test's fault
    /// proxy, say).
    pub parent_addr: Option<String>,
    pub listen: SocketAddr,
    /// Its address in its group's membership, when not `listen` (a test's fault proxy in
    /// front of it, say).
    pub member_addr: Option<String>,
    /// Its Raft id, when not its position in its group.
    pub raft_id: Option<u64>,
    /// More `[raft]` settings, e.g. `join = true`.
    pub raft_settings: String,
    /// More `[parent]` settings, e.g. `batch_records = 3`.
    pub link_settings: String,
}

impl NodePlan {
    pub fn new(id: &str, tier: Tier, region: &str, departments: usize) -> anyhow::Result<Self> {
        Ok(NodePlan {
            id: id.to_string(),
            tier,
            region: region.to_string(),
            departments: if tier == Tier::City {
                regfed_sample::departments(region, departments)
            } else {
                Vec::new()
            },
            parent_addr: None,
            listen: local::free_port()?,
            member_addr: None,
            raft_id: None,
            raft_settings: String::new(),
            link_settings: String::new(),
        })
    }
}

/// The demo's federation: the national centre, Hubei and Guangdong, and two cities in each.
pub fn demo_plan() -> anyhow::Result<Vec<NodePlan>> {
    Ok(vec![
        NodePlan::new("national", Tier::National, "100000", 0)?,
        NodePlan::new("hubei", Tier::Province, "420000", 0)?,
        NodePlan::new("guangdong", Tier::Province, "440000", 0)?,
        NodePlan::new("wuhan", Tier::City, "420100", 3)?,
        NodePlan::new("yichang", Tier::City, "420500", 2)?,
        NodePlan::new("dongguan", Tier::City, "441900", 2)?,
        NodePlan::new("shenzhen", Tier::City, "440300", 3)?,
    ])
}

/// Writes every node of `plan` under `dir` (one CA in `dir/ca`), in plan order. Nodes of
/// the same region form a Raft group (ids in plan order); each node knows the departments
/// of its subtree and links to the nodes of its parent region.
pub fn prepare(dir: &Path, plan: &[NodePlan], extra: &str) -> anyhow::Result<Vec<LocalNode>> {
    let regions = RegionTable::builtin();
    let mut groups: BTreeMap<&str, Vec<&NodePlan>> = BTreeMap::new();
    for n in plan {
        groups.entry(n.region.as_str()).or_default().push(n);
    }
    let mut nodes = Vec::new();
    for n in plan {
        let region = Region::parse(&n.region)?;
        let mut config = String::from(extra);
        let group = &groups[n.region.as_str()];
        if group.len() > 1 || n.raft_id.is_some() || !n.raft_settings.is_empty() {
            let position = group.iter().position(|m| m.id == n.id).unwrap_or(0) + 1;
            let id = n.raft_id.unwrap_or(position as u64);
            let members: Vec<String> = group
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let addr = m
                        .member_addr
                        .clone()
                        .unwrap_or_else(|| m.listen.to_string());
                    format!("\"{}@{addr}\"", m.raft_id.unwrap_or(i as u64 + 1))
                })
                .collect();
            let members = if group.len() > 1 {
                format!("members = [{}]\n", members.join(", "))
            } else {
                String::new()
            };
            config.push_str(&format!(
                "\n[raft]\nnode_id = {id}\n{members}{}\n",
                n.raft_settings
            ));
        }
        if let Some(parent) = regions.parent(&region).and_then(|p| groups.get(p.as_str())) {
            let addrs: Vec<String> = match &n.parent_addr {
                Some(a) => vec![format!("\"{a}\"")],
                None => parent.iter().map(|p| format!("\"{}\"", p.listen)).collect(),
            };
            config.push_str(&format!(
                "\n[parent]\nnodes = [{}]\n{}\n",
                addrs.join(", "),
                n.link_settings
            ));
        }
        // The departments below this node, so that re-checks and indicators know them.
        if n.tier != Tier::City {
            // One entry per city group (its members share the departments).
            for below in groups
                .values()
                .map(|g| g[0])
                .filter(|b| b.tier == Tier::City)
            {
                let b = Region::parse(&below.region)?;
                if !regions.is_within(&b, &region) {
                    continue;
                }
                for d in &below.departments {
                    config.push_str(&format!(
                        "\n[[department]]\ncode = {:?}\nname = {:?}\nregion = {:?}\n",
                        d.code, d.name, below.region
                    ));
                }
            }
        }
        let node = local::prepare(
            dir,
            &LocalSpec {
                id: &n.id,
                tier: n.tier,
                region: &n.region,
                departments: &n.departments,
                listen: n.listen,
                http: None,
                handshake_timeout_secs: Some(5),
                extra_config: &config,
            },
        )
        .with_context(|| format!("cannot prepare node {}", n.id))?;
        nodes.push(node);
    }
    Ok(nodes)
}
