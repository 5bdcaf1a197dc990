//! The way to a server, under one retry policy (a backend's `retries` and
//! `redispatch`):
//!
//! - **Connect attempts** ([`Connects`]): after a failed connect, `retries` more
//!   attempts, to the same server each time except that, with `redispatch`, the last
//!   one goes to another server (HAProxy's behaviour). A server that is no longer
//!   usable is never retried.
//! - **Replays** ([`Replays`]): a bodyless idempotent request that got nothing back
//!   (the connection closed or failed before any response byte) is sent again, like
//!   HAProxy's `retry-on empty-response`: at once on a fresh connection when it had
//!   gone on a reused one (the server had closed it; not the server's fault), and up
//!   to `retries` times, to another server when `redispatch` allows, when a fresh
//!   connection failed. Any request whose head could not be written on a reused
//!   connection goes again too; one that may not ([`Attempt::close_silently`]) ends
//!   its client connection without a response when it was not the first on it.
//! - **Reuse** ([`Reuse::allowed`]): which idle server connection a request may take,
//!   by the backend's `http_reuse` (HAProxy's `http-reuse`) and whether it is the
//!   first request of its client connection.
//!
//! All three are pure (they decide, they do no I/O) and tested here; [`connect`] carries
//! the connect attempts out.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use super::backend::Outcome;
use super::error::SessionError;
use super::lease::{NoSlot, ServerLease};
use super::preamble::{send_proxy_header, Origin};
use super::state::Worker;
use crate::config::HttpReuse;
use crate::listen::local_shortage;
use crate::tls::{connect_tls, ServerStream};

/// Which connection a request may go on (whatever is allowed, a new one when there
/// is no such idle connection). Every idle connection is checked before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// A new connection only.
    Never,
    /// The idle server connection this client connection kept for itself, if any: the
    /// one its previous request used, when `http_reuse = "never"` or the server has
    /// `send_proxy` (its header named this client).
    Own,
    /// Its own, else an idle pooled connection (of any client) that has already
    /// carried more than one request: the server is known to keep connections alive.
    Proven,
    /// Its own, else any idle pooled connection to the picked server.
    Pooled,
}

impl Reuse {
    /// What a backend's `http_reuse` allows a request; `first`: the first request of
    /// its client connection. Like HAProxy: `never` shares no connection between
    /// client connections (each keeps its own); `safe` sends a first request on a new
    /// connection, so that if the server closes it the client (which sees its own
    /// connection close before any response) may retry, as for any keep-alive
    /// connection; `aggressive` lets a first request take a connection already reused
    /// once; `always` lets any request take any idle connection.
    pub fn allowed(policy: HttpReuse, first: bool) -> Reuse {
        match (policy, first) {
            (HttpReuse::Never, _) => Reuse::Own,
            (HttpReuse::Safe, true) => Reuse::Never,
            (HttpReuse::Aggressive, true) => Reuse::Proven,
            (HttpReuse::Always, _) | (_, false) => Reuse::Pooled,
        }
    }

    /// Whether the client connection's own idle connection may be taken.
    pub fn own(self) -> bool {
        self != Reuse::Never
    }

    /// Whether the worker's pool may be asked: `Some(proven_only)`.
    pub fn pool_asked(self) -> Option<bool> {
        match self {
            Reuse::Never | Reuse::Own => None,
            Reuse::Proven => Some(true),
            Reuse::Pooled => Some(false),
        }
    }
}

/// A backend's retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Connect attempts after the first one fails; also the most replays of a request.
    pub retries: u32,
    /// The last retry (or a replay) goes to another server.
    pub redispatch: bool,
}

/// Where one connect attempt goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// 0 for the first attempt.
    pub attempt: u32,
    /// Lease this server again (the one that just failed), if it still takes traffic.
    pub same: Option<usize>,
    /// Otherwise let the balancer pick, leaving this one out when another is usable.
    pub avoid: Option<usize>,
    /// Which idle connection to the server picked may be taken (`Never` after the
    /// first attempt).
    pub reuse: Reuse,
    /// Lease this server, which the request's persistence cookie names, if it takes
    /// such requests (first attempt only).
    pub sticky: Option<usize>,
}

/// Where a request or connection goes: its backend, the client (for `source`
/// balancing) and the server its persistence cookie names.
#[derive(Debug, Clone, Copy)]
pub struct To {
    pub backend: usize,
    pub peer: SocketAddr,
    pub sticky: Option<usize>,
}

