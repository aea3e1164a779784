//! Reading PEM text: the blocks it holds, the certificates among them, and x509-parser's
//! errors as plain sentences.

use x509_parser::error::X509Error;
use x509_parser::nom;
use x509_parser::pem::Pem;

/// The label of a certificate block: `-----BEGIN CERTIFICATE-----`.
const CERTIFICATE: &str = "CERTIFICATE";

/// Every PEM block in `text`, in order; an error if there is none or one is broken.
pub(crate) fn blocks(text: &str) -> Result<Vec<Pem>, String> {
    let blocks = Pem::iter_from_buffer(text.as_bytes())
        .collect::<Result<Vec<Pem>, _>>()
        .map_err(|error| format!("broken PEM block: {error}"))?;
    if blocks.is_empty() {
        return Err("no PEM block found".to_owned());
    }
    Ok(blocks)
}

/// The DER of every certificate in `text`, each checked to parse; at least one.
pub(crate) fn certificates(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut ders = Vec::new();
    for block in blocks(text)? {
        if block.label != CERTIFICATE {
            continue;
        }
        x509_parser::parse_x509_certificate(&block.contents)
            .map_err(|error| format!("unparsable certificate: {}", nom_reason(error)))?;
        ders.push(block.contents);
    }
    if ders.is_empty() {
        return Err(format!("no {CERTIFICATE} block found"));
    }
    Ok(ders)
}

/// The DER of the first certificate in `text`: the leaf of a chain.
pub(crate) fn first_certificate(text: &str) -> Result<Vec<u8>, String> {
    // `certificates` returns at least one or an error.
    let mut ders = certificates(text)?;
    Ok(ders.swap_remove(0))
}

/// Checks that `text` holds a private key block (PKCS#8, SEC1 or PKCS#1) and nothing else.
pub(crate) fn check_private_key(text: &str) -> Result<(), String> {
    let blocks = blocks(text)?;
    let labels: Vec<&str> = blocks.iter().map(|block| block.label.as_str()).collect();
    match labels[..] {
        [label] if label.ends_with("PRIVATE KEY") && !label.contains("ENCRYPTED") => Ok(()),
        [label] => Err(format!(
            "holds a `{label}` block where an unencrypted PRIVATE KEY was expected"
        )),
        _ => Err(format!(
            "holds {} PEM blocks ({}) where one PRIVATE KEY was expected",
            labels.len(),
            labels.join(", ")
        )),
    }
}

/// x509-parser's error without nom's `Parsing Error: …` debug dressing.
pub(crate) fn nom_reason(error: nom::Err<X509Error>) -> String {
    match error {
        nom::Err::Error(error) | nom::Err::Failure(error) => error.to_string(),
        nom::Err::Incomplete(_) => "the DER is truncated".to_owned(),
    }
}
