//! A running node: opens the store, starts Raft, serves the client API over mutual TLS
//! and `/metrics` over HTTP, and shuts all of it down in order.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use regfed_proto::v1 as pb;
use tokio::net::TcpListener;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::raft::log_store::LogStore;
use crate::raft::network::Network;
use crate::raft::state_machine::StateMachine;
use crate::raft::Raft;
use crate::service::RegfedService;
use crate::state::read;
use crate::store::Store;

/// Milliseconds since the Unix epoch: the node's one clock read.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Everything a request handler needs.
pub struct Node {
    pub config: Config,
    pub store: Store,
    pub raft: Raft,
    pub metrics: Metrics,
    /// The upward link's state (idle on a node without a parent).
    pub link: crate::link::LinkStatus,
    /// Raft entries encoded once, shared by the log and the Raft transport.
    pub entry_bytes: crate::raft::entry_bytes::EntryBytes,
    /// Every command goes to Raft through it, grouped with those proposed alongside.
    pub proposer: crate::raft::proposer::Proposer,
}

impl Node {
    pub async fn status(&self, caller: Option<String>) -> anyhow::Result<pb::StatusResponse> {
        let metrics = self.raft.metrics().borrow().clone();
        let role = match metrics.state {
            openraft::ServerState::Leader => "leader",
            openraft::ServerState::Follower => "follower",
            openraft::ServerState::Learner => "learner",
            openraft::ServerState::Candidate => "candidate",
            openraft::ServerState::Shutdown => "shutdown",
        };
        let membership = metrics.membership_config.membership();
        let members: Vec<String> = membership
            .nodes()
            .map(|(id, node)| format!("{id}@{}", node.addr))
            .collect();
        let leader = metrics
            .current_leader
            .and_then(|id| membership.get_node(&id).map(|n| format!("{id}@{}", n.addr)))
            .unwrap_or_default();
        let store = self.store.clone();
        let pack = self.config.pack.clone();
        let (records, queue_open, pending) = tokio::task::spawn_blocking(move || {
            let counts = read::live_counts(&store, &pack)?;
            let open = read::queue(&store, None, false)?.len() as u64;
            let pending = read::outbox_pending(&store)?;
            Ok::<_, read::ReadError>((counts, open, pending))
        })
        .await
        .context("status task failed")??;
        Ok(pb::StatusResponse {
            node: self.config.id.clone(),
            tier: self.config.tier.as_str().to_string(),
            region: self.config.region.to_string(),
            raft_role: role.to_string(),
            raft_leader: leader,
            raft_members: members,
            // Only a node with a parent tier has anything to ship.
            outbox_pending: if self.config.parent.is_some() {
                pending
            } else {
                0
            },
            parent_connected: self
                .link
                .connected
                .load(std::sync::atomic::Ordering::Relaxed),
            parent_acked: self.link.acked.load(std::sync::atomic::Ordering::Relaxed),
            records: records.into_iter().collect(),
            queue_open,
            log_index: metrics.last_applied.map(|l| l.index).unwrap_or(0),
            pack: format!("{}@{}", self.config.pack.name(), self.config.pack.version()),
            caller: caller.unwrap_or_default(),
        })
    }
}

fn raft_config(snapshot_every: u64) -> anyhow::Result<Arc<openraft::Config>> {
    let config = openraft::Config {
        cluster_name: "regfed".into(),
        // openraft bounds every AppendEntries by the heartbeat interval, and an entry
        // (a group of batches, see `raft::proposer`) can hold a few megabytes: up to four
        // entries and at most about 8,000 records per request (`log_store`) within 300 ms
        // leaves room on a 2-core machine running a dozen nodes. A follower that knows a
        // leader starts an election only after the leader's lease (openraft 0.9 takes
        // `election_timeout_max`) plus a random election timeout: 1.7 to 2.0 s after the
        // last heartbeat here, about six heartbeats, and failover takes about 2 s. (With
        // 0.9-1.5 s timeouts it took 2.4 to 3.0 s, and a kill measured up to 3.1 s.)
        heartbeat_interval: 300,
        election_timeout_min: 700,
        election_timeout_max: 1000,
        max_payload_entries: 4,
        install_snapshot_timeout: 10_000,
        // A snapshot every `snapshot_every` entries (batches) keeps the log bounded; a
        // member that falls further behind catches up from a snapshot.
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(snapshot_every),
        max_in_snapshot_log_to_keep: (snapshot_every / 5).min(1000),
        ..Default::default()
    };
    Ok(Arc::new(
        config.validate().context("invalid Raft configuration")?,
    ))
}