/// The connect attempts for one request or TCP connection.
#[derive(Debug, Clone)]
pub struct Connects {
    policy: RetryPolicy,
    reuse: Reuse,
    /// Attempts handed out so far.
    made: u32,
    /// The server of the last failed attempt; at first, the one to avoid.
    prev: Option<usize>,
    sticky: Option<usize>,
}

impl Connects {
    /// `avoid`: a server that just failed this request, left out of the first pick.
    /// `sticky`: the server a persistence cookie names, tried first unless it is the
    /// one to avoid.
    pub fn new(
        policy: RetryPolicy,
        reuse: Reuse,
        avoid: Option<usize>,
        sticky: Option<usize>,
    ) -> Connects {
        Connects {
            policy,
            reuse,
            made: 0,
            prev: avoid,
            sticky: sticky.filter(|s| Some(*s) != avoid),
        }
    }

    /// The next attempt, or `None` once `1 + retries` were made.
    pub fn next_target(&mut self) -> Option<Target> {
        let attempt = self.made;
        if attempt > self.policy.retries {
            return None;
        }
        self.made += 1;
        let redispatch_now =
            self.policy.redispatch && attempt > 0 && attempt == self.policy.retries;
        Some(Target {
            attempt,
            same: self.prev.filter(|_| attempt > 0 && !redispatch_now),
            avoid: self.prev,
            reuse: if attempt == 0 {
                self.reuse
            } else {
                Reuse::Never
            },
            sticky: self.sticky.filter(|_| attempt == 0),
        })
    }

    /// The attempt just made, on `server`, failed.
    pub fn failed(&mut self, server: usize) {
        self.prev = Some(server);
    }
}

/// The sends of one HTTP request (see the module's doc).
#[derive(Debug, Clone)]
pub struct Replays {
    policy: RetryPolicy,
    /// Idempotent and without a body.
    replayable: bool,
    /// Replays left for failures on fresh connections.
    left: u32,
    reuse: Reuse,
    avoid: Option<usize>,
}

/// What the policy says about one send of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    replay: bool,
    reused: bool,
}

impl Replays {
    /// `reuse`: what the backend's `http_reuse` allows this request
    /// ([`Reuse::allowed`]); replays go on new connections whatever it is.
    pub fn new(policy: RetryPolicy, replayable: bool, reuse: Reuse) -> Replays {
        Replays {
            policy,
            replayable,
            left: policy.retries,
            reuse,
            avoid: None,
        }
    }

    /// How the next send connects: whether a pooled connection may carry it, and the
    /// server to leave out.
    pub fn next_send(&self) -> (Reuse, Option<usize>) {
        (self.reuse, self.avoid)
    }

    /// The request goes out on a connection to `server` (`reused`: a pooled one).
    pub fn start(&mut self, server: usize, reused: bool) -> Attempt {
        let replay = self.replayable && (reused || self.left > 0);
        if replay && !reused {
            // Should this send fail, the next one counts against `retries`.
            self.left -= 1;
            self.avoid = self.policy.redispatch.then_some(server);
        }
        Attempt { replay, reused }
    }

    /// Nothing came back from a send whose [`Attempt::may_replay`] was true: the next
    /// send goes on a fresh connection.
    pub fn replay(&mut self) {
        self.reuse = Reuse::Never;
    }
}

impl Attempt {
    /// The request may be sent again if nothing at all comes back.
    pub fn may_replay(self) -> bool {
        self.replay
    }

    /// A failure before any response byte counts against the server (passive health),
    /// except on a reused connection the server had closed, when the request is sent
    /// again: nobody's fault.
    pub fn counts_against_server(self) -> bool {
        !(self.replay && self.reused)
    }

    /// The connection had carried a request before this one.
    pub fn reused(self) -> bool {
        self.reused
    }

    /// Nothing at all came back for a request that may not be sent again: whether the
    /// client connection is closed without a response (so that the client sends the
    /// request again, as after any close of an idle keep-alive connection) rather than
    /// answered 502. HAProxy does so for every request but a client connection's first
    /// (`first`); ringlb only when the server connection was a reused one, where the
    /// server closing it as the request went out is the likely cause (a new connection
    /// that closes without answering is a server failure, worth its 502).
    pub fn close_silently(self, first: bool) -> bool {
        !first && self.reused
    }

    /// The request head could not be written whole, so the server cannot have acted
    /// on it: it may go again (on a new connection) when the policy allows a replay,
    /// and whatever the request when the connection was a reused one the server had
    /// closed (HAProxy retries such a failure too: `retry-on conn-failure`). Its body,
    /// if any, has not been read from the client yet.
    pub fn unsent_may_go_again(self) -> bool {
        self.replay || self.reused
    }
}

