//! Idle server connections of one worker (and its HTTP/2 ones, `h2::ServerConns`), per backend and server, for HTTP keep-alive
//! to servers (the backend's `http_reuse` decides which requests may take one:
//! `sends::Reuse`). Newest first, so the connections least likely to have been
//! closed by the server are used; at most the backend's `pool_max_connections` kept
//! per server (default `MAX_IDLE`), the oldest given up for a newer one; closed after
//! its `pool_idle_timeout` (default `IDLE_TIMEOUT`). Each remembers whether it has carried more than one request
//! (*proven*: the server keeps connections alive), which `aggressive` asks for.
//!
//! A pooled connection may carry the next request of *another* client, so it must not
//! carry anything of the last one: it is pooled only when its response ended with no
//! byte left over (the caller's rule), and it is checked for bytes that arrived while
//! it sat idle (a server answering twice, or out of step) every time it is taken out:
//! such a connection is dropped, never reused.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::h2::ServerConns;
use crate::tls::ServerStream;

/// Idle connections kept per server and worker, unless the backend says otherwise.
pub const MAX_IDLE: usize = crate::config::POOL_MAX_CONNECTIONS;
/// An idle connection older than this is closed rather than reused, unless the
/// backend says otherwise.
pub const IDLE_TIMEOUT: Duration = crate::config::POOL_IDLE_TIMEOUT;

struct Idle {
    /// Always `Some` until the connection is taken back out for reuse.
    stream: Option<ServerStream>,
    since: Instant,
    /// It has carried more than one request.
    proven: bool,
}

impl Drop for Idle {
    /// An idle connection ringlb gives up is reset rather than closed: nothing is in
    /// flight on it, and a FIN would leave a TIME_WAIT socket on ringlb's side for a
    /// minute per connection. Under a stream of new clients (every request a client's
    /// first, so none reuses the pool) those pile up by the ten thousand and make every
    /// connect() search longer for a free port (measured: -30% requests/s in 20 s).
    fn drop(&mut self) {
        let Some(stream) = &self.stream else { return };
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on a descriptor we own, with a valid `linger` struct.
        unsafe {
            libc::setsockopt(
                stream.raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
}

impl Idle {
    /// The connection, to be used again (not reset).
    fn into_stream(mut self) -> Option<ServerStream> {
        self.stream.take()
    }

    fn is_open(&self) -> bool {
        self.stream.as_ref().is_some_and(still_open)
    }
}

/// How much a backend's pool keeps, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Idle connections kept per server and worker; 0: none (each closed after use).
    pub max: usize,
    /// An idle connection older than this is closed rather than reused.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max: MAX_IDLE,
            timeout: IDLE_TIMEOUT,
        }
    }
}

#[derive(Default)]
pub struct Pool {
    /// `[backend][server]`, oldest first.
    idle: RefCell<Vec<Vec<VecDeque<Idle>>>>,
    /// By backend slot.
    limits: RefCell<Vec<Limits>>,
    /// Connections to `proto = "h2"` servers, shared by the requests (never idle
    /// in the sense above: each carries many streams at once).
    h2: ServerConns,
}

impl Pool {
    /// Make room for `server_slots[backend]` servers per backend slot (slots only grow).
    pub fn resize(&self, server_slots: &[usize]) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < server_slots.len() {
            idle.resize_with(server_slots.len(), Vec::new);
        }
        for (list, &n) in idle.iter_mut().zip(server_slots) {
            if list.len() < n {
                list.resize_with(n, VecDeque::new);
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

    fn limits(&self, backend: usize) -> Limits {
        self.limits
            .borrow()
            .get(backend)
            .copied()
            .unwrap_or_default()
    }

    /// Close every idle connection to one server.
    pub fn clear(&self, backend: usize, server: usize) {
        if let Some(list) = self
            .idle
            .borrow_mut()
            .get_mut(backend)
            .and_then(|b| b.get_mut(server))
        {
            list.clear();
        }
        self.h2.clear(backend, server);
    }

    /// The connections to `proto = "h2"` servers.
    pub fn h2(&self) -> &ServerConns {
        &self.h2
    }

    /// The newest usable idle connection to this server (`proven_only`: among those
    /// that carried more than one request), if any. Connections the server has closed,
    /// or that hold bytes nobody asked for, are dropped on the way (one non-blocking
    /// peek each: a connection that looks fresh is checked too, since unsolicited
    /// bytes would otherwise be read as the next client's response); expired ones too.
    pub fn take(
        &self,
        backend: usize,
        server: usize,
        now: Instant,
        proven_only: bool,
    ) -> Option<ServerStream> {
        let timeout = self.limits(backend).timeout;
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(backend)?.get_mut(server)?;
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
            let c = list.remove(i)?;
            if c.is_open() {
                return c.into_stream();
            }
        }
        None
    }

    /// Keep `stream` for reuse (`proven`: it has carried more than one request). The
    /// caller has read the whole response and nothing after it; a TLS stream whose
    /// last read may have left decrypted bytes inside rustls is closed instead (a peek
    /// at take time could not see them).
    pub fn put(
        &self,
        backend: usize,
        server: usize,
        stream: ServerStream,
        now: Instant,
        proven: bool,
    ) {
        let max = self.limits(backend).max;
        if stream.may_hold_unread() || max == 0 {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let Some(list) = idle.get_mut(backend).and_then(|b| b.get_mut(server)) else {
            return;
        };
        while list.len() >= max {
            list.pop_front();
        }
        list.push_back(Idle {
            stream: Some(stream),
            since: now,
            proven,
        });
    }

    /// Close connections idle past the timeout.
    pub fn sweep(&self, now: Instant) {
        let limits = self.limits.borrow();
        for (b, lists) in self.idle.borrow_mut().iter_mut().enumerate() {
            let timeout = limits.get(b).copied().unwrap_or_default().timeout;
            for list in lists {
                list.retain(|c| now.saturating_duration_since(c.since) < timeout);
            }
        }
    }
}

/// A non-blocking peek: an idle connection must have nothing to read. EOF means the
/// server closed it; data means it is out of step. Either way it is not reusable.
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