/// Starts the node's store and Raft group (a group of one in this release), initializing
/// the group on first start only.
pub async fn open(config: Config) -> anyhow::Result<Arc<Node>> {
    let store = Store::open(&config.data_dir, &config.store)
        .with_context(|| format!("node {} cannot open its store", config.id))?;
    let group = config.raft_members.len() > 1 || config.raft_join;
    let entry_bytes = crate::raft::entry_bytes::EntryBytes::default();
    let speculation = Arc::new(crate::raft::speculation::Speculation::default());
    let raft = Raft::new(
        config.raft_id,
        raft_config(config.raft_snapshot_every)?,
        Network::new(
            group.then(|| config.tls.clone()),
            config.raft_source_ip,
            entry_bytes.clone(),
        ),
        LogStore::new(store.clone(), entry_bytes.clone()),
        StateMachine::new(store.clone(), config.raft_id, Arc::clone(&speculation))
            .context("cannot start the state machine's thread")?,
    )
    .await
    .context("cannot start Raft")?;
    if config.raft_join {
        tracing::info!(node = %config.id, "Joining a group: waiting to be added (regfed cluster add-learner).");
    } else if !raft
        .is_initialized()
        .await
        .context("cannot read Raft state")?
    {
        // Every member initializes with the same membership, from its configuration;
        // a member that already holds a log never does again.
        let members: BTreeMap<u64, openraft::BasicNode> = config
            .raft_members
            .iter()
            .map(|(id, addr)| (*id, openraft::BasicNode { addr: addr.clone() }))
            .collect();
        raft.initialize(members)
            .await
            .context("cannot initialize the Raft group")?;
        tracing::info!(node = %config.id, "Raft group initialized.");
    }
    // A group of one: wait until it leads itself, so the first write does not race the
    // election. The members of a larger group must serve first (their peers elect through
    // this node's port), and a joining node has nothing to wait for until it is added.
    if config.raft_join || config.raft_members.len() > 1 {
        // Clients meanwhile hear "not the leader" until the election ends.
    } else if let Err(error) = raft
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader.is_some(), "the group has a leader")
        .await
    {
        tracing::warn!(%error, "No leader yet; writes will wait for the election.");
    }
    let proposer = crate::raft::proposer::Proposer::start(
        raft.clone(),
        store.clone(),
        speculation,
        config.raft_id,
    );
    Ok(Arc::new(Node {
        config,
        store,
        proposer,
        raft,
        metrics: Metrics::default(),
        link: Default::default(),
        entry_bytes,
    }))
}

/// Runs the node until `shutdown` resolves, then stops accepting, lets in-flight calls
/// finish (up to a deadline), stops Raft and syncs the store.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let node = open(config).await?;
    let config = &node.config;
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(
            &config.tls.cert_pem,
            &config.tls.key_pem,
        ))
        .client_ca_root(Certificate::from_pem(&config.tls.ca_pem))
        .timeout(config.handshake_timeout);
    let limits = &config.limits;
    let service = pb::regfed_server::RegfedServer::new(RegfedService::new(node.clone()))
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    let raft_peer = pb::raft_peer_server::RaftPeerServer::new(
        crate::service::raft::RaftService::new(node.clone()),
    )
    .max_decoding_message_size(crate::raft::network::MAX_RAFT_MESSAGE)
    .max_encoding_message_size(crate::raft::network::MAX_RAFT_MESSAGE);
    let federation = pb::federation_server::FederationServer::new(
        crate::service::link::FederationService::new(node.clone()),
    )
    .max_decoding_message_size(limits.max_message_bytes)
    .max_encoding_message_size(limits.max_message_bytes);

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let incoming = crate::net::limited_incoming(listener, MAX_CONNECTIONS);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_task = None;
    if let Some(addr) = config.http {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for /metrics"))?;
        let metrics_node = node.clone();
        let labels = format!(
            "node=\"{}\",tier=\"{}\",region=\"{}\"",
            config.id,
            config.tier.as_str(),
            config.region
        );
        let render: Arc<dyn Fn() -> String + Send + Sync> = Arc::new(move || {
            let m = metrics_node.raft.metrics().borrow().clone();
            let applied = m.last_applied.map(|l| l.index).unwrap_or(0) as f64;
            let size = metrics_node.store.size_on_disk() as f64;
            metrics_node.metrics.render(
                &labels,
                &[
                    (
                        "regfed_raft_last_applied_index",
                        "Last Raft log index applied.",
                        applied,
                    ),
                    (
                        "regfed_store_size_bytes",
                        "Bytes the store occupies on disk.",
                        size,
                    ),
                ],
            )
        });
        let mut rx = stop_rx.clone();
        http_task = Some(tokio::spawn(crate::metrics::serve_http(
            listener,
            render,
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        )));
        tracing::info!(%addr, "Serving /metrics.");
    }

    tracing::info!(node = %config.id, tier = %config.tier, region = %config.region, listen = %config.listen, "Node serving.");
    let mut rx = stop_rx.clone();
    let server = Server::builder()
        .tls_config(tls)
        .context("invalid TLS configuration")?
        .timeout(Duration::from_secs(limits.request_timeout_secs))
        .concurrency_limit_per_connection(limits.concurrency_per_connection)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .tcp_nodelay(true)
        .initial_stream_window_size(crate::net::STREAM_WINDOW_BYTES)
        .initial_connection_window_size(crate::net::CONNECTION_WINDOW_BYTES)
        .add_service(service)
        .add_service(federation)
        .add_service(raft_peer)
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = rx.wait_for(|s| *s).await;
        });
    let server = tokio::spawn(server);
    let link_task = config.parent.clone().map(|parent| {
        tracing::info!(parent = %parent.region, nodes = ?parent.nodes, "Linking to the parent tier.");
        tokio::spawn(crate::link::run(node.clone(), parent, stop_rx.clone()))
    });

    shutdown.await;
    tracing::info!("Shutting down: no new calls; finishing the ones in flight.");
    let _ = stop_tx.send(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => tracing::warn!(%error, "Server ended with an error."),
        Ok(Err(error)) => tracing::warn!(%error, "Server task failed."),
        Err(_) => tracing::warn!(
            "In-flight calls did not finish within {SHUTDOWN_GRACE:?}; stopping anyway."
        ),
    }
    if let Some(task) = http_task {
        task.abort();
    }
    if let Some(task) = link_task {
        let _ = task.await;
    }
    if let Err(error) = node.raft.shutdown().await {
        tracing::warn!(%error, "Raft did not stop cleanly.");
    }
    let store = node.store.clone();
    tokio::task::spawn_blocking(move || store.sync()).await??;
    tracing::info!("Store synced. Bye.");
    Ok(())
}

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 1024;
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
