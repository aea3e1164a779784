//! Who a certificate speaks for: a role, a tier, a region and an id, carried as one
//! `regfed://ROLE/TIER/REGION/ID` URI SAN.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use x509_parser::extensions::GeneralName;

/// The scheme every identity URI starts with.
pub const URI_SCHEME: &str = "regfed://";

/// What kind of party holds a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A federation node: serves gRPC and calls its parent.
    Node,
    /// A government department that submits records to a node.
    Department,
    /// A person or tool that operates a node.
    Operator,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 3] = [Role::Node, Role::Department, Role::Operator];

    /// The role as it appears in an identity URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Department => "department",
            Role::Operator => "operator",
        }
    }

    /// Parses `node`, `department` or `operator`.
    pub fn parse(text: &str) -> Result<Role, IdentityError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| IdentityError::UnknownRole(text.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;

    fn from_str(text: &str) -> Result<Role, IdentityError> {
        Role::parse(text)
    }
}

/// The level of the federation a party belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// A city (prefecture-level) node.
    City,
    /// A province node: parent of cities.
    Province,
    /// The national node: the root of the federation.
    National,
}

impl Tier {
    /// Every tier, from the bottom up.
    pub const ALL: [Tier; 3] = [Tier::City, Tier::Province, Tier::National];

    /// The tier as it appears in an identity URI.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::City => "city",
            Tier::Province => "province",
            Tier::National => "national",
        }
    }

    /// Parses `city`, `province` or `national`.
    pub fn parse(text: &str) -> Result<Tier, IdentityError> {
        Tier::ALL
            .into_iter()
            .find(|tier| tier.as_str() == text)
            .ok_or_else(|| IdentityError::UnknownTier(text.to_owned()))
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = IdentityError;

    fn from_str(text: &str) -> Result<Tier, IdentityError> {
        Tier::parse(text)
    }
}

/// A party of the federation, as named by its certificate.
///
/// Serializes as its URI, so that a config or a log line holds one string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Identity {
    /// What kind of party this is.
    pub role: Role,
    /// The tier the party belongs to.
    pub tier: Tier,
    /// The 6-digit administrative region code, e.g. `420100`.
    pub region: String,
    /// The party's id: a node name such as `wuhan-1`, or a department's USCC.
    pub id: String,
}

impl Identity {
    /// Builds an identity, checking the region and the id.
    pub fn new(
        role: Role,
        tier: Tier,
        region: impl Into<String>,
        id: impl Into<String>,
    ) -> Result<Identity, IdentityError> {
        let identity = Identity {
            role,
            tier,
            region: region.into(),
            id: id.into(),
        };
        identity.validate()?;
        Ok(identity)
    }

    /// Checks the parts that the type system does not: the region and the id.
    pub fn validate(&self) -> Result<(), IdentityError> {
        check_region(&self.region)?;
        check_id(&self.id)
    }

    /// The identity as a URI, e.g. `regfed://node/city/420100/wuhan-1`.
    pub fn to_uri(&self) -> String {
        format!(
            "{URI_SCHEME}{}/{}/{}/{}",
            self.role, self.tier, self.region, self.id
        )
    }

    /// Parses a `regfed://ROLE/TIER/REGION/ID` URI.
    pub fn parse_uri(uri: &str) -> Result<Identity, IdentityError> {
        parse_uri_parts(uri).map_err(|problem| IdentityError::MalformedUri {
            uri: uri.to_owned(),
            problem: Box::new(problem),
        })
    }

    /// Reads the identity of a DER certificate from its one `regfed://` URI SAN.
    pub fn from_cert_der(der: &[u8]) -> Result<Identity, IdentityError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|error| IdentityError::NotCertificate(crate::pem::nom_reason(error)))?;
        let names = match cert.subject_alternative_name() {
            Ok(Some(extension)) => extension.value.general_names.as_slice(),
            Ok(None) => &[],
            Err(error) => return Err(IdentityError::BadSanExtension(error.to_string())),
        };
        let uris: Vec<&str> = names
            .iter()
            .filter_map(|name| match name {
                GeneralName::URI(uri) if has_regfed_scheme(uri) => Some(*uri),
                _ => None,
            })
            .collect();
        match uris[..] {
            [uri] => Identity::parse_uri(uri)
                .map_err(|error| IdentityError::MalformedSan(Box::new(error))),
            [] => Err(IdentityError::NoRegfedSan {
                sans: names.iter().map(describe_name).collect(),
            }),
            _ => Err(IdentityError::SeveralRegfedSans {
                uris: uris.iter().map(|uri| (*uri).to_owned()).collect(),
            }),
        }
    }
}

