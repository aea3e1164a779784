//! Tests for identities: URI round trips, refused URIs and their messages, SAN reading.

use super::*;
use anyhow::Context;
use rcgen::{CertificateParams, KeyPair};

#[test]
fn uri_round_trips_for_every_role_and_tier() -> anyhow::Result<()> {
    for role in Role::ALL {
        for tier in Tier::ALL {
            let identity = Identity::new(role, tier, "420100", "Wuhan_1.a-b")?;
            let uri = identity.to_uri();
            assert_eq!(
                uri,
                format!(
                    "regfed://{}/{}/420100/Wuhan_1.a-b",
                    role.as_str(),
                    tier.as_str()
                )
            );
            assert_eq!(Identity::parse_uri(&uri)?, identity);
            assert_eq!(uri.parse::<Identity>()?, identity);
            assert_eq!(Role::parse(role.as_str())?, role);
            assert_eq!(Tier::parse(tier.as_str())?, tier);
        }
    }
    Ok(())
}

#[test]
fn node_uri_example() -> anyhow::Result<()> {
    let identity = Identity::parse_uri("regfed://node/city/420100/wuhan-1")?;
    assert_eq!(
        identity,
        Identity {
            role: Role::Node,
            tier: Tier::City,
            region: "420100".to_owned(),
            id: "wuhan-1".to_owned(),
        }
    );
    assert_eq!(identity.to_string(), "node wuhan-1 (city 420100)");
    Ok(())
}

#[test]
fn display_is_short() -> anyhow::Result<()> {
    let identity = Identity::new(Role::Department, Tier::City, "420100", "11420100MB0000000X")?;
    assert_eq!(
        identity.to_string(),
        "department 11420100MB0000000X (city 420100)"
    );
    Ok(())
}