/// Connect to a server of `backend` as [`Connects`] directs. With `Reuse::Pooled` (or
/// `Proven`), an idle pooled connection to the picked server (a proven one) is taken
/// when there is one (the third value says so); the caller has looked at the client
/// connection's own one already. `avoid`: a server that just failed this request, left out of the
/// first pick when another one is usable. `origin`: who the client is, for the
/// header of a server with `send_proxy`.
pub async fn connect(
    worker: &Rc<Worker>,
    to: To,
    reuse: Reuse,
    avoid: Option<usize>,
    origin: Option<&Origin>,
) -> Result<(ServerLease, ServerStream, bool), SessionError> {
    let backend = to.backend;
    let settings = worker.backend_settings(backend);
    let mut connects = Connects::new(settings.retry, reuse, avoid, to.sticky);
    let mut last_error: Option<SessionError> = None;
    while let Some(target) = connects.next_target() {
        let Some((lease, addr)) = lease_for(worker, backend, to.peer, target).await? else {
            break;
        };
        if let Some(proven_only) = target.reuse.pool_asked() {
            let now = Instant::now();
            if let Some(stream) = worker.pool_take(backend, lease.server, now, proven_only) {
                return Ok((lease, stream, true));
            }
        }
        let timeout = settings.timeout_connect;
        match connect_to(worker, &lease, addr, timeout, to.peer, origin).await {
            Ok(stream) => return Ok((lease, stream, false)),
            // ringlb's own shortage: another server would fare no better.
            Err(e @ SessionError::Local(_)) => return Err(e),
            Err(e) => {
                let attempt = target.attempt;
                tracing::debug!(worker = worker.id(), attempt, "connect attempt failed: {e}");
                last_error = Some(e);
            }
        }
        connects.failed(lease.server);
    }
    // Only the failure path names the backend, so only it pays for the string.
    Err(last_error.unwrap_or_else(|| SessionError::NoServer(worker.backend_name(backend))))
}

/// Lease the server `target` names: the same one again if it still takes traffic,
/// else one the balancer picks (waiting in the queue if need be). `None`: no server.
async fn lease_for(
    worker: &Rc<Worker>,
    backend: usize,
    peer: SocketAddr,
    target: Target,
) -> Result<Option<(ServerLease, SocketAddr)>, SessionError> {
    if let Some(leased) = target.same.and_then(|s| worker.lease(backend, s)) {
        return Ok(Some(leased));
    }
    if let Some(leased) = target.sticky.and_then(|s| worker.lease_sticky(backend, s)) {
        return Ok(Some(leased));
    }
    match worker.acquire(backend, target.avoid, peer.ip()).await {
        Ok(leased) => Ok(Some(leased)),
        Err(NoSlot::NoServer) => Ok(None),
        Err(NoSlot::Queue(why)) => {
            let backend = worker.backend_name(backend);
            Err(SessionError::Queue { backend, why })
        }
    }
}

