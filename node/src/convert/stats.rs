//! Indicator rows.

use regfed_governance::indicators::Ratio;
use regfed_proto::v1 as pb;

use crate::state::read::StatsRow;

fn ratio(r: Ratio) -> Option<pb::Ratio> {
    Some(pb::Ratio {
        num: r.num,
        den: r.den,
    })
}

pub fn row_to_pb(row: &StatsRow, department_name: Option<&str>) -> pb::StatsRow {
    let c = &row.counters;
    pb::StatsRow {
        region: row.region.clone(),
        department: row.department.clone().unwrap_or_default(),
        coverage: ratio(row.coverage),
        timeliness: ratio(c.timeliness()),
        accuracy: ratio(c.accuracy()),
        submitted: c.submitted,
        accepted: c.accepted,
        rejected: c.rejected,
        open: row.open,
        rectified: c.rectified,
        median_rectify_seconds: c.median_rectification_seconds().unwrap_or(-1.0),
        department_name: department_name.unwrap_or_default().to_string(),
    }
}
