//! The node's counters and their Prometheus text rendering, served on `/metrics` by a
//! small HTTP listener when the configuration names an `http` address.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Default)]
pub struct Metrics {
    pub submit_batches_total: AtomicU64,
    pub records_accepted_total: AtomicU64,
    pub records_rejected_total: AtomicU64,
    pub records_unchanged_total: AtomicU64,
    pub submit_refused_total: AtomicU64,
    /// Sum of batch commit durations in microseconds, for the `_seconds` sum.
    pub submit_micros_sum: AtomicU64,
    pub rpc_denied_total: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every counter, plus `extra` gauges.
    pub fn render(&self, labels: &str, extra: &[(&str, &str, f64)]) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        let counters: [(&str, &str, f64); 7] = [
            (
                "regfed_submit_batches_total",
                "Batches committed.",
                get(&self.submit_batches_total),
            ),
            (
                "regfed_records_accepted_total",
                "Records accepted.",
                get(&self.records_accepted_total),
            ),
            (
                "regfed_records_rejected_total",
                "Records rejected into the rectification queue.",
                get(&self.records_rejected_total),
            ),
            (
                "regfed_records_unchanged_total",
                "Records identical to their latest submission.",
                get(&self.records_unchanged_total),
            ),
            (
                "regfed_submit_refused_total",
                "Batches refused before governance (bad request).",
                get(&self.submit_refused_total),
            ),
            (
                "regfed_submit_seconds_total",
                "Time spent governing and committing batches.",
                get(&self.submit_micros_sum) / 1e6,
            ),
            (
                "regfed_rpc_denied_total",
                "Calls refused by authorization.",
                get(&self.rpc_denied_total),
            ),
        ];
        let mut out = String::new();
        let kinds = counters
            .iter()
            .map(|c| ("counter", c))
            .chain(extra.iter().map(|g| ("gauge", g)));
        for (kind, (name, help, value)) in kinds {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{labels}}} {value}"
            );
        }
        out
    }
}

/// Serves `GET /metrics` until `shutdown` resolves. Any other path answers 404. Reads at
/// most 8 KiB of request and gives a slow client 5 seconds.
pub async fn serve_http(
    listener: TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (mut socket, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(error) => {
                    tracing::warn!(%error, "Metrics listener failed to accept.");
                    continue;
                }
            },
        };
        let render = render.clone();
        tokio::spawn(async move {
            // Read the request head (up to 8 KiB, 5 seconds), however it is split.
            let mut buf = Vec::with_capacity(1024);
            let head = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                true
            })
            .await;
            if !matches!(head, Ok(true)) {
                return;
            }
            let n = buf.len();
            let request = String::from_utf8_lossy(&buf[..n]);
            let response = if request.starts_with("GET /metrics ") {
                let body = render();
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}
