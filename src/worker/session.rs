//! A TCP-mode session: pick a server, connect (with retries and redispatch, see
//! `upstream`), relay.

use std::net::SocketAddr;
use std::rc::Rc;

use super::access::Record;
use super::backend::{Outcome, Settings};
use super::error::SessionError;
use super::relay::{relay, Timeouts};
use super::state::Worker;
use super::upstream::{connect, Reuse, To};
use crate::config::Frontend;
use crate::tls::ClientStream;

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
    let mut rec = Record::new(peer, fe, tls, worker.logging());
    rec.backend = Some(backend);
    let (lease, server, _) = match connect(
        &worker,
        To {
            backend,
            peer,
            sticky: None,
        },
        Reuse::Never,
        None,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            rec.ended_by(&e);
            worker.log_access(&rec, b"");
            return Err(e);
        }
    };
    rec.server = Some(lease.server);
    let connected = started.elapsed();
    rec.t_connect = Some(connected);
    worker.record(backend, lease.server, Outcome::Connected(connected));
    let timeouts = tunnel_timeouts(&frontend, &worker.backend_settings(backend));
    let buffers = (worker.take_buffer(), worker.take_buffer());
    let result = relay(client, server, timeouts, buffers).await;
    drop(lease);
    match &result {
        Ok((stats, _, _)) => {
            rec.bytes_in = stats.to_server;
            rec.bytes_out = stats.to_client;
        }
        Err(e) => rec.ended_by(e),
    }
    worker.log_access(&rec, b"");
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

/// The timeouts of a relay (TCP mode, or an upgraded HTTP connection). HAProxy: once
/// both sides are connected, `timeout tunnel` (when set) replaces the client and
/// server timeouts.
pub fn tunnel_timeouts(fe: &Frontend, backend: &Settings) -> Timeouts {
    match fe.timeout_tunnel.or(backend.timeout_tunnel) {
        Some(t) => Timeouts {
            client: t,
            server: t,
        },
        None => Timeouts {
            client: fe.timeout_client,
            server: backend.timeout_server,
        },
    }
}
