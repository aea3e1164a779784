//! The one error type of certificate work: each variant a sentence naming the file, the
//! host or the identity at fault.
//!
//! Underlying errors are written into the message rather than chained as `source()`, so
//! that printing the error once (with or without anyhow's `{:#}`) says everything once.

use std::io;
use std::path::PathBuf;

use crate::IdentityError;

/// Why generating, loading, saving or reading certificates failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read.
    #[error("cannot read {}: {error}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {}: {error}", .path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// `Ca::save` found a CA already there.
    #[error("refusing to overwrite the existing CA file {}: move it away or save to another directory", .path.display())]
    CaExists {
        /// The CA file that already exists.
        path: PathBuf,
    },
    /// A file meant to hold certificates does not.
    #[error("{} does not hold a usable certificate: {reason}", .path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        reason: String,
    },
    /// A file meant to hold a private key does not.
    #[error("{} does not hold a usable private key: {reason}", .path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        reason: String,
    },
    /// The CA certificate is not marked as a CA.
    #[error("{} is not a CA certificate: it lacks basicConstraints CA:TRUE", .path.display())]
    NotCa {
        /// The certificate file.
        path: PathBuf,
    },
    /// The CA key is not the key of the CA certificate.
    #[error("{} is not the key of the certificate in {}", .key.display(), .cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rcgen refused to build a key or a certificate.
    #[error("cannot generate {what}: {error}")]
    Generate {
        /// What was being generated, e.g. `the CA certificate "regfed root"`.
        what: String,
        /// What rcgen said.
        error: rcgen::Error,
    },
    /// `Ca::issue` was asked for an identity that is not valid.
    #[error("cannot issue a certificate for an invalid identity: {0}")]
    InvalidIdentity(IdentityError),
    /// `Ca::issue` was given a host that cannot be a DNS or IP SAN.
    #[error("host `{host}` cannot go in a certificate: {reason}")]
    BadHost {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate carries no usable identity.
    #[error("cannot read an identity from {what}: {error}")]
    Identity {
        /// Which certificate, e.g. `the TLS certificate`.
        what: String,
        /// Why its identity was refused.
        error: IdentityError,
    },
}
