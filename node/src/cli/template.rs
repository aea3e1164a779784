//! `regfed template`: the Excel reporting template, generated from the built-in standard,
//! a rule pack file, or (with `--node`) the rule pack of a running node.

use std::path::PathBuf;

use anyhow::{anyhow, Context as _};
use clap::Args;
use regfed_governance::RulePack;
use regfed_proto::v1 as pb;

use crate::service::template_bytes;

#[derive(Args, Debug)]
pub struct TemplateArgs {
    /// A data set (item, subject, officer, action), or `all` for one sheet each.
    #[arg(long, default_value = "all")]
    pub dataset: String,
    /// The .xlsx file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Generate from this rule pack file (TOML) instead of the built-in standard.
    #[arg(long, conflicts_with = "nodes")]
    pub pack: Option<PathBuf>,
    /// Fetch the template from a node: generated from that node's rule pack.
    #[arg(long = "node")]
    pub nodes: Vec<String>,
    /// With --node: directory holding ca.pem, cert.pem and key.pem.
    #[arg(long, requires = "nodes")]
    pub identity: Option<PathBuf>,
}

pub async fn run(args: TemplateArgs) -> anyhow::Result<()> {
    let (bytes, pack) = if args.nodes.is_empty() {
        let pack = match &args.pack {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the rule pack {}", path.display()))?;
                std::sync::Arc::new(
                    RulePack::from_toml_str(&text)
                        .with_context(|| format!("rule pack {}", path.display()))?,
                )
            }
            None => RulePack::builtin(),
        };
        let bytes = template_bytes(&pack, &args.dataset).map_err(|e| anyhow!(e))?;
        (bytes, format!("{}@{}", pack.name(), pack.version()))
    } else {
        let Some(identity) = &args.identity else {
            return Err(anyhow!(
                "--node needs --identity DIR (ca.pem, cert.pem, key.pem)"
            ));
        };
        let mut client = crate::client::connect(&args.nodes, identity).await?;
        let answer = client
            .template(pb::TemplateRequest {
                dataset: args.dataset.clone(),
            })
            .await
            .map_err(|s| anyhow!(crate::client::status_message(&s)))?
            .into_inner();
        (answer.data, answer.pack)
    };
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} bytes, rule pack {pack})",
        args.out.display(),
        bytes.len()
    );
    Ok(())
}
