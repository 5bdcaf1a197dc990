//! A TCP-mode session: pick a server (by the ClientHello's SNI on a frontend with
//! `sni` routes), connect (with retries and redispatch, see `upstream`), relay.

use std::net::SocketAddr;
use std::rc::Rc;

use super::access::Record;
use super::backend::{Outcome, Settings};
use super::error::SessionError;
use super::local::Flag;
use super::preamble::{forward_hello, read_hello, sni_backend, Origin};
use super::relay::{relay, RelayStats, Timeouts};
use super::sends::Reuse;
use super::splice::relay_plain;
use super::state::Worker;
use super::upstream::{connect, To};
use crate::config::Frontend;
use crate::tls::{ClientStream, ServerStream};

/// Serve one accepted client connection of frontend `fe` until both sides close.
pub async fn serve_tcp(
    worker: Rc<Worker>,
    fe: usize,
    mut client: ClientStream,
    peer: SocketAddr,
    tls: Option<(&'static str, &'static str)>,
    mut origin: Option<Origin>,
    dst_port: u16,
) -> Result<(), SessionError> {
    let frontend = worker.frontend(fe);
    let started = std::time::Instant::now();
    let mut buffers = (worker.take_buffer(), worker.take_buffer());
    let backend = match frontend.sni_routes.is_empty() {
        true => frontend.default_backend,
        // Boxed: only frontends with `sni` routes read the hello, and the session's
        // future is copied whole when its task is spawned.
        false => {
            Box::pin(by_sni(
                &worker,
                fe,
                &frontend,
                &mut client,
                peer,
                &mut buffers,
                &mut origin,
            ))
            .await
        }
    };
    if buffers.0.capacity() == 0 {
        // A timed-out read took the buffer with it.
        buffers.0 = worker.take_buffer();
    }
    let mut rec = Record::new(peer, fe, tls, worker.logging());
    // A ClientHello read to route by SNI is the client's bytes, sent or not.
    rec.bytes_in = buffers.0.len() as u64;
    let Some(backend) = backend else {
        worker.give_buffer(buffers.0);
        worker.give_buffer(buffers.1);
        log_session(&worker, &frontend, &rec);
        return Err(SessionError::NoServer(format!(
            "(frontend {:?}: no route)",
            frontend.name
        )));
    };
    rec.backend = Some(backend);
    let to = To {
        backend,
        peer,
        // `use_server` rules of the backend, if any.
        sticky: use_server(&worker, backend, peer, tls, dst_port),
        hash: None,
    };
    let connected = connect(&worker, to, Reuse::Never, None, origin.as_ref()).await;
    let (lease, mut server, _) = match connected {
        Ok(c) => c,
        Err(e) => return fail(&worker, &frontend, &mut rec, buffers, e),
    };
    rec.server = Some(lease.server);
    let connected = started.elapsed();
    rec.t_connect = Some(connected);
    worker.record(backend, lease.server, Outcome::Connected(connected));
    worker.with_frontend_stats(fe, |s| s.latency_buckets.record(connected));
    if !buffers.0.is_empty() {
        // The ClientHello (and whatever came with it) goes first, untouched.
        rec.bytes_in = buffers.0.len() as u64;
        let (res, b) = forward_hello(&mut server, std::mem::take(&mut buffers.0)).await;
        buffers.0 = b;
        if let Err(source) = res {
            let e = SessionError::Io(super::error::Side::Server, source);
            return fail(&worker, &frontend, &mut rec, buffers, e);
        }
        buffers.0.clear();
    }
    buffers.1.clear();
    // HAProxy's `option logasap`: the line is written once the server is connected
    // (unless it is an empty connection's, which waits to see whether bytes come).
    if frontend.log_asap && rec.timed() && (rec.bytes_in > 0 || frontend.log_empty_connections) {
        rec.asap = true;
        worker.log_access(&rec, b"");
    }
    let timeouts = tunnel_timeouts(&frontend, &worker.backend_settings(backend));
    // With `on_marked_down = "shutdown_sessions"`: or until the server is marked down.
    let kill = worker.kill_flag(backend, lease.server);
    let result = relay_until_down(kill, client, server, timeouts, buffers).await;
    drop(lease);
    finish(&worker, &frontend, rec, result, peer)
}

/// The server `use_server` rules of `backend` pick for a connection, if any.
fn use_server(
    worker: &Worker,
    backend: usize,
    peer: SocketAddr,
    tls: Option<(&'static str, &'static str)>,
    dst_port: u16,
) -> Option<usize> {
    let facts = crate::rules::Facts {
        tls_version: tls.map(|t| t.0),
        ..crate::rules::Facts::connection(peer.ip(), dst_port)
    };
    super::rules_backend::use_server(worker, backend, &facts)
}

/// Relay until both sides close. Plain TCP on both sides: bulk moves by splice (see
/// `splice`); TLS is copied. Or until `kill` is raised, the server being marked down
/// (both sockets close with the relay; its buffers are not reused).
async fn relay_until_down(
    kill: Option<Rc<Flag>>,
    client: ClientStream,
    server: ServerStream,
    timeouts: Timeouts,
    buffers: (Vec<u8>, Vec<u8>),
) -> Result<(RelayStats, Vec<u8>, Vec<u8>), SessionError> {
    let relayed = async {
        match (client, server) {
            (ClientStream::Plain(c), ServerStream::Plain(s)) => {
                relay_plain(c, s, timeouts, buffers).await
            }
            (c, s) => relay(c, s, timeouts, buffers).await,
        }
    };
    match kill {
        None => relayed.await,
        Some(flag) => monoio::select! {
            r = relayed => r,
            _ = flag.wait() => Err(marked_down()),
        },
    }
}

