//! The way to a server, under one retry policy (a backend's `retries` and
//! `redispatch`):
//!
//! - **Connect attempts** ([`Connects`]): after a failed connect, `retries` more
//!   attempts, to the same server each time except that, with `redispatch`, the last
//!   one goes to another server (HAProxy's behaviour). A server that is no longer
//!   usable is never retried.
//! - The sends of one HTTP request, which idle connection each may take and when a
//!   request goes again, are decided in `sends.rs`.
//!
//! [`Connects`] is pure (it decides, it does no I/O) and tested here; [`connect`]
//! carries the connect attempts out.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use super::backend::Outcome;
use super::error::SessionError;
use super::h2::{open_stream, StreamOpts};
use super::lease::{NoSlot, ServerLease};
use super::preamble::{send_proxy_header, Origin};
use super::sends::Reuse;
use super::state::Worker;
use crate::config::ServerProto;
use crate::listen::local_shortage;
use crate::tls::{connect_tls, ServerStream};

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
/// balancing), the server its persistence cookie names and its key hash (for
/// `uri`, `url_param` and `hdr` balancing).
#[derive(Debug, Clone, Copy)]
pub struct To {
    pub backend: usize,
    pub peer: SocketAddr,
    pub sticky: Option<usize>,
    pub hash: Option<u32>,
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
    let (lease, stream, reused, _) = connect_with(worker, to, reuse, avoid, origin, None).await?;
    Ok((lease, stream, reused))
}

/// The way to a server is open: its lease, the stream, whether it was pooled, and when
/// it was had (one clock read, which the caller uses as the request's start).
pub type Opened = (ServerLease, ServerStream, bool, Instant);

/// As [`connect`], for one HTTP request: to a server with `proto = "h2"` the request
/// goes as a stream on one of this worker's HTTP/2 connections to it (`h2`).
pub async fn connect_http(
    worker: &Rc<Worker>,
    to: To,
    reuse: Reuse,
    avoid: Option<usize>,
    origin: Option<&Origin>,
    h2: StreamOpts,
) -> Result<Opened, SessionError> {
    connect_with(worker, to, reuse, avoid, origin, Some(h2)).await
}

async fn connect_with(
    worker: &Rc<Worker>,
    to: To,
    reuse: Reuse,
    avoid: Option<usize>,
    origin: Option<&Origin>,
    h2: Option<StreamOpts>,
) -> Result<Opened, SessionError> {
    let backend = to.backend;
    let settings = worker.backend_settings(backend);
    let mut connects = Connects::new(settings.retry, reuse, avoid, to.sticky);
    let mut last_error: Option<SessionError> = None;
    while let Some(target) = connects.next_target() {
        let Some((lease, addr, now)) = lease_for(worker, to, target, Instant::now()).await? else {
            break;
        };
        let timeout = settings.timeout_connect;
        let opened = match h2
            .filter(|_| worker.server_proto(backend, lease.server) == ServerProto::H2)
        {
            Some(opts) => open_stream(worker, &lease, addr, timeout, to.peer, origin, opts).await,
            None => {
                if let Some(proven_only) = target.reuse.pool_asked() {
                    if let Some(stream) = worker.pool_take(backend, lease.server, now, proven_only)
                    {
                        return Ok((lease, stream, true, now));
                    }
                }
                // Boxed: a new connection (and its TLS handshake's state) is the rare
                // path; a request on a pooled connection keeps its future small.
                Box::pin(connect_to(worker, &lease, addr, timeout, to.peer, origin))
                    .await
                    .map(|s| (s, false))
            }
        };
        match opened {
            Ok((stream, reused)) => return Ok((lease, stream, reused, Instant::now())),
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
/// `now`: the clock, returned with the lease (read again after a wait in the queue).
async fn lease_for(
    worker: &Rc<Worker>,
    to: To,
    target: Target,
    now: Instant,
) -> Result<Option<(ServerLease, SocketAddr, Instant)>, SessionError> {
    let backend = to.backend;
    let same = target.same.and_then(|s| worker.lease(backend, s));
    if let Some((lease, addr)) =
        same.or_else(|| target.sticky.and_then(|s| worker.lease_sticky(backend, s)))
    {
        return Ok(Some((lease, addr, now)));
    }
    match worker
        .acquire(backend, target.avoid, (to.peer.ip(), to.hash), now)
        .await
    {
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
pub(super) async fn connect_to(
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
    let stream = match super::timer::within(timeout, TcpStream::connect_addr(addr)).await {
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
    if worker.backend_tcp_keepalive(backend) {
        crate::listen::keep_alive(&stream);
    }
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
            // Boxed: the handshake's timeout is the tls module's (monoio's, 128-byte
            // aligned), which would make every connect's future aligned (`timer.rs`).
            Box::pin(connect_tls(
                &tls.client_config,
                tls.server_name.clone(),
                stream,
                left,
            ))
            .await
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
}
