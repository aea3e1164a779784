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
