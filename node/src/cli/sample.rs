//! `regfed sample`: write realistic sample data files for a city's departments.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use regfed_governance::{RawRecord, RulePack};
use regfed_sample::{departments, generate, SampleConfig};

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// The city's GB/T 2260 code.
    #[arg(long, default_value = "420100")]
    pub region: String,
    /// How many departments.
    #[arg(long, default_value_t = 3)]
    pub departments: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of records carrying one defect (0 to 1).
    #[arg(long, default_value_t = 0.2)]
    pub defect_rate: f64,
    /// Action records in all.
    #[arg(long, default_value_t = 60)]
    pub actions: usize,
    /// Write CSV (UTF-8, Chinese label headers) instead of JSONL.
    #[arg(long)]
    pub csv: bool,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: SampleArgs) -> anyhow::Result<()> {
    let today = crate::state::china_day(crate::node::now_millis());
    let depts = departments(&args.region, args.departments);
    let mut cfg = SampleConfig::small(&args.region, depts.clone(), today);
    cfg.seed = args.seed;
    cfg.defect_rate = args.defect_rate;
    cfg.actions = args.actions;
    let set = generate(&cfg);
    let pack = RulePack::builtin();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut written = Vec::new();
    for spec in pack.datasets() {
        for dept in &depts {
            let records: Vec<RawRecord> = set
                .dataset(&spec.name)
                .iter()
                .filter(|s| crate::local::submitter(s, &depts[0].code) == dept.code)
                .map(|s| s.record.clone())
                .collect();
            if records.is_empty() {
                continue;
            }
            let dir = args.out.join(&dept.code);
            std::fs::create_dir_all(&dir)?;
            let path = if args.csv {
                let path = dir.join(format!("{}.csv", spec.name));
                let bytes = regfed_formats::write_csv(
                    spec,
                    &records,
                    regfed_formats::HeaderStyle::Labels,
                    regfed_formats::TextEncoding::Utf8,
                );
                std::fs::write(&path, bytes)?;
                path
            } else {
                let path = dir.join(format!("{}.jsonl", spec.name));
                std::fs::write(&path, regfed_formats::write_jsonl(&records))?;
                path
            };
            written.push((path, records.len()));
        }
    }
    for (path, n) in &written {
        println!("{n:>6} records  {}", path.display());
    }
    println!("Departments (register them in the node's configuration):");
    for d in &depts {
        println!("[[department]]\ncode = {:?}\nname = {:?}", d.code, d.name);
    }
    Ok(())
}
