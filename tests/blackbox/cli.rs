//! The command line and bad input: configuration errors, malformed files, GBK CSV with
//! Chinese headers, oversized and unknown batches, and /metrics.

use std::process::Command;

use regfed_formats::{write_csv, HeaderStyle, TextEncoding};
use regfed_governance::RulePack;
use regfed_proto::v1 as pb;
use regfed_sample::{generate, SampleConfig};

use crate::harness::{bin, today, NodeProcess, REGION};

#[test]
fn certs_init_and_issue() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let run = |args: &[&str]| {
        let out = Command::new(bin()).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(run(&["certs", "init", "--out", ca.to_str().unwrap()]).0);
    let (ok, err) = run(&["certs", "init", "--out", ca.to_str().unwrap()]);
    assert!(
        !ok && err.contains("exist"),
        "a second init must refuse to overwrite the CA: {err}"
    );
    let node = dir.path().join("node");
    let (ok, err) = run(&[
        "certs",
        "issue",
        "--ca",
        ca.to_str().unwrap(),
        "--role",
        "node",
        "--tier",
        "city",
        "--region",
        REGION,
        "--id",
        "wuhan-1",
        "--host",
        "10.1.2.3",
        "--out",
        node.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let tls = regfed_pki::TlsMaterial::load_dir(&node).expect("ca.pem, cert.pem, key.pem");
    assert_eq!(
        tls.identity().unwrap().to_uri(),
        format!("regfed://node/city/{REGION}/wuhan-1")
    );
    let (ok, err) = run(&[
        "certs",
        "issue",
        "--ca",
        ca.to_str().unwrap(),
        "--role",
        "mayor",
        "--tier",
        "city",
        "--region",
        REGION,
        "--id",
        "x",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("mayor"), "{err}");
}

#[test]
fn config_problems_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        "[node]\nid = \"x\"\ntier = \"city\"\nregion = \"999999\"\nlisten = \"nowhere\"\ndata_dir = \"d\"\n\n[tls]\nca = \"ca.pem\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\n[[department]]\ncode = \"123\"\nname = \"x\"\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "node.region 999999",
        "node.listen",
        "tls:",
        "department[0].code",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }

    std::fs::write(&path, "[node]\nid = \"x\"\ncolour = \"red\"\n").unwrap();
    let out = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("colour"),
        "unknown field must be named:\n{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn files_batches_and_metrics() {
    let node = NodeProcess::start_city(1).await;
    let dir = tempfile::tempdir().unwrap();
    let dept = node.identity(0).to_path_buf();

    // Malformed JSONL: the error names the file and line, nothing is sent.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"item_code\": \"420100JC00001\"}\n{not json\n").unwrap();
    let (ok, _, err) = node.cli(
        &dept,
        &["submit", "--dataset", "item", bad.to_str().unwrap()],
    );
    assert!(
        !ok && err.contains("bad.jsonl") && err.contains("line 2"),
        "{err}"
    );

    // Unknown field: named.
    std::fs::write(
        &bad,
        "{\"item_code\": \"420100JC00001\", \"colour\": \"red\"}\n",
    )
    .unwrap();
    let (ok, _, err) = node.cli(
        &dept,
        &["submit", "--dataset", "item", bad.to_str().unwrap()],
    );
    assert!(!ok && err.contains("colour"), "{err}");

    // A GBK CSV export with Chinese label headers is read and accepted.
    let mut cfg = SampleConfig::small(REGION, node.departments(), today());
    cfg.defect_rate = 0.0;
    let set = generate(&cfg);
    let pack = RulePack::builtin();
    let items: Vec<_> = set.items.iter().map(|s| s.record.clone()).collect();
    let csv = dir.path().join("items-gbk.csv");
    std::fs::write(
        &csv,
        write_csv(
            pack.dataset("item").unwrap(),
            &items,
            HeaderStyle::Labels,
            TextEncoding::Gbk,
        ),
    )
    .unwrap();
    assert!(
        std::str::from_utf8(&std::fs::read(&csv).unwrap()).is_err(),
        "the file really is GBK"
    );
    let (ok, out, err) = node.cli(
        &dept,
        &[
            "submit",
            "--json",
            "--dataset",
            "item",
            csv.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("submit --json");
    assert_eq!(
        summary["accepted"].as_u64(),
        Some(items.len() as u64),
        "{summary}"
    );

    // Unknown data set and oversized batch: clear refusals; the node keeps serving.
    let mut client = node.client(&dept).await;
    let status = client
        .submit(pb::SubmitRequest {
            dataset: "penalties".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown data set");
    assert!(status.message().contains("penalties"), "{status:?}");
    let huge = pb::SubmitRequest {
        dataset: "item".into(),
        records: vec![pb::RecordIn::default(); 10_001],
        department: String::new(),
    };
    let status = client.submit(huge).await.expect_err("oversized batch");
    assert!(
        status.message().contains("10001") && status.message().contains("limit"),
        "{status:?}"
    );
    let (ok, out, _) = node.cli(&dept, &["status", "--json"]);
    assert!(ok);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["raft"]["role"], "leader");
    assert_eq!(status["records"]["item"].as_u64(), Some(items.len() as u64));

    // /metrics speaks Prometheus text.
    let http = node.node.http.expect("http address");
    let body = http_get(http, "/metrics");
    assert!(body.contains("regfed_records_accepted_total{"), "{body}");
    assert!(body.contains("# TYPE regfed_submit_batches_total counter"));
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A rule pack from the node's configuration replaces the built-in one: a new code is
/// accepted with no rebuild, and verdicts name the pack's version.
#[tokio::test(flavor = "multi_thread")]
async fn rule_pack_from_the_configuration() {
    let pack = RulePack::builtin_toml()
        .replacen("{ code = \"9\", label = \"其他\" },", "{ code = \"9\", label = \"其他\" },\n  { code = \"6\", label = \"外国企业常驻代表机构\" },", 1);
    let version = RulePack::builtin().version().to_string();
    let pack = pack.replacen(
        &format!("version = \"{version}\""),
        "version = \"local-1\"",
        1,
    );
    assert!(
        pack.contains("local-1") && pack.contains("外国企业常驻代表机构"),
        "pack edits applied"
    );
    let node = NodeProcess::start_city_with(1, "[governance]\npack = \"pack.toml\"\n", |dir| {
        std::fs::write(dir.join("pack.toml"), &pack).unwrap();
    })
    .await;
    let mut cfg = SampleConfig::small(REGION, node.departments(), today());
    cfg.defect_rate = 0.0;
    let set = generate(&cfg);
    let mut subject = set
        .subjects
        .iter()
        .find(|s| s.record.text("subject_type") != Some("1"))
        .expect("a non-enterprise subject")
        .record
        .clone();
    subject
        .fields
        .insert("subject_type".into(), "外国企业常驻代表机构".into());
    let mut client = node.client(node.identity(0)).await;
    let response = client
        .submit(pb::SubmitRequest {
            dataset: "subject".into(),
            records: regfed::cli::submit::to_pb(&[regfed::cli::submit::Outgoing {
                record: subject,
                source: "test".into(),
            }]),
            department: String::new(),
        })
        .await
        .expect("submit")
        .into_inner();
    assert!(
        response.pack.ends_with("@local-1"),
        "verdicts name the configured pack: {}",
        response.pack
    );
    let r = &response.results[0];
    assert_eq!(r.status, "accepted", "{:?}", r.issues);
    assert!(
        r.changes
            .iter()
            .any(|c| c.field == "subject_type" && c.after == "6"),
        "label mapped to the new code: {:?}",
        r.changes
    );
}

/// README's first command: the demo loads, rectifies and reports, then exits with --exit.
#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["demo", "--exit", "--dir"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "accepted item",
        "the national centre holds",
        "notice at yichang",
        "notice at shenzhen",
        "the notice at yichang is resolved",
        "the notice at shenzhen is resolved",
        "still rejected 0",
        "Indicators for 100000",
        "Try next",
    ] {
        assert!(
            stdout.contains(needle),
            "demo output lacks {needle:?}:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("so far"),
        "the centre did not catch up:\n{stdout}"
    );
    assert!(
        dir.path().join("demo/identities").is_dir()
            && dir.path().join("demo/nodes/wuhan/node.toml").is_file()
            && dir.path().join("demo/nodes/national/node.toml").is_file()
    );
}
