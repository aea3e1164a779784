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
