//! Idle server connections of one worker (and its HTTP/2 ones, `h2::ServerConns`), per backend and server, for HTTP keep-alive
//! to servers (the backend's `http_reuse` decides which requests may take one:
//! `sends::Reuse`). Newest first, so the connections least likely to have been
//! closed by the server are used; closed after the backend's `pool_idle_timeout`
//! (default `IDLE_TIMEOUT`). Each remembers whether it has carried more than one
//! request (*proven*: the server keeps connections alive), which `aggressive` asks for.
//!
//! How many are kept, by default, follows HAProxy (`pool-max-conn -1`,
//! `pool-purge-delay 5s`; its `srv_add_to_idle_list` and `srv_cleanup_idle_conns`):
//! a connection given back is kept while the server's connections, in use and idle,
//! are no more than were in use at once recently ([`Need`]); else the oldest idle one
//! is given up for it. Every `pool_purge_delay` half of the idle connections past that
//! need are closed, and the need decays toward what the last period used. So a burst
//! of 500 requests in flight keeps its 500 connections for the next burst instead of
//! closing and reopening them, and they go, a half at a time, once traffic is lower.
//! Bounds: a server's connections in use never exceed its `max_connections` (so
//! neither does the need), and a worker keeps at most [`Pool::set_budget`] idle
//! connections in all (half its share of `global.max_connections`: HAProxy stops
//! pooling past a quarter of its descriptors, `tune.pool-high-fd-ratio`).
//! `pool_max_connections = N` sets a fixed bound per server instead.
//!
//! A pooled connection may carry the next request of *another* client, so it must not
//! carry anything of the last one: it is pooled only when its response ended with no
//! byte left over (the caller's rule), and while it is idle a read-readiness wait stays
//! armed on it (`pool_watch.rs`; HAProxy keeps idle connections subscribed for reading
//! the same way). Data or EOF on an idle connection (a server answering twice, out of
//! step, or closing) ends the wait, which wakes the worker's watcher ([`Pool::watch`]):
//! the connection is closed at once and leaves the pool. Taking one for reuse polls its
//! wait once more (what the runtime has seen by then counts): no syscall. On io_uring a
//! plain connection's wait is one multishot poll armed at its first give-back and kept
//! for its life (it only notes events while the connection is in use; a noted event is
//! checked by one peek: `pool_watch.rs`, "One wait per connection"); on epoll the wait
//! is the runtime's readiness state, nothing to undo. This
//! replaced a `recv(MSG_PEEK)` per reuse, which only saw bytes that had arrived by the
//! time of the take, and left a connection holding a late response pooled until then
//! (docs/benchmarks.md, "Tails"). TLS connections (rustls in readiness mode) have the
//! same wait on their socket, read through rustls when it fires: records that are only
//! handshake messages (the session tickets TLS 1.3 servers send after the handshake,
//! often once a response went out) keep the connection; plaintext, a close_notify or
//! the end close it. Only a TLS connection the driver kept in completion mode is still
//! peeked at when taken. Bytes that arrive after the next request went out cannot be
//! told from its response, here or in HAProxy (docs/configuration.md, `http_reuse`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::h2::ServerConns;
use crate::tls::ServerStream;

/// An idle connection older than this is closed rather than reused, unless the
/// backend says otherwise.
pub const IDLE_TIMEOUT: Duration = crate::config::POOL_IDLE_TIMEOUT;
/// How often idle connections past the recent need are halved, unless the backend
/// says otherwise.
pub const PURGE_DELAY: Duration = crate::config::POOL_PURGE_DELAY;

#[path = "pool_watch.rs"]
mod watch;

use watch::{Armed, Watched};

/// One idle connection: its armed wait (which owns it), since when, and whether it has
/// carried more than one request.
struct Idle<W: Watched = Armed> {
    /// Always `Some` until the connection is taken back out, or closed as it fired.
    conn: Option<W>,
    since: Instant,
    /// It has carried more than one request.
    proven: bool,
}

impl<W: Watched> Drop for Idle<W> {
    /// An idle connection ringlb gives up is reset rather than closed: nothing is in
    /// flight on it, and a FIN would leave a TIME_WAIT socket on ringlb's side for a
    /// minute per connection. Under a stream of new clients (every request a client's
    /// first, so none reuses the pool) those pile up by the ten thousand and make every
    /// connect() search longer for a free port (measured: -30% requests/s in 20 s).
    /// HAProxy does the same by default for every server connection it closes first
    /// (`FD_LINGER_RISK`, set at connect). One whose wait fired (the server closed it,
    /// or sent bytes) is closed plainly: no TIME_WAIT on ringlb's side then, or the
    /// kernel resets it for the unread bytes anyway.
    fn drop(&mut self) {
        if let Some(conn) = &self.conn {
            conn.give_up();
        }
    }
}

