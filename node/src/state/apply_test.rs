//! The state machine's rules on a real store: versions, the identical-record no-op, the
//! queue and its rectification, deletes, and determinism.

use regfed_governance::{Fields, Issue, Op, PackId, Severity, Value, Verdict};

use super::apply::Applier;
use super::command::{Command, CommandResponse, GovernedRecord, Outcome, SubmitBatch};
use super::model::{QueueStatus, RaisedBy};
use super::read;
use crate::store::{Store, StoreOptions};

const DEPT: &str = "11420100MB9000015H";

fn verdict(key: &str, op: Op, name: &str, error: Option<&str>) -> Verdict {
    let mut fields = Fields::new();
    fields.insert("item_code".into(), Value::from(key));
    if op == Op::Upsert {
        fields.insert("item_name".into(), Value::from(name));
        fields.insert("item_type".into(), Value::from("JC"));
        fields.insert("department_code".into(), Value::from(DEPT));
    }
    Verdict {
        dataset: "item".into(),
        key: key.into(),
        op,
        fields,
        changes: Vec::new(),
        issues: error
            .map(|rule| Issue {
                rule: rule.into(),
                field: "item_name".into(),
                severity: Severity::Error,
                message_zh: "错".into(),
                message_en: "wrong".into(),
                example: String::new(),
            })
            .into_iter()
            .collect(),
        pack: PackId {
            name: "test".into(),
            version: "1".into(),
        },
    }
}

fn batch(at: i64, verdicts: Vec<Verdict>) -> Command {
    Command::Submit(std::sync::Arc::new(SubmitBatch {
        dataset: "item".into(),
        actor: "regfed://department/city/420100/x".into(),
        department: DEPT.into(),
        origin_region: "420100".into(),
        raised_by: RaisedBy {
            tier: "city".into(),
            region: "420100".into(),
        },
        received_at: at,
        deadline_days: 5,
        pack: PackId {
            name: "test".into(),
            version: "1".into(),
        },
        records: verdicts
            .into_iter()
            .map(|v| GovernedRecord::new(v, "test".into()))
            .collect(),
    }))
}

fn apply(store: &Store, index: u64, command: Command) -> Vec<(Outcome, u64)> {
    let mut applier = Applier::new(store);
    let response = applier.apply(index, &command).expect("apply");
    store.commit(applier.into_writes()).expect("commit");
    match response {
        CommandResponse::Submit(outcomes) => {
            outcomes.iter().map(|o| (o.outcome, o.version)).collect()
        }
        _ => Vec::new(),
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        &StoreOptions {
            cache_bytes: 8 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    (dir, store)
}

#[test]
fn versions_queue_rectification_and_delete() {
    let (_dir, store) = open();
    let t0 = 1_780_000_000_000;
    // A rejected first submission opens a queue entry.
    let out = apply(
        &store,
        1,
        batch(
            t0,
            vec![verdict(
                "420100JC00001",
                Op::Upsert,
                "",
                Some("item.item_name.required"),
            )],
        ),
    );
    assert_eq!(out, vec![(Outcome::Rejected, 1)]);
    let queue = read::queue(&store, None, false).unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].issues[0].rule, "item.item_name.required");

    // The same record again: unchanged, nothing new.
    let out = apply(
        &store,
        2,
        batch(
            t0 + 1000,
            vec![verdict(
                "420100JC00001",
                Op::Upsert,
                "",
                Some("item.item_name.required"),
            )],
        ),
    );
    assert_eq!(out, vec![(Outcome::Unchanged, 1)]);

    // Corrected: version 2 accepted, the entry rectified after 60 seconds.
    let out = apply(
        &store,
        3,
        batch(
            t0 + 60_000,
            vec![verdict("420100JC00001", Op::Upsert, "对食品的检查", None)],
        ),
    );
    assert_eq!(out, vec![(Outcome::Accepted, 2)]);
    assert!(read::queue(&store, None, false).unwrap().is_empty());
    let all = read::queue(&store, None, true).unwrap();
    assert_eq!(all[0].status, QueueStatus::Rectified);
    assert_eq!(all[0].rectified_at, Some(t0 + 60_000));
    let state = read::key_state(&store, "item", "420100JC00001")
        .unwrap()
        .unwrap();
    assert_eq!(state.reported_at, t0, "reported_at is the first receipt");
    assert_eq!(
        state.live_fields().unwrap()["item_name"],
        Value::from("对食品的检查")
    );

    // History keeps both versions with what changed.
    let history = read::history(&store, "item", "420100JC00001").unwrap();
    assert_eq!(
        history.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2]
    );

    // Delete: version 3, no longer live, and it travels in the outbox like an upsert.
    let out = apply(
        &store,
        4,
        batch(
            t0 + 120_000,
            vec![verdict("420100JC00001", Op::Delete, "", None)],
        ),
    );
    assert_eq!(out, vec![(Outcome::Accepted, 3)]);
    assert!(read::key_state(&store, "item", "420100JC00001")
        .unwrap()
        .unwrap()
        .live_fields()
        .is_none());
    assert_eq!(read::outbox_pending(&store).unwrap(), 2);
    let page = read::query(
        &store,
        regfed_governance::RegionTable::builtin(),
        "item",
        "",
        10,
        None,
    )
    .unwrap();
    assert_eq!(
        page.records
            .iter()
            .map(|r| (r.version, r.op))
            .collect::<Vec<_>>(),
        vec![(2, Op::Upsert), (3, Op::Delete)]
    );
    let resumed = read::query(
        &store,
        regfed_governance::RegionTable::builtin(),
        "item",
        &page.cursor,
        10,
        None,
    )
    .unwrap();
    assert!(resumed.records.is_empty() && !resumed.more);
}

