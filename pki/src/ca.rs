//! The federation's certificate authority: generated once, kept in a directory, and used
//! to issue a leaf certificate to every node, department and operator.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::files::{self, Secrecy};
use crate::{pem, Identity, PkiError, Role};

/// The CA certificate's file in a CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA private key's file in a CA directory.
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// How long a CA certificate is valid.
const CA_VALIDITY: Duration = Duration::days(10 * 365);
/// How long an issued certificate is valid.
const LEAF_VALIDITY: Duration = Duration::days(2 * 365);
/// How far back certificates are dated, so that a peer whose clock is a little behind
/// accepts a certificate issued a moment ago.
const BACKDATE: Duration = Duration::hours(1);

/// A certificate authority: its certificate and its signing key.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate issued by a [`Ca`], with its fresh private key.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PKCS#8 PEM. Never printed by `Debug`.
    pub key_pem: String,
}

impl Ca {
    /// Generates a self-signed CA valid for ten years, named `common_name`.
    pub fn generate(common_name: &str) -> Result<Ca, PkiError> {
        let generate_error = |what: &str| {
            let what = format!("{what} of CA \"{common_name}\"");
            move |error| PkiError::Generate { what, error }
        };
        let key = KeyPair::generate().map_err(generate_error("the key"))?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_only(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        let cert = params
            .self_signed(&key)
            .map_err(generate_error("the certificate"))?;
        Ok(Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads the CA saved in `dir` (`ca.pem` and `ca-key.pem`).
    pub fn load(dir: &Path) -> Result<Ca, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let bad_cert = |reason: String| PkiError::BadCertificate {
            path: cert_path.clone(),
            reason,
        };

        let cert_pem = files::read_text(&cert_path)?;
        let der = pem::first_certificate(&cert_pem).map_err(bad_cert)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|error| bad_cert(pem::nom_reason(error)))?;
        if !cert.is_ca() {
            return Err(PkiError::NotCa { path: cert_path });
        }
        // rcgen panics on a name with an empty RDN set, which DER allows.
        if cert.subject().iter().any(|rdn| rdn.iter().next().is_none()) {
            return Err(bad_cert(
                "its subject has an empty name component".to_owned(),
            ));
        }

        let key_pem = files::read_text(&key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|error| PkiError::BadKey {
            path: key_path.clone(),
            reason: error.to_string(),
        })?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(PkiError::KeyMismatch {
                cert: cert_path,
                key: key_path,
            });
        }

        let issuer = Issuer::from_ca_cert_der(&der.as_slice().into(), key)
            .map_err(|error| bad_cert(error.to_string()))?;
        Ok(Ca { cert_pem, issuer })
    }

    /// Saves the CA into `dir` as `ca.pem` and `ca-key.pem` (0600), creating `dir` if
    /// needed. Refuses to overwrite a CA already there: every certificate it issued would
    /// stop being trusted.
    pub fn save(&self, dir: &Path) -> Result<(), PkiError> {
        files::create_dir(dir)?;
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        for path in [&cert_path, &key_path] {
            // `symlink_metadata` so that a dangling symlink counts as existing.
            if path.symlink_metadata().is_ok() {
                return Err(PkiError::CaExists {
                    path: path.to_owned(),
                });
            }
        }
        let key_pem = self.issuer.key().serialize_pem();
        for (path, contents, secrecy) in [
            (&key_path, key_pem.as_str(), Secrecy::Secret),
            (&cert_path, self.cert_pem.as_str(), Secrecy::Public),
        ] {
            files::write_new(path, contents, secrecy).map_err(|error| {
                if error.kind() == std::io::ErrorKind::AlreadyExists {
                    PkiError::CaExists {
                        path: path.to_owned(),
                    }
                } else {
                    PkiError::Write {
                        path: path.to_owned(),
                        error,
                    }
                }
            })?;
        }
        Ok(())
    }

    /// The CA certificate, PEM: the trust root every party is given.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a two-year certificate for `identity` with a fresh key.
    ///
    /// The certificate carries the identity URI as a URI SAN, and each of `hosts` as a DNS
    /// or IP SAN; a node's certificate also always names `localhost` and `127.0.0.1`.
    /// Nodes get serverAuth and clientAuth, departments and operators clientAuth only.
    pub fn issue(&self, identity: &Identity, hosts: &[String]) -> Result<IssuedCert, PkiError> {
        identity.validate().map_err(PkiError::InvalidIdentity)?;
        let generate_error = |what: &str| {
            let what = format!("{what} for {identity}");
            move |error| PkiError::Generate { what, error }
        };

        let uri = Ia5String::try_from(identity.to_uri())
            .map_err(generate_error("the identity URI SAN"))?;
        let mut sans = vec![SanType::URI(uri)];
        for host in hosts {
            push_new(&mut sans, host_san(host)?);
        }
        if identity.role == Role::Node {
            let localhost =
                Ia5String::try_from("localhost").map_err(generate_error("the localhost SAN"))?;
            push_new(&mut sans, SanType::DnsName(localhost));
            push_new(
                &mut sans,
                SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            );
        }

        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_only(&identity.id);
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match identity.role {
            Role::Node => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Role::Department | Role::Operator => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - BACKDATE;
        params.not_after = now + LEAF_VALIDITY;

        let key = KeyPair::generate().map_err(generate_error("a key"))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(generate_error("a certificate"))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("cert_pem", &self.cert_pem)
            .field("key", &format_args!("<redacted>"))
            .finish()
    }
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key", &format_args!("<redacted>"))
            .finish()
    }
}

fn common_name_only(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

fn push_new(sans: &mut Vec<SanType>, san: SanType) {
    if !sans.contains(&san) {
        sans.push(san);
    }
}

/// An IP SAN if `host` parses as an IP address, else a DNS SAN if it is a host name.
fn host_san(host: &str) -> Result<SanType, PkiError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let bad_host = |reason: &str| PkiError::BadHost {
        host: host.to_owned(),
        reason: reason.to_owned(),
    };
    check_host_name(host).map_err(bad_host)?;
    let name = Ia5String::try_from(host).map_err(|_| bad_host("it is not ASCII"))?;
    Ok(SanType::DnsName(name))
}

/// Checks a DNS name the way TLS peers will: dot-separated labels of letters, digits,
/// `-` and `_`, none empty or longer than 63, the whole at most 253 characters.
fn check_host_name(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("it is empty");
    }
    if host.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (a leading, trailing or doubled `.`)");
        }
        if label.len() > 63 {
            return Err("it has a label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
        {
            return Err(
                "it is neither an IP address nor a host name of letters, digits, `-`, `_` and `.`",
            );
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with `-`");
        }
    }
    if host
        .rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|byte| byte.is_ascii_digit()))
    {
        return Err("it looks like an IP address but is not one");
    }
    Ok(())
}

#[cfg(test)]
#[path = "ca_test.rs"]
mod tests;
