//! The parent's side of a federation link: a child's batches are re-checked with this
//! node's own rule pack, committed once each (with the child's new high-water mark, in one
//! command) and acknowledged; notices for the child's subtree go down the same stream.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use std::collections::HashMap;

use regfed_governance::{
    govern, Context, FieldName, Fields, Lookup, Op, RawRecord, Region, RegionTable, Tier,
};
use regfed_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status, Streaming};

use super::auth::authorize_child;
use super::internal;
use crate::convert;
use crate::metrics::Metrics;
use crate::node::{now_millis, Node};
use crate::state::command::{Command, CommandResponse, GovernedRecord, SyncBatch, SyncRecord};
use crate::state::model::RaisedBy;
use crate::state::read::{self, StoreLookup};
use crate::state::{china_day, Millis, Origin};

/// Notices sent in one read of the store.
const NOTICE_PAGE: usize = 500;

#[derive(Clone)]
pub struct FederationService {
    node: Arc<Node>,
}

impl FederationService {
    pub fn new(node: Arc<Node>) -> Self {
        FederationService { node }
    }
}

type Down = Result<pb::LinkDown, Status>;

fn down(msg: pb::link_down::Msg) -> Down {
    Ok(pb::LinkDown { msg: Some(msg) })
}

#[tonic::async_trait]
impl pb::federation_server::Federation for FederationService {
    type LinkStream = Pin<Box<dyn Stream<Item = Down> + Send>>;

