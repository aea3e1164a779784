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

pub async fn connect_with(nodes: &[String], tls: &TlsMaterial) -> anyhow::Result<Client> {
    if nodes.is_empty() {
        return Err(anyhow!("no node address given (use --node HOST:PORT)"));
    }
    let mut failures = Vec::new();
    for node in nodes {
        match channel(node, tls).await {
            Ok(channel) => {
                return Ok(RegfedClient::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES));
            }
            Err(e) => failures.push(format!("{node}: {}", crate::cli::error_chain(&e))),
        }
    }
    Err(anyhow!(
        "cannot connect to any node: {}",
        failures.join("; ")
    ))
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

async fn channel(node: &str, tls: &TlsMaterial) -> anyhow::Result<Channel> {
    let host = node.rsplit_once(':').map(|(h, _)| h).unwrap_or(node);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&tls.ca_pem))
        .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
        .domain_name(host.to_string());
    let endpoint = Endpoint::from_shared(format!("https://{node}"))
        .with_context(|| format!("{node:?} is not an address like 127.0.0.1:7301"))?
        .tls_config(config)
        .context("invalid TLS configuration")?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30));
    endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to {node}"))
}

/// A gRPC status as one clear sentence, with the transport's cause chain when there is one.
pub fn status_message(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut message = format!("{} ({:?})", status.message(), status.code());
    let mut source = status.source();
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
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