#[test]
fn applying_the_same_log_gives_the_same_state() {
    let commands: Vec<Command> = (0..5)
        .map(|i| {
            batch(
                1_780_000_000_000 + i * 1000,
                vec![
                    verdict(&format!("420100JC{:05}", i), Op::Upsert, "名称", None),
                    verdict(
                        &format!("420100JC{:05}", i + 1),
                        Op::Upsert,
                        "",
                        (i % 2 == 0).then_some("item.item_name.required"),
                    ),
                ],
            )
        })
        .collect();
    let dump = |store: &Store| store.dump().map(|r| r.unwrap()).collect::<Vec<_>>();
    let (_a, first) = open();
    let (_b, second) = open();
    for (i, c) in commands.iter().enumerate() {
        apply(&first, i as u64 + 1, c.clone());
        apply(&second, i as u64 + 1, c.clone());
    }
    assert_eq!(dump(&first), dump(&second));
}

fn respond(store: &Store, index: u64, command: Command) -> CommandResponse {
    let mut applier = Applier::new(store);
    let response = applier.apply(index, &command).expect("apply");
    store.commit(applier.into_writes()).expect("commit");
    response
}

/// A child's batch of item changes `first..` from `origin`, each named `name`, with an
/// optional error from this tier's re-check.
fn sync(
    child: &str,
    origin: &str,
    first: u64,
    keys: &[&str],
    name: &str,
    error: Option<&str>,
) -> Command {
    use super::command::{SyncBatch, SyncRecord};
    use super::Origin;
    Command::Sync(std::sync::Arc::new(SyncBatch {
        child: child.into(),
        actor: format!("regfed://node/city/{child}/n1"),
        first_seq: first,
        last_seq: first + keys.len() as u64 - 1,
        raised_by: RaisedBy {
            tier: "province".into(),
            region: "420000".into(),
        },
        received_at: 1_780_000_000_000,
        deadline_days: 5,
        pack: PackId {
            name: "test".into(),
            version: "1".into(),
        },
        records: keys
            .iter()
            .enumerate()
            .map(|(i, k)| SyncRecord {
                seq: first + i as u64,
                dataset: "item".into(),
                key_field: "item_code".into(),
                origin: Origin {
                    region: origin.into(),
                    department: DEPT.into(),
                },
                origin_version: 1,
                reported_at: 1_779_999_000_000,
                hops: Vec::new(),
                record: GovernedRecord::new(verdict(k, Op::Upsert, name, error), "up".into()),
            })
            .collect(),
    }))
}