    #[tracing::instrument(skip_all, fields(node = %self.node.config.id))]
    async fn link(
        &self,
        request: Request<Streaming<pb::LinkUp>>,
    ) -> Result<Response<Self::LinkStream>, Status> {
        let node = self.node.clone();
        let (identity, child) = authorize_child(&node.config, &request).inspect_err(|_| {
            Metrics::add(&node.metrics.rpc_denied_total, 1);
        })?;
        // Only the group's leader takes links; a follower names it.
        let metrics = node.raft.metrics().borrow().clone();
        if metrics.state != openraft::ServerState::Leader {
            let leader = metrics
                .current_leader
                .and_then(|id| {
                    metrics
                        .membership_config
                        .membership()
                        .get_node(&id)
                        .cloned()
                })
                .map(|n| n.addr);
            let mut status = Status::unavailable(format!(
                "node {} is not the leader of its group; the leader is {}",
                node.config.id,
                leader.as_deref().unwrap_or("not known yet")
            ));
            if let Some(addr) = leader.and_then(|a| a.parse().ok()) {
                status.metadata_mut().insert("regfed-leader", addr);
            }
            return Err(status);
        }
        let mut inbound = request.into_inner();
        let hello = match inbound.message().await? {
            Some(pb::LinkUp {
                msg: Some(pb::link_up::Msg::Hello(h)),
            }) => h,
            _ => {
                return Err(Status::invalid_argument(
                    "a federation link starts with a hello message",
                ))
            }
        };
        let child_name = child.to_string();
        let store = node.store.clone();
        let high_water = {
            let (store, child) = (store.clone(), child_name.clone());
            tokio::task::spawn_blocking(move || read::link_high_water(&store, &child))
                .await
                .map_err(internal)?
                .map_err(internal)?
        };
        tracing::info!(child = %child, peer = %identity.to_uri(), high_water, notices_applied = hello.notices_applied, "Child linked.");
        let (tx, rx) = mpsc::channel::<Down>(32);
        let _ = tx
            .send(down(pb::link_down::Msg::Welcome(pb::LinkWelcome {
                node: node.config.id.clone(),
                tier: node.config.tier.as_str().to_string(),
                region: node.config.region.to_string(),
                acked_seq: high_water,
            })))
            .await;

        // Notices down, from what the child says it applied.
        let (acked_tx, acked_rx) = tokio::sync::watch::channel(hello.notices_applied);
        tokio::spawn(send_notices(
            node.clone(),
            child_name.clone(),
            hello.notices_applied,
            acked_rx,
            tx.clone(),
        ));
        // Batches up, in order, in three stages: each batch is checked and its governance
        // started as soon as it arrives, even while the one before it is still governed
        // (unless that one holds records a rule may refer to: then once it is); governed
        // batches are proposed in the order they came; each is acknowledged once applied.
        let actor = identity.to_uri();
        let (commit_tx, mut commit_rx) = mpsc::channel::<InFlight>(8);
        let (governed_tx, mut governed_rx) = mpsc::channel::<Governing>(GOVERNING_AHEAD);
        let in_flight = Overlay::default();
        {
            let (tx, node, in_flight) = (tx.clone(), node.clone(), in_flight.clone());
            tokio::spawn(async move {
                while let Some(f) = commit_rx.recv().await {
                    let answer = acknowledge(&node, f.first_seq, f.last_seq, f.written).await;
                    in_flight.done(f.last_seq);
                    let failed = answer.is_err();
                    if let Err(status) = &answer {
                        tracing::warn!(child = %child, error = %status.message(), "Child batch refused.");
                    }
                    let sent = tx.send(answer.map(|a| pb::LinkDown {
                        msg: Some(pb::link_down::Msg::Ack(a)),
                    }));
                    if sent.await.is_err() || failed {
                        break;
                    }
                }
            });
        }
        {
            let (tx, node, in_flight) = (tx.clone(), node.clone(), in_flight.clone());
            tokio::spawn(async move {
                while let Some(g) = governed_rx.recv().await {
                    let (records, accepted) = match g.task.await {
                        Ok(governed) => governed,
                        Err(e) => {
                            let status = Status::internal(format!("governance task failed: {e}"));
                            refuse(&tx, child, status).await;
                            break;
                        }
                    };
                    let (first_seq, last_seq) = (g.batch.first_seq, g.batch.last_seq);
                    in_flight.add(last_seq, accepted);
                    // Wakes the next batch, if it waits to see these records.
                    drop(g.overlaid);
                    let command = g.batch.command(&node, child, records);
                    let written = node.proposer.propose(Command::Sync(Arc::new(command)));
                    let f = InFlight {
                        first_seq,
                        last_seq,
                        written,
                    };
                    if commit_tx.send(f).await.is_err() {
                        break;
                    }
                }
            });
        }
        tokio::spawn(async move {
            // The batch before, while governed, when later ones may refer to its records.
            let mut referred: Option<oneshot::Receiver<()>> = None;
            loop {
                let message = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(status) => {
                        tracing::info!(child = %child, error = %crate::client::status_message(&status), "Child link ended.");
                        break;
                    }
                };
                match message.msg {
                    Some(pb::link_up::Msg::Batch(batch)) => {
                        let checked = match check_batch(&node, child, &actor, batch) {
                            Ok(checked) => checked,
                            Err(status) => {
                                refuse(&tx, child, status).await;
                                break;
                            }
                        };
                        if let Some(governed) = referred.take() {
                            let _ = governed.await;
                        }
                        let (overlaid, overlaid_rx) = oneshot::channel();
                        if checked.referred {
                            referred = Some(overlaid_rx);
                        }
                        let (batch, task) = govern_batch(&node, checked, in_flight.snapshot());
                        let g = Governing {
                            batch,
                            task,
                            overlaid,
                        };
                        if governed_tx.send(g).await.is_err() {
                            break;
                        }
                    }
                    Some(pb::link_up::Msg::NoticeAck(ack)) => {
                        acked_tx.send_if_modified(|v| {
                            let newer = ack.up_to > *v;
                            *v = (*v).max(ack.up_to);
                            newer
                        });
                    }
                    Some(pb::link_up::Msg::Hello(_)) | None => {
                        let _ = tx
                            .send(Err(Status::invalid_argument(
                                "unexpected message on an open link (a second hello, or empty)",
                            )))
                            .await;
                        break;
                    }
                }
            }
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Refuses a child's batch: logged, and sent down the link, which then closes.
async fn refuse(tx: &mpsc::Sender<Down>, child: Region, status: Status) {
    tracing::warn!(child = %child, error = %status.message(), "Child batch refused.");
    let _ = tx.send(Err(status)).await;
}

/// Sends the child's notices in order, waking when this node applies something new, until
/// the link closes.
async fn send_notices(
    node: Arc<Node>,
    child: String,
    mut sent: u64,
    acked: tokio::sync::watch::Receiver<u64>,
    tx: mpsc::Sender<Down>,
) {
    let mut applied = node.raft.metrics();
    loop {
        // A reconnect starts again from what the child applied; within a stream the
        // notices go out once each.
        sent = sent.max(*acked.borrow());
        let page = {
            let (store, child) = (node.store.clone(), child.clone());
            tokio::task::spawn_blocking(move || {
                read::notices_after(&store, &child, sent, NOTICE_PAGE)
            })
            .await
        };
        let page = match page {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                let _ = tx.send(Err(internal(e))).await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(internal(e))).await;
                return;
            }
        };
        if page.is_empty() {
            tokio::select! {
                changed = applied.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
            }
            continue;
        }
        for notice in page {
            sent = notice.seq;
            let msg = pb::link_down::Msg::Notice(convert::link::notice_to_pb(&notice));
            if tx.send(down(msg)).await.is_err() {
                return;
            }
        }
    }
}

/// A child's record ready for governance: its operation and its data set's key field.
type Prepared = (pb::UpRecord, Op, String);

/// Re-checks `records` in order, each seeing those accepted before it in `records` and in
/// the batches still being committed (`in_flight`, newest first); answers the governed
/// records and what they accepted.
fn govern_records(
    node: &Node,
    received_at: Millis,
    in_flight: &[Arc<Accepted>],
    records: Vec<Prepared>,
) -> (Vec<SyncRecord>, Accepted) {
    let config = &node.config;
    let store_lookup = StoreLookup::new(&node.store, &config.departments);
    let mut lookup = BatchLookup {
        inner: &store_lookup,
        earlier: HashMap::new(),
        in_flight: in_flight.to_vec(),
    };
    let today = china_day(received_at);
    let records = records
        .into_iter()
        .map(|(r, op, key_field)| {
            let mut fields = r.fields;
            if op == Op::Delete && !fields.contains_key(key_field.as_str()) {
                fields.insert(FieldName::new(&key_field), r.key.clone().into());
            }
            let ctx = Context {
                pack: &config.pack,
                regions: RegionTable::builtin(),
                node_region: &config.region,
                today,
                submitter: Some(&r.origin_department),
                lookup: &lookup,
            };
            let verdict = govern(&ctx, &r.dataset, &RawRecord::new(op, fields));
            // Later records of the batch may reference this one, if any rule refers to its
            // data set (no rule refers to an action: copying each one's fields, for no
            // reader, was a twentieth of a province's drain).
            if config.pack.is_referenced(&r.dataset) {
                let live = (verdict.accepted() && op == Op::Upsert).then(|| verdict.fields.clone());
                lookup
                    .earlier
                    .entry(r.dataset.clone())
                    .or_default()
                    .insert(verdict.key.clone(), live);
            }
            let source = format!("change {} of {}", r.seq, r.origin_region);
            SyncRecord {
                seq: r.seq,
                dataset: r.dataset,
                key_field,
                origin: Origin {
                    region: r.origin_region,
                    department: r.origin_department,
                },
                origin_version: r.version,
                reported_at: r.reported_at_ms,
                hops: r.hops.into_iter().map(convert::link::hop_from_pb).collect(),
                record: GovernedRecord::new(verdict, source),
            }
        })
        .collect::<Vec<_>>();
    (records, lookup.earlier)
}

/// What governance sees while re-checking a batch: the store, overlaid with the records
/// accepted earlier in the same batch (a child's items come before the actions that name
/// them, often in one batch).
struct BatchLookup<'a, 'b> {
    inner: &'a StoreLookup<'b>,
    /// Accepted earlier in this batch.
    earlier: Accepted,
    /// Accepted by the batches still being committed, newest first.
    in_flight: Vec<Arc<Accepted>>,
}

impl BatchLookup<'_, '_> {
    fn overlaid(&self, dataset: &str, key: &str) -> Option<&Option<Fields>> {
        fn find<'m>(m: &'m Accepted, dataset: &str, key: &str) -> Option<&'m Option<Fields>> {
            m.get(dataset).and_then(|keys| keys.get(key))
        }
        find(&self.earlier, dataset, key)
            .or_else(|| self.in_flight.iter().find_map(|m| find(m, dataset, key)))
    }
}

