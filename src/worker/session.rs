//! A TCP-mode session: pick a server, connect (with retries and redispatch), relay.

use std::net::SocketAddr;
use std::rc::Rc;

use monoio::net::TcpStream;

use super::access::Record;
use super::apply::Outcome;
use super::error::SessionError;
use super::relay::{relay, Timeouts};
use super::state::{NoSlot, ServerLease, Worker};
use crate::tls::{connect_tls, ClientStream, ServerStream};

/// Whether a request may go on a pooled server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    Never,
    /// An idle pooled connection to the picked server, when one passes its check.
    Pooled,
}

/// Serve one accepted client connection of frontend `fe` until both sides close.
pub async fn serve_tcp(
    worker: Rc<Worker>,
    fe: usize,
    client: ClientStream,
    peer: SocketAddr,
    tls: Option<(&'static str, &'static str)>,
) -> Result<(), SessionError> {
    let frontend = worker.frontend(fe);
    let backend = frontend.default_backend.unwrap_or(0);
    let started = std::time::Instant::now();
    let mut rec = Record::new(peer, fe, tls, worker.access.is_some());
    rec.backend = Some(backend);
    let (lease, server, _) = match connect(&worker, backend, peer, Reuse::Never, None).await {
        Ok(c) => c,
        Err(e) => {
            worker.log_access(&rec, b"");
            return Err(e);
        }
    };
    rec.server = Some(lease.server);
    worker.record(backend, lease.server, Outcome::Connected(started.elapsed()));
    let (server_timeout, tunnel) = {
        let backends = worker.backends.borrow();
        let b = &backends[backend].config;
        (b.timeout_server, b.timeout_tunnel)
    };
    // HAProxy: once both sides are connected, `timeout tunnel` (when set) replaces
    // the client and server timeouts.
    let timeouts = match frontend.timeout_tunnel.or(tunnel) {
        Some(t) => Timeouts {
            client: t,
            server: t,
        },
        None => Timeouts {
            client: frontend.timeout_client,
            server: server_timeout,
        },
    };
    let buffers = (worker.take_buffer(), worker.take_buffer());
    let result = relay(client, server, timeouts, buffers).await;
    drop(lease);
    if let Ok((stats, _, _)) = &result {
        rec.bytes_in = stats.to_server;
        rec.bytes_out = stats.to_client;
    }
    worker.log_access(&rec, b"");
    match result {
        Ok((stats, b0, b1)) => {
            worker.give_buffer(b0);
            worker.give_buffer(b1);
            tracing::debug!(worker = worker.id, %peer, to_server = stats.to_server, to_client = stats.to_client, "session closed");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Connect to a server of `backend`: `retries` more attempts after a failure, the same
/// server each time except that, with `redispatch`, the last attempt goes to another
/// server (HAProxy's behaviour). A server that is no longer usable is never retried.
/// With `Reuse::Pooled`, an idle pooled connection to the picked server is taken when
/// there is one (the third value says so). `avoid`: a server that just failed this
/// request, left out of the first pick when another one is usable.
pub async fn connect(
    worker: &Rc<Worker>,
    backend: usize,
    peer: SocketAddr,
    reuse: Reuse,
    avoid: Option<usize>,
) -> Result<(ServerLease, ServerStream, bool), SessionError> {
    let (retries, redispatch, connect_timeout) = {
        let backends = worker.backends.borrow();
        let b = &backends[backend].config;
        (b.retries, b.redispatch, b.timeout_connect)
    };
    let mut prev: Option<usize> = None;
    let mut last_error: Option<SessionError> = None;
    for attempt in 0..=retries {
        let redispatch_now = redispatch && attempt > 0 && attempt == retries;
        if attempt == 0 {
            prev = avoid;
        }
        let same = prev
            .filter(|_| !redispatch_now && attempt > 0)
            .and_then(|s| worker.lease(backend, s));
        let (lease, addr) = match same {
            Some(l) => l,
            None => match worker.acquire(backend, prev, peer.ip()).await {
                Ok(l) => l,
                Err(NoSlot::NoServer) => break,
                Err(NoSlot::Queue(why)) => {
                    let backend = worker.backends.borrow()[backend].config.name.clone();
                    return Err(SessionError::Queue { backend, why });
                }
            },
        };
        if let (Reuse::Pooled, 0) = (reuse, attempt) {
            let now = std::time::Instant::now();
            if let Some(stream) = worker.pool.take(backend, lease.server, now) {
                return Ok((lease, stream, true));
            }
        }
        let started = std::time::Instant::now();
        let tls = worker.backends.borrow()[backend].config.servers[lease.server]
            .tls
            .clone();
        match monoio::time::timeout(connect_timeout, TcpStream::connect_addr(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                let stream = match &tls {
                    None => Ok(ServerStream::Plain(stream)),
                    Some(tls) => {
                        let left = connect_timeout.saturating_sub(started.elapsed());
                        connect_tls(&tls.client_config, tls.server_name.clone(), stream, left).await
                    }
                };
                match stream {
                    Ok(stream) => {
                        worker.record_connect(backend, lease.server, started.elapsed());
                        return Ok((lease, stream, false));
                    }
                    Err(e) => {
                        worker.record(backend, lease.server, Outcome::ConnectFailed);
                        let server = lease.server_name();
                        let source = std::io::Error::other(e.to_string());
                        last_error = Some(SessionError::Connect { server, source });
                    }
                }
            }
            Ok(Err(source)) => {
                worker.record(backend, lease.server, Outcome::ConnectFailed);
                let server = lease.server_name();
                last_error = Some(SessionError::Connect { server, source });
            }
            Err(_) => {
                worker.record_connect_timeout(backend, lease.server, connect_timeout);
                let server = lease.server_name();
                last_error = Some(SessionError::ConnectTimeout { server });
            }
        }
        if let Some(e) = &last_error {
            tracing::debug!(worker = worker.id, attempt, "connect attempt failed: {e}");
        }
        prev = Some(lease.server);
    }
    // Only the failure path names the backend, so only it pays for the string.
    Err(last_error.unwrap_or_else(|| {
        SessionError::NoServer(worker.backends.borrow()[backend].config.name.clone())
    }))
}
