//! What the generator needs to know about the node's region: its districts, its names,
//! and region codes that are unlisted or lie outside it (for defects).

use regfed_governance::{Region, RegionTable};

/// The node's region as the generator uses it.
pub(crate) struct RegionInfo {
    /// Listed regions directly below the node's region (districts of a city, cities of a
    /// province); empty for a district.
    pub children: Vec<String>,
    /// A six-digit code sharing the region's first four digits that is not listed.
    pub unlisted: Option<String>,
    /// A listed region outside the node's region.
    pub outside: Option<String>,
    /// `湖北省`, or empty when the region is a province or unknown.
    pub province: String,
    /// `武汉市`: the region itself for a city or province, else its city.
    pub city: String,
    /// `武汉`: the city's name without its suffix.
    pub short: String,
}

impl RegionInfo {
    pub fn new(code: &str) -> RegionInfo {
        let table = RegionTable::builtin();
        let name = |c: &str| table.name(c).map(str::to_string);
        let digits = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
        let (province_code, city_code) = if digits {
            (format!("{}0000", &code[..2]), format!("{}00", &code[..4]))
        } else {
            (String::new(), String::new())
        };
        let children = if !digits || code == "100000" {
            Vec::new()
        } else if code.ends_with("0000") {
            (1..100)
                .map(|n| format!("{}{n:02}00", &code[..2]))
                .filter(|c| table.contains(c))
                .collect()
        } else if code.ends_with("00") {
            (1..100)
                .map(|n| format!("{}{n:02}", &code[..4]))
                .filter(|c| table.contains(c))
                .collect()
        } else {
            Vec::new()
        };
        let unlisted = digits
            .then(|| {
                (1..100)
                    .rev()
                    .map(|n| format!("{}{n:02}", &code[..4]))
                    .find(|c| c != code && !table.contains(c))
            })
            .flatten();
        let node = Region::parse(code).ok();
        let outside = ["110101", "310101", "440103", "500103", "420102"]
            .iter()
            .find(|c| match (Region::parse(c), &node) {
                (Ok(candidate), Some(node)) => {
                    table.contains(c) && !table.is_within(&candidate, node)
                }
                _ => false,
            })
            .map(|c| c.to_string());
        let city = if code.ends_with("0000") || name(&city_code).is_none() {
            name(code).unwrap_or_default()
        } else {
            name(&city_code).unwrap_or_default()
        };
        let province = if code.ends_with("0000") || province_code == city_code {
            String::new()
        } else {
            name(&province_code)
                .filter(|p| *p != city)
                .unwrap_or_default()
        };
        let short = [
            "特别行政区",
            "自治州",
            "自治区",
            "地区",
            "市",
            "省",
            "盟",
            "区",
            "县",
        ]
        .iter()
        .find_map(|suffix| city.strip_suffix(suffix).filter(|s| !s.is_empty()))
        .unwrap_or(&city)
        .to_string();
        RegionInfo {
            children,
            unlisted,
            outside,
            province,
            city,
            short,
        }
    }

    /// The name of a region code (a district's, usually).
    pub fn name_of(&self, code: &str) -> String {
        RegionTable::builtin()
            .name(code)
            .unwrap_or(&self.city)
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wuhan() {
        let info = RegionInfo::new("420100");
        assert!(
            info.children.contains(&"420102".to_string()),
            "{:?}",
            info.children
        );
        assert!(info
            .children
            .iter()
            .all(|c| c.starts_with("4201") && c != "420100"));
        assert_eq!(info.unlisted.as_deref(), Some("420199"));
        assert_eq!(info.outside.as_deref(), Some("110101"));
        assert_eq!(
            (
                info.province.as_str(),
                info.city.as_str(),
                info.short.as_str()
            ),
            ("湖北省", "武汉市", "武汉")
        );
    }

    #[test]
    fn other_tiers() {
        let beijing = RegionInfo::new("110101");
        assert!(beijing.children.is_empty());
        assert_eq!(beijing.city, "北京市");
        assert_eq!(beijing.outside.as_deref(), Some("310101"));
        let hubei = RegionInfo::new("420000");
        assert!(hubei.children.contains(&"420100".to_string()));
        assert_eq!(hubei.short, "湖北");
        assert!(RegionInfo::new("100000").outside.is_none());
    }
}