impl Lookup for BatchLookup<'_, '_> {
    fn department(&self, code: &str) -> Option<String> {
        self.inner.department(code)
    }
    fn is_department(&self, code: &str) -> bool {
        self.inner.is_department(code)
    }
    fn accepted(&self, dataset: &str, key: &str) -> Option<Fields> {
        match self.overlaid(dataset, key) {
            Some(fields) => fields.clone(),
            None => self.inner.accepted(dataset, key),
        }
    }
    fn visit_accepted(&self, dataset: &str, key: &str, visit: &mut dyn FnMut(&Fields)) -> bool {
        match self.overlaid(dataset, key) {
            Some(Some(fields)) => {
                visit(fields);
                true
            }
            Some(None) => false,
            None => self.inner.visit_accepted(dataset, key, visit),
        }
    }
}

/// A proposed batch waiting to be applied.
struct InFlight {
    first_seq: u64,
    last_seq: u64,
    written: Responder,
}

type Responder = crate::raft::proposer::Answer;

/// Records accepted by batches proposed and not yet applied, by their last sequence number:
/// what governance of the next batch must see as accepted.
#[derive(Clone, Default)]
struct Overlay(Arc<std::sync::Mutex<std::collections::BTreeMap<u64, Arc<Accepted>>>>);

/// Accepted fields (or `None` for a delete) of the data sets some rule refers to, by data
/// set, then key: looked up by `&str` without allocating.
type Accepted = HashMap<String, HashMap<String, Option<Fields>>>;