fn synced(response: CommandResponse) -> super::command::SyncOutcome {
    match response {
        CommandResponse::Sync(o) => o,
        other => panic!("not a sync answer: {other:?}"),
    }
}

#[test]
fn child_batches_commit_once_in_order() {
    let (_dir, store) = open();
    let first = synced(respond(
        &store,
        1,
        sync("420100", "420100", 1, &["A", "B"], "x", None),
    ));
    assert_eq!(
        (first.high_water, first.accepted, first.duplicate),
        (2, 2, false)
    );
    // The same batch again (a reconnect): recognised, nothing applied.
    let again = synced(respond(
        &store,
        2,
        sync("420100", "420100", 1, &["A", "B"], "y", None),
    ));
    assert!(again.duplicate && again.accepted == 0 && again.high_water == 2);
    // A batch after a gap: nothing applied, the high-water mark says where to resume.
    let gap = synced(respond(
        &store,
        3,
        sync("420100", "420100", 5, &["E"], "x", None),
    ));
    assert_eq!((gap.high_water, gap.accepted, gap.duplicate), (2, 0, false));
    // An overlapping resend applies only what is new.
    let overlap = synced(respond(
        &store,
        4,
        sync("420100", "420100", 2, &["B", "C"], "x", None),
    ));
    assert_eq!((overlap.high_water, overlap.accepted), (3, 1));
    // Another child's sequence is its own.
    let other = synced(respond(
        &store,
        5,
        sync("420500", "420500", 1, &["Z"], "x", None),
    ));
    assert_eq!((other.high_water, other.accepted), (1, 1));
    assert_eq!(read::link_high_water(&store, "420100").unwrap(), 3);
}

#[test]
fn upper_tier_rejections_and_conflicts_become_notices_for_the_origin() {
    let (_dir, store) = open();
    // Wuhan's item stands; Yichang's item with the same code is a cross-origin conflict.
    respond(&store, 1, sync("420100", "420100", 1, &["I-1"], "x", None));
    let out = synced(respond(
        &store,
        2,
        sync("420500", "420500", 1, &["I-1"], "x", None),
    ));
    assert_eq!(out.rejected, 1);
    let notices = read::notices_after(&store, "420500", 0, 10).unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(
        notices[0].issues.last().unwrap().rule,
        "item.item_code.cross_origin"
    );
    assert_eq!(notices[0].origin.region, "420500");
    assert!(read::notices_after(&store, "420100", 0, 10)
        .unwrap()
        .is_empty());
    let held = read::key_state(&store, "item", "I-1").unwrap().unwrap();
    assert_eq!(held.origin.region, "420100", "the first stands");

    // A re-check failure here is noticed down; the corrected version resolves it.
    respond(
        &store,
        3,
        sync(
            "420100",
            "420100",
            2,
            &["I-2"],
            "",
            Some("item.item_name.required"),
        ),
    );
    respond(
        &store,
        4,
        sync("420100", "420100", 3, &["I-2"], "fixed", None),
    );
    let down = read::notices_after(&store, "420100", 0, 10).unwrap();
    let kinds: Vec<_> = down.iter().map(|n| (n.seq, n.kind.as_str())).collect();
    assert_eq!(kinds, vec![(1, "rejected"), (2, "resolved")]);
    let q = read::queue(&store, None, true).unwrap();
    let i2 = q.iter().find(|e| e.key == "I-2").unwrap();
    assert_eq!(i2.status, QueueStatus::Rectified);
}

