//! The benchmark commands, run small: each must finish, measure every figure it reports,
//! and keep its `--json` shape. The figures themselves are not judged here (a debug build
//! on a shared machine says nothing about speed); `regfed bench*` in a release build does.

use std::process::Command;

use serde_json::Value as Json;

use crate::harness::bin;

/// Runs `regfed` with `args` and answers the JSON object it printed.
fn run_json(args: &[&str]) -> Json {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "regfed {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "regfed {} did not print one JSON object ({e}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A rate or ratio the command measured: a positive, finite number.
fn measured(figures: &Json, name: &str) -> f64 {
    let value = figures[name].as_f64().unwrap_or(f64::NAN);
    assert!(
        value.is_finite() && value > 0.0,
        "{name} was not measured: {figures}"
    );
    value
}

#[test]
fn bench_measures_governance_ingest_and_the_raw_limit() {
    let figures = run_json(&[
        "bench",
        "--governance-records",
        "500",
        "--ingest-records",
        "1000",
        "--batch",
        "250",
        "--rounds",
        "1",
        "--json",
    ]);
    for name in [
        "governance_records_per_sec",
        "ingest_records_per_sec",
        "raw_sled_records_per_sec",
        "ingest_over_raw",
        "ingest_cpu_micros_per_record",
    ] {
        measured(&figures, name);
    }
    println!("bench: {figures}");
}

#[test]
fn bench_sync_drains_every_round_and_measures_latency() {
    let figures = run_json(&[
        "bench-sync",
        "--backlog",
        "1000",
        "--batch",
        "250",
        "--rounds",
        "2",
        "--rate",
        "100",
        "--seconds",
        "1",
        "--json",
    ]);
    let rounds = figures["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 2, "{figures}");
    for round in rounds {
        for name in [
            "sync_records_per_sec",
            "raw_grpc_records_per_sec",
            "raw_sled_records_per_sec",
            "sync_over_lesser_limit",
        ] {
            measured(round, name);
        }
    }
    measured(&figures, "sync_over_lesser_limit");
    measured(&figures, "province_to_national_records_per_sec");
    // Every record of the steady load reached the centre with its hops.
    assert_eq!(figures["latency_ms"]["records"], 100, "{figures}");
    println!("bench-sync: {figures}");
}

#[test]
fn bench_ha_compares_the_groups_in_rounds_and_times_a_failover() {
    let figures = run_json(&[
        "bench-ha",
        "--records",
        "1000",
        "--batch",
        "250",
        "--rounds",
        "2",
        "--failovers",
        "1",
        "--json",
    ]);
    assert_eq!(figures["rounds"], 2, "{figures}");
    for name in [
        "group_of_1_records_per_sec",
        "group_of_3_records_per_sec",
        "group_of_3_over_1",
        "failover_secs_median",
    ] {
        measured(&figures, name);
    }
    // Each member's CPU per record, the leader first, read from /proc.
    let cpu = &figures["cpu_us_per_record"];
    if cfg!(target_os = "linux") {
        assert_eq!(
            cpu["group_of_1"].as_array().map(Vec::len),
            Some(1),
            "{figures}"
        );
        let three = cpu["group_of_3_leader_then_followers"].as_array();
        assert_eq!(three.map(Vec::len), Some(3), "{figures}");
        for us in three
            .into_iter()
            .flatten()
            .chain(cpu["group_of_1"].as_array().into_iter().flatten())
        {
            assert!(us.as_f64().is_some_and(|us| us > 0.0), "{figures}");
        }
    }
    println!("bench-ha: {figures}");
}
