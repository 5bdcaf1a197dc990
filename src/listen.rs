//! Listening sockets. All of them are bound on the main thread before any worker
//! starts (and by the control thread on reload), so a bind error stops start-up with
//! a clear message, and so that a bind to port 0 gets one port for every worker: the
//! first worker's socket takes whatever port the kernel gives, and the other workers
//! bind that same port (SO_REUSEPORT). Each worker then accepts on its own sockets;
//! the kernel spreads connections by its hash of the 4-tuple, or, with
//! `steering = "source"`, a program attached to the address's group sends each client
//! to one worker by its source address ([`steer`]).
//!
//! | file | what |
//! |---|---|
//! | `listen.rs` | binding every worker's sockets, start-up and reload; TCP_DEFER_ACCEPT on a group (`defer_accept`); which socket errors are ringlb's own; keep-alive probes on a connection |
//! | `listen/steer.rs` | the classic BPF program that steers each client to one worker by source address |

pub mod steer;

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{Config, Steering};

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
            let bound =
                bind_for_workers(workers, fe_index, &fe.name, wanted, freebind, fe.steering)?;
            if fe.defer_accept {
                let sockets: Vec<_> = bound.iter().map(|b| &b.socket).collect();
                set_defer_accept(&sockets, true, &fe.name);
            }
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
/// The sockets join the reuseport group in worker order, so socket *i* of the group is
/// worker *i*'s; with [`Steering::Source`] the steering program is attached once all
/// are bound, and failing to attach it fails the bind (operators who ask for it want
/// exact per-client limits: a silent fallback to the kernel's hash would split them).
pub fn bind_for_workers(
    workers: usize,
    frontend: usize,
    name: &str,
    wanted: SocketAddr,
    freebind: bool,
    steering: Steering,
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
    if let (Steering::Source, Some(first)) = (steering, out.first()) {
        steer::attach(&first.socket, workers).map_err(|e| BindError {
            frontend: name.to_string(),
            addr,
            source: io::Error::new(
                e.kind(),
                format!("cannot attach the steering program (steering = \"source\"): {e}"),
            ),
        })?;
    }
    Ok(out)
}

/// One listening socket on `addr` with `SO_REUSEPORT` (it joins the group of that
/// address, if there is one, at its end).
pub fn bind_one(addr: SocketAddr, freebind: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if freebind {
        match addr {
            SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
            SocketAddr::V6(_) => socket.set_freebind_v6(true)?,
        }
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    // Set once here for every connection: Linux gives each accepted socket a copy of
    // its listener's TCP options, TCP_NODELAY included, so the workers do not set it
    // again per connection (a setsockopt each; see `accepted_sockets_inherit_nodelay`).
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// A second descriptor of each socket (the same socket, not a new bind): what the
/// supervisor keeps to hand the sockets over in a binary upgrade.
pub fn duplicates(bound: &[BoundListener]) -> io::Result<Vec<std::os::fd::OwnedFd>> {
    bound
        .iter()
        .map(|b| b.socket.try_clone().map(Into::into))
        .collect()
}

/// TCP_DEFER_ACCEPT on every socket of one address's group (a frontend's
/// `defer_accept`, HAProxy's bind option `defer-accept`, with HAProxy's value: one
/// second). On, the kernel hands a connection to `accept` once its first bytes have
/// arrived, so the first read finds the request there. A client that sends nothing
/// is still handed over, after about a second (the kernel resends its SYN-ACK once,
/// then takes the client's ACK), and meets the usual timeouts. Off clears it: a
/// socket kept by a reload or handed over by a binary upgrade may have it. Called for
/// every group on start, reload and upgrade; a failure is logged and leaves the
/// socket as it was (HAProxy warns and goes on).
pub fn set_defer_accept<S: std::os::fd::AsFd>(group: &[S], on: bool, frontend: &str) {
    let seconds = libc::c_int::from(on);
    for socket in group {
        // SAFETY: setsockopt on a descriptor `group` keeps open, with a c_int value.
        let r = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&socket.as_fd()),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                std::ptr::from_ref(&seconds).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            tracing::warn!(frontend, "cannot set TCP_DEFER_ACCEPT to {on}: {e}");
        }
    }
}

