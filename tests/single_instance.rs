//! A second ringlb on the addresses of a running one refuses to start, naming the
//! address, instead of sharing the port through SO_REUSEPORT (the kernel would then
//! split the connections between the two). Connections left in TIME_WAIT by a
//! stopped ringlb do not count.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::*;

/// `ringlb run` on `addr`: how it exited and everything it said.
fn start_on(addr: SocketAddr, echo: &Echo) -> Ringlb {
    let cfg = tcp_config(1, &[(echo.addr, 1)], "").replace("127.0.0.1:0", &addr.to_string());
    let cfg = TempConfig::new(&cfg);
    let mut cmd = Command::new(BIN);
    cmd.arg("run").arg("-c").arg(&cfg.0);
    Ringlb::spawn(cmd, Some(cfg))
}

fn assert_refused(second: &mut Ringlb, addr: SocketAddr) {
    let status = second.wait_exit();
    assert!(
        !status.success(),
        "the second ringlb started: {:?}",
        second.log
    );
    let said = second.log.join("\n");
    assert!(
        said.contains(&format!("cannot listen on {addr}"))
            && said.contains("in use by another process"),
        "{said}"
    );
    assert!(!said.contains("ringlb ready"), "{said}");
}

#[test]
fn a_second_ringlb_on_the_same_address_refuses_to_start() {
    let echo = Echo::start();
    let mut first = Ringlb::start(&tcp_config(2, &[(echo.addr, 1)], ""));
    let addr = first.addr();

    let mut second = start_on(addr, &echo);
    assert_refused(&mut second, addr);

    // The first one has every connection, before and after.
    for i in 0..20u8 {
        assert_eq!(echo_roundtrip(addr, vec![i; 10]), vec![i; 10]);
    }
    assert_eq!(echo.count(), 20);

    // Once it is gone (its connections in TIME_WAIT), the address is free again.
    first.signal(libc::SIGTERM);
    assert!(first.wait_exit().success());
    let mut third = start_on(addr, &echo);
    third.wait_for("ringlb ready");
    assert_eq!(echo_roundtrip(addr, b"third".to_vec()), b"third".to_vec());
}

/// Any process with SO_REUSEPORT on the address counts, not only a ringlb.
#[test]
fn a_foreign_reuseport_listener_is_refused_too() {
    use socket2::{Domain, Socket, Type};
    let echo = Echo::start();
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_reuse_port(true).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.listen(8).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let mut rl = start_on(addr, &echo);
    assert_refused(&mut rl, addr);
}

/// A reload that adds an address another process listens on is refused; the
/// running configuration stays and serves.
#[test]
fn a_reload_adding_a_taken_address_is_refused() {
    use socket2::{Domain, Socket, Type};
    let echo = Echo::start();
    let mut rl = Ringlb::start(&tcp_config(1, &[(echo.addr, 1)], ""));
    let first = rl.addr();
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_reuse_port(true).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.listen(8).unwrap();
    let taken = s.local_addr().unwrap().as_socket().unwrap();

    let cfg = tcp_config(1, &[(echo.addr, 1)], "").replace(
        "bind = [\"127.0.0.1:0\"]",
        &format!("bind = [\"{first}\", \"{taken}\"]"),
    );
    std::fs::write(rl.config_path(), cfg).unwrap();
    rl.signal(libc::SIGHUP);
    let line = rl.wait_for("in use by another process");
    assert!(line.contains(&taken.to_string()), "{line}");
    rl.wait_for("reload refused");
    assert_eq!(echo_roundtrip(first, b"kept".to_vec()), b"kept".to_vec());
}
