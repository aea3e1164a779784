//! The listener side of the gRPC server: a bounded number of live connections, so that a
//! flood of (possibly junk) connections cannot exhaust the node. The TLS handshake
//! timeout is set on the server itself.

/// HTTP/2 flow-control windows of every connection, both ways. A batch of 1,000 records
/// or a Raft entry is about half a megabyte: with HTTP/2's default window of 64 KiB it
/// would cross in many round trips of window updates, each waiting for a busy core.
pub const STREAM_WINDOW_BYTES: u32 = 8 << 20;
pub const CONNECTION_WINDOW_BYTES: u32 = 32 << 20;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// A TCP connection holding one of the listener's connection permits until it closes.
pub struct LimitedStream {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl Connected for LimitedStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Accepted connections, at most `max` alive at once: the next accept waits for a permit.
pub fn limited_incoming(
    listener: TcpListener,
    max: usize,
) -> impl Stream<Item = io::Result<LimitedStream>> {
    let permits = Arc::new(Semaphore::new(max));
    futures::stream::unfold((listener, permits), |(listener, permits)| async move {
        let permit = match permits.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return None,
        };
        // An accept error (out of descriptors, a connection reset before accept) must not
        // end the server: log it, breathe, and accept again.
        let item = loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    break Ok(LimitedStream {
                        inner: stream,
                        _permit: permit,
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "Accepting a connection failed.");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        };
        Some((item, (listener, permits)))
    })
}