/// What to say when [`in_use`] finds an address taken.
pub const IN_USE_ELSEWHERE: &str = "address in use by another process (another ringlb? \
SO_REUSEPORT would let both listen and split the connections between them)";

/// Whether a socket already listens on `addr`, or on the wildcard address of its
/// port, whoever owns it: a bind *without* `SO_REUSEPORT` fails with EADDRINUSE.
/// `SO_REUSEADDR` keeps connections in TIME_WAIT from counting, `freebind` is as
/// for the real bind (virtual IPs). Other errors are left for the real bind.
pub fn in_use(addr: SocketAddr, freebind: bool) -> bool {
    let probe = || -> io::Result<()> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if freebind {
            match addr {
                SocketAddr::V4(_) => s.set_freebind_v4(true)?,
                SocketAddr::V6(_) => s.set_freebind_v6(true)?,
            }
        }
        s.set_reuse_address(true)?;
        s.bind(&addr.into())
    };
    matches!(probe(), Err(e) if e.kind() == io::ErrorKind::AddrInUse)
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

/// Turn TCP keep-alive probes on for one connected socket (a frontend's or
/// backend's `tcp_keepalive`: HAProxy's `clitcpka` / `srvtcpka`), with the kernel's
/// idle time, interval and count (`net.ipv4.tcp_keepalive_*`), as HAProxy leaves them.
/// Only a socket option: a failure leaves the connection as it is.
pub fn keep_alive(socket: &impl std::os::fd::AsRawFd) {
    // SAFETY: the descriptor is owned by `socket`, alive for this borrow.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(socket.as_raw_fd()) };
    if let Err(e) = socket2::SockRef::from(&fd).set_keepalive(true) {
        tracing::debug!("SO_KEEPALIVE: {e}");
    }
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

    /// The workers rely on this to skip a setsockopt per accepted connection.
    #[test]
    fn accepted_sockets_inherit_nodelay() {
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(listener) = bind_one(addr.parse().unwrap(), false) else {
                eprintln!("skipped {addr}: cannot bind (no IPv6 loopback?)");
                continue;
            };
            let to = listener.local_addr().unwrap();
            let client = std::net::TcpStream::connect(to).unwrap();
            listener.set_nonblocking(false).unwrap();
            let (accepted, _) = listener.accept().unwrap();
            assert!(
                accepted.nodelay().unwrap(),
                "{addr}: accepted without TCP_NODELAY"
            );
            assert!(
                !client.nodelay().unwrap(),
                "{addr}: the client's own socket differs"
            );
        }
    }

    fn defer_seconds(socket: &impl std::os::fd::AsFd) -> libc::c_int {
        let mut v: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a c_int on an open descriptor.
        let r = unsafe {
            libc::getsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&socket.as_fd()),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                std::ptr::from_mut(&mut v).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0, "{}", io::Error::last_os_error());
        v
    }

    /// `defer_accept` reaches every worker's socket of its frontend, and only those;
    /// turning it off (a reload, an upgrade) clears it.
    #[test]
    fn defer_accept_is_set_on_the_sockets_of_its_frontend() {
        let text = "[global]\nworkers = 2\n\
            [[frontend]]\nname = \"d\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"b\"\ndefer_accept = true\n\
            [[frontend]]\nname = \"n\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"b\"\n\
            [[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n";
        let config = Config::parse(text, "t.toml").unwrap();
        let bound = bind_all(&config).unwrap();
        for worker in &bound {
            assert_eq!(defer_seconds(&worker[0].socket), 1, "HAProxy's one second");
            assert_eq!(defer_seconds(&worker[1].socket), 0);
        }
        let group: Vec<_> = bound.iter().map(|w| &w[0].socket).collect();
        set_defer_accept(&group, false, "d");
        assert!(group.iter().all(|s| defer_seconds(s) == 0));
    }

    /// Which of `listeners` accepts the next connection (waits for it).
    fn accepted_by(listeners: &[BoundListener]) -> (usize, SocketAddr) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            for (i, l) in listeners.iter().enumerate() {
                match l.socket.accept() {
                    Ok((_, peer)) => return (i, peer),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("accept: {e}"),
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no connection accepted"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    fn connect_from(src: std::net::IpAddr, to: SocketAddr) -> std::net::TcpStream {
        let s = Socket::new(Domain::for_address(to), Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::new(src, 0).into()).unwrap();
        s.connect(&to.into()).unwrap();
        s.into()
    }

    /// Bind `workers` sockets with steering, connect 4 times from each source and
    /// check that worker i's socket got exactly what `steer::worker_for` maps to i.
    fn steered(bind: SocketAddr, to: std::net::IpAddr, sources: &[std::net::IpAddr]) {
        let workers = 3;
        let listeners =
            bind_for_workers(workers, 0, "t", bind, false, Steering::Source).expect("bind");
        let to = SocketAddr::new(to, listeners[0].addr.port());
        let mut seen = vec![0usize; workers];
        for &src in sources {
            for _ in 0..4 {
                let _client = connect_from(src, to);
                let (i, peer) = accepted_by(&listeners);
                let want = steer::worker_for(src, workers);
                assert_eq!(
                    i, want,
                    "{peer} went to socket {i}, the program says {want}"
                );
                seen[i] += 1;
            }
        }
        assert!(seen.iter().filter(|&&n| n > 0).count() >= 2, "{seen:?}");
    }

    fn loopback_sources() -> Vec<std::net::IpAddr> {
        (2..=9)
            .map(|i| std::net::Ipv4Addr::new(127, 0, 0, i).into())
            .collect()
    }

    #[test]
    fn steering_sends_each_source_to_the_socket_of_its_worker() {
        steered(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            &loopback_sources(),
        );
    }

    /// An IPv6 listener on [::] gets IPv4 clients with an IPv4 header: they map as on
    /// an IPv4 listener.
    #[test]
    fn steering_on_a_dual_stack_listener_maps_ipv4_clients_alike() {
        if std::net::TcpListener::bind("[::]:0").is_err() {
            eprintln!("skipped: no IPv6 here");
            return;
        }
        steered(
            "[::]:0".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            &loopback_sources(),
        );
    }

    #[test]
    fn steering_an_ipv6_client() {
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            eprintln!("skipped: no IPv6 loopback here");
            return;
        }
        let workers = 3;
        let listeners = bind_for_workers(
            workers,
            0,
            "t",
            "[::1]:0".parse().unwrap(),
            false,
            Steering::Source,
        )
        .expect("bind");
        let src: std::net::IpAddr = "::1".parse().unwrap();
        for _ in 0..4 {
            let _client = connect_from(src, listeners[0].addr);
            assert_eq!(accepted_by(&listeners).0, steer::worker_for(src, workers));
        }
    }

    /// Detaching gives the choice back to the kernel; kernel steering attaches nothing.
    #[test]
    fn kernel_steering_and_detach_still_accept() {
        let listeners = bind_for_workers(
            2,
            0,
            "t",
            "127.0.0.1:0".parse().unwrap(),
            false,
            Steering::Kernel,
        )
        .expect("bind");
        steer::attach(&listeners[1].socket, 2).expect("attach on any socket of the group");
        steer::detach(&listeners[0].socket).expect("detach");
        for src in loopback_sources() {
            let _client = connect_from(src, listeners[0].addr);
            accepted_by(&listeners);
        }
    }
}
