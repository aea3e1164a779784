//! Refused identities: another CA, another region's department, an unregistered
//! department, a node identity, no certificate, a department posing as another.

use std::path::{Path, PathBuf};

use regfed_pki::{write_identity_dir, Ca, Identity, Role, Tier};
use regfed_proto::v1 as pb;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use crate::harness::{NodeProcess, REGION};

fn issue(ca: &Ca, dir: &Path, role: Role, tier: Tier, region: &str, id: &str) -> PathBuf {
    let identity = Identity {
        role,
        tier,
        region: region.into(),
        id: id.into(),
    };
    let issued = ca.issue(&identity, &[]).expect("issue");
    write_identity_dir(dir, ca.cert_pem(), &issued).expect("write identity");
    dir.to_path_buf()
}

/// The gRPC status (or transport failure text) of a status call as `identity`.
async fn try_status(node: &NodeProcess, identity: &Path) -> Result<(), String> {
    let mut client = match regfed::client::connect(&[node.addr()], identity).await {
        Ok(c) => c,
        Err(e) => return Err(regfed::cli::error_chain(&e)),
    };
    client
        .status(pb::StatusRequest {})
        .await
        .map(|_| ())
        .map_err(|s| regfed::client::status_message(&s))
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_identities() {
    let node = NodeProcess::start_city(2).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load(&node.node.dir.join("ca")).expect("node CA");
    let registered = node.departments()[0].code.clone();

    // The legitimate department is served.
    try_status(&node, node.identity(0))
        .await
        .expect("registered department is served");

    // A certificate from another CA: the handshake or the first call fails.
    let other_ca = Ca::generate("another CA").unwrap();
    // The client trusts the node's CA (so the node's certificate passes), but presents a
    // certificate that another CA signed: the node must refuse it.
    let foreign = issue(
        &other_ca,
        &dir.path().join("foreign"),
        Role::Department,
        Tier::City,
        REGION,
        &registered,
    );
    std::fs::write(foreign.join("ca.pem"), ca.cert_pem()).unwrap();
    let err = try_status(&node, &foreign)
        .await
        .expect_err("another CA's certificate must be refused");
    println!("another CA: {err}");

    // A department of another region, signed by the right CA.
    let other_code = regfed_sample::department_code("420500", 1);
    let elsewhere = issue(
        &ca,
        &dir.path().join("elsewhere"),
        Role::Department,
        Tier::City,
        "420500",
        &other_code,
    );
    let err = try_status(&node, &elsewhere)
        .await
        .expect_err("another region's department must be refused");
    assert!(
        err.contains("420500") && err.contains("PermissionDenied"),
        "{err}"
    );

    // A department of this region that is not registered here.
    let unknown = regfed_sample::department_code(REGION, 99);
    let unregistered = issue(
        &ca,
        &dir.path().join("unregistered"),
        Role::Department,
        Tier::City,
        REGION,
        &unknown,
    );
    let err = try_status(&node, &unregistered)
        .await
        .expect_err("unregistered department must be refused");
    assert!(err.contains("not registered"), "{err}");

    // A node identity may not use the client API.
    let peer = issue(
        &ca,
        &dir.path().join("peer"),
        Role::Node,
        Tier::City,
        REGION,
        "city-2",
    );
    let err = try_status(&node, &peer)
        .await
        .expect_err("node identity must be refused");
    assert!(err.contains("node identities"), "{err}");

    // No client certificate at all.
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.cert_pem()))
        .domain_name("127.0.0.1");
    let channel = Endpoint::from_shared(format!("https://{}", node.addr()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await;
    let refused = match channel {
        Err(_) => true,
        Ok(ch) => pb::regfed_client::RegfedClient::new(ch)
            .status(pb::StatusRequest {})
            .await
            .is_err(),
    };
    assert!(refused, "a client without a certificate must be refused");

    // A department may submit only as itself.
    let mut client = node.client(node.identity(0)).await;
    let other = node.departments()[1].code.clone();
    let status = client
        .submit(pb::SubmitRequest {
            dataset: "item".into(),
            records: vec![pb::RecordIn::default()],
            department: other,
        })
        .await
        .expect_err("posing as another department must be refused");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");

    // Junk and silent connections: the node keeps serving, and closes a connection that
    // never completes its handshake once the handshake timeout (2 s here) has passed.
    let mut junk = std::net::TcpStream::connect(node.addr()).unwrap();
    std::io::Write::write_all(&mut junk, b"GET / HTTP/1.1\r\n\r\n\x16\x03\x01garbage").unwrap();
    let mut silent = std::net::TcpStream::connect(node.addr()).unwrap();
    try_status(&node, node.identity(0))
        .await
        .expect("served while junk connections are open");
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let closed = matches!(std::io::Read::read(&mut silent, &mut buf), Ok(0) | Err(_));
    assert!(closed, "a silent connection is closed by the node");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(9),
        "closed by the handshake timeout, after {:?}",
        started.elapsed()
    );

    // The node still serves its legitimate clients.
    try_status(&node, node.identity(1))
        .await
        .expect("still serving");
    let log = node.log_text();
    assert!(log.contains("Call refused"), "refusals are logged");
    assert!(!log.contains("PRIVATE KEY"), "no key material in the log");
}
