//! Government departments of a region: their codes (USCCs starting with `11`) and names.

use regfed_governance::RegionTable;

use crate::catalogue::KINDS;
use crate::codes::uscc;

/// A department that reports data: its USCC and its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Department {
    pub code: String,
    pub name: String,
}

/// A valid USCC of a government department: `11`, the region, an organization code
/// `MB` + six digits (with its GB 11714 check) and the USCC check. The same
/// `(region, seq)` always gives the same code; different `seq` below 10,000 give
/// different codes. `region` should be six digits.
pub fn department_code(region: &str, seq: u32) -> String {
    let region_digits: u32 = region
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0u32, |n, d| (n * 10 + u32::from(d - b'0')) % 97);
    let org8 = format!("MB{:02}{:04}", region_digits, seq % 10_000);
    uscc("11", region, &org8)
}

/// `n` departments of a region, with codes `department_code(region, 1..=n)` and names
/// built from the region's name: 武汉市市场监督管理局, 武汉市生态环境局, ...
pub fn departments(region: &str, n: usize) -> Vec<Department> {
    let place = RegionTable::builtin().name(region).unwrap_or(region);
    (0..n)
        .map(|i| {
            let kind = &KINDS[i % KINDS.len()];
            let round = i / KINDS.len();
            let name = if round == 0 {
                format!("{place}{}", kind.suffix)
            } else {
                format!("{place}{}第{}分局", kind.suffix, round + 1)
            };
            Department {
                code: department_code(region, i as u32 + 1),
                name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use regfed_governance::checkdigit::check_uscc;

    #[test]
    fn codes_are_valid_deterministic_and_distinct() {
        let a = department_code("420100", 1);
        assert_eq!(a, department_code("420100", 1));
        assert_ne!(a, department_code("420100", 2));
        assert_ne!(a, department_code("420500", 1));
        assert!(a.starts_with("11420100MB"), "{a}");
        for seq in 0..300 {
            let code = department_code("420100", seq);
            assert_eq!(check_uscc(&code), Ok(()), "{code}");
        }
    }

    #[test]
    fn names_follow_the_region() {
        let depts = departments("420100", 14);
        assert_eq!(depts[0].name, "武汉市市场监督管理局");
        assert_eq!(depts[1].name, "武汉市生态环境局");
        assert_eq!(depts[2].name, "武汉市应急管理局");
        assert_eq!(depts[12].name, "武汉市市场监督管理局第2分局");
        assert_eq!(depts[0].code, department_code("420100", 1));
        let province = departments("420000", 1);
        assert_eq!(province[0].name, "湖北省市场监督管理局");
    }
}
