//! The indicators of `standard.md` (coverage, timeliness, accuracy, counts, median
//! rectification time) as pure arithmetic. Roll-ups add numerators and denominators (and
//! histogram buckets); they never average rates.

use std::ops::{Add, AddAssign};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A rate kept as its numerator and denominator, so that it can be rolled up exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ratio {
    pub num: u64,
    pub den: u64,
}

impl Ratio {
    pub fn new(num: u64, den: u64) -> Ratio {
        Ratio { num, den }
    }

    /// `num / den`; `None` when there is nothing to measure (`den` is 0).
    pub fn rate(&self) -> Option<f64> {
        (self.den > 0).then(|| self.num as f64 / self.den as f64)
    }
}

impl Add for Ratio {
    type Output = Ratio;
    fn add(self, other: Ratio) -> Ratio {
        Ratio {
            num: self.num + other.num,
            den: self.den + other.den,
        }
    }
}

impl AddAssign for Ratio {
    fn add_assign(&mut self, other: Ratio) {
        self.num += other.num;
        self.den += other.den;
    }
}

/// Buckets per doubling of the duration: a bucket spans a factor of 2^(1/8) (about 9%),
/// so a median read from the histogram is within about 4.5% of the exact one.
const BUCKETS_PER_DOUBLING: f64 = 8.0;

/// A mergeable log-scale histogram of durations in seconds. Bucket 0 holds zero; bucket
/// `i >= 1` holds `[2^((i-1)/8), 2^(i/8))` seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationHistogram {
    /// Counts per bucket; trailing empty buckets are not stored.
    #[serde(default)]
    pub buckets: Vec<u64>,
}

impl DurationHistogram {
    fn bucket_of(seconds: u64) -> usize {
        if seconds == 0 {
            0
        } else {
            1 + ((seconds as f64).log2() * BUCKETS_PER_DOUBLING).floor() as usize
        }
    }

    fn bounds(bucket: usize) -> (f64, f64) {
        if bucket == 0 {
            (0.0, 0.0)
        } else {
            let low = ((bucket - 1) as f64 / BUCKETS_PER_DOUBLING).exp2();
            let high = (bucket as f64 / BUCKETS_PER_DOUBLING).exp2();
            (low, high)
        }
    }

    /// Counts one duration.
    pub fn record(&mut self, seconds: u64) {
        let bucket = Self::bucket_of(seconds);
        if self.buckets.len() <= bucket {
            self.buckets.resize(bucket + 1, 0);
        }
        self.buckets[bucket] += 1;
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    pub fn merge(&mut self, other: &DurationHistogram) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
    }

    /// The median duration, interpolated within its bucket on the log scale; `None` when
    /// nothing was recorded.
    pub fn median_seconds(&self) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = count as f64 / 2.0;
        let mut below = 0u64;
        for (bucket, &n) in self.buckets.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if (below + n) as f64 >= rank {
                let (low, high) = Self::bounds(bucket);
                if bucket == 0 {
                    return Some(0.0);
                }
                let fraction = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                return Some(low * (high / low).powf(fraction));
            }
            below += n;
        }
        None
    }
}

/// Counts kept per department and period; they roll up by addition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Record versions submitted.
    pub submitted: u64,
    /// Record versions accepted (without an error).
    pub accepted: u64,
    /// Record versions rejected into the rectification queue.
    pub rejected: u64,
    /// Rejected records awaiting rectification.
    pub open: u64,
    /// Rejected records later corrected and accepted.
    pub rectified: u64,
    /// Records submitted for the first time (the accuracy denominator).
    pub first_submitted: u64,
    /// Records accepted on their first submission (the accuracy numerator).
    pub first_accepted: u64,
    /// Accepted actions (the timeliness denominator).
    pub actions_accepted: u64,
    /// Accepted actions reported within the deadline (the timeliness numerator).
    pub actions_timely: u64,
    /// Times from rejection to acceptance of rectified records.
    pub rectification: DurationHistogram,
}

impl Counters {
    /// Accuracy 准确率: records accepted on their first submission / first submissions.
    pub fn accuracy(&self) -> Ratio {
        Ratio::new(self.first_accepted, self.first_submitted)
    }

    /// Timeliness 及时率: accepted actions reported within the deadline / accepted actions.
    pub fn timeliness(&self) -> Ratio {
        Ratio::new(self.actions_timely, self.actions_accepted)
    }

    /// The median time from rejection to acceptance, in seconds.
    pub fn median_rectification_seconds(&self) -> Option<f64> {
        self.rectification.median_seconds()
    }

    pub fn merge(&mut self, other: &Counters) {
        self.submitted += other.submitted;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.open += other.open;
        self.rectified += other.rectified;
        self.first_submitted += other.first_submitted;
        self.first_accepted += other.first_accepted;
        self.actions_accepted += other.actions_accepted;
        self.actions_timely += other.actions_timely;
        self.rectification.merge(&other.rectification);
    }
}

impl AddAssign<&Counters> for Counters {
    fn add_assign(&mut self, other: &Counters) {
        self.merge(other);
    }
}

impl AddAssign for Counters {
    fn add_assign(&mut self, other: Counters) {
        self.merge(&other);
    }
}

/// True when the action reached the platform within `deadline_days` of its date
/// (`reported - action <= deadline`; a report dated before the action counts as timely).
pub fn is_timely(action_date: NaiveDate, reported_date: NaiveDate, deadline_days: i64) -> bool {
    (reported_date - action_date).num_days() <= deadline_days
}

/// Coverage 覆盖率 from one flag per catalogue item of the covered types: whether the item
/// has at least one accepted action in the period.
pub fn coverage(covered_flags: impl IntoIterator<Item = bool>) -> Ratio {
    covered_flags
        .into_iter()
        .fold(Ratio::default(), |ratio, covered| {
            ratio + Ratio::new(u64::from(covered), 1)
        })
}

/// Adds up counters (departments into a city, cities into a province, ...).
pub fn rollup<'a>(rows: impl IntoIterator<Item = &'a Counters>) -> Counters {
    let mut total = Counters::default();
    for row in rows {
        total.merge(row);
    }
    total
}

#[cfg(test)]
#[path = "indicators_test.rs"]
mod tests;