#[test]
fn notices_from_the_parent_apply_once_and_relay_down() {
    use super::command::{IncomingNotice, NoticeBatch};
    use super::model::{Notice, NoticeKind};
    use super::Origin;
    let (_dir, store) = open();
    let notice = |seq: u64, kind: NoticeKind| Notice {
        seq,
        kind,
        dataset: "item".into(),
        key: "I-9".into(),
        version: 1,
        origin: Origin {
            region: "420100".into(),
            department: DEPT.into(),
        },
        raised_by: RaisedBy {
            tier: "national".into(),
            region: "100000".into(),
        },
        issues: Vec::new(),
        fields: Fields::new(),
        at: 1_780_000_000_000 + seq as i64 * 1000,
    };
    let batch = |notices: Vec<Notice>| {
        Command::Notices(std::sync::Arc::new(NoticeBatch {
            notices: notices
                .into_iter()
                .map(|notice| IncomingNotice {
                    notice,
                    relay_to: Some("420100".into()),
                })
                .collect(),
        }))
    };
    let first = respond(&store, 1, batch(vec![notice(1, NoticeKind::Rejected)]));
    assert!(matches!(first, CommandResponse::Notices(1)));
    // Sent again after a reconnect: skipped.
    let again = respond(&store, 2, batch(vec![notice(1, NoticeKind::Rejected)]));
    assert!(matches!(again, CommandResponse::Notices(0)));
    let q = read::queue(&store, Some(DEPT), false).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].raised_by.tier, "national");
    respond(&store, 3, batch(vec![notice(2, NoticeKind::Resolved)]));
    assert!(read::queue(&store, Some(DEPT), false).unwrap().is_empty());
    // Both were passed on to the city, numbered on that link.
    let relayed = read::notices_after(&store, "420100", 0, 10).unwrap();
    assert_eq!(
        relayed.iter().map(|n| n.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(read::notices_applied(&store).unwrap(), 2);
}

#[test]
fn a_group_applies_its_commands_in_order_and_answers_each() {
    let at = 1_780_000_000_000;
    let first = batch(at, vec![verdict("420100JC00001", Op::Upsert, "名称", None)]);
    let second = batch(
        at + 1000,
        vec![
            verdict("420100JC00001", Op::Upsert, "新名称", None),
            verdict(
                "420100JC00002",
                Op::Upsert,
                "",
                Some("item.item_name.required"),
            ),
        ],
    );
    let (_dir, store) = open();
    let CommandResponse::Group(responses) = respond(&store, 1, Command::Group(vec![first, second]))
    else {
        panic!("a group answers a group");
    };
    let outcomes: Vec<Vec<(Outcome, u64)>> = responses
        .iter()
        .map(|r| match r {
            CommandResponse::Submit(o) => o.iter().map(|o| (o.outcome, o.version)).collect(),
            other => panic!("a submit answers outcomes, not {other:?}"),
        })
        .collect();
    // The second command sees the first one's record: it makes version 2.
    assert_eq!(
        outcomes,
        vec![
            vec![(Outcome::Accepted, 1)],
            vec![(Outcome::Accepted, 2), (Outcome::Rejected, 1)],
        ]
    );
    // Each command of the entry has an audit event of its own, in order.
    let audit: Vec<Vec<u8>> = store
        .scan_prefix(super::keys::AUDIT_PREFIX)
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(
        audit,
        vec![super::keys::audit(1, 0), super::keys::audit(1, 1)]
    );
}

#[test]
fn keys_numbered_together_share_a_bucket_and_keep_their_own_states() {
    let (_dir, store) = open();
    // I10..I19 share one bucket, written in one batch; I1 and I1X have buckets of their own.
    let first: Vec<Verdict> = (10..20)
        .map(|n| verdict(&format!("I{n}"), Op::Upsert, &format!("item {n}"), None))
        .collect();
    apply(&store, 1, batch(1_000, first));
    apply(
        &store,
        2,
        batch(
            2_000,
            vec![
                verdict("I1", Op::Upsert, "item 1", None),
                verdict("I1X", Op::Upsert, "item 1X", None),
                // A second version of one slot, and a rejected one of another.
                verdict("I13", Op::Upsert, "item 13 renamed", None),
                verdict("I17", Op::Upsert, "item 17 bad", Some("item.item_name.bad")),
            ],
        ),
    );
    let name = |key: &str| {
        let state = read::key_state(&store, "item", key).unwrap().expect(key);
        let text = |f: &Fields| f["item_name"].as_text().unwrap().to_string();
        (
            state.latest.version,
            text(&state.latest.fields),
            state.current().map(|c| text(&c.fields)),
        )
    };
    for n in (10..20).filter(|n| ![13, 17].contains(n)) {
        let expected = format!("item {n}");
        assert_eq!(
            name(&format!("I{n}")),
            (1, expected.clone(), Some(expected))
        );
    }
    assert_eq!(
        name("I13"),
        (2, "item 13 renamed".into(), Some("item 13 renamed".into()))
    );
    // The rejected version is the latest; the accepted one stays current.
    assert_eq!(
        name("I17"),
        (2, "item 17 bad".into(), Some("item 17".into()))
    );
    assert_eq!(name("I1"), (1, "item 1".into(), Some("item 1".into())));
    assert_eq!(name("I1X"), (1, "item 1X".into(), Some("item 1X".into())));
    assert!(read::key_state(&store, "item", "I2").unwrap().is_none());
    assert!(read::key_state(&store, "item", "I20").unwrap().is_none());
    // Ten keys in one stored value, one each in the others.
    let buckets: Vec<usize> = store
        .scan_prefix(b"key/item/")
        .map(|r| super::bucket::entries(&r.unwrap().1).count())
        .collect();
    assert_eq!(buckets, [1, 10, 1], "buckets I, I1, I1X");
}

#[test]
fn counters_of_a_month_share_a_key_and_stats_read_any_range_of_days() {
    let (_dir, store) = open();
    // Received on 2026-01-31 and 2026-02-01 and 2026-02-02 (China time): two months.
    let day = |d: i64| 1_769_788_800_000 + d * 86_400_000; // 2026-01-31 00:00 +08:00
    apply(
        &store,
        1,
        batch(day(0), vec![verdict("I1", Op::Upsert, "a", None)]),
    );
    apply(
        &store,
        2,
        batch(day(1), vec![verdict("I2", Op::Upsert, "b", None)]),
    );
    apply(
        &store,
        3,
        batch(
            day(2),
            vec![verdict("I3", Op::Upsert, "c", Some("item.item_name.bad"))],
        ),
    );
    let months: Vec<String> = store
        .scan_prefix(super::keys::COUNTERS_PREFIX)
        .map(|r| String::from_utf8(r.unwrap().0).unwrap())
        .collect();
    assert_eq!(
        months,
        [
            format!("ctr/420100/{DEPT}/2026-01"),
            format!("ctr/420100/{DEPT}/2026-02")
        ]
    );
    let region = regfed_governance::Region::parse("420100").unwrap();
    let pack = regfed_governance::RulePack::builtin();
    let regions = regfed_governance::RegionTable::builtin();
    let submitted = |from: &str, to: &str| {
        let rows = read::stats(&store, &pack, regions, &region, from, to).unwrap();
        let dept = rows.iter().find(|r| r.department.as_deref() == Some(DEPT));
        dept.map_or((0, 0), |r| (r.counters.submitted, r.counters.rejected))
    };
    assert_eq!(submitted("2026-01-01", "2026-12-31"), (3, 1));
    assert_eq!(submitted("2026-01-31", "2026-02-01"), (2, 0));
    assert_eq!(submitted("2026-02-02", "2026-02-02"), (1, 1));
    assert_eq!(submitted("2026-02-03", "2026-03-01"), (0, 0));
    assert_eq!(submitted("2026-02-02", "2026-01-31"), (0, 0));
}
