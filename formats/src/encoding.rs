//! Text encodings of department files: UTF-8 (with or without a byte-order mark) and the
//! GBK family (GB18030) that Chinese spreadsheet software writes by default.

use encoding_rs::{DecoderResult, GB18030};

use crate::error::ReadError;

/// The encoding a file was read in, or is to be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextEncoding {
    Utf8,
    /// GBK, written and read as GB18030, its superset: text that GBK can hold is encoded
    /// exactly as GBK does, and the rare character GBK lacks still round-trips.
    Gbk,
}

impl TextEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Gbk => "GBK",
        }
    }

    /// Encodes text; UTF-8 is written without a byte-order mark.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            TextEncoding::Utf8 => text.as_bytes().to_vec(),
            TextEncoding::Gbk => GB18030.encode(text).0.into_owned(),
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes a file's bytes: UTF-8 (a leading byte-order mark is dropped); if they are not
/// UTF-8, GB18030/GBK when that decodes without errors. Otherwise the error names the line
/// and byte offset of the first bytes that cannot be decoded.
pub fn decode_text(name: &str, bytes: &[u8]) -> Result<(String, TextEncoding), ReadError> {
    let body = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let utf8_error = match std::str::from_utf8(body) {
        Ok(text) => return Ok((text.to_string(), TextEncoding::Utf8)),
        Err(e) => e,
    };
    let gbk_error = match gbk_decode(bytes) {
        Ok(text) => return Ok((text, TextEncoding::Gbk)),
        Err(offset) => offset,
    };
    // Report where the file stops making sense in the encoding it most likely is in: UTF-8
    // when what precedes the bad bytes already holds UTF-8 multi-byte characters.
    let bom = bytes.len() - body.len();
    let utf8_prefix = &body[..utf8_error.valid_up_to()];
    let (offset, length) = if bom > 0 || !utf8_prefix.is_ascii() {
        let length = utf8_error
            .error_len()
            .unwrap_or(body.len() - utf8_prefix.len());
        (bom + utf8_prefix.len(), length)
    } else {
        gbk_error
    };
    let line = bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1;
    let shown: Vec<String> = bytes[offset..]
        .iter()
        .take(length.clamp(1, 4))
        .map(|b| format!("{b:02X}"))
        .collect();
    Err(ReadError {
        file: name.to_string(),
        problems: vec![crate::error::Problem::line(
            line,
            format!(
                "the bytes {} at byte offset {offset} are neither UTF-8 nor GBK; save the file as UTF-8 or GBK",
                shown.join(" ")
            ),
        )],
        omitted: 0,
    })
}

/// Decodes GB18030 strictly; on failure, the byte offset and length of the first
/// malformed sequence.
fn gbk_decode(bytes: &[u8]) -> Result<String, (usize, usize)> {
    let mut decoder = GB18030.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len().saturating_mul(2));
    let mut text = String::with_capacity(capacity);
    let mut read_total = 0;
    loop {
        let (result, read) =
            decoder.decode_to_string_without_replacement(&bytes[read_total..], &mut text, true);
        read_total += read;
        match result {
            DecoderResult::InputEmpty => return Ok(text),
            DecoderResult::OutputFull => text.reserve(bytes.len() - read_total + 16),
            DecoderResult::Malformed(bad, extra) => {
                let end = read_total - usize::from(extra);
                let bad = usize::from(bad);
                return Err((end.saturating_sub(bad), bad));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        let (text, enc) = decode_text("a.csv", "名称\n".as_bytes()).unwrap();
        assert_eq!((text.as_str(), enc), ("名称\n", TextEncoding::Utf8));
        let mut bytes = BOM.to_vec();
        bytes.extend_from_slice("名称\n".as_bytes());
        let (text, enc) = decode_text("a.csv", &bytes).unwrap();
        assert_eq!((text.as_str(), enc), ("名称\n", TextEncoding::Utf8));
    }

    #[test]
    fn gbk_is_recognized() {
        let bytes = TextEncoding::Gbk.encode("监管事项编码,名称\n武汉市市场监督管理局\n");
        assert!(std::str::from_utf8(&bytes).is_err());
        let (text, enc) = decode_text("a.csv", &bytes).unwrap();
        assert_eq!(enc, TextEncoding::Gbk);
        assert_eq!(text, "监管事项编码,名称\n武汉市市场监督管理局\n");
    }

    #[test]
    fn undecodable_bytes_are_located() {
        // Valid UTF-8 Chinese, then on line 2 a lone continuation byte and a bad pair.
        let mut bytes = "名称\n武汉".as_bytes().to_vec();
        bytes.extend_from_slice(b"\xFF\xFF\n");
        let err = decode_text("items.csv", &bytes).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("items.csv line 2: the bytes FF at byte offset 13"),
            "{text}"
        );
    }

    #[test]
    fn undecodable_ascii_prefix_reports_gbk_offset() {
        let err = decode_text("x.csv", b"a,b\n1,\x81\x20\n").unwrap_err();
        assert_eq!(err.problems[0].line, Some(2));
        assert!(err.to_string().contains("byte offset 6"), "{err}");
    }
}
