//! Who is calling: the identity in the client certificate, checked against this node.

use regfed_governance::{Region, RegionTable, Tier};
use regfed_pki::{Identity, Role};
use tonic::{Request, Status};

use crate::config::Config;

/// An authorized client of the node's client API.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A registered department of this node: sees and submits its own records only.
    Department { code: String, identity: Identity },
    /// An operator of this node: sees the whole node.
    Operator { identity: Identity },
}

impl Caller {
    pub fn identity(&self) -> &Identity {
        match self {
            Caller::Department { identity, .. } | Caller::Operator { identity } => identity,
        }
    }

    /// The department a department caller is; `None` for operators.
    pub fn department(&self) -> Option<&str> {
        match self {
            Caller::Department { code, .. } => Some(code),
            Caller::Operator { .. } => None,
        }
    }
}

/// The identity in the peer's certificate. tonic has already verified the chain against
/// the federation CA; this reads who the certificate says the peer is.
pub fn peer_identity<T>(request: &Request<T>) -> Result<Identity, Status> {
    let certs = request.peer_certs().ok_or_else(|| {
        Status::unauthenticated("no client certificate was presented; regfed requires mutual TLS")
    })?;
    let leaf = certs.first().ok_or_else(|| {
        Status::unauthenticated("no client certificate was presented; regfed requires mutual TLS")
    })?;
    Identity::from_cert_der(leaf.as_ref()).map_err(|e| {
        Status::permission_denied(format!(
            "the client certificate carries no usable regfed identity: {e}"
        ))
    })
}

/// Authorizes a client-API call: a department registered here, or an operator of this
/// node's tier and region. Node identities are refused: they may only open links.
pub fn authorize<T>(config: &Config, request: &Request<T>) -> Result<Caller, Status> {
    let identity = peer_identity(request)?;
    let here = format!("{} {}", config.tier, config.region);
    let same_place =
        identity.tier.as_str() == config.tier.as_str() && identity.region == config.region.as_str();
    if !same_place && identity.role != Role::Node {
        let article = if identity.role == Role::Operator {
            "an"
        } else {
            "a"
        };
        return Err(denied(
            &identity,
            format!(
                "{article} {} of {} {} may not use node {} ({here})",
                identity.role.as_str(),
                identity.tier.as_str(),
                identity.region,
                config.id
            ),
        ));
    }
    let caller = match identity.role {
        Role::Node => {
            return Err(denied(
                &identity,
                "node identities may only open a federation link, not use the client API".into(),
            ));
        }
        Role::Department if config.local_department(&identity.id).is_none() => {
            return Err(denied(
                &identity,
                format!(
                    "department {} is not registered at node {}",
                    identity.id, config.id
                ),
            ));
        }
        Role::Department => Caller::Department {
            code: identity.id.clone(),
            identity,
        },
        Role::Operator => Caller::Operator { identity },
    };
    Ok(caller)
}

fn denied(identity: &Identity, why: String) -> Status {
    tracing::warn!(peer = %identity.to_uri(), reason = %why, "Call refused.");
    Status::permission_denied(why)
}

/// Authorizes a federation link: only a node of one of this node's direct children, by
/// tier and region (`parent()` of the standard). Answers the child's region.
pub fn authorize_child<T>(
    config: &Config,
    request: &Request<T>,
) -> Result<(Identity, Region), Status> {
    let identity = peer_identity(request)?;
    if identity.role != Role::Node {
        return Err(denied(
            &identity,
            format!(
                "only node identities may open a federation link; this is a {} identity",
                identity.role.as_str()
            ),
        ));
    }
    let regions = RegionTable::builtin();
    let region = Region::parse(&identity.region)
        .ok()
        .filter(|r| regions.contains_region(r));
    let Some(region) = region else {
        return Err(denied(
            &identity,
            format!("{} is not a GB/T 2260 region code", identity.region),
        ));
    };
    let parent = regions.parent(&region);
    let tier_ok = Tier::of(&region).as_str() == identity.tier.as_str();
    if parent != Some(config.region) || !tier_ok {
        let theirs = parent.map_or("none".to_string(), |p| p.to_string());
        return Err(denied(
            &identity,
            format!(
                "node {} ({} {}) is not a direct child of node {} ({} {}); its parent region is {theirs}",
                identity.id,
                identity.tier.as_str(),
                identity.region,
                config.id,
                config.tier,
                config.region
            ),
        ));
    }
    Ok((identity, region))
}
