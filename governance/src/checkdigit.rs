//! Check-digit algorithms of the unified social credit code (GB 32100-2015), the
//! organization code it embeds (GB 11714) and the resident identity number (GB 11643-1999):
//! validation for the engine, and the check characters other crates use to generate codes.
//!
//! Finding (verified in the tests): the standard's example `91350100M000100Y43` passes both
//! the USCC check (position 18 = `3`) and the GB 11714 check of its embedded organization
//! code `M000100Y4` (check `4`). So [`check_uscc`] enforces both, and codes generated for
//! tests and samples must carry a valid organization-code check character at position 17:
//! build the first 8 characters of the organization code, append
//! [`org_code_check_char`], then append [`uscc_check_char`] of the 17.

use chrono::NaiveDate;

/// The USCC alphabet: digits and upper-case letters without I, O, S, V, Z; value = index.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// Value of each ASCII byte in the USCC alphabet, or 0xFF when not in it.
const USCC_VALUES: [u8; 128] = {
    let mut table = [0xFFu8; 128];
    let mut i = 0;
    while i < USCC_ALPHABET.len() {
        table[USCC_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

fn uscc_value(b: u8) -> Option<u32> {
    match USCC_VALUES.get(b as usize) {
        Some(&v) if v != 0xFF => Some(u32::from(v)),
        _ => None,
    }
}

/// GB 11714 value: digits 0..9, letters A=10..Z=35 (upper case only).
fn org_value(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'A'..=b'Z' => Some(u32::from(b - b'A') + 10),
        _ => None,
    }
}

/// Why a code is not a valid USCC or identity number. Positions count from 1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("has {found} characters, expected {expected}")]
    Length { expected: usize, found: usize },
    #[error("character {found:?} at position {position} is not allowed")]
    Character { position: usize, found: char },
    #[error("organization code check digit (position 17) expected {expected}, found {found}")]
    OrgCode { expected: char, found: char },
    #[error("check digit expected {expected}, found {found}")]
    CheckDigit { expected: char, found: char },
    #[error("birth date {date} is not a real date")]
    BirthDate { date: String },
    #[error("birth date {date} is in the future (today is {today})")]
    BirthDateInFuture { date: NaiveDate, today: NaiveDate },
}

impl CodeError {
    /// The reason in Chinese, for issue messages.
    pub fn message_zh(&self) -> String {
        match self {
            CodeError::Length { expected, found } => {
                format!("长度为{found}位，应为{expected}位")
            }
            CodeError::Character { position, found } => {
                format!("第{position}位字符“{found}”不合法")
            }
            CodeError::OrgCode { expected, found } => {
                format!("组织机构代码校验位（第17位）应为{expected}，实为{found}")
            }
            CodeError::CheckDigit { expected, found } => {
                format!("校验位应为{expected}，实为{found}")
            }
            CodeError::BirthDate { date } => format!("出生日期{date}不是有效日期"),
            CodeError::BirthDateInFuture { date, today } => {
                format!("出生日期{date}晚于今天（{today}）")
            }
        }
    }
}

/// The USCC check character (position 18) for 17 characters of the USCC alphabet.
pub fn uscc_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (b, w) in bytes.iter().zip(USCC_WEIGHTS) {
        sum += uscc_value(*b)? * w;
    }
    let check = (31 - sum % 31) % 31;
    Some(char::from(USCC_ALPHABET[check as usize]))
}

/// The GB 11714 check character (position 9) for 8 digits or upper-case letters:
/// 11 - (weighted sum mod 11), with 10 written `X` and 11 written `0`.
pub fn org_code_check_char(first8: &str) -> Option<char> {
    let bytes = first8.as_bytes();
    if bytes.len() != 8 {
        return None;
    }
    let mut sum = 0;
    for (b, w) in bytes.iter().zip(ORG_WEIGHTS) {
        sum += org_value(*b)? * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from(b'0' + n as u8),
    })
}

/// The identity-number check character (position 18) for 17 digits.
pub fn id_card_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (b, w) in bytes.iter().zip(ID_WEIGHTS) {
        if !b.is_ascii_digit() {
            return None;
        }
        sum += u32::from(b - b'0') * w;
    }
    Some(char::from(ID_CHECK[(sum % 11) as usize]))
}

fn nth_char(s: &str, index: usize) -> char {
    s.chars().nth(index).unwrap_or('?')
}

fn check_length(s: &str, expected: usize) -> Result<(), CodeError> {
    let found = s.chars().count();
    if found == expected {
        Ok(())
    } else {
        Err(CodeError::Length { expected, found })
    }
}

/// Checks a USCC: 18 characters of the alphabet, the USCC check character, then the
/// organization-code check character of positions 9..17.
pub fn check_uscc(s: &str) -> Result<(), CodeError> {
    check_length(s, 18)?;
    if let Some(i) = s.bytes().position(|b| uscc_value(b).is_none()) {
        return Err(CodeError::Character {
            position: i + 1,
            found: nth_char(s, i),
        });
    }
    // All 18 bytes are ASCII from here on, so byte slicing is character slicing.
    let expected = uscc_check_char(&s[..17]).unwrap_or('?');
    let found = char::from(s.as_bytes()[17]);
    if expected != found {
        return Err(CodeError::CheckDigit { expected, found });
    }
    let expected = org_code_check_char(&s[8..16]).unwrap_or('?');
    let found = char::from(s.as_bytes()[16]);
    if expected != found {
        return Err(CodeError::OrgCode { expected, found });
    }
    Ok(())
}

/// Checks a resident identity number: 17 digits then a digit or `X`, the check character,
/// then the birth date (positions 7..14): a real date, not after `today`.
pub fn check_id_card(s: &str, today: NaiveDate) -> Result<(), CodeError> {
    check_length(s, 18)?;
    let bytes = s.as_bytes();
    if let Some(i) = bytes
        .iter()
        .enumerate()
        .position(|(i, b)| !(b.is_ascii_digit() || (i == 17 && *b == b'X')))
    {
        return Err(CodeError::Character {
            position: i + 1,
            found: nth_char(s, i),
        });
    }
    let expected = id_card_check_char(&s[..17]).unwrap_or('?');
    let found = char::from(bytes[17]);
    if expected != found {
        return Err(CodeError::CheckDigit { expected, found });
    }
    let digits = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'))
    };
    let year = digits(6..10) as i32;
    let birth = NaiveDate::from_ymd_opt(year, digits(10..12), digits(12..14)).ok_or_else(|| {
        CodeError::BirthDate {
            date: format!("{}-{}-{}", &s[6..10], &s[10..12], &s[12..14]),
        }
    })?;
    if birth > today {
        return Err(CodeError::BirthDateInFuture { date: birth, today });
    }
    Ok(())
}

#[cfg(test)]
#[path = "checkdigit_test.rs"]
mod tests;
