//! A field's `pattern`: the compiled regex, plus a hand-written matcher for the simple
//! anchored forms the standard uses (`^[0-9]{6}(JC|CF|QZ|QT)[0-9]{5}$`,
//! `^[0-9A-Z]{8,20}$`), which answers the same as the regex without running an automaton.
//! A pattern outside those forms is matched by the regex alone.

use regex::Regex;

/// A compiled field pattern.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    regex: Regex,
    simple: Option<Simple>,
}

impl Pattern {
    pub(crate) fn new(pattern: &str) -> Result<Pattern, regex::Error> {
        let regex = Regex::new(pattern)?;
        Ok(Pattern {
            regex,
            simple: Simple::parse(pattern),
        })
    }

    pub(crate) fn is_match(&self, text: &str) -> bool {
        match &self.simple {
            Some(simple) => simple.is_match(text),
            None => self.regex.is_match(text),
        }
    }
}

/// `^piece*$` where every piece but the last has a fixed length, so that matching never
/// backtracks. Only ASCII letters, digits and `-` appear, so a byte is a character.
#[derive(Clone, Debug, PartialEq)]
struct Simple {
    pieces: Vec<Piece>,
}

/// A bit per byte value (non-ASCII bytes are never members).
#[derive(Clone, Debug, PartialEq)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn empty() -> Self {
        ByteSet([0; 4])
    }

    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn contains(&self, b: u8) -> bool {
        (self.0[usize::from(b >> 6)] >> (b & 63)) & 1 != 0
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    /// `min..=max` bytes of a set: `[0-9A-Z]{8,20}`, or one literal.
    Class {
        set: ByteSet,
        min: usize,
        max: usize,
    },
    /// One of some literals: `(JC|CF|QZ)`.
    Either(Vec<String>),
}

impl Piece {
    /// The length it always matches, when it does not vary.
    fn fixed_len(&self) -> Option<usize> {
        match self {
            Piece::Class { min, max, .. } => (min == max).then_some(*min),
            Piece::Either(options) => {
                let len = options.first()?.len();
                options.iter().all(|o| o.len() == len).then_some(len)
            }
        }
    }
}

/// A literal byte the simple forms accept (anything else may be regex syntax).
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

impl Simple {
    /// The matcher of `pattern`, when it is of a simple form; `None` otherwise.
    fn parse(pattern: &str) -> Option<Simple> {
        let body = pattern.strip_prefix('^')?.strip_suffix('$')?.as_bytes();
        let mut pieces = Vec::new();
        let mut i = 0;
        while i < body.len() {
            let piece = match body[i] {
                b'[' => {
                    let close = i + 1 + body[i + 1..].iter().position(|&b| b == b']')?;
                    let set = class_set(&body[i + 1..close])?;
                    i = close + 1;
                    let (min, max) = quantifier(body, &mut i)?;
                    Piece::Class { set, min, max }
                }
                b'(' => {
                    let close = i + 1 + body[i + 1..].iter().position(|&b| b == b')')?;
                    let mut options = Vec::new();
                    for option in body[i + 1..close].split(|&b| b == b'|') {
                        if option.is_empty() || !option.iter().all(|&b| is_plain(b)) {
                            return None;
                        }
                        options.push(String::from_utf8(option.to_vec()).ok()?);
                    }
                    i = close + 1;
                    if body
                        .get(i)
                        .is_some_and(|&b| matches!(b, b'{' | b'?' | b'*' | b'+'))
                    {
                        return None;
                    }
                    Piece::Either(options)
                }
                b if is_plain(b) || b == b'-' => {
                    i += 1;
                    let (min, max) = quantifier(body, &mut i)?;
                    let mut set = ByteSet::empty();
                    set.insert(b);
                    Piece::Class { set, min, max }
                }
                _ => return None,
            };
            pieces.push(piece);
        }
        let (_, rest) = pieces.split_last()?;
        if rest.iter().any(|p| p.fixed_len().is_none()) {
            return None;
        }
        Some(Simple { pieces })
    }

    fn is_match(&self, text: &str) -> bool {
        let mut rest = text.as_bytes();
        let last = self.pieces.len() - 1;
        for (index, piece) in self.pieces.iter().enumerate() {
            match piece {
                Piece::Class { set, min, max } => {
                    let take = if index == last { rest.len() } else { *min };
                    if take < *min || take > *max || take > rest.len() {
                        return false;
                    }
                    let (head, tail) = rest.split_at(take);
                    if !head.iter().all(|&b| set.contains(b)) {
                        return false;
                    }
                    rest = tail;
                }
                Piece::Either(options) => {
                    let found = options.iter().find(|o| {
                        if index == last {
                            rest == o.as_bytes()
                        } else {
                            rest.starts_with(o.as_bytes())
                        }
                    });
                    match found {
                        Some(option) => rest = &rest[option.len()..],
                        None => return false,
                    }
                }
            }
        }
        rest.is_empty()
    }
}