impl Overlay {
    fn add(&self, last_seq: u64, accepted: Accepted) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(last_seq, Arc::new(accepted));
        }
    }
    fn done(&self, last_seq: u64) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&last_seq);
        }
    }
    /// Newest first.
    fn snapshot(&self) -> Vec<Arc<Accepted>> {
        self.0
            .lock()
            .map(|m| m.values().rev().cloned().collect())
            .unwrap_or_default()
    }
}

/// Waits until a proposed batch is applied; answers the ack.
async fn acknowledge(
    node: &Node,
    first_seq: u64,
    last_seq: u64,
    written: Responder,
) -> Result<pb::UpAck, Status> {
    let config = &node.config;
    let written = crate::raft::proposer::wait(written)
        .await
        .map_err(|e| super::submit::raft_status(config, e))?;
    let CommandResponse::Sync(outcome) = written.data else {
        return Err(Status::internal(
            "the state machine answered a batch with nothing",
        ));
    };
    if outcome.high_water < last_seq {
        return Err(Status::failed_precondition(format!(
            "batch {first_seq}..={last_seq} does not follow change {}, the last one committed here; resume after it",
            outcome.high_water
        )));
    }
    let metrics = &node.metrics;
    Metrics::add(&metrics.records_accepted_total, u64::from(outcome.accepted));
    Metrics::add(&metrics.records_rejected_total, u64::from(outcome.rejected));
    Metrics::add(
        &metrics.records_unchanged_total,
        u64::from(outcome.unchanged),
    );
    Ok(pb::UpAck {
        last_seq: outcome.high_water,
        accepted: outcome.accepted,
        rejected: outcome.rejected,
        unchanged: outcome.unchanged,
        duplicate: outcome.duplicate,
    })
}

/// Batches governed ahead of the one being proposed.
const GOVERNING_AHEAD: usize = 2;

/// A batch's governance under way: its records governed and what they accepted.
type GovernTask = tokio::task::JoinHandle<(Vec<SyncRecord>, Accepted)>;

/// A batch whose governance is under way, on its way to be proposed.
struct Governing {
    batch: BatchHeader,
    task: GovernTask,
    /// Dropped once the batch's accepted records are in the overlay.
    overlaid: oneshot::Sender<()>,
}

/// What a batch's command needs besides its governed records.
struct BatchHeader {
    actor: String,
    first_seq: u64,
    last_seq: u64,
    received_at: Millis,
}

