//! Listening sockets. All of them are bound on the main thread before any worker
//! starts (and by the control thread on reload), so a bind error stops start-up with
//! a clear message, and so that a bind to port 0 gets one port for every worker: the
//! first worker's socket takes whatever port the kernel gives, and the other workers
//! bind that same port (SO_REUSEPORT). Each worker then accepts on its own sockets;
//! the kernel spreads connections.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Config;

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

/// Whether a socket error is ringlb's own shortage rather than anything a peer did:
/// out of descriptors (EMFILE, ENFILE), of buffers or memory (ENOBUFS, ENOMEM), or of
/// local ports (EADDRNOTAVAIL on connect). Such an error must never count against a
/// server, in active or passive health.
pub fn local_shortage(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EADDRNOTAVAIL)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortages_are_local_peer_errors_are_not() {
        for code in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::EADDRNOTAVAIL,
        ] {
            assert!(
                local_shortage(&io::Error::from_raw_os_error(code)),
                "{code}"
            );
        }
        for code in [
            libc::ECONNREFUSED,
            libc::ETIMEDOUT,
            libc::ECONNRESET,
            libc::EHOSTUNREACH,
        ] {
            assert!(
                !local_shortage(&io::Error::from_raw_os_error(code)),
                "{code}"
            );
        }
        assert!(!local_shortage(&io::Error::other("no code")));
    }
}
