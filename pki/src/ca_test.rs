//! Tests for the CA: generate, save, load, issue, and what the issued certificates hold.

use super::*;
use crate::{Tier, CA_CERT_FILE};
use anyhow::Context;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::parse_x509_pem;

fn identity(role: Role) -> anyhow::Result<Identity> {
    Ok(Identity::new(role, Tier::City, "420100", "wuhan-1")?)
}

/// Runs `check` on the parsed certificate in `pem_text`.
fn with_cert<T>(
    pem_text: &str,
    check: impl FnOnce(&X509Certificate<'_>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let (_, pem) = parse_x509_pem(pem_text.as_bytes()).context("PEM")?;
    let cert = pem.parse_x509().context("X.509")?;
    check(&cert)
}

fn sans(cert: &X509Certificate<'_>) -> anyhow::Result<Vec<String>> {
    let sans = cert.subject_alternative_name()?.context("SAN extension")?;
    Ok(sans
        .value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => format!("DNS:{dns}"),
            GeneralName::URI(uri) => format!("URI:{uri}"),
            GeneralName::IPAddress(ip) => format!("IP:{ip:?}"),
            other => other.to_string(),
        })
        .collect())
}

fn days(duration: x509_parser::time::ASN1Time, from: x509_parser::time::ASN1Time) -> i64 {
    (duration.to_datetime() - from.to_datetime()).whole_days()
}

#[test]
fn generated_ca_is_a_ten_year_ca() -> anyhow::Result<()> {
    let ca = Ca::generate("regfed test root")?;
    with_cert(ca.cert_pem(), |cert| {
        assert!(cert.is_ca());
        assert_eq!(cert.subject().to_string(), "CN=regfed test root");
        assert_eq!(cert.issuer(), cert.subject());
        let usage = cert.key_usage()?.context("key usage")?;
        assert!(usage.value.key_cert_sign());
        let validity = cert.validity();
        assert_eq!(days(validity.not_after, validity.not_before), 3650);
        cert.verify_signature(None).context("self-signed")?;
        Ok(())
    })
}

#[test]
fn node_certificate_chains_to_the_ca_and_names_its_hosts() -> anyhow::Result<()> {
    let ca = Ca::generate("regfed test root")?;
    let hosts = [
        "city-1.example.org".to_owned(),
        "10.0.0.7".to_owned(),
        "fd00::7".to_owned(),
        "localhost".to_owned(),
    ];
    let issued = ca.issue(&identity(Role::Node)?, &hosts)?;

    with_cert(ca.cert_pem(), |ca_cert| {
        with_cert(&issued.cert_pem, |leaf| {
            assert_eq!(leaf.issuer(), ca_cert.subject());
            leaf.verify_signature(Some(ca_cert.public_key()))
                .context("signed by the CA")?;
            assert!(!leaf.is_ca());
            assert_eq!(leaf.subject().to_string(), "CN=wuhan-1");
            assert_eq!(
                sans(leaf)?,
                [
                    "URI:regfed://node/city/420100/wuhan-1",
                    "DNS:city-1.example.org",
                    "IP:[10, 0, 0, 7]",
                    "IP:[253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]",
                    "DNS:localhost",
                    "IP:[127, 0, 0, 1]",
                ]
            );
            let eku = leaf.extended_key_usage()?.context("EKU")?.value;
            assert!(eku.server_auth && eku.client_auth);
            let validity = leaf.validity();
            assert_eq!(days(validity.not_after, validity.not_before), 730);
            Ok(())
        })
    })?;

    let (_, pem) = parse_x509_pem(issued.cert_pem.as_bytes()).context("PEM")?;
    assert_eq!(
        Identity::from_cert_der(&pem.contents)?,
        identity(Role::Node)?
    );
    Ok(())
}

#[test]
fn department_and_operator_certificates_are_client_only() -> anyhow::Result<()> {
    let ca = Ca::generate("regfed test root")?;
    for role in [Role::Department, Role::Operator] {
        let issued = ca.issue(&identity(role)?, &[])?;
        with_cert(&issued.cert_pem, |leaf| {
            let eku = leaf.extended_key_usage()?.context("EKU")?.value;
            assert!(eku.client_auth && !eku.server_auth, "{role}");
            assert_eq!(
                sans(leaf)?,
                [format!("URI:regfed://{role}/city/420100/wuhan-1")]
            );
            Ok(())
        })?;
    }
    Ok(())
}

