//! The child's side of a federation link: dial the parent, ship the outbox in batches
//! under a bounded window, record the parent's acknowledgements, apply the notices that
//! come down. Reconnects with backoff, resuming from the parent's high-water mark.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use regfed_governance::{Region, RegionTable, Tier};
use regfed_proto::v1 as pb;
use tokio::sync::{mpsc, watch};

use crate::config::ParentLink;
use crate::convert;
use crate::node::Node;
use crate::state::command::{Command, IncomingNotice, NoticeBatch};
use crate::state::model::Hop;
use crate::state::read;

/// What `regfed status` shows about the link.
#[derive(Debug, Default)]
pub struct LinkStatus {
    pub connected: AtomicBool,
    /// The highest change of this node the parent acknowledged.
    pub acked: AtomicU64,
    /// Batches sent and records acknowledged since start.
    pub batches: AtomicU64,
    pub records: AtomicU64,
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Runs the link while this node leads its group, until `stop` turns true. On a leader
/// change the new leader resumes from the parent's high-water mark.
pub async fn run(node: Arc<Node>, parent: ParentLink, mut stop: watch::Receiver<bool>) {
    let mut backoff = BACKOFF_MIN;
    let mut target = Target::new(&parent.nodes);
    loop {
        let mut metrics = node.raft.metrics();
        let leading = metrics.wait_for(|m| m.state == openraft::ServerState::Leader);
        tokio::select! {
            r = leading => if r.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        let addr = target.current().to_string();
        let session = session(&node, &parent, &addr, &mut backoff);
        let result = tokio::select! {
            r = session => r,
            _ = metrics.wait_for(|m| m.state != openraft::ServerState::Leader) => {
                tracing::info!("No longer the group's leader: the link moves with the leadership.");
                Ok(())
            }
            _ = stop.wait_for(|s| *s) => return,
        };
        node.link.connected.store(false, Ordering::Relaxed);
        if let Err(error) = &result {
            target.failed(error);
        }
        node.link.connected.store(false, Ordering::Relaxed);
        if let Err(error) = result {
            tracing::warn!(
                parent = %parent.region,
                %addr,
                error = %crate::cli::error_chain(&error),
                retry_in_ms = backoff.as_millis() as u64,
                "Link to the parent tier lost; reconnecting."
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, read::ReadError> + Send + 'static,
) -> anyhow::Result<T> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .context("store task failed")??)
}

/// Which member of the parent group to dial next: the leader it named, or the next one.
struct Target {
    nodes: Vec<String>,
    next: usize,
    hint: Option<String>,
}

impl Target {
    fn new(nodes: &[String]) -> Self {
        Target {
            nodes: nodes.to_vec(),
            next: 0,
            hint: None,
        }
    }

    fn current(&self) -> &str {
        self.hint
            .as_deref()
            .unwrap_or(&self.nodes[self.next % self.nodes.len()])
    }

    /// After a failure: follow a "not the leader; the leader is X" answer, else rotate.
    fn failed(&mut self, error: &anyhow::Error) {
        let hint = error
            .chain()
            .find_map(|e| e.downcast_ref::<tonic::Status>())
            .and_then(crate::client::leader_hint);
        if hint.is_none() || hint == self.hint {
            self.next += 1;
            self.hint = None;
        } else {
            self.hint = hint;
        }
    }
}

/// One connection: from the hello to the first failure.
async fn session(
    node: &Arc<Node>,
    parent: &ParentLink,
    addr: &str,
    backoff: &mut Duration,
) -> anyhow::Result<()> {
    let config = &node.config;
    let channel = crate::client::connect_channel(&[addr.to_string()], &config.tls).await?;
    let mut client = pb::federation_client::FederationClient::new(channel)
        .max_decoding_message_size(config.limits.max_message_bytes)
        .max_encoding_message_size(config.limits.max_message_bytes);

    let store = node.store.clone();
    let notices_applied = blocking(move || read::notices_applied(&store)).await?;
    let (tx, rx) = mpsc::channel::<pb::LinkUp>(parent.window + 4);
    tx.send(pb::LinkUp {
        msg: Some(pb::link_up::Msg::Hello(pb::LinkHello {
            node: config.id.clone(),
            notices_applied,
        })),
    })
    .await
    .map_err(|_| anyhow!("the link closed before the hello"))?;
    let mut inbound = client
        .link(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .context("the parent refused the link")?
        .into_inner();
    let welcome = match inbound.message().await? {
        Some(pb::LinkDown {
            msg: Some(pb::link_down::Msg::Welcome(w)),
        }) => w,
        _ => bail!("the parent did not answer the hello with a welcome"),
    };
    if welcome.region != parent.region.as_str() {
        bail!(
            "the node at the parent address is {} ({} {}), not of this node's parent region {}",
            welcome.node,
            welcome.tier,
            welcome.region,
            parent.region
        );
    }
    let store = node.store.clone();
    let committed = blocking(move || read::last_seq(&store)).await?;
    if welcome.acked_seq > committed {
        bail!(
            "parent {} holds changes up to {} from this region, but only {committed} were \
             committed here: this node's store is not the one the parent knows",
            welcome.node,
            welcome.acked_seq
        );
    }
    tracing::info!(parent = %welcome.node, region = %welcome.region, acked = welcome.acked_seq, committed, "Linked to the parent tier.");
    node.link.connected.store(true, Ordering::Relaxed);
    node.link.acked.store(welcome.acked_seq, Ordering::Relaxed);
    *backoff = BACKOFF_MIN;

    // Acknowledgements are replicated in the background, the latest one at a time.
    let (acked_tx, acked_rx) = watch::channel(welcome.acked_seq);
    let _persist = AbortOnDrop(tokio::spawn(persist_acks(node.clone(), acked_rx)));
    // Notices are applied in batches by their own task, which acknowledges them.
    let (notice_tx, notice_rx) = mpsc::unbounded_channel::<pb::Notice>();
    let _notices = AbortOnDrop(tokio::spawn(apply_notices(
        node.clone(),
        notice_rx,
        tx.clone(),
    )));

    let here = Hop {
        tier: config.tier.as_str().to_string(),
        region: config.region.to_string(),
        received_at: 0,
    };
    let mut changes = node.raft.metrics();
    let mut sent = welcome.acked_seq;
    let mut window = regfed_sync::Window::new(parent.window);
    loop {
        while window.is_open() {
            let store = node.store.clone();
            let limit = parent.batch_records;
            let here = here.clone();
            let records = blocking(move || {
                read::outbox_batch(&store, sent, limit, |change, record| {
                    convert::link::up_record(change, record, &here)
                })
            })
            .await?;
            let (Some(first_seq), Some(last_seq)) = (
                records.first().map(|r| r.seq),
                records.last().map(|r| r.seq),
            ) else {
                break;
            };
            tx.send(pb::LinkUp {
                msg: Some(pb::link_up::Msg::Batch(pb::UpBatch {
                    first_seq,
                    last_seq,
                    records,
                })),
            })
            .await
            .map_err(|_| anyhow!("the link closed while sending"))?;
            sent = last_seq;
            window.sent(last_seq);
            node.link.batches.fetch_add(1, Ordering::Relaxed);
        }
        let window_open = window.is_open();
        tokio::select! {
            message = inbound.message() => {
                let message = message
                    .map_err(|s| anyhow!(crate::client::status_message(&s)))?
                    .ok_or_else(|| anyhow!("the parent closed the link"))?;
                match message.msg {
                    Some(pb::link_down::Msg::Ack(ack)) => {
                        window.ack(ack.last_seq, ack.duplicate)?;
                        let records = u64::from(ack.accepted + ack.rejected + ack.unchanged);
                        node.link.records.fetch_add(records, Ordering::Relaxed);
                        node.link.acked.fetch_max(ack.last_seq, Ordering::Relaxed);
                        acked_tx.send_if_modified(|v| {
                            let newer = ack.last_seq > *v;
                            *v = (*v).max(ack.last_seq);
                            newer
                        });
                    }
                    Some(pb::link_down::Msg::Notice(notice)) => {
                        notice_tx.send(notice).map_err(|_| anyhow!("the notice task stopped"))?;
                    }
                    Some(pb::link_down::Msg::Welcome(_)) | None => {
                        bail!("the parent sent an unexpected message on an open link");
                    }
                }
            }
            changed = changes.changed(), if window_open => {
                changed.map_err(|_| anyhow!("Raft stopped"))?;
            }
        }
    }
}

/// Replicates the parent's latest acknowledgement, coalescing those that arrive meanwhile.
async fn persist_acks(node: Arc<Node>, mut acked: watch::Receiver<u64>) {
    while acked.changed().await.is_ok() {
        let seq = *acked.borrow_and_update();
        if let Err(error) = node.proposer.write(Command::ParentAcked(seq)).await {
            tracing::warn!(%error, seq, "Cannot record the parent's acknowledgement.");
        }
    }
}

/// Applies notices from the parent in batches (whatever has arrived), then acknowledges
/// them on the link.
async fn apply_notices(
    node: Arc<Node>,
    mut notices: mpsc::UnboundedReceiver<pb::Notice>,
    tx: mpsc::Sender<pb::LinkUp>,
) {
    let config = &node.config;
    let regions = RegionTable::builtin();
    while let Some(first) = notices.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = notices.try_recv() {
            batch.push(more);
        }
        let mut incoming = Vec::with_capacity(batch.len());
        let mut up_to = 0;
        for n in batch {
            up_to = up_to.max(n.seq);
            let seq = n.seq;
            let Some(notice) = convert::link::notice_from_pb(n) else {
                tracing::warn!(seq, "Ignoring a notice of an unknown kind.");
                continue;
            };
            let relay_to = match config.tier {
                Tier::City => None,
                _ => Region::parse(&notice.origin.region)
                    .ok()
                    .and_then(|o| child_on_path(regions, &config.region, &o))
                    .map(|c| c.to_string()),
            };
            incoming.push(IncomingNotice { notice, relay_to });
        }
        let count = incoming.len();
        match node
            .proposer
            .write(Command::Notices(Arc::new(NoticeBatch {
                notices: incoming,
            })))
            .await
        {
            Ok(_) => {
                tracing::info!(count, up_to, "Notices from the parent tier applied.");
                let ack = pb::LinkUp {
                    msg: Some(pb::link_up::Msg::NoticeAck(pb::NoticeAck { up_to })),
                };
                if tx.send(ack).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                // Not acknowledged: the parent sends them again on the next link.
                tracing::warn!(%error, "Cannot apply notices from the parent tier.");
                return;
            }
        }
    }
}

/// The direct child of `here` whose subtree holds `origin`.
pub fn child_on_path(regions: &RegionTable, here: &Region, origin: &Region) -> Option<Region> {
    let mut current = *origin;
    loop {
        let parent = regions.parent(&current)?;
        if parent == *here {
            return Some(current);
        }
        current = parent;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