/// One connect to the leased server, with its PROXY header when it has `send_proxy`
/// and its TLS handshake when it has `tls`, all within `timeout`; counted for the
/// server whether it works or not.
async fn connect_to(
    worker: &Worker,
    lease: &ServerLease,
    addr: SocketAddr,
    timeout: Duration,
    peer: SocketAddr,
    origin: Option<&Origin>,
) -> Result<ServerStream, SessionError> {
    let (backend, server) = (lease.backend, lease.server);
    let started = Instant::now();
    let tls = worker.server_tls(backend, server);
    let stream = match monoio::time::timeout(timeout, TcpStream::connect_addr(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) if local_shortage(&source) => {
            // Out of descriptors, buffers or ports: not the server's fault.
            worker.faults().local_shortage(worker.id(), &source);
            return Err(SessionError::Local(source));
        }
        Ok(Err(source)) => {
            worker.record(backend, server, Outcome::ConnectFailed);
            let server = lease.server_name();
            return Err(SessionError::Connect { server, source });
        }
        Err(_) => {
            worker.record_connect_timeout(backend, server, timeout);
            let server = lease.server_name();
            return Err(SessionError::ConnectTimeout { server });
        }
    };
    let _ = stream.set_nodelay(true);
    let mut stream = stream;
    if let Some(version) = worker.server_send_proxy(backend, server) {
        let fallback;
        let origin = match origin {
            Some(o) => o,
            None => {
                fallback = Origin::of_peer(peer);
                &fallback
            }
        };
        if let Err(source) = send_proxy_header(worker, &mut stream, version, origin).await {
            worker.record(backend, server, Outcome::ConnectFailed);
            let server = lease.server_name();
            return Err(SessionError::Connect { server, source });
        }
    }
    let stream = match &tls {
        None => Ok(ServerStream::Plain(stream)),
        Some(tls) => {
            let left = timeout.saturating_sub(started.elapsed());
            connect_tls(&tls.client_config, tls.server_name.clone(), stream, left).await
        }
    };
    match stream {
        Ok(stream) => {
            worker.record_connect(backend, server, started.elapsed());
            Ok(stream)
        }
        Err(e) => {
            worker.record(backend, server, Outcome::ConnectFailed);
            let server = lease.server_name();
            let source = std::io::Error::other(e.to_string());
            Err(SessionError::Connect { server, source })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(retries: u32, redispatch: bool) -> RetryPolicy {
        RetryPolicy {
            retries,
            redispatch,
        }
    }

    /// The targets of a request whose every attempt fails, on servers 7, 8, 9...
    fn failing(mut c: Connects) -> Vec<Target> {
        let mut out = Vec::new();
        while let Some(t) = c.next_target() {
            out.push(t);
            c.failed(7 + t.attempt as usize);
        }
        out
    }

    fn target(attempt: u32, same: Option<usize>, avoid: Option<usize>, reuse: Reuse) -> Target {
        Target {
            attempt,
            same,
            avoid,
            reuse,
            sticky: None,
        }
    }

    #[test]
    fn a_sticky_server_is_tried_first_once_unless_it_is_avoided() {
        let got = failing(Connects::new(
            policy(2, false),
            Reuse::Pooled,
            None,
            Some(4),
        ));
        let sticky: Vec<_> = got.iter().map(|t| t.sticky).collect();
        assert_eq!(sticky, [Some(4), None, None]);
        // A replay after it failed there: the balancer picks, avoiding it.
        let got = failing(Connects::new(
            policy(0, false),
            Reuse::Never,
            Some(4),
            Some(4),
        ));
        assert_eq!(got, [target(0, None, Some(4), Reuse::Never)]);
    }

    #[test]
    fn retries_go_to_the_same_server() {
        let got = failing(Connects::new(policy(2, false), Reuse::Never, None, None));
        assert_eq!(
            got,
            [
                target(0, None, None, Reuse::Never),
                target(1, Some(7), Some(7), Reuse::Never),
                target(2, Some(8), Some(8), Reuse::Never),
            ]
        );
    }

    #[test]
    fn with_redispatch_the_last_retry_goes_elsewhere() {
        let got = failing(Connects::new(policy(2, true), Reuse::Never, None, None));
        assert_eq!(got[1], target(1, Some(7), Some(7), Reuse::Never));
        assert_eq!(got[2], target(2, None, Some(8), Reuse::Never));
        assert_eq!(got.len(), 3);
        // With one retry, that retry is the last one.
        let got = failing(Connects::new(policy(1, true), Reuse::Never, None, None));
        assert_eq!(got[1], target(1, None, Some(7), Reuse::Never));
    }

    #[test]
    fn no_retries_means_one_attempt_and_avoid_applies_to_it() {
        let got = failing(Connects::new(policy(0, true), Reuse::Pooled, Some(3), None));
        assert_eq!(got, [target(0, None, Some(3), Reuse::Pooled)]);
    }

    #[test]
    fn only_the_first_attempt_may_take_a_pooled_connection() {
        for reuse in [Reuse::Pooled, Reuse::Proven, Reuse::Own] {
            let got = failing(Connects::new(policy(2, false), reuse, None, None));
            let reuses: Vec<Reuse> = got.iter().map(|t| t.reuse).collect();
            assert_eq!(reuses, [reuse, Reuse::Never, Reuse::Never]);
        }
    }

    #[test]
    fn a_request_whose_head_could_not_be_written_on_a_reused_connection_goes_again() {
        // Not replayable (a body): again only when the connection was a reused one.
        let mut r = Replays::new(policy(3, true), false, Reuse::Pooled);
        assert!(r.start(1, true).unsent_may_go_again());
        r.replay();
        assert_eq!(r.next_send(), (Reuse::Never, None));
        assert!(!r.start(1, false).unsent_may_go_again());
        // Replayable: as for any failure before a response.
        let mut r = Replays::new(policy(1, false), true, Reuse::Never);
        assert!(r.start(1, false).unsent_may_go_again());
        r.replay();
        assert!(!r.start(1, false).unsent_may_go_again());
    }

    #[test]
    fn a_later_request_that_got_nothing_on_a_reused_connection_closes_the_client_silently() {
        let mut r = Replays::new(policy(3, true), false, Reuse::Pooled);
        let reused = r.start(1, true);
        assert!(reused.close_silently(false));
        // A client connection's first request gets its 502 (HAProxy's answer too).
        assert!(!reused.close_silently(true));
        // A new connection that closed without answering: the server's failure.
        assert!(!r.start(1, false).close_silently(false));
    }

    #[test]
    fn a_request_with_a_body_is_never_replayed() {
        let mut r = Replays::new(policy(3, true), false, Reuse::Pooled);
        assert_eq!(r.next_send(), (Reuse::Pooled, None));
        for reused in [true, false] {
            let a = r.start(1, reused);
            assert!(!a.may_replay());
            assert!(a.counts_against_server());
        }
    }

    #[test]
    fn a_replay_goes_on_a_new_connection_whatever_the_policy_allows() {
        for reuse in [Reuse::Own, Reuse::Proven, Reuse::Pooled] {
            let mut r = Replays::new(policy(3, true), true, reuse);
            assert_eq!(r.next_send(), (reuse, None));
            assert!(r.start(1, true).may_replay());
            r.replay();
            assert_eq!(r.next_send(), (Reuse::Never, None));
        }
    }

    #[test]
    fn what_each_http_reuse_allows_first_and_later_requests() {
        use HttpReuse::*;
        let allowed = |p| (Reuse::allowed(p, true), Reuse::allowed(p, false));
        // never: nothing shared; a client connection keeps its own connection.
        assert_eq!(allowed(Never), (Reuse::Own, Reuse::Own));
        // safe: a first request always on a new connection.
        assert_eq!(allowed(Safe), (Reuse::Never, Reuse::Pooled));
        // aggressive: a first request only on a proven one.
        assert_eq!(allowed(Aggressive), (Reuse::Proven, Reuse::Pooled));
        assert_eq!(allowed(Always), (Reuse::Pooled, Reuse::Pooled));
        assert_eq!(HttpReuse::default(), Safe);
    }

    #[test]
    fn which_connections_each_reuse_may_take() {
        let got = |r: Reuse| (r.own(), r.pool_asked());
        assert_eq!(got(Reuse::Never), (false, None));
        assert_eq!(got(Reuse::Own), (true, None));
        assert_eq!(got(Reuse::Proven), (true, Some(true)));
        assert_eq!(got(Reuse::Pooled), (true, Some(false)));
    }

    #[test]
    fn a_reused_connection_that_failed_is_replayed_at_once_and_not_held_against_the_server() {
        let mut r = Replays::new(policy(0, true), true, Reuse::Pooled);
        let a = r.start(4, true);
        assert!(a.may_replay());
        assert!(!a.counts_against_server());
        r.replay();
        // Fresh now, on any server; with no retries left, this one is final.
        assert_eq!(r.next_send(), (Reuse::Never, None));
        let a = r.start(4, false);
        assert!(!a.may_replay());
        assert!(a.counts_against_server());
    }

    #[test]
    fn fresh_connections_are_replayed_up_to_retries_times() {
        let mut r = Replays::new(policy(2, false), true, Reuse::Never);
        let mut sends = 0;
        loop {
            let (reuse, avoid) = r.next_send();
            assert_eq!(
                (reuse, avoid),
                (Reuse::Never, None),
                "no redispatch: no avoid"
            );
            let a = r.start(5, false);
            sends += 1;
            assert!(a.counts_against_server());
            if !a.may_replay() {
                break;
            }
            r.replay();
        }
        assert_eq!(sends, 3);
    }

    #[test]
    fn with_redispatch_a_replay_avoids_the_server_that_failed() {
        let mut r = Replays::new(policy(1, true), true, Reuse::Pooled);
        // A reused connection first: does not use up a retry, avoids nobody.
        assert!(r.start(2, true).may_replay());
        r.replay();
        assert_eq!(r.next_send(), (Reuse::Never, None));
        assert!(r.start(2, false).may_replay());
        r.replay();
        assert_eq!(r.next_send(), (Reuse::Never, Some(2)));
        let last = r.start(6, false);
        assert!(!last.may_replay());
        // The last send's server is not remembered: there is no next send.
        assert_eq!(r.next_send(), (Reuse::Never, Some(2)));
    }
}
