//! Links that must be refused: a city dialling the wrong province, a city carrying another
//! city's records, a department identity opening a link, a certificate from another CA.

use std::time::Duration;

use regfed::federation::NodePlan;
use regfed_pki::{Ca, Identity, Role, Tier, TlsMaterial};
use regfed_proto::v1 as pb;

use crate::federation::{status, Federation};
use crate::harness::wait_for;

async fn open_link(
    addr: &str,
    tls: &TlsMaterial,
    first: pb::LinkUp,
    second: Option<pb::LinkUp>,
) -> Result<Vec<pb::LinkDown>, tonic::Status> {
    let channel = regfed::client::connect_channel(&[addr.to_string()], tls)
        .await
        .map_err(|e| tonic::Status::unavailable(format!("{e:#}")))?;
    let mut client = pb::federation_client::FederationClient::new(channel);
    let messages: Vec<pb::LinkUp> = std::iter::once(first).chain(second).collect();
    let mut inbound = client
        .link(tokio_stream::iter(messages))
        .await?
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = inbound.message().await? {
        got.push(m);
    }
    Ok(got)
}

fn hello() -> pb::LinkUp {
    pb::LinkUp {
        msg: Some(pb::link_up::Msg::Hello(pb::LinkHello {
            node: "probe".into(),
            notices_applied: 0,
        })),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_parents_foreign_records_departments_and_other_cas_are_refused() {
    let mut plan = vec![
        NodePlan::new("hubei", Tier::Province, "420000", 0).unwrap(),
        NodePlan::new("guangdong", Tier::Province, "440000", 0).unwrap(),
        NodePlan::new("wuhan", Tier::City, "420100", 2).unwrap(),
        NodePlan::new("yichang", Tier::City, "420500", 2).unwrap(),
    ];
    // Yichang is (wrongly) configured to report to Guangdong.
    plan[3].parent_addr = Some(plan[1].listen.to_string());
    let fed = Federation::start(&plan).await;
    let (hubei, wuhan, yichang) = (
        &fed.node("hubei").node,
        &fed.node("wuhan").node,
        &fed.node("yichang").node,
    );

    // The wrong province refuses the city, which says why and keeps trying.
    wait_for(
        "Guangdong to refuse Yichang",
        Duration::from_secs(30),
        || async {
            let log = fed.node("yichang").log_text();
            if log.contains("is not a direct child") {
                Ok(())
            } else {
                Err(log)
            }
        },
    )
    .await;
    assert!(!status(yichang).await.parent_connected);
    assert!(fed.node("guangdong").log_text().contains("Call refused"));

    // Wuhan's own node certificate, carrying Yichang's records: refused.
    let wuhan_tls = TlsMaterial::load_dir(&wuhan.dir.join("nodes").join("wuhan")).unwrap();
    let foreign = pb::LinkUp {
        msg: Some(pb::link_up::Msg::Batch(pb::UpBatch {
            first_seq: 1,
            last_seq: 1,
            records: vec![pb::UpRecord {
                seq: 1,
                dataset: "item".into(),
                key: "X-1".into(),
                version: 1,
                op: "upsert".into(),
                origin_region: "420500".into(),
                origin_department: yichang.departments[0].0.code.clone(),
                ..Default::default()
            }],
        })),
    };
    let err = open_link(&hubei.addr.to_string(), &wuhan_tls, hello(), Some(foreign))
        .await
        .expect_err("foreign records are refused");
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("420500"), "{}", err.message());

    // A department identity cannot open a link.
    let dept_tls = TlsMaterial::load_dir(&wuhan.departments[0].1).unwrap();
    let err = open_link(&hubei.addr.to_string(), &dept_tls, hello(), None)
        .await
        .expect_err("departments cannot link");
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    assert!(
        err.message().contains("only node identities"),
        "{}",
        err.message()
    );

    // A node certificate from another CA does not get past the handshake.
    let other = Ca::generate("another CA").unwrap();
    let issued = other
        .issue(
            &Identity {
                role: Role::Node,
                tier: Tier::City,
                region: "420100".into(),
                id: "impostor".into(),
            },
            &["127.0.0.1".into()],
        )
        .unwrap();
    let impostor = TlsMaterial {
        ca_pem: wuhan_tls.ca_pem.clone(),
        cert_pem: issued.cert_pem.clone(),
        key_pem: issued.key_pem.clone(),
    };
    let result = open_link(&hubei.addr.to_string(), &impostor, hello(), None).await;
    assert!(result.is_err(), "a certificate from another CA is refused");

    // Meanwhile the rightly configured city is linked.
    wait_for("Wuhan to link", Duration::from_secs(30), || async {
        let s = status(wuhan).await;
        if s.parent_connected {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
}
