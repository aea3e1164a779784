//! `regfed certs init` and `regfed certs issue`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use regfed_pki::{write_identity_dir, Ca, Identity, Role, Tier};

#[derive(Subcommand, Debug)]
pub enum CertsCommand {
    /// Create a federation CA in DIR (ca.pem, ca-key.pem).
    Init {
        #[arg(long)]
        out: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "regfed federation CA")]
        name: String,
    },
    /// Issue a certificate naming a role, tier, region and id; writes ca.pem, cert.pem and
    /// key.pem into --out.
    Issue(IssueArgs),
}

#[derive(Args, Debug)]
pub struct IssueArgs {
    /// The CA directory made by `certs init`.
    #[arg(long)]
    pub ca: PathBuf,
    /// node, department or operator.
    #[arg(long)]
    pub role: String,
    /// city, province or national.
    #[arg(long)]
    pub tier: String,
    /// GB/T 2260 region code.
    #[arg(long)]
    pub region: String,
    /// Node id, department USCC, or operator name.
    #[arg(long)]
    pub id: String,
    /// Host names or IP addresses the node is reached at (nodes only); repeatable.
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(command: CertsCommand) -> anyhow::Result<()> {
    match command {
        CertsCommand::Init { out, name } => {
            let ca = Ca::generate(&name)?;
            ca.save(&out)?;
            println!("Created CA {name:?} in {}", out.display());
            Ok(())
        }
        CertsCommand::Issue(a) => {
            let role = Role::parse(&a.role).with_context(|| format!("--role {:?}", a.role))?;
            let tier = Tier::parse(&a.tier).with_context(|| format!("--tier {:?}", a.tier))?;
            let identity = Identity {
                role,
                tier,
                region: a.region.clone(),
                id: a.id.clone(),
            };
            // Round-trip through the URI to validate every part with one set of rules.
            let identity = Identity::parse_uri(&identity.to_uri())?;
            let ca = Ca::load(&a.ca)?;
            let issued = ca.issue(&identity, &a.hosts)?;
            write_identity_dir(&a.out, ca.cert_pem(), &issued)?;
            println!("Issued {} into {}", identity.to_uri(), a.out.display());
            Ok(())
        }
    }
}
