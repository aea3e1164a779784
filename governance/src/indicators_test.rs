//! Tests of the indicators: ratios, timeliness, coverage, histograms and roll-ups.

use super::*;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[test]
fn ratios_add_and_rate() {
    let cases = [
        (Ratio::new(0, 0), None),
        (Ratio::new(1, 2), Some(0.5)),
        (Ratio::new(3, 3), Some(1.0)),
    ];
    for (ratio, rate) in cases {
        assert_eq!(ratio.rate(), rate, "{ratio:?}");
    }
    let mut sum = Ratio::new(1, 2) + Ratio::new(9, 10);
    assert_eq!(sum, Ratio::new(10, 12));
    sum += Ratio::new(0, 8);
    assert_eq!(sum, Ratio::new(10, 20));
    assert_eq!(
        serde_json::to_string(&sum).unwrap(),
        r#"{"num":10,"den":20}"#
    );
}

#[test]
fn timeliness_counts_days_up_to_the_deadline() {
    let cases = [
        ("2026-11-01", "2026-11-01", 5, true),
        ("2026-11-01", "2026-11-06", 5, true),
        ("2026-11-01", "2026-11-07", 5, false),
        ("2026-11-01", "2026-10-31", 5, true),
        ("2026-11-01", "2026-11-02", 0, false),
        ("2026-12-29", "2027-01-02", 5, true),
    ];
    for (action, reported, deadline, want) in cases {
        assert_eq!(
            is_timely(date(action), date(reported), deadline),
            want,
            "{action} reported {reported}, deadline {deadline}"
        );
    }
}

#[test]
fn coverage_counts_covered_items() {
    assert_eq!(coverage([true, false, true, true]), Ratio::new(3, 4));
    assert_eq!(coverage(Vec::<bool>::new()), Ratio::new(0, 0));
    assert_eq!(coverage(Vec::<bool>::new()).rate(), None);
}

#[test]
fn histogram_median() {
    let mut histogram = DurationHistogram::default();
    assert_eq!(histogram.median_seconds(), None);
    for seconds in [60, 3_600, 7_200, 86_400, 172_800] {
        histogram.record(seconds);
    }
    let median = histogram.median_seconds().unwrap();
    assert!((median - 7_200.0).abs() / 7_200.0 < 0.05, "{median}");

    let mut zeros = DurationHistogram::default();
    zeros.record(0);
    zeros.record(0);
    zeros.record(100);
    assert_eq!(zeros.median_seconds(), Some(0.0));
}

#[test]
fn rollup_adds_numerators_and_denominators() {
    let mut city_a = Counters {
        submitted: 10,
        accepted: 8,
        rejected: 2,
        open: 1,
        rectified: 1,
        first_submitted: 10,
        first_accepted: 8,
        actions_accepted: 4,
        actions_timely: 4,
        ..Counters::default()
    };
    city_a.rectification.record(3_600);
    let mut city_b = Counters {
        submitted: 90,
        accepted: 45,
        rejected: 45,
        first_submitted: 90,
        first_accepted: 45,
        actions_accepted: 96,
        actions_timely: 48,
        ..Counters::default()
    };
    city_b.rectification.record(3_600);
    city_b.rectification.record(36_000);

    let province = rollup([&city_a, &city_b]);
    assert_eq!(province.submitted, 100);
    assert_eq!(province.rejected, 47);
    assert_eq!(province.accuracy(), Ratio::new(53, 100));
    // Not the average of 80% and 50%.
    assert_eq!(province.accuracy().rate(), Some(0.53));
    assert_eq!(province.timeliness(), Ratio::new(52, 100));
    assert_eq!(province.rectification.count(), 3);
    let median = province.median_rectification_seconds().unwrap();
    assert!((median - 3_600.0).abs() / 3_600.0 < 0.05, "{median}");

    let mut again = city_a.clone();
    again += &city_b;
    assert_eq!(again, province);
    let mut owned = city_a.clone();
    owned += city_b.clone();
    assert_eq!(owned, province);

    let json = serde_json::to_string(&province).unwrap();
    let back: Counters = serde_json::from_str(&json).unwrap();
    assert_eq!(back, province);
    assert_eq!(
        serde_json::from_str::<Counters>("{}").unwrap(),
        Counters::default()
    );
}
