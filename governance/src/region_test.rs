//! Tests of region codes, the embedded table, parent()/is_within and tiers.

use super::*;

fn r(code: &str) -> Region {
    Region::parse(code).unwrap()
}

#[test]
fn builtin_table_lists_every_code() {
    let table = RegionTable::builtin();
    assert_eq!(table.len(), 3429);
    assert!(table.contains("420100"));
    assert!(
        table.contains("100000"),
        "the national code counts as valid"
    );
    assert!(!table.contains("999999"));
    assert!(!table.contains("42010"));
    assert_eq!(table.name("420100"), Some("武汉市"));
    assert_eq!(table.name("441900"), Some("东莞市"));
    assert_eq!(table.name("100000"), Some("全国"));
    assert_eq!(table.name("999999"), None);
}

#[test]
fn region_parse_checks_format_only() {
    let cases = [
        ("420100", true),
        ("999999", true),
        ("42010", false),
        ("4201000", false),
        ("42010a", false),
        (" 420100", false),
        ("", false),
    ];
    for (code, ok) in cases {
        assert_eq!(Region::parse(code).is_ok(), ok, "{code:?}");
    }
    assert_eq!(r("420100").as_str(), "420100");
    assert_eq!(r("420100").to_string(), "420100");
    assert_eq!(Region::national().as_str(), "100000");
}

#[test]
fn parent_follows_the_standard() {
    let table = RegionTable::builtin();
    let cases = [
        ("420100", Some("420000")), // city -> province
        ("420000", Some("100000")), // province -> national
        ("100000", None),           // national has no parent
        ("110101", Some("110100")), // Beijing district; 110100 is listed
        ("500101", Some("500100")), // Chongqing district; 500100 is listed
        ("500235", Some("500200")), // Chongqing county; 500200 is listed
        ("429004", Some("420000")), // 仙桃市: 429000 is not listed -> province
        ("420102", Some("420100")), // Wuhan district
        ("441900", Some("440000")), // 东莞市 is a city
    ];
    for (code, want) in cases {
        let got = table.parent(&r(code));
        assert_eq!(got.map(|p| p.to_string()), want.map(String::from), "{code}");
    }
}

#[test]
fn is_within_walks_parents() {
    let table = RegionTable::builtin();
    let cases = [
        ("420100", "420100", true),
        ("420100", "420000", true),
        ("420100", "100000", true),
        ("420102", "420100", true),
        ("429004", "420000", true),
        ("429004", "420100", false),
        ("420000", "420100", false),
        ("110101", "110100", true),
        ("110101", "110101", true),
        ("110102", "110101", false),
        ("350100", "420000", false),
        ("100000", "420000", false),
    ];
    for (code, ancestor, want) in cases {
        assert_eq!(
            table.is_within(&r(code), &r(ancestor)),
            want,
            "{code} within {ancestor}"
        );
    }
}

#[test]
fn tiers() {
    let cases = [
        ("100000", Tier::National),
        ("420000", Tier::Province),
        ("420100", Tier::City),
        ("110101", Tier::City),
    ];
    for (code, tier) in cases {
        assert_eq!(Tier::of(&r(code)), tier, "{code}");
    }
    for tier in [Tier::City, Tier::Province, Tier::National] {
        assert_eq!(Tier::parse(tier.as_str()), Some(tier));
        assert_eq!(tier.to_string(), tier.as_str());
        assert_eq!(
            serde_json::to_string(&tier).unwrap(),
            format!("\"{}\"", tier.as_str())
        );
    }
    assert_eq!(Tier::parse("Province"), Some(Tier::Province));
    assert_eq!(Tier::parse("county"), None);
}

#[test]
fn region_serde_is_a_string() {
    let region = r("420100");
    assert_eq!(serde_json::to_string(&region).unwrap(), "\"420100\"");
    let back: Region = serde_json::from_str("\"420100\"").unwrap();
    assert_eq!(back, region);
    assert!(serde_json::from_str::<Region>("\"4201\"").is_err());
}

#[test]
fn from_csv_reports_the_bad_line() {
    let err = RegionTable::from_csv("code,name\n420100,武汉市\nabc,x\n").unwrap_err();
    assert_eq!(
        err,
        RegionError::Table {
            line: 3,
            reason: "region code \"abc\" is not six digits".to_string()
        }
    );
}
