//! `regfed serve --config FILE`.

use std::path::PathBuf;

use clap::Args;

use crate::config::Config;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The node's TOML configuration.
    #[arg(long)]
    pub config: PathBuf,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    crate::node::run(config, super::shutdown_signal()).await
}
