//! Listening sockets. All of them are bound on the main thread before any worker
//! starts, so a bind error stops start-up with a clear message, and so that a bind to
//! port 0 gets one port for every worker: the first worker's socket takes whatever
//! port the kernel gives, and the other workers bind that same port (SO_REUSEPORT).
//! Each worker then accepts on its own sockets; the kernel spreads connections.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::http::serve_http;
use super::local::GateTicket;
use super::session::serve_tcp;
use super::state::Worker;
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
            let mut addr = wanted;
            for listeners in per_worker.iter_mut() {
                let err = |source| BindError {
                    frontend: fe.name.clone(),
                    addr,
                    source,
                };
                let socket = bind_one(addr).map_err(err)?;
                addr = socket.local_addr().map_err(err)?;
                listeners.push(BoundListener {
                    frontend: fe_index,
                    addr,
                    socket,
                });
            }
        }
    }
    Ok(per_worker)
}

fn bind_one(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Accept on one listener until the worker stops. At the worker's connection limit,
/// accepting pauses (connections wait in the kernel's backlog) until one ends.
pub async fn accept_loop(worker: Rc<Worker>, bound: BoundListener) {
    let addr = bound.addr;
    let frontend = bound.frontend;
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
        }
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = worker.stopping.wait() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                worker.gate.enter();
                let w = Rc::clone(&worker);
                monoio::spawn(async move {
                    let _ticket = GateTicket(Rc::clone(&w.gate));
                    let result = match w.frontends[frontend].mode {
                        Mode::Tcp => serve_tcp(Rc::clone(&w), frontend, stream, peer).await,
                        Mode::Http => serve_http(Rc::clone(&w), frontend, stream, peer).await,
                    };
                    if let Err(e) = result {
                        tracing::debug!(worker = w.id, %peer, "session ended: {e}");
                    }
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
