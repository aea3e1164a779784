//! The federation's certificates: a CA, identities carried in URI SANs, and the PEM
//! material each party runs mutual TLS with.
//!
//! This crate generates and parses; it never verifies a chain. Verification happens in the
//! TLS handshake (tonic with rustls, in `node/`), which is given [`TlsMaterial`] as PEM.
//! After the handshake the node reads the peer's [`Identity`] from its certificate with
//! [`Identity::from_cert_der`].
//!
//! Every party's certificate carries exactly one `regfed://ROLE/TIER/REGION/ID` URI SAN:
//! `regfed://node/city/420100/wuhan-1`, `regfed://department/city/420100/11420100MB0000000X`.

mod ca;
mod error;
mod files;
mod identity;
mod pem;
mod tls;

pub use ca::{Ca, IssuedCert, CA_CERT_FILE, CA_KEY_FILE};
pub use error::PkiError;
pub use identity::{Identity, IdentityError, Role, Tier, URI_SCHEME};
pub use tls::{write_identity_dir, TlsMaterial, CA_FILE, CERT_FILE, KEY_FILE};