#[test]
fn serde_uses_the_uri() -> anyhow::Result<()> {
    let identity = Identity::new(Role::Operator, Tier::National, "100000", "alice")?;
    let json = serde_json::to_string(&identity)?;
    assert_eq!(json, r#""regfed://operator/national/100000/alice""#);
    assert_eq!(serde_json::from_str::<Identity>(&json)?, identity);
    let error =
        serde_json::from_str::<Identity>(r#""regfed://node/city/1/x""#).expect_err("bad region");
    assert!(error
        .to_string()
        .contains("region `1` is not a 6-digit region code"));
    assert_eq!(serde_json::to_string(&Tier::Province)?, r#""province""#);
    Ok(())
}

#[test]
fn malformed_uris_are_refused_with_the_reason() {
    let cases = [
        (
            "https://node/city/420100/a",
            "it must start with regfed://",
        ),
        (
            "REGFED://node/city/420100/a",
            "it must start with regfed://",
        ),
        (
            "regfed://node/city/420100",
            "it must have the form regfed://ROLE/TIER/REGION/ID",
        ),
        (
            "regfed://node/city/420100/a/b",
            "it must have the form regfed://ROLE/TIER/REGION/ID",
        ),
        (
            "regfed://admin/city/420100/a",
            "unknown role `admin`: expected node, department or operator",
        ),
        (
            "regfed://Node/city/420100/a",
            "unknown role `Node`: expected node, department or operator",
        ),
        (
            "regfed://node/county/420100/a",
            "unknown tier `county`: expected city, province or national",
        ),
        (
            "regfed://node/city/42010/a",
            "region `42010` is not a 6-digit region code",
        ),
        (
            "regfed://node/city/4201000/a",
            "region `4201000` is not a 6-digit region code",
        ),
        (
            "regfed://node/city/42010x/a",
            "region `42010x` is not a 6-digit region code",
        ),
        (
            "regfed://node/city/420100/",
            "id `` is invalid: it must be non-empty and use only letters, digits, `_`, `.` and `-`",
        ),
        (
            "regfed://node/city/420100/wu han",
            "id `wu han` is invalid: it must be non-empty and use only letters, digits, `_`, `.` and `-`",
        ),
        (
            "regfed://node/city/420100/a?b",
            "id `a?b` is invalid: it must be non-empty and use only letters, digits, `_`, `.` and `-`",
        ),
        (
            "regfed://node/city/420100/武汉",
            "id `武汉` is invalid: it must be non-empty and use only letters, digits, `_`, `.` and `-`",
        ),
    ];
    for (uri, reason) in cases {
        let error = Identity::parse_uri(uri).expect_err(uri);
        assert_eq!(
            error.to_string(),
            format!("`{uri}` is not a valid identity URI: {reason}"),
        );
    }
}

#[test]
fn new_validates() {
    let error = Identity::new(Role::Node, Tier::City, "", "a").expect_err("empty region");
    assert_eq!(error, IdentityError::BadRegion(String::new()));
    let error = Identity::new(Role::Node, Tier::City, "420100", "a/b").expect_err("slash");
    assert_eq!(error, IdentityError::BadId("a/b".to_owned()));
}

/// A self-signed certificate with exactly these SANs.
fn cert_with_sans(sans: &[&str]) -> anyhow::Result<Vec<u8>> {
    let mut params = CertificateParams::default();
    for san in sans {
        let san = match san.strip_prefix("URI:") {
            Some(uri) => rcgen::SanType::URI(uri.try_into()?),
            None => match san.parse() {
                Ok(ip) => rcgen::SanType::IpAddress(ip),
                Err(_) => rcgen::SanType::DnsName((*san).try_into()?),
            },
        };
        params.subject_alt_names.push(san);
    }
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key).context("self-sign")?;
    Ok(cert.der().to_vec())
}

#[test]
fn certificate_sans_are_read() -> anyhow::Result<()> {
    let uri = "regfed://department/city/420100/11420100MB0000000X";
    let der = cert_with_sans(&["example.org", &format!("URI:{uri}"), "URI:https://x.org/"])?;
    assert_eq!(Identity::from_cert_der(&der)?, Identity::parse_uri(uri)?);

    let cases: [(&[&str], &str); 5] = [
        (
            &["localhost", "127.0.0.1", "::1", "URI:https://x.org/"],
            "certificate has no regfed:// URI SAN: its SANs are [DNS:localhost, IP:127.0.0.1, IP:::1, URI:https://x.org/]",
        ),
        (&[], "certificate has no regfed:// URI SAN: its SANs are []"),
        (
            &["URI:regfed://node/city/420100/a", "URI:regfed://node/city/420100/b"],
            "certificate has 2 regfed:// URI SANs, expected one: [regfed://node/city/420100/a, regfed://node/city/420100/b]",
        ),
        (
            &["URI:regfed://node/town/420100/a"],
            "certificate's identity SAN is invalid: `regfed://node/town/420100/a` is not a valid identity URI: unknown tier `town`: expected city, province or national",
        ),
        (
            &["URI:Regfed://node/city/420100/a"],
            "certificate's identity SAN is invalid: `Regfed://node/city/420100/a` is not a valid identity URI: it must start with regfed://",
        ),
    ];
    for (sans, message) in cases {
        let der = cert_with_sans(sans)?;
        let error = Identity::from_cert_der(&der).expect_err(message);
        assert_eq!(error.to_string(), message);
    }
    Ok(())
}

#[test]
fn non_certificates_are_refused() -> anyhow::Result<()> {
    let error = Identity::from_cert_der(b"hello").expect_err("not DER");
    assert!(
        error.to_string().starts_with("not an X.509 certificate: "),
        "{error}"
    );
    let mut der = cert_with_sans(&["URI:regfed://node/city/420100/a"])?;
    der.truncate(der.len() / 2);
    let error = Identity::from_cert_der(&der).expect_err("truncated");
    assert!(
        error.to_string().starts_with("not an X.509 certificate: "),
        "{error}"
    );
    Ok(())
}
