//! A TCP fault-injection proxy for putting network faults between two nodes (there is
//! no `tc netem` on the test machines).
//!
//! The proxy listens on 127.0.0.1 with a port the OS picked and forwards every accepted
//! connection to one upstream address, byte for byte: it does not understand TLS or
//! HTTP/2, so it sits transparently between a child node and its parent's mutual-TLS gRPC
//! port. Faults are switched at any time with [`FaultProxy::set_mode`] and apply to open
//! connections from their next read chunk on; [`FaultProxy::cut`] closes every open
//! connection mid-stream. [`FaultProxy::block_source`] silences only the connections that
//! come from one address (a node whose outbound connections leave from its own loopback
//! address), so proxies in front of every member of a group can cut one member off.
//!
//! Bytes a fault discards are gone for good: a connection that lost bytes while in
//! [`Mode::DropDown`] or [`Mode::Blackhole`] carries a corrupted TLS stream if it is put
//! back to [`Mode::Pass`], and TLS will fail it (this is not TCP retransmission after a
//! healed partition). Call [`FaultProxy::cut`] when healing to start from fresh connections.
//!
//! Plain std threads: one accept thread, and two pump threads per connection.

// Parts of the API are there for the federation tests that use it, not for the tests here.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the accept thread polls its non-blocking listener (and so the stop flag).
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// How often a pump holding back an end of stream looks at the mode again.
const HOLD_POLL: Duration = Duration::from_millis(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const CHUNK: usize = 16 * 1024;

/// What the proxy does with connections and bytes. Changes apply immediately, also to
/// connections that are already open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Accept new connections and close them at once (the client sees the connection
    /// established, then closed). Open connections keep forwarding both ways unless cut.
    Refuse,
    /// Forward client→upstream bytes, silently discard upstream→client bytes: the parent
    /// receives and processes what the child sends, the child never sees an answer.
    DropDown,
    /// Discard both directions while keeping connections open: a silent partition. New
    /// connections are accepted and connected upstream, but nothing passes.
    Blackhole,
}

impl Mode {
    fn forwards(self, dir: Dir) -> bool {
        match self {
            Mode::Pass | Mode::Refuse => true,
            Mode::DropDown => dir == Dir::Up,
            Mode::Blackhole => false,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Mode::Pass => 0,
            Mode::Refuse => 1,
            Mode::DropDown => 2,
            Mode::Blackhole => 3,
        }
    }

    fn from_u8(v: u8) -> Mode {
        match v {
            0 => Mode::Pass,
            1 => Mode::Refuse,
            2 => Mode::DropDown,
            _ => Mode::Blackhole,
        }
    }
}

/// Direction of a pump: `Up` is client→upstream, `Down` is upstream→client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

/// One proxied connection: both sockets, shared by its two pumps and the registry.
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    /// The client's address.
    source: IpAddr,
    /// Set by a cut (or an error): pumps stop and do not forward an end of stream.
    closed: AtomicBool,
    /// Pumps still running; the last one to finish removes the entry from the registry.
    pumps_left: AtomicUsize,
}

