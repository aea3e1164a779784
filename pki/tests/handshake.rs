//! Issued certificates in a real mutual-TLS handshake with rustls, the TLS stack tonic
//! runs in `node/`: chains verify, names match, EKUs are enforced, identities come out.

use std::sync::Arc;

use anyhow::{bail, Context};
use regfed_pki::{Ca, Identity, Role, Tier, TlsMaterial};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(material: &TlsMaterial) -> anyhow::Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(material.ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    Ok(Arc::new(roots))
}

fn chain_and_key(
    material: &TlsMaterial,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = CertificateDer::pem_slice_iter(material.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(material.key_pem.as_bytes())?;
    Ok((chain, key))
}

/// Runs a handshake in memory; returns the identities each side saw of the other.
fn handshake(
    server: &TlsMaterial,
    client: &TlsMaterial,
    server_name: &str,
) -> anyhow::Result<(Identity, Identity)> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(server)?, provider())
        .build()
        .context("client verifier")?;
    let (chain, key) = chain_and_key(server)?;
    let server_config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    let (chain, key) = chain_and_key(client)?;
    let client_config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(client)?)
        .with_client_auth_cert(chain, key)?;

    let name = ServerName::try_from(server_name.to_owned())?;
    let mut client_conn = ClientConnection::new(Arc::new(client_config), name)?;
    let mut server_conn = ServerConnection::new(Arc::new(server_config))?;
    for _ in 0..10 {
        if !client_conn.is_handshaking() && !server_conn.is_handshaking() {
            break;
        }
        let mut bytes = Vec::new();
        while client_conn.wants_write() {
            client_conn.write_tls(&mut bytes)?;
        }
        server_conn.read_tls(&mut bytes.as_slice())?;
        server_conn.process_new_packets().context("server side")?;
        let mut bytes = Vec::new();
        while server_conn.wants_write() {
            server_conn.write_tls(&mut bytes)?;
        }
        client_conn.read_tls(&mut bytes.as_slice())?;
        client_conn.process_new_packets().context("client side")?;
    }
    let peer = |certs: Option<&[CertificateDer<'_>]>| -> anyhow::Result<Identity> {
        match certs {
            Some([leaf, ..]) => Ok(Identity::from_cert_der(leaf)?),
            _ => bail!("no peer certificate"),
        }
    };
    Ok((
        peer(server_conn.peer_certificates())?,
        peer(client_conn.peer_certificates())?,
    ))
}

fn material(ca: &Ca, identity: &Identity, hosts: &[&str]) -> anyhow::Result<TlsMaterial> {
    let hosts: Vec<String> = hosts.iter().map(|host| (*host).to_owned()).collect();
    Ok(TlsMaterial::from_issued(
        ca.cert_pem(),
        ca.issue(identity, &hosts)?,
    ))
}

#[test]
fn node_and_department_authenticate_each_other() -> anyhow::Result<()> {
    let ca = Ca::generate("regfed test root")?;
    let node = Identity::new(Role::Node, Tier::City, "420100", "wuhan-1")?;
    let department = Identity::new(Role::Department, Tier::City, "420100", "11420100MB0000000X")?;
    let province = Identity::new(Role::Node, Tier::Province, "420000", "hubei-1")?;
    let server = material(&ca, &node, &["city-1.example.org", "10.0.0.7"])?;

    for name in ["localhost", "127.0.0.1", "city-1.example.org", "10.0.0.7"] {
        let client = material(&ca, &department, &[])?;
        let (seen_by_server, seen_by_client) = handshake(&server, &client, name)?;
        assert_eq!(seen_by_server, department);
        assert_eq!(seen_by_client, node);
    }
    // A node is a client of its parent too.
    let (seen_by_server, _) = handshake(&material(&ca, &province, &[])?, &server, "localhost")?;
    assert_eq!(seen_by_server, node);
    Ok(())
}

#[test]
fn wrong_name_foreign_ca_and_client_only_certificates_are_refused() -> anyhow::Result<()> {
    let ca = Ca::generate("regfed test root")?;
    let node = Identity::new(Role::Node, Tier::City, "420100", "wuhan-1")?;
    let operator = Identity::new(Role::Operator, Tier::City, "420100", "alice")?;
    let server = material(&ca, &node, &[])?;
    let client = material(&ca, &operator, &[])?;

    let error = handshake(&server, &client, "other.example.org").expect_err("wrong name");
    assert!(
        format!("{error:#}").contains("certificate not valid for name \"other.example.org\""),
        "{error:#}"
    );

    let foreign = Ca::generate("someone else")?;
    let stranger = material(&foreign, &operator, &[])?;
    let stranger = TlsMaterial {
        ca_pem: ca.cert_pem().to_owned(),
        ..stranger
    };
    let error = handshake(&server, &stranger, "localhost").expect_err("foreign CA");
    assert!(
        format!("{error:#}").contains("invalid peer certificate: UnknownIssuer"),
        "{error:#}"
    );

    // An operator's certificate cannot serve: it lacks serverAuth.
    let error = handshake(&client, &server, "localhost").expect_err("client-only");
    assert!(
        format!("{error:#}")
            .contains("does not allow extended key usage for server authentication"),
        "{error:#}"
    );
    Ok(())
}
