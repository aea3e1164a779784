//! Building valid unified social credit codes (GB 32100) and identity numbers
//! (GB 11643), and spoiling their check characters on purpose.

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use regfed_governance::checkdigit::{id_card_check_char, org_code_check_char, uscc_check_char};

/// The USCC alphabet (no I, O, S, V, Z); organization codes are drawn from it too so that
/// they fit inside a USCC.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// A USCC from its registration-authority prefix (`91`, `11`, ...), region and the first
/// 8 characters of the organization code: appends the GB 11714 check, then the USCC check.
/// Inputs outside the alphabets give a code whose check characters are `0`.
pub fn uscc(prefix: &str, region: &str, org8: &str) -> String {
    let org_check = org_code_check_char(org8).unwrap_or('0');
    let first17 = format!("{prefix}{region}{org8}{org_check}");
    let check = uscc_check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// Eight random organization-code characters in the style of newly registered entities:
/// `MA` then six of the USCC alphabet.
pub fn random_org8<R: Rng>(rng: &mut R) -> String {
    let mut org = String::from("MA");
    for _ in 0..6 {
        org.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
    }
    org
}

/// Eight random digits: older organization codes (事业单位 and the like).
pub fn random_digits8<R: Rng>(rng: &mut R) -> String {
    format!("{:08}", rng.gen_range(0..100_000_000u32))
}

/// An identity number: region (6 digits), birth date, a 3-digit sequence, check.
pub fn id_number(region: &str, birth: NaiveDate, sequence: u32) -> String {
    let first17 = format!(
        "{region}{:04}{:02}{:02}{:03}",
        birth.year(),
        birth.month(),
        birth.day(),
        sequence % 1000
    );
    let check = id_card_check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// An identity number with 17 digits as given (a birth date that is no date, say) and the
/// check character they call for.
pub fn id_number_raw(first17: &str) -> String {
    let check = id_card_check_char(first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// The code with its last character replaced by another one of `alphabet`.
pub fn wrong_check(code: &str, alphabet: &[u8]) -> String {
    let mut chars: Vec<char> = code.chars().collect();
    if let Some(last) = chars.last_mut() {
        let position = alphabet
            .iter()
            .position(|b| char::from(*b) == *last)
            .unwrap_or(0);
        *last = char::from(alphabet[(position + 1) % alphabet.len()]);
    }
    chars.into_iter().collect()
}

/// A USCC with a wrong check character.
pub fn wrong_uscc_check(code: &str) -> String {
    wrong_check(code, ALPHABET)
}

/// An identity number with a wrong check character.
pub fn wrong_id_check(code: &str) -> String {
    wrong_check(code, b"0123456789X")
}
