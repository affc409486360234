//! Connection-level limits of both listeners: how many connections each holds open (so that
//! together they stay below the process's file-descriptor limit), and how much one
//! connection can make the daemon hold (a client that pipelines requests and never reads).
//!
//! # Why every TcpStream is wrapped
//!
//! actix-http's HTTP/1 dispatcher reads whatever the socket holds (up to 128 KiB per fill)
//! and decodes every complete request in its read buffer into its pipeline queue at once:
//! its limit of 16 queued requests is checked only before it starts decoding. A client that
//! pipelines small GETs and never reads the answers got thousands of decoded requests queued
//! per connection, about 25 MB each (measured: 20 such clients took the daemon from 51 to
//! 562 MB). [`Conn`] hands the dispatcher bytes only when its queue is empty:
//! - not while the connection's last write is blocked (the client is not reading: its unsent
//!   answers are in the kernel's send buffer and the dispatcher's write buffer, which
//!   actix-http bounds at 32 KiB plus one body);
//! - not while a request of the connection is in the handlers (`/healthz` waits on an actor);
//! - at most [`READ_BUDGET`] bytes per turn of the dispatcher, so one turn decodes at most a
//!   few hundred of the smallest requests, every one answered before the next turn.
//!
//! The dispatcher ends a turn with requests still queued only when a write blocks or a
//! handler has not answered yet, the first two cases; so at the start of every turn the
//! queue is empty, and what one turn may queue is bounded by the budget.
//!
//! A write blocked for longer than the listener's write timeout (`http.keep_alive_seconds`)
//! fails, which closes the connection: a client that reads nothing is as idle as one that
//! sends nothing.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::rt::net::TcpStream;
use bytes::BufMut;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use slog::{Logger, info, warn};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Sleep, sleep};

use crate::metrics::DaemonMetrics;

/// Most bytes handed to the dispatcher per turn: a few typical request heads, or about 110
/// pipelined `GET /telemetry/` with a Host header. A longer head (up to the 16 KiB of
/// headers `limits.rs` accepts) takes several turns.
pub const READ_BUDGET: usize = 4 * 1024;

/// File descriptors kept free for everything that is not a client connection: the Redis
/// pools (3 connections each), the log file, each worker's event loop, the accept threads,
/// a few for the libraries; measured at start-up (see `Budget::new`), then this on top.
const RESERVE_FDS: u64 = 64;
/// Descriptors each worker's event loop takes (epoll and an eventfd, with a spare).
const FDS_PER_WORKER: u64 = 3;
/// The most connections a worker accepts however many descriptors there are: actix-server's
/// own default.
const MAX_PER_WORKER: usize = 25_000;

/// How many connections each listener may hold open, from the file-descriptor limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The soft RLIMIT_NOFILE the budget was computed from.
    pub fd_limit: u64,
    /// Connections per worker of (generator, metric): actix-server stops accepting on a
    /// worker that holds this many.
    pub per_worker: [usize; 2],
    /// The smallest descriptor limit that leaves every worker one connection; below it the
    /// daemon would run out of descriptors by itself, and does not start.
    pub needed: u64,
}

impl Budget {
    /// Splits what the descriptor limit leaves, after the descriptors open now and a reserve,
    /// evenly between the two listeners and then between each listener's workers; so a flood
    /// on one listener cannot take the descriptors the other needs to answer.
    pub fn new(fd_limit: u64, fds_open: u64, workers: [usize; 2]) -> Budget {
        let all_workers = (workers[0] + workers[1]) as u64;
        let kept = fds_open + RESERVE_FDS + FDS_PER_WORKER * all_workers;
        let spare = fd_limit.saturating_sub(kept);
        let per_listener = usize::try_from(spare / 2).unwrap_or(usize::MAX);
        let per_worker = workers.map(|w| (per_listener / w.max(1)).clamp(1, MAX_PER_WORKER));
        let most_workers = workers[0].max(workers[1]) as u64;
        Budget {
            fd_limit,
            per_worker,
            needed: kept + 2 * most_workers,
        }
    }

    /// Measures the process: raises the soft descriptor limit to the hard one (a systemd unit
    /// without LimitNOFILE starts the daemon with 1024), counts the descriptors open now and
    /// computes the budget. Returns the budget and whether raising the limit failed.
    pub fn measure(workers: [usize; 2]) -> (Budget, Option<io::Error>) {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let mut failed = None;
        let mut soft = limit.current.unwrap_or(u64::MAX);
        if let Some(hard) = limit.maximum
            && hard > soft
        {
            let raised = Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => soft = hard,
                Err(e) => failed = Some(io::Error::from(e)),
            }
        }
        // One entry is the directory being read itself.
        let open = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count().saturating_sub(1) as u64)
            .unwrap_or(0);
        (Budget::new(soft, open, workers), failed)
    }
}