/// A session that ends before its relay (with `e`): its record says why, its
/// access line is written, its buffers go back.
fn fail(
    worker: &Worker,
    frontend: &Frontend,
    rec: &mut Record,
    buffers: (Vec<u8>, Vec<u8>),
    e: SessionError,
) -> Result<(), SessionError> {
    worker.give_buffer(buffers.0);
    worker.give_buffer(buffers.1);
    rec.ended_by(&e);
    log_session(worker, frontend, rec);
    Err(e)
}

/// The end of a relayed session: its bytes or why it ended in its record, its access
/// line (unless written at connect), its buffers back to the pool.
fn finish(
    worker: &Worker,
    frontend: &Frontend,
    mut rec: Record,
    result: Result<(RelayStats, Vec<u8>, Vec<u8>), SessionError>,
    peer: SocketAddr,
) -> Result<(), SessionError> {
    match &result {
        Ok((stats, _, _)) => {
            rec.bytes_in += stats.to_server;
            rec.bytes_out = stats.to_client;
        }
        Err(e) => rec.ended_by(e),
    }
    if !rec.asap {
        log_session(worker, frontend, &rec);
    }
    match result {
        Ok((stats, b0, b1)) => {
            worker.give_buffer(b0);
            worker.give_buffer(b1);
            tracing::debug!(worker = worker.id(), %peer, to_server = stats.to_server, to_client = stats.to_client, "session closed");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// How a session shut down by its server being marked down ends.
fn marked_down() -> SessionError {
    let why = "server marked down: session shut down (on_marked_down)";
    SessionError::Io(
        super::error::Side::Server,
        std::io::Error::new(std::io::ErrorKind::ConnectionAborted, why),
    )
}

/// The session's access line, unless its client sent no byte and the frontend says not
/// to log those (`log_empty_connections = false`, HAProxy's `option dontlognull`).
fn log_session(worker: &Worker, frontend: &Frontend, rec: &Record) {
    if rec.bytes_in > 0 || frontend.log_empty_connections {
        worker.log_access(rec, b"");
    }
}

/// The backend the ClientHello's SNI names on a frontend with `sni` routes (the
/// hello's bytes are left in `buffers.0`, to go first to the server), or what
/// `sni_fallback` says when there is no readable hello. `None`: close.
async fn by_sni(
    worker: &Worker,
    fe: usize,
    frontend: &Frontend,
    client: &mut ClientStream,
    peer: SocketAddr,
    buffers: &mut (Vec<u8>, Vec<u8>),
    origin: &mut Option<Origin>,
) -> Option<usize> {
    let limit = frontend.timeout_client_handshake;
    match read_hello(client, &mut buffers.0, &mut buffers.1, limit).await {
        Ok(sni) => {
            // The reader lets only ASCII host-name bytes through.
            let name = sni.and_then(|r| std::str::from_utf8(&buffers.1[r]).ok());
            if let (Some(o), Some(n)) = (origin.as_mut(), name) {
                o.sni = Some(n.into());
            }
            tracing::debug!(worker = worker.id(), %peer, sni = ?name, "ClientHello read");
            sni_backend(frontend, name)
        }
        Err(f) => {
            worker.with_frontend_stats(fe, |s| s.hello_failures[f.why] += 1);
            let why = crate::msg::stats::HELLO_FAILURES[f.why];
            tracing::debug!(worker = worker.id(), %peer, why, "no ClientHello for SNI routing");
            if !f.intact {
                buffers.0.clear();
            }
            frontend
                .default_backend
                .filter(|_| frontend.sni_fallback_default && f.intact)
        }
    }
}

/// The timeouts of a relay (TCP mode, or an upgraded HTTP connection). HAProxy: once
/// both sides are connected, `timeout tunnel` (when set) replaces the client and
/// server timeouts; once a direction is closed, `timeout_client_fin` and
/// `timeout_server_fin` (when set) replace them.
pub fn tunnel_timeouts(fe: &Frontend, backend: &Settings) -> Timeouts {
    let (client, server) = match fe.timeout_tunnel.or(backend.timeout_tunnel) {
        Some(t) => (t, t),
        None => (fe.timeout_client, backend.timeout_server),
    };
    Timeouts {
        client,
        server,
        client_fin: fe.timeout_client_fin,
        server_fin: backend.timeout_server_fin,
    }
}

#[cfg(test)]
mod tests {
    use crate::worker::http::sizes::{ret4, ret7};

    /// No timer held inline anywhere in a TCP session (monoio's `Sleep` is 128-byte
    /// aligned; see `timer.rs`): its box, one per connection, is a plain allocation.
    #[test]
    fn a_tcp_session_holds_no_timer_inline() {
        let sessions = [
            ("serve_tcp", ret7(super::serve_tcp)),
            ("relay_plain", ret4(crate::worker::splice::relay_plain)),
        ];
        for (name, (size, align)) in sessions {
            println!("{name:12} {size:6} bytes, aligned to {align}");
            assert!(align <= 16, "{name} is aligned to {align}");
        }
    }
}
