//! Tests of the check-digit algorithms, with the examples of `standard.md`.

use super::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
}

#[test]
fn standard_examples_are_valid() {
    assert_eq!(check_uscc("91350100M000100Y43"), Ok(()));
    assert_eq!(uscc_check_char("91350100M000100Y4"), Some('3'));
    // The embedded organization code M000100Y4 passes GB 11714 too.
    assert_eq!(org_code_check_char("M000100Y"), Some('4'));
    assert_eq!(check_id_card("11010519491231002X", today()), Ok(()));
    assert_eq!(id_card_check_char("11010519491231002"), Some('X'));
}

#[test]
fn uscc_failures_name_the_reason() {
    let cases = [
        (
            "91350100M000100Y4",
            CodeError::Length {
                expected: 18,
                found: 17,
            },
        ),
        (
            "91350100M000100I43",
            CodeError::Character {
                position: 16,
                found: 'I',
            },
        ),
        (
            "91350100M000100Y44",
            CodeError::CheckDigit {
                expected: '3',
                found: '4',
            },
        ),
        (
            "9135010０M000100Y43",
            CodeError::Character {
                position: 8,
                found: '０',
            },
        ),
    ];
    for (code, want) in cases {
        assert_eq!(check_uscc(code), Err(want), "{code}");
    }
    // A USCC whose own check is right but whose organization code check is wrong.
    let first16 = "91350100M000100Y";
    let bad_org = format!("{first16}5");
    let whole = format!("{bad_org}{}", uscc_check_char(&bad_org).unwrap());
    assert_eq!(
        check_uscc(&whole),
        Err(CodeError::OrgCode {
            expected: '4',
            found: '5'
        })
    );
}

#[test]
fn id_card_failures_name_the_reason() {
    let cases = [
        (
            "110105194912310021",
            CodeError::CheckDigit {
                expected: 'X',
                found: '1',
            },
        ),
        (
            "11010519491231002",
            CodeError::Length {
                expected: 18,
                found: 17,
            },
        ),
        (
            "1101051949123100X2",
            CodeError::Character {
                position: 17,
                found: 'X',
            },
        ),
        (
            "11010519491231002x",
            CodeError::Character {
                position: 18,
                found: 'x',
            },
        ),
    ];
    for (code, want) in cases {
        assert_eq!(check_id_card(code, today()), Err(want), "{code}");
    }
    let feb30 = "11010519490230002";
    let feb30 = format!("{feb30}{}", id_card_check_char(feb30).unwrap());
    assert_eq!(
        check_id_card(&feb30, today()),
        Err(CodeError::BirthDate {
            date: "1949-02-30".to_string()
        })
    );
    let future = "11010520300101002";
    let future = format!("{future}{}", id_card_check_char(future).unwrap());
    assert!(matches!(
        check_id_card(&future, today()),
        Err(CodeError::BirthDateInFuture { .. })
    ));
}

#[test]
fn check_chars_reject_bad_input() {
    assert_eq!(uscc_check_char("short"), None);
    assert_eq!(uscc_check_char("91350100M000100I4"), None);
    assert_eq!(org_code_check_char("m000100Y"), None);
    assert_eq!(id_card_check_char("1101051949123100A"), None);
    // 11 - (sum mod 11) = 11 is written 0, 10 is written X.
    let zero = (0..100_000_000u32)
        .step_by(7919)
        .map(|n| format!("{n:08}"))
        .find(|s| org_code_check_char(s) == Some('0'));
    assert!(zero.is_some());
}
