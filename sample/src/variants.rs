//! Legitimate variants of values that departments really send and standardization fixes:
//! other date forms, full-width characters, code labels, amounts with 元 and separators.

use chrono::{Datelike, NaiveDate};
use rand::Rng;

/// `2026-03-05`.
pub fn iso(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A date in one of the other accepted forms: `2026/3/5`, `20260305`, `2026年3月5日` or
/// an Excel serial number.
pub fn loose_date<R: Rng>(rng: &mut R, date: NaiveDate) -> String {
    match rng.gen_range(0..4) {
        0 => format!("{}/{}/{}", date.year(), date.month(), date.day()),
        1 => date.format("%Y%m%d").to_string(),
        2 => format!("{}年{}月{}日", date.year(), date.month(), date.day()),
        _ => {
            let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or(date);
            (date - epoch).num_days().to_string()
        }
    }
}

/// A date as departments write it: usually ISO, sometimes (`share`) another form.
pub fn date<R: Rng>(rng: &mut R, date: NaiveDate, share: f64) -> String {
    if rng.gen_bool(share) {
        loose_date(rng, date)
    } else {
        iso(date)
    }
}

/// ASCII letters and digits as their full-width forms: `４２０１００`.
pub fn fullwidth(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// The canonical form of a variant code: full-width to half-width, trimmed, upper-cased.
pub fn canon(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect::<String>()
        .trim()
        .to_ascii_uppercase()
}

/// A code as departments sometimes write it: full-width (`share` of the time) or, when it
/// ends with `X`, with a lower-case `x`.
pub fn code<R: Rng>(rng: &mut R, code: &str, share: f64) -> String {
    if !rng.gen_bool(share) {
        code.to_string()
    } else if code.ends_with('X') && rng.gen_bool(0.5) {
        code.to_ascii_lowercase()
    } else {
        fullwidth(code)
    }
}

/// Text with stray spaces around it (`share` of the time).
pub fn padded<R: Rng>(rng: &mut R, text: &str, share: f64) -> String {
    if rng.gen_bool(share) {
        format!("  {text} ")
    } else {
        text.to_string()
    }
}

/// An amount in yuan as departments write it: `5000.00`, `5,000.00元`, `¥5000` or `5000`.
pub fn amount<R: Rng>(rng: &mut R, yuan: u32, share: f64) -> String {
    if !rng.gen_bool(share) {
        return format!("{yuan}.00");
    }
    match rng.gen_range(0..3) {
        0 => format!("{}.00元", thousands(yuan)),
        1 => format!("¥{yuan}"),
        _ => yuan.to_string(),
    }
}

fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|group| std::str::from_utf8(group).unwrap_or_default())
        .collect();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(thousands(1_200), "1,200");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(fullwidth("42a-"), "４２ａ－");
        assert_eq!(canon(" ４２ａ－ "), "42A-");
        let day = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap_or_default();
        assert_eq!(iso(day), "2026-03-05");
    }
}
