//! Tests of the generated field checks' parsers.

use super::*;

#[test]
fn iso_dates() {
    let cases = [
        ("2024-03-15", true),
        ("2024-02-29", true),
        ("2023-02-29", false),
        ("2024-3-15", false),
        ("2024/03/15", false),
        ("20240315", false),
        ("２024-03-15", false),
    ];
    for (text, ok) in cases {
        assert_eq!(parse_iso_date(text).is_some(), ok, "{text}");
    }
}

#[test]
fn iso_dates_give_the_date_chrono_gives() {
    for text in ["2026-11-28", "2024-02-29", "1999-12-31"] {
        assert_eq!(
            parse_iso_date(text),
            NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
        );
    }
    for bad in [
        "2026-13-01",
        "2023-02-29",
        "2026-1-01",
        "2026/11/28",
        "２026-11-28",
        "",
    ] {
        assert_eq!(parse_iso_date(bad), None, "{bad}");
    }
}

#[test]
fn decimals() {
    let cases = [
        ("5000", true),
        ("5000.00", true),
        ("-3.5", true),
        ("+1", true),
        (".5", false),
        ("5.", false),
        ("1,000", false),
        ("", false),
        ("abc", false),
    ];
    for (text, ok) in cases {
        assert_eq!(is_decimal(text), ok, "{text}");
    }
}