#[test]
fn saved_ca_loads_and_issues_certificates_that_chain_to_it() -> anyhow::Result<()> {
    let ca = Ca::generate("regfed test root")?;
    let dir = tempfile::tempdir()?;
    let ca_dir = dir.path().join("ca");
    ca.save(&ca_dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ca_dir.join(CA_KEY_FILE))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let loaded = Ca::load(&ca_dir)?;
    assert_eq!(loaded.cert_pem(), ca.cert_pem());
    let issued = loaded.issue(&identity(Role::Department)?, &[])?;
    with_cert(ca.cert_pem(), |ca_cert| {
        with_cert(&issued.cert_pem, |leaf| {
            assert_eq!(leaf.issuer(), ca_cert.subject());
            leaf.verify_signature(Some(ca_cert.public_key()))
                .context("signed by the loaded CA")?;
            // The authority key id names the CA's subject key id.
            let ski = ca_cert
                .iter_extensions()
                .find_map(|ext| match ext.parsed_extension() {
                    x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                        Some(id.0)
                    }
                    _ => None,
                })
                .context("CA SKI")?;
            let aki = leaf
                .iter_extensions()
                .find_map(|ext| match ext.parsed_extension() {
                    x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(id) => {
                        id.key_identifier.as_ref().map(|id| id.0)
                    }
                    _ => None,
                })
                .context("leaf AKI")?;
            assert_eq!(aki, ski);
            Ok(())
        })
    })
}

#[test]
fn save_refuses_to_overwrite_a_ca() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let first = Ca::generate("first")?;
    first.save(dir.path())?;
    let error = Ca::generate("second")?
        .save(dir.path())
        .expect_err("a CA is there");
    let path = dir.path().join(CA_CERT_FILE);
    assert_eq!(
        error.to_string(),
        format!(
            "refusing to overwrite the existing CA file {}: move it away or save to another directory",
            path.display()
        )
    );
    assert_eq!(Ca::load(dir.path())?.cert_pem(), first.cert_pem());
    Ok(())
}

#[test]
fn load_names_the_file_at_fault() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cert_path = dir.path().join(CA_CERT_FILE);
    let key_path = dir.path().join(CA_KEY_FILE);

    let error = Ca::load(dir.path()).expect_err("empty dir");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            cert_path.display()
        )
    );

    // Two CAs' files mixed up.
    let one = tempfile::tempdir()?;
    let other = tempfile::tempdir()?;
    Ca::generate("one")?.save(one.path())?;
    Ca::generate("other")?.save(other.path())?;
    std::fs::copy(one.path().join(CA_CERT_FILE), &cert_path)?;
    std::fs::copy(other.path().join(CA_KEY_FILE), &key_path)?;
    let error = Ca::load(dir.path()).expect_err("mismatch");
    assert_eq!(
        error.to_string(),
        format!(
            "{} is not the key of the certificate in {}",
            key_path.display(),
            cert_path.display()
        )
    );

    std::fs::write(&key_path, "garbage")?;
    let error = Ca::load(dir.path()).expect_err("bad key");
    assert!(
        error.to_string().starts_with(&format!(
            "{} does not hold a usable private key: ",
            key_path.display()
        )),
        "{error}"
    );

    // A leaf is not a CA.
    let leaf = Ca::generate("one")?.issue(&identity(Role::Node)?, &[])?;
    std::fs::write(&cert_path, &leaf.cert_pem)?;
    let error = Ca::load(dir.path()).expect_err("leaf");
    assert_eq!(
        error.to_string(),
        format!(
            "{} is not a CA certificate: it lacks basicConstraints CA:TRUE",
            cert_path.display()
        )
    );

    std::fs::write(
        &cert_path,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )?;
    let error = Ca::load(dir.path()).expect_err("bad cert");
    assert!(
        error.to_string().starts_with(&format!(
            "{} does not hold a usable certificate: unparsable certificate: ",
            cert_path.display()
        )),
        "{error}"
    );
    Ok(())
}

#[test]
fn issue_refuses_bad_identities_and_hosts() -> anyhow::Result<()> {
    let ca = Ca::generate("regfed test root")?;
    let mut bad = identity(Role::Node)?;
    bad.region = "42".to_owned();
    let error = ca.issue(&bad, &[]).expect_err("bad region");
    assert_eq!(
        error.to_string(),
        "cannot issue a certificate for an invalid identity: region `42` is not a 6-digit region code"
    );

    let cases = [
        ("", "it is empty"),
        (
            "a..b",
            "it has an empty label (a leading, trailing or doubled `.`)",
        ),
        (
            "host.",
            "it has an empty label (a leading, trailing or doubled `.`)",
        ),
        ("-a.b", "a label starts or ends with `-`"),
        ("10.0.0.256", "it looks like an IP address but is not one"),
        (
            "wu han",
            "it is neither an IP address nor a host name of letters, digits, `-`, `_` and `.`",
        ),
        (
            "http://x",
            "it is neither an IP address nor a host name of letters, digits, `-`, `_` and `.`",
        ),
    ];
    for (host, reason) in cases {
        let error = ca
            .issue(&identity(Role::Node)?, &[host.to_owned()])
            .expect_err(host);
        assert_eq!(
            error.to_string(),
            format!("host `{host}` cannot go in a certificate: {reason}")
        );
    }
    Ok(())
}
