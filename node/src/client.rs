//! The client side of the API, used by the CLI commands, the demo and the benchmarks:
//! connect over mutual TLS to one of a group's members.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use regfed_pki::TlsMaterial;
use regfed_proto::v1::regfed_client::RegfedClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

pub type Client = RegfedClient<Channel>;

/// Messages up to this size travel both ways (large batches, large query pages).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Connects to the first of `nodes` that answers, as the identity in `identity_dir`.
pub async fn connect(nodes: &[String], identity_dir: &Path) -> anyhow::Result<Client> {
    let tls = TlsMaterial::load_dir(identity_dir)
        .with_context(|| format!("cannot load the identity in {}", identity_dir.display()))?;
    connect_with(nodes, &tls).await
}

/// Connects to the first of `nodes` that answers and stays there, leader or not: for
/// questions about that member itself (`status`).
pub async fn connect_member(nodes: &[String], identity_dir: &Path) -> anyhow::Result<Client> {
    let tls = TlsMaterial::load_dir(identity_dir)
        .with_context(|| format!("cannot load the identity in {}", identity_dir.display()))?;
    let channel = connect_channel(nodes, &tls).await?;
    Ok(RegfedClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// Connects to the first of `nodes` that answers; when that member is a follower of a
/// group, to its leader instead.
pub async fn connect_with(nodes: &[String], tls: &TlsMaterial) -> anyhow::Result<Client> {
    if nodes.is_empty() {
        return Err(anyhow!("no node address given (use --node HOST:PORT)"));
    }
    let mut failures = Vec::new();
    for node in nodes {
        match channel(node, tls).await {
            Ok(channel) => {
                let mut client = RegfedClient::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES);
                // A member of a group that is not its leader would answer writes and
                // current reads with "not the leader": go to the leader it names.
                if let Some(leader) = follower_of(&mut client).await {
                    if let Ok(channel) = self::channel(&leader, tls).await {
                        return Ok(RegfedClient::new(channel)
                            .max_decoding_message_size(MAX_MESSAGE_BYTES)
                            .max_encoding_message_size(MAX_MESSAGE_BYTES));
                    }
                }
                return Ok(client);
            }
            Err(e) => failures.push(format!("{node}: {}", crate::cli::error_chain(&e))),
        }
    }
    Err(anyhow!(
        "cannot connect to any node: {}",
        failures.join("; ")
    ))
}

/// The leader's address, when the node `client` talks to is a follower of a group that
/// has one.
async fn follower_of(client: &mut Client) -> Option<String> {
    let status = client
        .status(regfed_proto::v1::StatusRequest {})
        .await
        .ok()?
        .into_inner();
    if status.raft_role == "leader" || status.raft_members.len() < 2 {
        return None;
    }
    status
        .raft_leader
        .split_once('@')
        .map(|(_, addr)| addr.to_string())
}

/// A channel to the first of `nodes` that answers.
pub async fn connect_channel(nodes: &[String], tls: &TlsMaterial) -> anyhow::Result<Channel> {
    let mut failures = Vec::new();
    for node in nodes {
        match channel(node, tls).await {
            Ok(channel) => return Ok(channel),
            Err(e) => failures.push(format!("{node}: {}", crate::cli::error_chain(&e))),
        }
    }
    Err(anyhow!(
        "cannot connect to any of {}: {}",
        nodes.join(", "),
        failures.join("; ")
    ))
}

fn endpoint(node: &str, tls: &TlsMaterial, connect_timeout: Duration) -> anyhow::Result<Endpoint> {
    let host = node.rsplit_once(':').map(|(h, _)| h).unwrap_or(node);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&tls.ca_pem))
        .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
        .domain_name(host.to_string());
    Ok(Endpoint::from_shared(format!("https://{node}"))
        .with_context(|| format!("{node:?} is not an address like 127.0.0.1:7301"))?
        .tls_config(config)
        .context("invalid TLS configuration")?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .initial_stream_window_size(crate::net::STREAM_WINDOW_BYTES)
        .initial_connection_window_size(crate::net::CONNECTION_WINDOW_BYTES)
        .http2_keep_alive_interval(Duration::from_secs(30)))
}

async fn channel(node: &str, tls: &TlsMaterial) -> anyhow::Result<Channel> {
    endpoint(node, tls, Duration::from_secs(5))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {node}"))
}

/// A channel that connects on first use and reconnects after failures: for peers that
/// come and go, such as the members of a Raft group.
pub fn lazy_channel(
    node: &str,
    tls: &TlsMaterial,
    connect_timeout: Duration,
    source_ip: Option<std::net::IpAddr>,
) -> anyhow::Result<Channel> {
    Ok(endpoint(node, tls, connect_timeout)?
        .local_address(source_ip)
        .connect_lazy())
}

/// The leader's address a "not the leader" answer names.
pub fn leader_hint(status: &tonic::Status) -> Option<String> {
    status
        .metadata()
        .get("regfed-leader")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A gRPC status as one clear sentence, with the transport's cause chain when there is one.
pub fn status_message(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut message = format!("{} ({:?})", status.message(), status.code());
    let mut source = status.source();
    while let Some(s) = source {
        // hyper's and h2's errors repeat their sources' text in their own: name each once.
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    if message.contains("transport error") {
        message.push_str(
            " (the connection failed during or right after the TLS handshake: if the node is \
             up, it may have refused this client's certificate; check that --identity holds a \
             certificate issued by the federation's CA)",
        );
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose text repeats its source's, as hyper's and h2's do.
    #[derive(Debug)]
    struct Wrapping(std::io::Error);

    impl std::fmt::Display for Wrapping {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error reading a body from connection: {}", self.0)
        }
    }

    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_status_message_names_each_cause_once() {
        let cause =
            std::io::Error::other("peer closed connection without sending TLS close_notify");
        let status = tonic::Status::from_error(Box::new(Wrapping(cause)));
        let message = status_message(&status);
        assert_eq!(message.matches("close_notify").count(), 1, "{message}");
        assert!(message.contains("error reading a body"), "{message}");
    }
}
