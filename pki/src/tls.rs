//! The TLS material one party runs with (trust root, certificate, key) and the directory
//! layout it is kept in.

use std::fmt;
use std::path::Path;

use crate::files::{self, Secrecy};
use crate::{pem, Identity, IdentityError, IssuedCert, PkiError};

/// The trust root's file in an identity directory.
pub const CA_FILE: &str = "ca.pem";
/// The party's certificate's file in an identity directory.
pub const CERT_FILE: &str = "cert.pem";
/// The party's private key's file in an identity directory.
pub const KEY_FILE: &str = "key.pem";

/// What one party needs for mutual TLS, all PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// The CA certificate(s) peers must chain to.
    pub ca_pem: String,
    /// This party's certificate, leaf first.
    pub cert_pem: String,
    /// This party's private key. Never printed by `Debug`.
    pub key_pem: String,
}

impl TlsMaterial {
    /// Loads `ca.pem`, `cert.pem` and `key.pem` from `dir`.
    pub fn load_dir(dir: &Path) -> Result<TlsMaterial, PkiError> {
        TlsMaterial::load_files(
            &dir.join(CA_FILE),
            &dir.join(CERT_FILE),
            &dir.join(KEY_FILE),
        )
    }

    /// Loads the three files, checking that the first two hold certificates and the third
    /// a private key.
    pub fn load_files(ca: &Path, cert: &Path, key: &Path) -> Result<TlsMaterial, PkiError> {
        let load_certificates = |path: &Path| {
            let text = files::read_text(path)?;
            pem::certificates(&text).map_err(|reason| PkiError::BadCertificate {
                path: path.to_owned(),
                reason,
            })?;
            Ok::<String, PkiError>(text)
        };
        let ca_pem = load_certificates(ca)?;
        let cert_pem = load_certificates(cert)?;
        let key_pem = files::read_text(key)?;
        pem::check_private_key(&key_pem).map_err(|reason| PkiError::BadKey {
            path: key.to_owned(),
            reason,
        })?;
        Ok(TlsMaterial {
            ca_pem,
            cert_pem,
            key_pem,
        })
    }

    /// The material for a freshly issued certificate.
    pub fn from_issued(ca_pem: &str, issued: IssuedCert) -> TlsMaterial {
        TlsMaterial {
            ca_pem: ca_pem.to_owned(),
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
        }
    }

    /// The identity this party's certificate (its first one) speaks for.
    pub fn identity(&self) -> Result<Identity, PkiError> {
        let refused = |error| PkiError::Identity {
            what: "the TLS certificate".to_owned(),
            error,
        };
        let der = pem::first_certificate(&self.cert_pem)
            .map_err(|reason| refused(IdentityError::NotCertificate(reason)))?;
        Identity::from_cert_der(&der).map_err(refused)
    }
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca_pem", &self.ca_pem)
            .field("cert_pem", &self.cert_pem)
            .field("key", &format_args!("<redacted>"))
            .finish()
    }
}

/// Writes `ca.pem`, `cert.pem` and `key.pem` (0600) into `dir`, creating it if needed and
/// replacing files already there.
pub fn write_identity_dir(dir: &Path, ca_pem: &str, issued: &IssuedCert) -> Result<(), PkiError> {
    files::create_dir(dir)?;
    files::write_replacing(&dir.join(KEY_FILE), &issued.key_pem, Secrecy::Secret)?;
    files::write_replacing(&dir.join(CERT_FILE), &issued.cert_pem, Secrecy::Public)?;
    files::write_replacing(&dir.join(CA_FILE), ca_pem, Secrecy::Public)
}

#[cfg(test)]
#[path = "tls_test.rs"]
mod tests;