impl Conn {
    fn close(&self) {
        self.closed.store(true, SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

struct Shared {
    upstream: SocketAddr,
    mode: AtomicU8,
    /// Client addresses whose connections pass nothing, either way.
    blocked: Mutex<HashSet<IpAddr>>,
    stop: AtomicBool,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
    accepted: AtomicUsize,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

impl Shared {
    fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(SeqCst))
    }

    /// True when bytes of `conn` go in direction `dir` now.
    fn forwards(&self, conn: &Conn, dir: Dir) -> bool {
        self.mode().forwards(dir)
            && !self
                .blocked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&conn.source)
    }

    fn conns(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn threads(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `handle` for joining on drop, forgetting threads that already ended.
    fn keep(&self, handle: JoinHandle<()>) {
        let mut threads = self.threads();
        threads.retain(|h| !h.is_finished());
        threads.push(handle);
    }

    /// Closes every registered connection and empties the registry.
    fn close_all(&self) {
        let conns: Vec<Arc<Conn>> = self.conns().drain().map(|(_, c)| c).collect();
        for conn in conns {
            conn.close();
        }
    }

    fn pump_done(&self, id: u64, conn: &Conn) {
        if conn.pumps_left.fetch_sub(1, SeqCst) == 1 {
            self.conns().remove(&id);
        }
    }
}

/// A TCP proxy in front of one upstream address, with switchable faults. Dropping it stops
/// accepting, closes every connection and joins its threads.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 with a port the OS picks, forwarding to `upstream`, in
    /// [`Mode::Pass`].
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        FaultProxy::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), upstream)
    }

    /// Like [`start`](Self::start), listening on `ip` (a loopback address of the node it
    /// stands in front of, so that the node's certificate names it).
    pub fn start_on(ip: IpAddr, upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind((ip, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            mode: AtomicU8::new(Mode::Pass.to_u8()),
            blocked: Mutex::new(HashSet::new()),
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            accepted: AtomicUsize::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
        });
        let s = shared.clone();
        let acceptor = thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept_loop(listener, s))?;
        Ok(FaultProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address to give the client instead of the upstream's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The upstream address connections are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Switches the fault; open connections follow from their next read chunk on.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode.to_u8(), SeqCst);
    }

    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// Silences the connections from `source` (open and new), both ways, as a partition
    /// would; other clients pass as the mode says.
    pub fn block_source(&self, source: IpAddr) {
        let mut blocked = self
            .shared
            .blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        blocked.insert(source);
    }

    /// Lets every source through again (open connections stay corrupted: [`cut`](Self::cut)).
    pub fn unblock_all(&self) {
        let mut blocked = self
            .shared
            .blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        blocked.clear();
    }

    /// Cuts the link: shuts down both sockets of every open connection (the client reads
    /// an end of stream or an error, and so does the upstream). New connections are still
    /// accepted according to the mode.
    pub fn cut(&self) {
        self.shared.close_all();
    }

    /// Connections open now (accepted, connected upstream and not yet closed).
    pub fn connections(&self) -> usize {
        self.shared.conns().len()
    }

    /// Connections accepted so far, including those closed at once by [`Mode::Refuse`].
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(SeqCst)
    }

    /// Bytes forwarded client→upstream so far (discarded bytes not counted).
    pub fn bytes_up(&self) -> u64 {
        self.shared.bytes_up.load(SeqCst)
    }

    /// Bytes forwarded upstream→client so far (discarded bytes not counted).
    pub fn bytes_down(&self) -> u64 {
        self.shared.bytes_down.load(SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join(); // drops the listener
        }
        self.shared.close_all();
        // A connection thread may still add its second pump while we join; loop until none.
        loop {
            let threads = std::mem::take(&mut *self.shared.threads());
            if threads.is_empty() {
                break;
            }
            for t in threads {
                let _ = t.join();
            }
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(SeqCst) {
        match listener.accept() {
            Ok((client, peer)) => {
                shared.accepted.fetch_add(1, SeqCst);
                if shared.mode() == Mode::Refuse {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let s = shared.clone();
                // If the spawn fails the closure, and with it the client socket, is dropped.
                if let Ok(h) = thread::Builder::new()
                    .name("fault-proxy-up".into())
                    .spawn(move || serve(client, peer.ip(), s))
                {
                    shared.keep(h);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // E.g. out of descriptors, or a connection reset before it was accepted.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
}

/// Connects upstream, registers the connection, starts the down pump and runs the up pump.
fn serve(client: TcpStream, source: IpAddr, shared: Arc<Shared>) {
    let upstream = match TcpStream::connect_timeout(&shared.upstream, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(_) => {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    };
    // Accepted sockets do not inherit O_NONBLOCK on Linux; make sure anyway.
    let _ = client.set_nonblocking(false);
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let conn = Arc::new(Conn {
        client,
        upstream,
        source,
        closed: AtomicBool::new(false),
        pumps_left: AtomicUsize::new(2),
    });
    let id = shared.next_id.fetch_add(1, SeqCst);
    {
        let mut conns = shared.conns();
        // Drop sets `stop` before it takes this lock to close everything: either it sees
        // this connection or we see `stop`.
        if shared.stop.load(SeqCst) {
            conn.close();
            return;
        }
        conns.insert(id, conn.clone());
    }
    let (s, c) = (shared.clone(), conn.clone());
    let down = thread::Builder::new()
        .name("fault-proxy-down".into())
        .spawn(move || {
            pump(&c, Dir::Down, &s);
            s.pump_done(id, &c);
        });
    match down {
        Ok(h) => shared.keep(h),
        Err(_) => {
            conn.close();
            shared.pump_done(id, &conn);
        }
    }
    pump(&conn, Dir::Up, &shared);
    shared.pump_done(id, &conn);
}

/// Copies one direction chunk by chunk, looking at the mode for every chunk.
fn pump(conn: &Conn, dir: Dir, shared: &Shared) {
    let (mut from, mut to, counter) = match dir {
        Dir::Up => (&conn.client, &conn.upstream, &shared.bytes_up),
        Dir::Down => (&conn.upstream, &conn.client, &shared.bytes_down),
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => {
                // An end of stream is held back while this direction is discarded (a
                // partition does not let the FIN through either), then passed on.
                while !shared.forwards(conn, dir)
                    && !conn.closed.load(SeqCst)
                    && !shared.stop.load(SeqCst)
                {
                    thread::sleep(HOLD_POLL);
                }
                if !conn.closed.load(SeqCst) {
                    let _ = to.shutdown(Shutdown::Write);
                }
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                conn.close();
                return;
            }
        };
        if conn.closed.load(SeqCst) {
            return;
        }
        if shared.forwards(conn, dir) {
            if to.write_all(&buf[..n]).is_err() {
                conn.close();
                return;
            }
            counter.fetch_add(n as u64, SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An echo server on a std listener thread, counting what it received and how many
    /// connections ended with an end of stream from the client.
    struct Echo {
        addr: SocketAddr,
        received: Arc<AtomicUsize>,
        eofs: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Echo {
        fn start() -> Echo {
            let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind echo");
            let addr = listener.local_addr().expect("echo addr");
            let received = Arc::new(AtomicUsize::new(0));
            let eofs = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let (r, e, st) = (received.clone(), eofs.clone(), stop.clone());
            let thread = thread::spawn(move || {
                for stream in listener.incoming() {
                    if st.load(SeqCst) {
                        break;
                    }
                    let Ok(mut s) = stream else { continue };
                    let (r, e) = (r.clone(), e.clone());
                    thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        loop {
                            match s.read(&mut buf) {
                                Ok(0) => {
                                    e.fetch_add(1, SeqCst);
                                    return; // closes our side too
                                }
                                Ok(n) => {
                                    r.fetch_add(n, SeqCst);
                                    if s.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                                Err(_) => return,
                            }
                        }
                    });
                }
            });
            Echo {
                addr,
                received,
                eofs,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Echo {
        fn drop(&mut self) {
            self.stop.store(true, SeqCst);
            let _ = TcpStream::connect(self.addr); // wakes the accept loop
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn connect(proxy: &FaultProxy) -> TcpStream {
        let s = TcpStream::connect(proxy.addr()).expect("connect to proxy");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    }

    fn echo_round(s: &mut TcpStream, msg: &[u8]) {
        s.write_all(msg).expect("write");
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).expect("echo comes back");
        assert_eq!(got, msg);
    }

    fn is_timeout(e: &io::Error) -> bool {
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        )
    }

    /// Nothing arrives within `within`, and the connection is not closed either.
    fn assert_silent(s: &mut TcpStream, within: Duration) {
        s.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Err(e) if is_timeout(&e) => {}
            other => panic!("expected silence, got {other:?}"),
        }
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    }

    /// The connection ends (end of stream or error, not a timeout) well within a second.
    fn assert_closed(s: &mut TcpStream) {
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if !is_timeout(&e) => {}
            other => panic!("expected the connection to be closed, got {other:?}"),
        }
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn proxy_pass_forwards_both_ways() {
        let echo = Echo::start();
        let proxy = FaultProxy::start(echo.addr).expect("proxy");
        assert_ne!(proxy.addr(), echo.addr);
        let mut c = connect(&proxy);
        echo_round(&mut c, b"hello");
        echo_round(&mut c, b"again");
        assert_eq!(proxy.accepted(), 1);
        assert_eq!(proxy.connections(), 1);
        // The proxy counts a chunk once it has written it on, which can be after the echo
        // of it has come back: on a loaded machine the count lags the bytes.
        wait_until("bytes_up = 10", || proxy.bytes_up() == 10);
        wait_until("bytes_down = 10", || proxy.bytes_down() == 10);
        // A client's end of stream reaches the server, whose close comes back.
        c.shutdown(Shutdown::Write).unwrap();
        assert_closed(&mut c);
        wait_until("the server sees the end of stream", || {
            echo.eofs.load(SeqCst) == 1
        });
        wait_until("no connection left", || proxy.connections() == 0);
    }

    #[test]
    fn proxy_drop_down_delivers_upstream_but_no_answers() {
        let echo = Echo::start();
        let proxy = FaultProxy::start(echo.addr).expect("proxy");
        let mut c = connect(&proxy);
        echo_round(&mut c, b"before");
        // Switched on an open connection.
        proxy.set_mode(Mode::DropDown);
        c.write_all(b"lost-answer").unwrap();
        wait_until("the server receives the bytes", || {
            echo.received.load(SeqCst) == 6 + 11
        });
        assert_silent(&mut c, Duration::from_millis(300));
        assert_eq!(proxy.bytes_up(), 17);
        assert_eq!(proxy.bytes_down(), 6);
        // New connections get the same treatment.
        let mut c2 = connect(&proxy);
        c2.write_all(b"new").unwrap();
        wait_until("the server receives the new connection's bytes", || {
            echo.received.load(SeqCst) == 20
        });
        assert_silent(&mut c2, Duration::from_millis(100));
        // Back to Pass: the discarded answers are gone for good, new ones pass.
        proxy.set_mode(Mode::Pass);
        echo_round(&mut c, b"after");
        assert_eq!(proxy.connections(), 2);
    }

    #[test]
    fn proxy_blackhole_passes_nothing_and_keeps_connections_open() {
        let echo = Echo::start();
        let proxy = FaultProxy::start(echo.addr).expect("proxy");
        let mut c = connect(&proxy);
        echo_round(&mut c, b"x");
        proxy.set_mode(Mode::Blackhole);
        c.write_all(b"into the void").unwrap();
        // Even the end of stream is held back.
        c.shutdown(Shutdown::Write).unwrap();
        assert_silent(&mut c, Duration::from_millis(300));
        assert_eq!(echo.received.load(SeqCst), 1);
        assert_eq!(echo.eofs.load(SeqCst), 0);
        assert_eq!(proxy.connections(), 1);
        assert_eq!(proxy.bytes_up(), 1);
        // New connections are accepted but silent too.
        let mut c2 = connect(&proxy);
        c2.write_all(b"hello?").unwrap();
        assert_silent(&mut c2, Duration::from_millis(100));
        assert_eq!(echo.received.load(SeqCst), 1);
        wait_until("two connections open", || proxy.connections() == 2);
        // Healing lets the held end of stream through; the server closes in turn.
        proxy.set_mode(Mode::Pass);
        wait_until("the server sees the end of stream", || {
            echo.eofs.load(SeqCst) == 1
        });
        assert_closed(&mut c);
        assert_eq!(echo.received.load(SeqCst), 1);
    }

    #[test]
    fn proxy_cut_closes_connections_and_accepts_new_ones() {
        let echo = Echo::start();
        let proxy = FaultProxy::start(echo.addr).expect("proxy");
        let mut c1 = connect(&proxy);
        let mut c2 = connect(&proxy);
        echo_round(&mut c1, b"one");
        echo_round(&mut c2, b"two");
        assert_eq!(proxy.connections(), 2);
        proxy.cut();
        assert_eq!(proxy.connections(), 0);
        assert_closed(&mut c1);
        assert_closed(&mut c2);
        // The server side sees the cut as well.
        wait_until("the server sees both connections end", || {
            echo.eofs.load(SeqCst) == 2
        });
        let mut c3 = connect(&proxy);
        echo_round(&mut c3, b"three");
        assert_eq!(proxy.accepted(), 3);
        assert_eq!(proxy.connections(), 1);
    }

    #[test]
    fn proxy_refuse_closes_new_connections_at_once() {
        let echo = Echo::start();
        let proxy = FaultProxy::start(echo.addr).expect("proxy");
        let mut open = connect(&proxy);
        echo_round(&mut open, b"open");
        proxy.set_mode(Mode::Refuse);
        let started = Instant::now();
        let mut refused = connect(&proxy);
        assert_closed(&mut refused);
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(proxy.accepted(), 2);
        assert_eq!(proxy.connections(), 1);
        // The open connection keeps going.
        echo_round(&mut open, b"still");
        proxy.set_mode(Mode::Pass);
        let mut again = connect(&proxy);
        echo_round(&mut again, b"again");
        assert_eq!(proxy.connections(), 2);
    }

    #[test]
    fn proxy_drop_closes_everything_and_stops_listening() {
        let echo = Echo::start();
        let proxy = FaultProxy::start(echo.addr).expect("proxy");
        let addr = proxy.addr();
        let mut c = connect(&proxy);
        echo_round(&mut c, b"hi");
        proxy.set_mode(Mode::Blackhole); // a pump holding nothing, one blocked in read
        let started = Instant::now();
        drop(proxy);
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_closed(&mut c);
        assert!(TcpStream::connect(addr).is_err(), "still listening");
    }

    #[test]
    fn proxy_closes_the_client_when_upstream_is_down() {
        // A port nobody listens on: bind, read the port, close.
        let dead = TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = FaultProxy::start(dead).expect("proxy");
        let mut c = connect(&proxy);
        assert_closed(&mut c);
        assert_eq!(proxy.accepted(), 1);
        assert_eq!(proxy.connections(), 0);
    }
}