/// The bytes of a class body such as `0-9A-Za-z-`: ranges and single letters or digits,
/// with `-` allowed last; `None` for anything else (negation, escapes, ...).
fn class_set(body: &[u8]) -> Option<ByteSet> {
    if body.is_empty() {
        return None;
    }
    let mut set = ByteSet::empty();
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b'-' && i == body.len() - 1 && i > 0 {
            set.insert(b);
            i += 1;
        } else if is_plain(b) && body.get(i + 1) == Some(&b'-') && i + 2 < body.len() {
            let end = body[i + 2];
            if !is_plain(end) || end < b {
                return None;
            }
            for c in b..=end {
                set.insert(c);
            }
            i += 3;
        } else if is_plain(b) {
            set.insert(b);
            i += 1;
        } else {
            return None;
        }
    }
    Some(set)
}

/// An optional `{n}` or `{n,m}` at `*i` (advanced past it); `(1, 1)` when there is none.
/// `None` for other quantifiers or a lazy/possessive suffix.
fn quantifier(body: &[u8], i: &mut usize) -> Option<(usize, usize)> {
    let bounds = match body.get(*i) {
        Some(b'{') => {
            let close = *i + body[*i..].iter().position(|&b| b == b'}')?;
            let inside = std::str::from_utf8(&body[*i + 1..close]).ok()?;
            let digits = |s: &str| -> Option<usize> {
                if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                s.parse().ok()
            };
            let (min, max) = match inside.split_once(',') {
                None => {
                    let n = digits(inside)?;
                    (n, n)
                }
                Some((min, max)) => (digits(min)?, digits(max)?),
            };
            *i = close + 1;
            (min, max)
        }
        Some(b'?' | b'*' | b'+') => return None,
        _ => (1, 1),
    };
    if bounds.0 > bounds.1 || matches!(body.get(*i), Some(b'?' | b'*' | b'+' | b'{')) {
        return None;
    }
    Some(bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written matcher answers as the regex does, on inputs near each pattern.
    #[test]
    fn simple_matches_as_the_regex_does() {
        let cases: &[(&str, bool)] = &[
            ("^[0-9]{6}(JC|CF|QZ|QT)[0-9]{5}$", true),
            ("^[0-9A-Z]{8,20}$", true),
            ("^[0-9A-Za-z-]{6,40}$", true),
            ("^ab[0-9]{2,3}$", true),
            ("^(A|BC)$", true),
            ("^(A|BC)x$", false),
            ("^[0-9]{2,3}x$", false),
            ("^[^0-9]{3}$", false),
            ("[0-9]{3}", false),
            ("^[0-9]+$", false),
            ("^\\d{3}$", false),
            ("^(?i)ab$", false),
            ("^a{3,2}$", false),
            ("^[0-9]{3}?$", false),
        ];
        let inputs = [
            "",
            "4",
            "420100",
            "420100JC00001",
            "420100jc00001",
            "420100XX00001",
            "420100JC0000",
            "420100JC000011",
            "42010JC00001",
            "ZF4201000001",
            "ZF42010",
            "ZF420100000000000000001",
            "zf4201000001",
            "ZF-4201",
            "420100-2024-000001",
            "４２０１００",
            "ab12",
            "ab123",
            "ab1234",
            "ab1",
            "A",
            "BC",
            "B",
            "ABC",
            "AB",
            "abc",
            "123",
            "12x",
            "123x",
            "ZF42010\n",
            "ZF4201000001\n",
            "--------",
        ];
        for (pattern, simple) in cases {
            let compiled = Pattern::new(pattern);
            let Ok(compiled) = compiled else {
                assert!(!simple, "{pattern} does not compile");
                continue;
            };
            assert_eq!(compiled.simple.is_some(), *simple, "{pattern}");
            let regex = Regex::new(pattern).unwrap();
            for input in inputs {
                assert_eq!(
                    compiled.is_match(input),
                    regex.is_match(input),
                    "{pattern} on {input:?}"
                );
            }
        }
    }

    /// The standard's own patterns take the fast path.
    #[test]
    fn builtin_patterns_are_simple() {
        let pack = crate::RulePack::builtin();
        for spec in pack.datasets() {
            for field in &spec.fields {
                if let Some(pattern) = &field.regex {
                    assert!(pattern.simple.is_some(), "{}.{}", spec.name, field.name);
                }
            }
        }
    }
}
