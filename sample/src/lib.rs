//! A generator of realistic regulatory sample data (items, subjects, officers, actions of
//! a city's departments) with a chosen share of records carrying exactly one defect each,
//! labelled with the rule the governance engine will report for it.
//!
//! Used by tests (the verdict of every record is known in advance), benchmarks and the
//! demo. Deterministic: the same [`SampleConfig`] always gives the same [`SampleSet`].
//!
//! Valid records are valid under the builtin rule pack, and some of them use the variants
//! standardization fixes (full-width digits, `2026/3/5`, `行政检查` for `JC`,
//! `1,200.00元`). Fields that other records refer to (item types, effective dates,
//! department codes, officers' validity dates, subject names) are always written in
//! canonical form, so a lookup built straight from `valid` records sees what the engine
//! would have stored.

mod actions;
mod catalogue;
mod codes;
mod config;
mod defect;
mod department;
mod records;
mod refs;
mod regions;
mod variants;
mod words;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use regfed_governance::RawRecord;

pub use config::SampleConfig;
pub use defect::{Defect, Family};
pub use department::{department_code, departments, Department};

/// One generated record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// `item`, `subject`, `officer` or `action`.
    pub dataset: &'static str,
    /// The value of the data set's key field (the same in `record` and `valid`).
    pub key: String,
    /// The department that submits it (its `department_code`); `None` for subjects, which
    /// any department may submit.
    pub department: Option<String>,
    /// What to submit first: carries the defect, if any.
    pub record: RawRecord,
    /// The corrected record (equal to `record` when there is no defect): what a department
    /// submits to rectify.
    pub valid: RawRecord,
    pub defect: Option<Defect>,
}

/// A generated set, one list per data set, in the order to submit them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleSet {
    pub items: Vec<Sample>,
    pub subjects: Vec<Sample>,
    pub officers: Vec<Sample>,
    pub actions: Vec<Sample>,
}

impl SampleSet {
    /// The samples of a data set by name; empty for an unknown name.
    pub fn dataset(&self, name: &str) -> &[Sample] {
        match name {
            "item" => &self.items,
            "subject" => &self.subjects,
            "officer" => &self.officers,
            "action" => &self.actions,
            _ => &[],
        }
    }

    /// Every sample in reference order: items, subjects, officers, actions.
    pub fn all(&self) -> impl Iterator<Item = &Sample> {
        self.items
            .iter()
            .chain(&self.subjects)
            .chain(&self.officers)
            .chain(&self.actions)
    }
}

/// Seeds of the independent random streams, so that changing how many records of one
/// data set are asked for leaves the others as they were.
const ITEMS: u64 = 0x1731;
const SUBJECTS: u64 = 0x5B1E;
const OFFICERS: u64 = 0x0FF1;
const ACTIONS: u64 = 0xAC71;
const STREAM: u64 = 0x57EA;

fn rng(seed: u64, stream: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Generates a sample set. Actions refer only to defect-free items, officers and subjects,
/// except where the injected defect is such a reference.
pub fn generate(cfg: &SampleConfig) -> SampleSet {
    let region = regions::RegionInfo::new(&cfg.region);
    let mut set = SampleSet {
        items: records::items(cfg, &region, &mut rng(cfg.seed, ITEMS)),
        subjects: records::subjects(cfg, &region, &mut rng(cfg.seed, SUBJECTS)),
        officers: records::officers(cfg, &region, &mut rng(cfg.seed, OFFICERS)),
        actions: Vec::new(),
    };
    let refs = refs::Refs::from_set(&set);
    let mut plan = actions::Plan::new(cfg, &region, &refs);
    set.actions = plan.generate(
        &mut rng(cfg.seed, ACTIONS),
        cfg.first_action_seq,
        cfg.actions,
        cfg.defect_rate,
    );
    set
}

/// `n` more valid actions, with ids `<region>-<XZJC|XZCF|XZQZ>-<year>-S<seq>` for seq
/// `start..start + n` (the `S` keeps them apart from [`generate`]'s ids), referring only
/// to the defect-free items, officers and subjects of `valid_refs`. For benchmarks and
/// load; deterministic for `(cfg.seed, start)`.
pub fn action_stream(
    cfg: &SampleConfig,
    valid_refs: &SampleSet,
    start: u64,
    n: usize,
) -> Vec<Sample> {
    let region = regions::RegionInfo::new(&cfg.region);
    let refs = refs::Refs::from_set(valid_refs);
    let mut plan = actions::Plan::new(cfg, &region, &refs);
    plan.stream = true;
    let mut rng = rng(cfg.seed ^ start.rotate_left(17), STREAM);
    plan.generate(&mut rng, start, n, 0.0)
}

#[cfg(test)]
#[path = "lib_test.rs"]
mod tests;
