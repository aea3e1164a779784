//! What to generate: region, departments, how many records of each data set, the share of
//! defects, and the day the data is generated for.

use chrono::NaiveDate;

use crate::department::Department;

/// Parameters of a sample set. The same configuration always gives the same set.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleConfig {
    pub seed: u64,
    /// The region of the receiving (city) node; every record lies within it.
    pub region: String,
    /// The departments registered at the node; items, officers and actions belong to them.
    pub departments: Vec<Department>,
    /// Catalogue items per department. The first two (a JC and a CF item) never carry a
    /// defect, so that every department's actions have items to refer to.
    pub items_per_department: usize,
    pub subjects: usize,
    /// Officers per department; at least 2 are generated (actions need 2), and the first 3
    /// never carry a defect.
    pub officers_per_department: usize,
    pub actions: usize,
    /// The share of each data set's records that carry exactly one defect (0 to 1).
    pub defect_rate: f64,
    /// The day the data is generated for: action dates lie in the 90 days before it.
    pub today: NaiveDate,
    /// The sequence number in the first action's id (`420100-XZJC-2026-000001`).
    pub first_action_seq: u64,
}

impl SampleConfig {
    /// A small, realistic set: 6 items and 4 officers per department, 20 subjects,
    /// 60 actions, a defect in about 20% of the records.
    pub fn small(region: &str, departments: Vec<Department>, today: NaiveDate) -> Self {
        SampleConfig {
            seed: 1,
            region: region.to_string(),
            departments,
            items_per_department: 6,
            subjects: 20,
            officers_per_department: 4,
            actions: 60,
            defect_rate: 0.2,
            today,
            first_action_seq: 1,
        }
    }
}
