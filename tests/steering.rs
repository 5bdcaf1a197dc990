//! `steering = "source"`: every connection of one client goes to one worker, the one
//! `ringlb::listen::steer::worker_for` names; `steering = "kernel"` keeps the kernel's
//! spread. Which worker served a connection is read from the workers' debug line
//! "session closed" (`worker=N peer=IP:PORT`).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};

use common::{tcp_config, Echo, Ringlb, PATIENCE};
use ringlb::listen::steer::worker_for;
use socket2::{Domain, Socket, Type};

const WORKERS: usize = 2;
const PER_SOURCE: usize = 8;

fn start(steering: &str, echo: &Echo) -> Ringlb {
    // The workers' per-connection debug lines name the worker (set before every
    // start; every test of this file sets the same value).
    std::env::set_var(
        "RINGLB_TEST_LOG",
        "info,ringlb::apply=debug,ringlb::worker=debug",
    );
    let config = tcp_config(WORKERS, &[(echo.addr, 1)], "").replace(
        "default_backend = \"back\"\n",
        &format!("default_backend = \"back\"\nsteering = \"{steering}\"\n"),
    );
    Ringlb::start(&config)
}

/// One echoed round trip from `src` to `to`, then close.
fn roundtrip_from(src: IpAddr, to: SocketAddr) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(src, 0).into()).unwrap();
    s.connect(&to.into()).unwrap();
    let mut s: TcpStream = s.into();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"ping").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"ping");
}

/// Wait for `n` "session closed" lines; returns source IP → workers that served it.
fn served(r: &mut Ringlb, n: usize) -> BTreeMap<IpAddr, Vec<usize>> {
    let mut out: BTreeMap<IpAddr, Vec<usize>> = BTreeMap::new();
    for _ in 0..n {
        let line = r.wait_for("session closed");
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|t| t.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
                .to_string()
        };
        let worker: usize = field("worker=").parse().expect("worker=N");
        let peer: SocketAddr = field("peer=").parse().expect("peer=IP:PORT");
        out.entry(peer.ip()).or_default().push(worker);
    }
    out
}

/// Loopback sources the steering function sends to different workers: two for
/// each worker.
fn sources() -> Vec<IpAddr> {
    let mut per_worker = vec![Vec::new(); WORKERS];
    for i in 2..=250 {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, i));
        let w = worker_for(ip, WORKERS);
        if per_worker[w].len() < 2 {
            per_worker[w].push(ip);
        }
    }
    assert!(per_worker.iter().all(|v| v.len() == 2), "{per_worker:?}");
    per_worker.concat()
}

#[test]
fn source_steering_sends_every_connection_of_a_client_to_one_worker() {
    let echo = Echo::start();
    let mut r = start("source", &echo);
    assert!(r.logged("steering=\"source\"") || r.logged("steering=source"));
    let sources = sources();
    for &src in &sources {
        for _ in 0..PER_SOURCE {
            roundtrip_from(src, r.addr());
        }
    }
    let served = served(&mut r, sources.len() * PER_SOURCE);
    for &src in &sources {
        let workers = &served[&src];
        assert_eq!(workers.len(), PER_SOURCE, "{src}: {workers:?}");
        let want = worker_for(src, WORKERS);
        assert!(
            workers.iter().all(|&w| w == want),
            "{src}: served by {workers:?}, steering says worker {want}"
        );
    }
    // Both workers got some clients.
    for w in 0..WORKERS {
        assert!(
            served.values().any(|v| v[0] == w),
            "worker {w} served nobody: {served:?}"
        );
    }
}

#[test]
fn kernel_steering_keeps_working() {
    let echo = Echo::start();
    let mut r = start("kernel", &echo);
    let sources = sources();
    for &src in &sources {
        for _ in 0..PER_SOURCE / 2 {
            roundtrip_from(src, r.addr());
        }
    }
    let served = served(&mut r, sources.len() * PER_SOURCE / 2);
    assert_eq!(served.len(), sources.len(), "{served:?}");
    assert_eq!(echo.count(), sources.len() * PER_SOURCE / 2);
}

/// A reload that adds an address binds a new group and attaches the program to it.
#[test]
fn an_address_added_by_reload_is_steered_too() {
    let echo = Echo::start();
    let mut r = start("kernel", &echo);
    let text = std::fs::read_to_string(r.config_path()).unwrap();
    // A fixed port: on reload a port-0 address matches one already bound.
    let port = common::closed_port().port();
    let second = format!(
        "\n[[frontend]]\nname = \"second\"\nbind = [\"127.0.0.1:{port}\"]\nmode = \"tcp\"\n\
         default_backend = \"back\"\nsteering = \"source\"\n"
    );
    std::fs::write(r.config_path(), text + &second).unwrap();
    r.reload_and_wait();
    r.wait_count(&["listening on"], 2);
    let added = r.addrs[1];
    assert_ne!(added, r.addr());
    let sources = sources();
    for &src in &sources {
        for _ in 0..PER_SOURCE {
            roundtrip_from(src, added);
        }
    }
    let served = served(&mut r, sources.len() * PER_SOURCE);
    for &src in &sources {
        let want = worker_for(src, WORKERS);
        assert!(
            served[&src].iter().all(|&w| w == want),
            "{src}: served by {:?}, steering says worker {want}",
            served[&src]
        );
    }
}