impl BatchHeader {
    fn command(self, node: &Node, child: Region, records: Vec<SyncRecord>) -> SyncBatch {
        let config = &node.config;
        SyncBatch {
            child: child.to_string(),
            actor: self.actor,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            raised_by: RaisedBy {
                tier: config.tier.as_str().to_string(),
                region: config.region.to_string(),
            },
            received_at: self.received_at,
            deadline_days: config.pack.timeliness_deadline_days(),
            pack: config.pack.id(),
            records,
        }
    }
}

/// A batch that passed [`check_batch`].
struct Checked {
    actor: String,
    first_seq: u64,
    last_seq: u64,
    records: Vec<Prepared>,
    /// Only upserts of data sets no rule refers to: checked on all cores at once.
    independent: bool,
    /// Holds records of a data set some rule refers to: the next batch is governed only
    /// once these are in the overlay.
    referred: bool,
}

/// Checks a batch of the child's changes before governance: sequence numbers within the
/// batch, origins within the child's region, known data sets and operations.
fn check_batch(
    node: &Node,
    child: Region,
    actor: &str,
    batch: pb::UpBatch,
) -> Result<Checked, Status> {
    let config = &node.config;
    let regions = RegionTable::builtin();
    if batch.last_seq < batch.first_seq
        || batch.records.len() as u64 > batch.last_seq - batch.first_seq + 1
    {
        return Err(Status::invalid_argument(format!(
            "batch {}..={} does not match its {} records",
            batch.first_seq,
            batch.last_seq,
            batch.records.len()
        )));
    }
    let mut prepared = Vec::with_capacity(batch.records.len());
    for r in batch.records {
        if r.seq < batch.first_seq || r.seq > batch.last_seq {
            return Err(Status::invalid_argument(format!(
                "change {} lies outside its batch {}..={}",
                r.seq, batch.first_seq, batch.last_seq
            )));
        }
        let origin = Region::parse(&r.origin_region).ok();
        let within = origin.is_some_and(|o| {
            Tier::of(&o) == Tier::City
                && regions.contains_region(&o)
                && regions.is_within(&o, &child)
        });
        if !within {
            return Err(Status::permission_denied(format!(
                "change {} ({} {}) comes from region {:?}, which is not a city within {child}; \
                 a child may only carry records of its own region",
                r.seq, r.dataset, r.key, r.origin_region
            )));
        }
        let Some(spec) = config.pack.dataset(&r.dataset) else {
            return Err(super::unknown_dataset(&config.pack, &r.dataset));
        };
        let op = Op::parse(&r.op).ok_or_else(|| {
            Status::invalid_argument(format!(
                "change {}: op {:?} is neither upsert nor delete",
                r.seq, r.op
            ))
        })?;
        let key_field = spec.key.clone();
        prepared.push((r, op, key_field));
    }
    let referred = prepared
        .iter()
        .any(|(r, _, _)| config.pack.is_referenced(&r.dataset));
    let independent = !referred && prepared.iter().all(|(_, op, _)| *op == Op::Upsert);
    Ok(Checked {
        actor: actor.to_string(),
        first_seq: batch.first_seq,
        last_seq: batch.last_seq,
        records: prepared,
        independent,
        referred,
    })
}

/// Starts re-checking a batch with this node's rule pack, seeing the records accepted by
/// the batches still being committed (`before`, newest first).
fn govern_batch(
    node: &Arc<Node>,
    checked: Checked,
    before: Vec<Arc<Accepted>>,
) -> (BatchHeader, GovernTask) {
    let Checked {
        actor,
        first_seq,
        last_seq,
        records,
        independent,
        ..
    } = checked;
    let received_at = now_millis();
    let header = BatchHeader {
        actor,
        first_seq,
        last_seq,
        received_at,
    };
    let governing = node.clone();
    let task = tokio::task::spawn_blocking(move || {
        let govern_part = |part| govern_records(&governing, received_at, &before, part);
        let mut parts = if independent {
            crate::par::in_parts(records, govern_part)
        } else {
            vec![govern_part(records)]
        }
        .into_iter();
        let (mut records, mut accepted) = parts.next().unwrap_or_default();
        for (more, seen) in parts {
            records.extend(more);
            for (dataset, keys) in seen {
                accepted.entry(dataset).or_default().extend(keys);
            }
        }
        (records, accepted)
    });
    (header, task)
}
