//! One ringlb per listening address. Every worker binds its sockets with
//! `SO_REUSEPORT`, so a second ringlb started on the same addresses (by the same
//! user) would bind too, and the kernel would quietly split the connections between
//! the two processes. Before binding, each address is therefore bound once *without*
//! `SO_REUSEPORT` (with `SO_REUSEADDR`, so connections in TIME_WAIT do not count, and
//! with `IP_FREEBIND` for virtual IPs, as the real bind): that fails with EADDRINUSE
//! exactly when some socket already listens there (or on the wildcard address of the
//! same port), whatever its owner's options.
//!
//! Addresses a future binary upgrade receives from the old process (SCM_RIGHTS) must
//! be exempt: they are the ones in `handed_over`.
//!
//! The probe and the real bind are a few microseconds apart: two ringlbs started in
//! that same instant could both pass. Starting twice by mistake (a second unit, a
//! forgotten foreground run) is what this catches.

use std::io;
use std::net::SocketAddr;

use crate::config::Config;
use crate::listen::{in_use, BindError, IN_USE_ELSEWHERE};

/// Refuse to start when another socket already listens on one of the frontends'
/// addresses. Port 0 (the kernel picks a free port) needs no probe.
pub fn check(config: &Config, handed_over: &[SocketAddr]) -> Result<(), BindError> {
    for fe in &config.frontends {
        for &addr in &fe.binds {
            if addr.port() == 0 || handed_over.contains(&addr) {
                continue;
            }
            if in_use(addr, config.is_virtual_ip(addr.ip())) {
                return Err(BindError {
                    frontend: fe.name.clone(),
                    addr,
                    source: io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("{IN_USE_ELSEWHERE}: not starting"),
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Socket, Type};

    fn reuseport_listener(addr: SocketAddr, freebind: bool) -> Socket {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
        if freebind {
            s.set_freebind_v4(true).unwrap();
        }
        s.set_reuse_address(true).unwrap();
        s.set_reuse_port(true).unwrap();
        s.bind(&addr.into()).unwrap();
        s.listen(16).unwrap();
        s
    }

    #[test]
    fn a_reuseport_listener_is_found_and_a_free_port_is_not() {
        let l = reuseport_listener("127.0.0.1:0".parse().unwrap(), false);
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        assert!(in_use(addr, false));
        // The wildcard address of the same port conflicts too.
        assert!(in_use(
            SocketAddr::new([0, 0, 0, 0].into(), addr.port()),
            false
        ));
        drop(l);
        assert!(!in_use(addr, false));
    }

    /// A virtual IP not (yet) on this host, bound with IP_FREEBIND by "another ringlb".
    /// (192.0.2.0/24 is TEST-NET-1: nothing is sent, the address is only bound.)
    #[test]
    fn a_virtual_ip_bound_with_freebind_is_found() {
        let vip: SocketAddr = "192.0.2.77:0".parse().unwrap();
        let l = reuseport_listener(vip, true);
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        assert!(in_use(addr, true));
        drop(l);
        assert!(!in_use(addr, true));
    }
}