impl<W: Watched> Idle<W> {
    /// The connection, to be used again or closed without a reset.
    fn into_conn(mut self) -> Option<W> {
        self.conn.take()
    }
}

/// Close a server connection ringlb gives up with nothing in flight: a reset (see
/// [`Idle`]'s `Drop`).
fn reset(stream: ServerStream) {
    no_linger(stream.raw_fd());
}

/// `SO_LINGER` zero: the close that follows resets the connection.
fn no_linger(fd: std::os::fd::RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a descriptor the caller owns, with a valid `linger` struct.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// How much a backend's pool keeps, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Idle connections kept per server and worker, the oldest given up for a newer
    /// one (0: none, each closed after use); `None` (the default): as many as the
    /// server's recent use calls for ([`Need`]).
    pub max: Option<usize>,
    /// An idle connection older than this is closed rather than reused.
    pub timeout: Duration,
    /// Every this long, half of the idle connections past the recent need are closed.
    pub purge_delay: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max: None,
            timeout: IDLE_TIMEOUT,
            purge_delay: PURGE_DELAY,
        }
    }
}

/// How many connections one server's recent traffic used (HAProxy's
/// `max_used_conns` and `est_need_conns`). Pure: it is told how many connections are
/// in use, it decides how many are worth keeping.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// Most connections in use at once since the last purge.
    peak: usize,
    /// The need estimated at the last purges: half-way from the last estimate to the
    /// last period's peak, never below that peak.
    estimate: usize,
}

impl Need {
    /// `used` connections to the server are in use now.
    pub fn saw(&mut self, used: usize) {
        self.peak = self.peak.max(used);
    }

    /// How many connections to the server, in use and idle, are worth having.
    pub fn wanted(&self) -> usize {
        self.peak.max(self.estimate)
    }

    /// A connection is given back while `used` are in use (it included) and `idle`
    /// idle: whether it may be added (else it takes the oldest idle one's place).
    pub fn keeps(&mut self, used: usize, idle: usize) -> bool {
        self.saw(used);
        used + idle <= self.wanted()
    }

    /// A purge, with `used` in use and `idle` idle: how many idle ones to close (half
    /// the excess over the need, rounded up). Starts a new period.
    pub fn purge(&mut self, used: usize, idle: usize) -> usize {
        let excess = (used + idle).saturating_sub(self.wanted());
        self.estimate = ((self.estimate + self.peak) / 2).max(self.peak);
        self.peak = used;
        excess.div_ceil(2).min(idle)
    }
}

/// One server's idle connections, oldest first, and what its traffic needs.
#[derive(Default)]
struct Slot {
    idle: VecDeque<Idle>,
    need: Need,
    /// When the next purge is due; `None` while nothing is idle.
    purge_at: Option<Instant>,
}

#[derive(Default)]
pub struct Pool {
    /// `[backend][server]`.
    slots: RefCell<Vec<Vec<Slot>>>,
    /// By backend slot.
    limits: RefCell<Vec<Limits>>,
    /// Idle connections in all the slots.
    total: Cell<usize>,
    /// At most this many idle in all (0 until [`Pool::set_budget`]: no bound).
    budget: Cell<usize>,
    /// Connections to `proto = "h2"` servers, shared by the requests (never idle
    /// in the sense above: each carries many streams at once).
    h2: ServerConns,
    /// The watcher's ([`Pool::watch`]): every idle connection's wait wakes it.
    watcher: RefCell<Option<Waker>>,
}

impl Pool {
    /// Make room for `server_slots[backend]` servers per backend slot (slots only grow).
    pub fn resize(&self, server_slots: &[usize]) {
        let mut slots = self.slots.borrow_mut();
        if slots.len() < server_slots.len() {
            slots.resize_with(server_slots.len(), Vec::new);
        }
        for (list, &n) in slots.iter_mut().zip(server_slots) {
            if list.len() < n {
                list.resize_with(n, Slot::default);
            }
        }
        let mut limits = self.limits.borrow_mut();
        if limits.len() < server_slots.len() {
            limits.resize_with(server_slots.len(), Limits::default);
        }
    }