/// One listener's open connections against its limit, shared by its workers.
pub struct Connections {
    listener: &'static str,
    limit: usize,
    /// How long a connection's answers may wait for the client to read any of them before
    /// the connection is closed.
    write_timeout: Duration,
    open: AtomicUsize,
    /// Whether the listener is at its limit (set when it reaches it, cleared once it is
    /// 10 % below), so each change is logged once however the count moves around it.
    full: AtomicBool,
    log: Logger,
    open_gauge: Gauge,
    reached: Counter,
}

impl Connections {
    /// The counter of `listener`, which accepts at most `limit` connections and closes a
    /// connection whose client reads nothing for `write_timeout`.
    pub fn new(
        listener: &'static str,
        limit: usize,
        write_timeout: Duration,
        log: &Logger,
        metrics: &DaemonMetrics,
    ) -> Arc<Connections> {
        let labels = [("listener", listener)];
        metrics
            .http_connection_limit
            .get_or_create(&labels)
            .set(limit as i64);
        Arc::new(Connections {
            listener,
            limit,
            write_timeout,
            open: AtomicUsize::new(0),
            full: AtomicBool::new(false),
            log: log.clone(),
            open_gauge: metrics.http_open_connections.get_or_create(&labels).clone(),
            reached: metrics
                .http_connection_limit_reached
                .get_or_create(&labels)
                .clone(),
        })
    }

    /// Open connections at which a listener that reached its limit counts as accepting
    /// again: 10 % below it, so a flood at the limit does not log a pair of lines per
    /// connection.
    fn resume_at(&self) -> usize {
        self.limit - (self.limit / 10).max(1).min(self.limit)
    }

    fn opened(self: &Arc<Self>) -> Open {
        super::accept_log::accepted();
        let open = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        self.open_gauge.inc();
        if open >= self.limit && !self.full.swap(true, Ordering::AcqRel) {
            self.reached_limit(open);
        }
        Open(self.clone())
    }

    fn closed(&self) {
        let open = self.open.fetch_sub(1, Ordering::AcqRel) - 1;
        self.open_gauge.dec();
        if open <= self.resume_at() && self.full.swap(false, Ordering::AcqRel) {
            self.accepting_again(open);
        }
    }

    /// The listener stopped accepting: logged and counted once per time it happens.
    fn reached_limit(&self, open: usize) {
        self.reached.inc();
        warn!(self.log, "Connection limit reached; new connections wait until some close.";
            "limit" => self.limit, "connections" => open, "listener" => self.listener);
    }

    /// The listener is accepting again, with room to spare.
    fn accepting_again(&self, open: usize) {
        info!(self.log, "Below the connection limit again.";
            "limit" => self.limit, "connections" => open, "listener" => self.listener);
    }
}

/// One open connection, counted in its listener's [`Connections`] until dropped.
struct Open(Arc<Connections>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.closed();
    }
}

/// What the reading and the writing side of one connection, and its requests in the
/// handlers, tell each other. Lives on the connection's worker thread.
#[derive(Default)]
struct ConnState {
    /// The last write returned Pending and nothing has been written since.
    write_blocked: Cell<bool>,
    /// Requests of this connection in the handlers (one at most, with HTTP/1).
    in_handlers: Cell<u32>,
    /// Bytes handed to the dispatcher since a read last returned Pending.
    read_this_turn: Cell<usize>,
    /// The dispatcher's waker, while its reads are held back.
    parked: Cell<Option<Waker>>,
}

impl ConnState {
    fn park(&self, waker: &Waker) {
        self.parked.set(Some(waker.clone()));
    }

    fn unpark(&self) {
        if let Some(waker) = self.parked.take() {
            waker.wake();
        }
    }
}

/// A client connection as the HTTP/1 dispatcher sees it: the TcpStream, with reads held
/// back as the module doc says.
pub struct Conn {
    io: TcpStream,
    state: Rc<ConnState>,
    /// Started when a write blocks, dropped when one goes through: a client that reads
    /// nothing for `Connections::write_timeout` would otherwise hold its connection (and
    /// the kernel's send buffer) for as long as it likes.
    stalled: Option<Pin<Box<Sleep>>>,
    open: Open,
}

impl Conn {
    /// Wraps a connection `connections` has just accepted.
    pub fn new(io: TcpStream, connections: &Arc<Connections>) -> Conn {
        Conn {
            io,
            state: Rc::default(),
            stalled: None,
            open: connections.opened(),
        }
    }

