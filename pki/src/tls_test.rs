//! Tests for TLS material: the identity directory round trip, refused files, redaction.

use super::*;
use crate::{Ca, Role, Tier, CA_KEY_FILE};
use anyhow::Context;

fn issued() -> anyhow::Result<(Ca, IssuedCert)> {
    let ca = Ca::generate("test root")?;
    let identity = Identity::new(Role::Node, Tier::Province, "420000", "hubei-1")?;
    let issued = ca.issue(&identity, &[])?;
    Ok((ca, issued))
}

#[test]
fn written_dir_loads_back_with_its_identity() -> anyhow::Result<()> {
    let (ca, issued) = issued()?;
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join("nested/identity");
    write_identity_dir(&dir, ca.cert_pem(), &issued)?;
    // Writing again replaces the files.
    write_identity_dir(&dir, ca.cert_pem(), &issued)?;

    let material = TlsMaterial::load_dir(&dir)?;
    assert_eq!(material, TlsMaterial::from_issued(ca.cert_pem(), issued));
    assert_eq!(
        material.identity()?.to_uri(),
        "regfed://node/province/420000/hubei-1"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| -> anyhow::Result<u32> {
            Ok(std::fs::metadata(dir.join(name))?.permissions().mode() & 0o777)
        };
        assert_eq!(mode(KEY_FILE)?, 0o600);
        assert_eq!(mode(CERT_FILE)? & 0o600, 0o600);
    }
    let mut names = std::fs::read_dir(&dir)?
        .map(|entry| Ok(entry?.file_name()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    assert_eq!(
        names,
        [CA_FILE, CERT_FILE, KEY_FILE],
        "no temp file is left"
    );
    Ok(())
}

#[test]
fn missing_file_is_named() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let error = TlsMaterial::load_dir(dir.path()).expect_err("nothing there");
    let ca = dir.path().join(CA_FILE);
    assert_eq!(
        error.to_string(),
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            ca.display()
        )
    );
    Ok(())
}

#[test]
fn swapped_files_are_refused_with_the_file_named() -> anyhow::Result<()> {
    let (ca, issued) = issued()?;
    let dir = tempfile::tempdir()?;
    write_identity_dir(dir.path(), ca.cert_pem(), &issued)?;
    let ca_path = dir.path().join(CA_FILE);
    let cert_path = dir.path().join(CERT_FILE);
    let key_path = dir.path().join(KEY_FILE);

    let error = TlsMaterial::load_files(&key_path, &cert_path, &key_path).expect_err("key as CA");
    assert_eq!(
        error.to_string(),
        format!(
            "{} does not hold a usable certificate: no CERTIFICATE block found",
            key_path.display()
        )
    );
    let error = TlsMaterial::load_files(&ca_path, &cert_path, &cert_path).expect_err("cert as key");
    assert_eq!(
        error.to_string(),
        format!(
            "{} does not hold a usable private key: \
             holds a `CERTIFICATE` block where an unencrypted PRIVATE KEY was expected",
            cert_path.display()
        )
    );
    Ok(())
}

#[test]
fn debug_never_prints_a_key() -> anyhow::Result<()> {
    let (ca, issued) = issued()?;
    let dir = tempfile::tempdir()?;
    ca.save(dir.path())?;
    let ca_key = std::fs::read_to_string(dir.path().join(CA_KEY_FILE))?;
    let material = TlsMaterial::from_issued(ca.cert_pem(), issued.clone());
    let secrets = [
        issued.key_pem.lines().nth(1).context("a base64 line")?,
        ca_key.lines().nth(1).context("a base64 line")?,
    ];
    for debug in [
        format!("{material:?}"),
        format!("{issued:?}"),
        format!("{ca:?}"),
        format!("{material:#?}"),
    ] {
        assert!(debug.contains("key: <redacted>"), "{debug}");
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        for secret in secrets {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
    Ok(())
}

#[test]
fn identity_of_garbage_is_refused() {
    let material = TlsMaterial {
        ca_pem: String::new(),
        cert_pem: "not pem".to_owned(),
        key_pem: String::new(),
    };
    let error = material.identity().expect_err("garbage");
    assert_eq!(
        error.to_string(),
        "cannot read an identity from the TLS certificate: \
         not an X.509 certificate: no PEM block found"
    );
}