    /// A backend's limits (from its configuration); connections already idle past the
    /// new ones go at the next sweep, or when one is put or taken.
    pub fn set_limits(&self, backend: usize, to: Limits) {
        if let Some(l) = self.limits.borrow_mut().get_mut(backend) {
            *l = to;
        }
    }

    /// At most `budget` idle connections in all (0: no bound); past it, a connection
    /// given back is closed unless it takes an older one's place.
    pub fn set_budget(&self, budget: usize) {
        self.budget.set(budget);
    }

    fn limits(&self, backend: usize) -> Limits {
        self.limits
            .borrow()
            .get(backend)
            .copied()
            .unwrap_or_default()
    }

    /// Close every idle connection to one server.
    pub fn clear(&self, backend: usize, server: usize) {
        if let Some(slot) = self
            .slots
            .borrow_mut()
            .get_mut(backend)
            .and_then(|b| b.get_mut(server))
        {
            self.total.set(self.total.get() - slot.idle.len());
            slot.idle.clear();
            slot.purge_at = None;
        }
        self.h2.clear(backend, server);
    }

    /// Idle connections per server of one backend, kept for reuse.
    pub fn idle_counts(&self, backend: usize) -> Vec<u32> {
        self.slots
            .borrow()
            .get(backend)
            .map_or_else(Vec::new, |servers| {
                servers.iter().map(|s| s.idle.len() as u32).collect()
            })
    }

    /// The connections to `proto = "h2"` servers.
    pub fn h2(&self) -> &ServerConns {
        &self.h2
    }

    /// The newest usable idle connection to this server (`proven_only`: among those
    /// that carried more than one request), if any; `used`: connections to it in use,
    /// the taker's included. Its wait is disarmed (no syscall); one whose wait turns
    /// out to have fired (closed by the server, or holding bytes nobody asked for) is
    /// closed on the way, never handed out; expired ones too.
    pub fn take(
        &self,
        backend: usize,
        server: usize,
        now: Instant,
        proven_only: bool,
        used: usize,
    ) -> Option<ServerStream> {
        let timeout = self.limits(backend).timeout;
        let mut slots = self.slots.borrow_mut();
        let slot = slots.get_mut(backend)?.get_mut(server)?;
        slot.need.saw(used);
        let before = slot.idle.len();
        let found = take_from(&mut slot.idle, now, timeout, proven_only);
        if slot.idle.is_empty() {
            slot.purge_at = None;
        }
        self.total
            .set(self.total.get() - (before - slot.idle.len()));
        found
    }

    /// Keep `stream` for reuse, as far as the limits and the server's recent need
    /// allow (see [`Put`] for what the caller says about it); what is not kept is
    /// reset. The caller has read the whole response and nothing after it; a TLS
    /// stream whose last read may have left decrypted bytes inside rustls is not kept
    /// (`may_hold_unread`; the TLS wait also finds any plaintext rustls holds). A kept
    /// connection's wait is armed here: one that is closed or holds bytes already is
    /// closed at once.
    pub fn put(&self, backend: usize, server: usize, stream: ServerStream, at: Put) {
        let limits = self.limits(backend);
        if stream.may_hold_unread() || limits.max == Some(0) {
            return reset(stream);
        }
        let armed = {
            let watcher = self.watcher.borrow();
            Armed::arm(stream, watcher.as_ref().unwrap_or(Waker::noop()))
        };
        let Ok(armed) = armed else {
            return; // closed plainly as it drops
        };
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(backend).and_then(|b| b.get_mut(server)) else {
            return armed.give_up(); // reset as it drops
        };
        let idle = slot.idle.len();
        // How many of the idle ones stay: room for one more, or one given up for it.
        let mut stay = match limits.max {
            Some(max) => idle.min(max - 1),
            None if slot.need.keeps(at.used, idle) => idle,
            None => idle.saturating_sub(1),
        };
        let budget = self.budget.get();
        if budget > 0 && self.total.get() - (idle - stay) >= budget {
            if stay == 0 {
                // Nothing of this server's to give up for it: the worker keeps enough.
                return armed.give_up();
            }
            stay -= 1;
        }
        // The oldest go, reset as they drop (none, usually: no drain to build then).
        if stay < idle {
            slot.idle.drain(..idle - stay);
        }
        self.total.set(self.total.get() - (idle - stay) + 1);
        slot.idle.push_back(Idle {
            conn: Some(armed),
            since: at.now,
            proven: at.proven,
        });
        slot.purge_at.get_or_insert(at.now + limits.purge_delay);
    }