    /// The handle its requests carry (in their connection data), for [`InHandlers`].
    pub fn handle(&self) -> ConnHandle {
        ConnHandle(self.state.clone())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.io.peer_addr().ok()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let state = &this.state;
        if buf.remaining() == 0 {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        // Woken by the write or the handler that unblocks it (`unpark`).
        if state.write_blocked.get() || state.in_handlers.get() > 0 {
            state.park(cx.waker());
            return Poll::Pending;
        }
        let taken = state.read_this_turn.get();
        if taken >= READ_BUDGET {
            // End the dispatcher's turn, so it answers what it has before reading more.
            state.read_this_turn.set(0);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let room = (READ_BUDGET - taken).min(buf.remaining());
        // Read into the dispatcher's buffer as it is (`BufMut`, limited to the budget): a
        // `ReadBuf` of its own would first have to zero those bytes, on every read.
        let mut limited = BufMut::limit(&mut *buf, room);
        loop {
            match this.io.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    state.read_this_turn.set(0);
                    return Poll::Pending;
                }
            }
            match this.io.try_read_buf(&mut limited) {
                Ok(n) => {
                    state.read_this_turn.set(taken + n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale; `try_read_buf` cleared it, so the next poll waits.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Conn {
    /// Records whether a write went through, and lets reads resume when one does; fails a
    /// write that has been blocked for longer than the listener's write timeout.
    fn wrote<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => {
                self.state.write_blocked.set(true);
                let timeout = self.open.0.write_timeout;
                let stalled = self.stalled.get_or_insert_with(|| Box::pin(sleep(timeout)));
                if stalled.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client read none of its answers in time",
                    )));
                }
            }
            Poll::Ready(_) => {
                self.stalled = None;
                if self.state.write_blocked.replace(false) {
                    self.state.unpark();
                }
            }
        }
        result
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, data);
        this.wrote(cx, result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.wrote(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A connection's state, in the connection data of each of its requests.
#[derive(Clone)]
pub struct ConnHandle(Rc<ConnState>);

/// Marks a request as in the handlers for as long as it lives (the request middleware holds
/// it until the response is ready): the connection reads nothing meanwhile.
pub struct InHandlers(Option<Rc<ConnState>>);

impl InHandlers {
    /// Enters `req`. Not counted: a request with a body (a handler reading it needs the
    /// connection read; no route does, but one that did must not wait forever), and one
    /// without a connection handle (a test calling a handler directly).
    pub fn enter(req: &HttpRequest) -> InHandlers {
        use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
        let headers = req.headers();
        let has_body = headers.contains_key(TRANSFER_ENCODING)
            || headers
                .get(CONTENT_LENGTH)
                .is_some_and(|length| length.as_bytes() != b"0");
        let state = match has_body {
            true => None,
            false => req.conn_data::<ConnHandle>().map(|h| h.0.clone()),
        };
        if let Some(state) = &state {
            state.in_handlers.set(state.in_handlers.get() + 1);
        }
        InHandlers(state)
    }
}

impl Drop for InHandlers {
    fn drop(&mut self) {
        if let Some(state) = &self.0 {
            let left = state.in_handlers.get().saturating_sub(1);
            state.in_handlers.set(left);
            if left == 0 {
                state.unpark();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_splits_what_the_reserve_leaves_between_listeners_then_workers() {
        // 1024 - 40 open - 64 reserve - 3 * 4 workers = 908; 454 per listener.
        let b = Budget::new(1024, 40, [2, 2]);
        assert_eq!(b.per_worker, [227, 227]);
        let b = Budget::new(1024, 40, [1, 3]);
        assert_eq!(b.per_worker, [454, 151]);
        assert_eq!(b.needed, 40 + 64 + 12 + 6);
    }

    #[test]
    fn budget_is_capped_at_actix_default_and_never_zero() {
        assert_eq!(
            Budget::new(1 << 20, 40, [2, 2]).per_worker,
            [MAX_PER_WORKER; 2]
        );
        assert_eq!(Budget::new(64, 40, [2, 2]).per_worker, [1, 1]);
    }

    #[test]
    fn a_listener_resumes_ten_percent_below_its_limit() {
        let log = crate::logging::discard();
        let metrics = DaemonMetrics::default();
        let resume_at = |limit| {
            Connections::new("x", limit, Duration::from_secs(1), &log, &metrics).resume_at()
        };
        assert_eq!(resume_at(100), 90);
        assert_eq!(resume_at(5), 4);
        assert_eq!(resume_at(1), 0);
    }
}
