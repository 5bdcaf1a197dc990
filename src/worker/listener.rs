//! Listening sockets. All of them are bound on the main thread before any worker
//! starts, so a bind error stops start-up with a clear message, and so that a bind to
//! port 0 gets one port for every worker: the first worker's socket takes whatever
//! port the kernel gives, and the other workers bind that same port (SO_REUSEPORT).
//! Each worker then accepts on its own sockets; the kernel spreads connections.

use socket2::{Domain, Protocol, Socket, Type};
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use super::http::serve_http;
use super::local::{Flag, GateTicket};
use super::session::serve_tcp;
use super::state::Worker;
use super::stream::{accept_tls, ClientStream};
use crate::config::{Config, Mode};

const BACKLOG: i32 = 4096;

#[derive(Debug, thiserror::Error)]
#[error("frontend {frontend:?}: cannot listen on {addr}: {source}")]
pub struct BindError {
    pub frontend: String,
    pub addr: SocketAddr,
    #[source]
    pub source: io::Error,
}

/// One bound socket of one worker.
#[derive(Debug)]
pub struct BoundListener {
    pub frontend: usize,
    pub addr: SocketAddr,
    pub socket: std::net::TcpListener,
}

/// Bind every frontend address once per worker. Returns `[worker][listener]`.
pub fn bind_all(config: &Config) -> Result<Vec<Vec<BoundListener>>, BindError> {
    let workers = config.global.workers;
    let mut per_worker: Vec<Vec<BoundListener>> = (0..workers).map(|_| Vec::new()).collect();
    for (fe_index, fe) in config.frontends.iter().enumerate() {
        for &wanted in &fe.binds {
            let freebind = config.is_virtual_ip(wanted.ip());
            let bound = bind_for_workers(workers, fe_index, &fe.name, wanted, freebind)?;
            for (listeners, b) in per_worker.iter_mut().zip(bound) {
                listeners.push(b);
            }
        }
    }
    Ok(per_worker)
}

/// Bind `wanted` once for each of `workers` workers: the first bind resolves port 0,
/// the others bind the port it got. `freebind` (a virtual IP that VRRP adds only
/// while this host is master) lets the bind succeed before the address exists.
pub fn bind_for_workers(
    workers: usize,
    frontend: usize,
    name: &str,
    wanted: SocketAddr,
    freebind: bool,
) -> Result<Vec<BoundListener>, BindError> {
    let mut addr = wanted;
    let mut out = Vec::with_capacity(workers);
    for _ in 0..workers {
        let err = |source| BindError {
            frontend: name.to_string(),
            addr,
            source,
        };
        let socket = bind_one(addr, freebind).map_err(err)?;
        addr = socket.local_addr().map_err(err)?;
        out.push(BoundListener {
            frontend,
            addr,
            socket,
        });
    }
    Ok(out)
}

fn bind_one(addr: SocketAddr, freebind: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if freebind {
        match addr {
            SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
            SocketAddr::V6(_) => socket.set_freebind_v6(true)?,
        }
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// A listener of this worker: which frontend it serves now (a reload may change
/// that) and the flag that stops it (a reload that drops its address).
pub struct ListenerSlot {
    pub addr: SocketAddr,
    pub frontend: Rc<Cell<usize>>,
    pub stop: Rc<Flag>,
}

/// Start accepting on `bound`.
pub fn start(worker: &Rc<Worker>, bound: BoundListener) {
    let slot = ListenerSlot {
        addr: bound.addr,
        frontend: Rc::new(Cell::new(bound.frontend)),
        stop: Rc::new(Flag::default()),
    };
    monoio::spawn(accept_loop(
        Rc::clone(worker),
        bound,
        Rc::clone(&slot.frontend),
        Rc::clone(&slot.stop),
    ));
    worker.listeners.borrow_mut().push(slot);
}

/// After a reload: listeners whose address stays serve the frontend `keep` names; the
/// others stop accepting (their open connections go on).
pub fn keep_only(worker: &Worker, keep: &[(SocketAddr, usize)]) {
    worker
        .listeners
        .borrow_mut()
        .retain(|l| match keep.iter().find(|(a, _)| *a == l.addr) {
            Some((_, fe)) => {
                l.frontend.set(*fe);
                true
            }
            None => {
                l.stop.raise();
                false
            }
        });
}

/// Accept on one listener until the worker stops or the listener is dropped. At the
/// worker's connection limit, accepting pauses (connections wait in the kernel's
/// backlog) until one ends.
async fn accept_loop(
    worker: Rc<Worker>,
    bound: BoundListener,
    frontend: Rc<Cell<usize>>,
    stop: Rc<Flag>,
) {
    let addr = bound.addr;
    let listener = match monoio::net::TcpListener::from_std(bound.socket) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(worker = worker.id, %addr, "cannot register listener: {e}");
            return;
        }
    };
    loop {
        monoio::select! {
            _ = worker.gate.wait_below_limit() => {}
            _ = worker.stopping.wait() => break,
            _ = stop.wait() => break,
        }
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = worker.stopping.wait() => break,
            _ = stop.wait() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                worker.gate.enter();
                let fe = frontend.get();
                worker.with_frontend_stats(fe, |s| {
                    s.current += 1;
                    s.connections += 1;
                });
                let w = Rc::clone(&worker);
                monoio::spawn(async move {
                    let _ticket = GateTicket(Rc::clone(&w.gate));
                    let frontend = w.frontend(fe);
                    let mut tls_label = None;
                    let client = match &frontend.tls {
                        None => {
                            let _ = stream.set_nodelay(true);
                            Some(ClientStream::Plain(stream))
                        }
                        Some(tls) => {
                            let limit = frontend.timeout_client_handshake;
                            match accept_tls(&tls.server_config, stream, limit).await {
                                Ok((c, info)) => {
                                    w.with_frontend_stats(fe, |s| match info.version {
                                        "TLSv1.3" => s.tls13 += 1,
                                        _ => s.tls12 += 1,
                                    });
                                    tracing::debug!(worker = w.id, %peer, version = info.version, cipher = %info.cipher, sni = ?info.sni, "TLS handshake done");
                                    tls_label = Some((info.version, info.cipher));
                                    Some(c)
                                }
                                Err(e) => {
                                    w.with_frontend_stats(fe, |s| s.tls_failures += 1);
                                    tracing::debug!(worker = w.id, %peer, "{e}");
                                    None
                                }
                            }
                        }
                    };
                    if let Some(client) = client {
                        let result = match frontend.mode {
                            Mode::Tcp => {
                                serve_tcp(Rc::clone(&w), fe, client, peer, tls_label).await
                            }
                            Mode::Http => {
                                serve_http(Rc::clone(&w), fe, client, peer, tls_label).await
                            }
                        };
                        if let Err(e) = result {
                            tracing::debug!(worker = w.id, %peer, "session ended: {e}");
                        }
                    }
                    w.with_frontend_stats(fe, |s| s.current -= 1);
                });
            }
            Err(e) => {
                // EMFILE/ENFILE and the like: back off instead of spinning on the error.
                tracing::warn!(worker = worker.id, %addr, "accept failed: {e}");
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Dropping the listener is not enough: an io_uring accept still in flight keeps the
    // socket open until its cancellation completes. shutdown() takes a listening socket
    // out of its SO_REUSEPORT group at once, so new connections are refused right away.
    // SAFETY: plain syscall on a descriptor we own and keep open until the drop below.
    unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
    drop(listener);
    tracing::info!(worker = worker.id, %addr, "stopped accepting");
}