    /// Close connections idle past the timeout, and purge the servers whose purge is
    /// due: half their idle connections past their need (see [`Need::purge`]) go,
    /// oldest first. `used(backend, server)`: its connections in use now.
    pub fn sweep(&self, now: Instant, used: impl Fn(usize, usize) -> usize) {
        let limits = self.limits.borrow();
        let mut closed = 0;
        for (b, list) in self.slots.borrow_mut().iter_mut().enumerate() {
            let l = limits.get(b).copied().unwrap_or_default();
            for (s, slot) in list.iter_mut().enumerate() {
                let before = slot.idle.len();
                slot.idle
                    .retain(|c| now.saturating_duration_since(c.since) < l.timeout);
                if slot.purge_at.is_some_and(|at| at <= now) {
                    let n = slot.need.purge(used(b, s), slot.idle.len());
                    slot.idle.drain(..n);
                    slot.purge_at = Some(now + l.purge_delay);
                }
                if slot.idle.is_empty() {
                    slot.purge_at = None;
                }
                closed += before - slot.idle.len();
            }
        }
        self.total.set(self.total.get() - closed);
    }

    /// The watcher: runs for the worker's life, woken by the wait of any idle
    /// connection that fires, and closes every such connection at once (each wakes it
    /// once; a wake-up polls every idle connection's wait, which reads the runtime's
    /// state without a syscall).
    pub async fn watch(&self) {
        std::future::poll_fn(|cx| {
            self.reap(cx);
            Poll::<()>::Pending
        })
        .await
    }

    fn reap(&self, cx: &mut Context<'_>) {
        {
            let mut watcher = self.watcher.borrow_mut();
            if !watcher.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *watcher = Some(cx.waker().clone());
            }
        }
        let mut closed = 0;
        for slot in self.slots.borrow_mut().iter_mut().flatten() {
            closed += close_fired(&mut slot.idle, cx);
            if slot.idle.is_empty() {
                slot.purge_at = None;
            }
        }
        self.total.set(self.total.get() - closed);
    }
}

/// What [`Pool::put`] is told about the connection given back.
#[derive(Debug, Clone, Copy)]
pub struct Put {
    pub now: Instant,
    /// It has carried more than one request.
    pub proven: bool,
    /// Connections to its server in use, it included.
    pub used: usize,
}

/// [`Pool::take`] in one server's list (oldest first).
fn take_from<W: Watched>(
    list: &mut VecDeque<Idle<W>>,
    now: Instant,
    timeout: Duration,
    proven_only: bool,
) -> Option<W::Conn> {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if now.saturating_duration_since(list[i].since) >= timeout {
            // Oldest first: every one from here down is older still.
            list.drain(..=i);
            return None;
        }
        if proven_only && !list[i].proven {
            continue;
        }
        // The newest (the back) unless only proven ones may go: no shifting then.
        if let Some(conn) = list.remove(i)?.into_conn()?.disarm() {
            return Some(conn);
        }
        // Its wait had fired: closed plainly, and the next one is tried.
    }
    None
}

/// Close the connections of one server's list whose wait fired (polled with `cx`):
/// plainly, not reset. How many.
fn close_fired<W: Watched>(list: &mut VecDeque<Idle<W>>, cx: &mut Context<'_>) -> usize {
    let before = list.len();
    list.retain_mut(|idle| {
        let fired = idle.conn.as_mut().is_some_and(|c| c.fired(cx));
        if fired {
            drop(idle.conn.take());
        }
        !fired
    });
    before - list.len()
}

/// A non-blocking peek: an idle connection must have nothing to read. EOF means the
/// server closed it; data means it is out of step. Either way it is not reusable. (For
/// the connections without a wait: TLS in completion mode, and a client's private one.)
pub(super) fn still_open(stream: &ServerStream) -> bool {
    // (For TLS, bytes waiting may also be a session ticket sent late: the connection
    // is then given up too, which costs a reconnect, never a wrong answer.)
    let mut byte = 0u8;
    // SAFETY: one-byte buffer we own; MSG_PEEK leaves the socket's data alone.
    let n = unsafe {
        libc::recv(
            stream.raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
