//! GB/T 2260 region codes, the embedded region table, the parent relation between regions
//! and the tier (city, province, national) a region's node belongs to.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The region list of `standard.md` (`code,name`), vendored as public data.
const GB2260_CSV: &str = include_str!("../data/gb2260.csv");

/// The national centre's region code.
const NATIONAL: u32 = 100_000;

/// A six-digit administrative division code. Construction checks the format only; whether
/// the code is listed is a question for [`RegionTable`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region([u8; 6]);

/// Why a region code or the region table could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("region code {0:?} is not six digits")]
    Format(String),
    #[error("region table line {line}: {reason}")]
    Table { line: usize, reason: String },
}

impl Region {
    /// Parses exactly six ASCII digits (no trimming).
    pub fn parse(code: &str) -> Result<Region, RegionError> {
        let bytes = code.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(RegionError::Format(code.to_string()));
        }
        let mut digits = [0u8; 6];
        digits.copy_from_slice(bytes);
        Ok(Region(digits))
    }

    /// The national centre, `100000`.
    pub fn national() -> Region {
        Region(*b"100000")
    }

    pub fn as_str(&self) -> &str {
        // Invariant: the six bytes are ASCII digits (checked by `parse`, or built from a
        // number below 1,000,000 by `from_number`), so they are always valid UTF-8.
        std::str::from_utf8(&self.0).expect("a region code holds six ASCII digits")
    }

    fn number(&self) -> u32 {
        self.0.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
    }

    fn from_number(n: u32) -> Region {
        debug_assert!(n < 1_000_000);
        let mut digits = [0u8; 6];
        let mut rest = n;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        Region(digits)
    }

    fn is_national(&self) -> bool {
        self.number() == NATIONAL
    }

    /// `XX0000`: a province-level code (the national code excluded).
    fn is_province(&self) -> bool {
        !self.is_national() && &self.0[2..] == b"0000"
    }

    /// `XXXX00` that is not a province: a prefecture-level city.
    fn is_city(&self) -> bool {
        !self.is_national() && !self.is_province() && &self.0[4..] == b"00"
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({})", self.as_str())
    }
}

impl FromStr for Region {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s)
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Region::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The listed region codes with their names.
#[derive(Clone, Debug)]
pub struct RegionTable {
    /// Sorted by code, for binary search.
    entries: Vec<(u32, Box<str>)>,
}

impl RegionTable {
    /// The embedded GB/T 2260 table (3,429 codes), parsed once.
    pub fn builtin() -> &'static RegionTable {
        static TABLE: OnceLock<RegionTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            // Invariant: the embedded CSV is part of the source tree and a unit test parses it.
            RegionTable::from_csv(GB2260_CSV).expect("the embedded gb2260.csv is well formed")
        })
    }

    /// Reads a `code,name` CSV with a header line.
    pub fn from_csv(text: &str) -> Result<RegionTable, RegionError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate().skip(1) {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let table_error = |reason: String| RegionError::Table {
                line: index + 1,
                reason,
            };
            let (code, name) = line
                .split_once(',')
                .ok_or_else(|| table_error("expected code,name".to_string()))?;
            let region = Region::parse(code.trim()).map_err(|e| table_error(e.to_string()))?;
            entries.push((region.number(), name.trim().into()));
        }
        entries.sort_by_key(|(code, _)| *code);
        entries.dedup_by_key(|(code, _)| *code);
        Ok(RegionTable { entries })
    }

    /// The number of listed codes (the national code not included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn find(&self, number: u32) -> Option<&str> {
        self.entries
            .binary_search_by_key(&number, |(code, _)| *code)
            .ok()
            .map(|i| &*self.entries[i].1)
    }

    /// True when `code` is six digits and listed, or is the national code `100000`.
    pub fn contains(&self, code: &str) -> bool {
        match Region::parse(code) {
            Ok(region) => self.contains_region(&region),
            Err(_) => false,
        }
    }

    /// True when the region is listed or is the national code.
    pub fn contains_region(&self, region: &Region) -> bool {
        region.is_national() || self.find(region.number()).is_some()
    }

    /// The region's name; `全国` for the national code.
    pub fn name(&self, code: &str) -> Option<&str> {
        let region = Region::parse(code).ok()?;
        if region.is_national() {
            return Some("全国");
        }
        self.find(region.number())
    }

    /// `XX0000` -> `100000`; `XXXX00` -> `XX0000`; a district `XXXXYY` -> `XXXX00` if that
    /// code is listed, else `XX0000`; `100000` -> none.
    pub fn parent(&self, region: &Region) -> Option<Region> {
        let n = region.number();
        if region.is_national() {
            None
        } else if region.is_province() {
            Some(Region::national())
        } else if region.is_city() {
            Some(Region::from_number(n / 10_000 * 10_000))
        } else {
            let city = n / 100 * 100;
            if self.find(city).is_some() {
                Some(Region::from_number(city))
            } else {
                Some(Region::from_number(n / 10_000 * 10_000))
            }
        }
    }

    /// True when `region` equals `ancestor` or descends from it through [`parent`](Self::parent).
    pub fn is_within(&self, region: &Region, ancestor: &Region) -> bool {
        let mut current = *region;
        loop {
            if current == *ancestor {
                return true;
            }
            match self.parent(&current) {
                Some(parent) => current = parent,
                None => return false,
            }
        }
    }
}

/// The tier of a node, from its region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    City,
    Province,
    National,
}

impl Tier {
    /// `100000` is national, `XX0000` a province, any other code a city-tier node.
    pub fn of(region: &Region) -> Tier {
        if region.is_national() {
            Tier::National
        } else if region.is_province() {
            Tier::Province
        } else {
            Tier::City
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::City => "city",
            Tier::Province => "province",
            Tier::National => "national",
        }
    }

    /// Parses `city`, `province` or `national` (case-insensitive, trimmed).
    pub fn parse(s: &str) -> Option<Tier> {
        match s.trim().to_ascii_lowercase().as_str() {
            "city" => Some(Tier::City),
            "province" => Some(Tier::Province),
            "national" => Some(Tier::National),
            _ => None,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::parse(s).ok_or_else(|| format!("unknown tier {s:?} (city, province, national)"))
    }
}

#[cfg(test)]
#[path = "region_test.rs"]
mod tests;