/// `department 11420100MB0000000X (city 420100)`.
impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({} {})",
            self.role, self.id, self.tier, self.region
        )
    }
}

impl FromStr for Identity {
    type Err = IdentityError;

    fn from_str(uri: &str) -> Result<Identity, IdentityError> {
        Identity::parse_uri(uri)
    }
}

impl TryFrom<String> for Identity {
    type Error = IdentityError;

    fn try_from(uri: String) -> Result<Identity, IdentityError> {
        Identity::parse_uri(&uri)
    }
}

impl From<Identity> for String {
    fn from(identity: Identity) -> String {
        identity.to_uri()
    }
}

/// Why an identity, its URI or its certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The role is not one of the three.
    #[error("unknown role `{0}`: expected node, department or operator")]
    UnknownRole(String),
    /// The tier is not one of the three.
    #[error("unknown tier `{0}`: expected city, province or national")]
    UnknownTier(String),
    /// The region is not six ASCII digits.
    #[error("region `{0}` is not a 6-digit region code")]
    BadRegion(String),
    /// The id is empty or has a character outside `[A-Za-z0-9_.-]`.
    #[error(
        "id `{0}` is invalid: it must be non-empty and use only letters, digits, `_`, `.` and `-`"
    )]
    BadId(String),
    /// The URI does not start with `regfed://`.
    #[error("it must start with {URI_SCHEME}")]
    NotRegfedScheme,
    /// The URI does not have four `/`-separated parts after the scheme.
    #[error("it must have the form {URI_SCHEME}ROLE/TIER/REGION/ID")]
    WrongShape,
    /// A URI was refused; `problem` says why.
    #[error("`{uri}` is not a valid identity URI: {problem}")]
    MalformedUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        problem: Box<IdentityError>,
    },
    /// The bytes are not a DER X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    NotCertificate(String),
    /// The certificate's subjectAltName extension could not be read.
    #[error("certificate has an unreadable subjectAltName extension: {0}")]
    BadSanExtension(String),
    /// The certificate names no identity.
    #[error("certificate has no {URI_SCHEME} URI SAN: its SANs are [{}]", .sans.join(", "))]
    NoRegfedSan {
        /// The SANs it does have, e.g. `DNS:localhost`.
        sans: Vec<String>,
    },
    /// The certificate names more than one identity.
    #[error("certificate has {} {URI_SCHEME} URI SANs, expected one: [{}]", .uris.len(), .uris.join(", "))]
    SeveralRegfedSans {
        /// The identity URIs it carries.
        uris: Vec<String>,
    },
    /// The certificate's identity URI is malformed.
    #[error("certificate's identity SAN is invalid: {0}")]
    MalformedSan(Box<IdentityError>),
}

fn parse_uri_parts(uri: &str) -> Result<Identity, IdentityError> {
    let rest = uri
        .strip_prefix(URI_SCHEME)
        .ok_or(IdentityError::NotRegfedScheme)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [role, tier, region, id] = parts[..] else {
        return Err(IdentityError::WrongShape);
    };
    Identity::new(Role::parse(role)?, Tier::parse(tier)?, region, id)
}

fn check_region(region: &str) -> Result<(), IdentityError> {
    if region.len() == 6 && region.bytes().all(|byte| byte.is_ascii_digit()) {
        Ok(())
    } else {
        Err(IdentityError::BadRegion(region.to_owned()))
    }
}

fn check_id(id: &str) -> Result<(), IdentityError> {
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-');
    if !id.is_empty() && id.bytes().all(allowed) {
        Ok(())
    } else {
        Err(IdentityError::BadId(id.to_owned()))
    }
}

/// URI schemes are case-insensitive, so `REGFED://…` is an identity too (a malformed one).
fn has_regfed_scheme(uri: &str) -> bool {
    uri.get(..URI_SCHEME.len())
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(URI_SCHEME))
}

/// A SAN as `openssl x509 -text` would show it: `DNS:localhost`, `IP Address:127.0.0.1`.
fn describe_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(dns) => format!("DNS:{dns}"),
        GeneralName::URI(uri) => format!("URI:{uri}"),
        GeneralName::RFC822Name(email) => format!("email:{email}"),
        GeneralName::IPAddress(bytes) => {
            if let Ok(octets) = <[u8; 4]>::try_from(*bytes) {
                format!("IP:{}", Ipv4Addr::from(octets))
            } else if let Ok(octets) = <[u8; 16]>::try_from(*bytes) {
                format!("IP:{}", Ipv6Addr::from(octets))
            } else {
                format!("IP:<{} bytes>", bytes.len())
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "identity_test.rs"]
mod tests;
