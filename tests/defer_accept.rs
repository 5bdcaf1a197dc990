//! `defer_accept` (TCP_DEFER_ACCEPT on the listening sockets, HAProxy's bind option
//! `defer-accept`): plain HTTP, TLS and PROXY-protocol clients are served as without
//! it (each speaks first), and a client that connects and sends nothing is still
//! handed over by the kernel and closed by the usual request timeout: no connection
//! is left open.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::http::{Backend, Client};
use common::tls::{connect, CertDir, Hello};
use common::{admin, Ringlb, PATIENCE};

fn config(backend: SocketAddr, certs: &CertDir) -> String {
    let frontend = |name: &str, extra: &str| {
        format!(
            "[[frontend]]\nname = \"{name}\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
             default_backend = \"app\"\ndefer_accept = true\ntimeout_http_request = \"1s\"\ntimeout_client_handshake = \"1s\"\n{extra}\n"
        )
    };
    format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\n{}{}{}\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a\"\naddress = \"{backend}\"\n",
        frontend("plain", ""),
        frontend(
            "pp",
            "proxy_protocol = \"any\"\nproxy_protocol_from = [\"127.0.0.1/32\"]\n"
        ),
        frontend(
            "tls",
            &format!("[frontend.tls]\ncertificates = [{}]\n", certs.entry("site"))
        ),
    )
}

/// `ringlb_frontend_current_connections` of `frontend`, from `/metrics`.
fn current(admin_addr: SocketAddr, frontend: &str) -> u64 {
    let (status, body) = admin(admin_addr, "GET", "/metrics", "", None);
    assert_eq!(status, 200);
    let prefix = format!("ringlb_frontend_current_connections{{frontend=\"{frontend}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} in /metrics:\n{body}"))
}

#[test]
fn clients_that_speak_first_are_served_and_a_silent_one_is_closed_by_the_timeout() {
    let backend = Backend::start();
    let certs = CertDir::new();
    certs.write("site", &["localhost"]);
    let r = Ringlb::start(&config(backend.addr, &certs));
    let (plain, pp, tls) = (r.addrs[0], r.addrs[1], r.addrs[2]);
    let admin_addr = r.admin_addr();

    // Plain HTTP, two requests on the connection (the second read waits as usual).
    let mut c = Client::connect(plain);
    for _ in 0..2 {
        let (status, _, body) = c.get("/x");
        assert_eq!(status, 200);
        assert!(body.starts_with(b"ok GET /x"), "{body:?}");
    }

    // A PROXY header and the request in one write, then the header alone first.
    for split in [false, true] {
        let mut c = Client::connect(pp);
        let header = b"PROXY TCP4 192.0.2.7 127.0.0.1 4444 80\r\n";
        let request = b"GET /pp HTTP/1.1\r\nhost: t\r\n\r\n";
        if split {
            c.send(header);
            std::thread::sleep(Duration::from_millis(20));
            c.send(request);
        } else {
            c.send(&[&header[..], &request[..]].concat());
        }
        let (status, _, body) = c.response(false);
        assert_eq!(status, 200, "split {split}");
        assert!(body.starts_with(b"ok GET /pp"), "{body:?}");
    }

    // TLS: the ClientHello is the first bytes.
    let mut t = connect(tls, &Hello::default()).expect("handshake");
    let (status, body) = t.get("/tls");
    assert_eq!(status, 200);
    assert!(body.starts_with(b"ok GET /tls"), "{body:?}");
    drop(t);

    // Silent clients, on each kind of frontend: the kernel hands each over after its
    // deferral, and the request timeout (or the handshake's) closes it.
    for (name, addr) in [("plain", plain), ("pp", pp), ("tls", tls)] {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut got = Vec::new();
        let read = s.read_to_end(&mut got);
        assert!(
            read.is_ok()
                || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{name}: a silent client was not closed: {read:?}"
        );
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
            "{name}: {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    // Nothing left open.
    let deadline = Instant::now() + PATIENCE;
    for name in ["plain", "pp", "tls"] {
        while current(admin_addr, name) != 0 {
            assert!(Instant::now() < deadline, "{name}: connections left open");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// TCP_DEFER_ACCEPT of every listening socket of ringlb process `pid` bound to
/// `addr` (one per worker), read from copies of its descriptors (`pidfd_getfd`: the
/// test is ringlb's parent, which may). `None`: this kernel or sandbox does not allow it.
fn defer_of_listeners(pid: u32, addr: SocketAddr) -> Option<Vec<i32>> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: plain syscalls; every descriptor they return is owned right away.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return None;
    }
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let Some(target) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EPERM) || e.raw_os_error() == Some(libc::ENOSYS) {
                return None;
            }
            continue; // closed meanwhile
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let sock = socket2::SockRef::from(&fd);
        let listening = sock.is_listener().unwrap_or(false);
        let here = sock.local_addr().ok().and_then(|a| a.as_socket()) == Some(addr);
        if !(listening && here) {
            continue;
        }
        let mut v: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let r = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                std::ptr::from_mut(&mut v).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        out.push(v);
    }
    Some(out)
}

#[test]
fn a_reload_turns_defer_accept_on_and_off_on_an_address_that_stays() {
    let backend = Backend::start();
    // A fixed port: the reload must find the same address (port 0 would be new).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let with = |defer: bool| {
        format!(
            "[global]\nworkers = 2\npin_workers = false\n\n[[frontend]]\nname = \"web\"\n\
             bind = [\"127.0.0.1:{port}\"]\nmode = \"http\"\ndefault_backend = \"app\"\ndefer_accept = {defer}\n\n\
             [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a\"\naddress = \"{}\"\n",
            backend.addr
        )
    };
    let mut r = Ringlb::start(&with(false));
    let addr = r.addr();
    let pid = r.child.id();
    let Some(before) = defer_of_listeners(pid, addr) else {
        let why = "pidfd_getfd on ringlb is not allowed here (needs Linux 5.6 and ptrace rights)";
        if std::env::var("RINGLB_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1") {
            panic!("{why}, and RINGLB_REQUIRE_PRIVILEGED=1 forbids skipping");
        }
        common::say_skipped("a_reload_turns_defer_accept_on_and_off", why);
        return;
    };
    // Both workers' sockets (the supervisor's copies are the same sockets).
    assert!(before.len() >= 2, "{before:?}");
    assert!(before.iter().all(|&v| v == 0), "{before:?}");
    for defer in [true, false] {
        std::fs::write(r.config_path(), with(defer)).unwrap();
        r.reload_and_wait();
        let now = defer_of_listeners(pid, addr).expect("pidfd_getfd worked before");
        let want = i32::from(defer);
        assert!(
            now.len() >= 2 && now.iter().all(|&v| v == want),
            "defer_accept = {defer}: {now:?}"
        );
        let mut c = Client::connect(addr);
        assert_eq!(c.get("/after").0, 200);
    }
}

/// `ringlb check -c` on a frontend with `line` added: exit status and output.
fn check_with(mode: &str, line: &str) -> (bool, String) {
    let cfg = common::TempConfig::new(&format!(
        "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"{mode}\"\ndefault_backend = \"b\"\n{line}\n\
         [[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n"
    ));
    let o = std::process::Command::new(common::BIN)
        .args(["check", "-c"])
        .arg(&cfg.0)
        .output()
        .expect("run ringlb check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

#[test]
fn check_accepts_the_key_warns_in_tcp_mode_and_rejects_a_non_boolean() {
    let (ok, out) = check_with("http", "defer_accept = true");
    assert!(ok && !out.contains("speaks first"), "{out}");
    let (ok, out) = check_with("tcp", "defer_accept = true");
    assert!(ok && out.contains("speaks first"), "{out}");
    let (ok, out) = check_with("http", "defer_accept = 1");
    assert!(
        !ok && out.contains(":6") && out.contains("defer_accept"),
        "{out}"
    );
}

/// A reload whose bind names the port a `:0` bind was given keeps the listening
/// sockets it has, rather than binding a second group on the same address.
#[test]
fn a_reload_naming_the_port_a_zero_bind_got_keeps_its_sockets() {
    let backend = Backend::start();
    let with = |bind: &str| {
        format!(
            "[global]\nworkers = 2\npin_workers = false\n\n[[frontend]]\nname = \"web\"\n\
             bind = [\"{bind}\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
             [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a\"\naddress = \"{}\"\n",
            backend.addr
        )
    };
    let mut r = Ringlb::start(&with("127.0.0.1:0"));
    let addr = r.addr();
    let pid = r.child.id();
    let Some(before) = defer_of_listeners(pid, addr) else {
        let why = "pidfd_getfd on ringlb is not allowed here (needs Linux 5.6 and ptrace rights)";
        if std::env::var("RINGLB_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1") {
            panic!("{why}, and RINGLB_REQUIRE_PRIVILEGED=1 forbids skipping");
        }
        common::say_skipped(
            "a_reload_naming_the_port_a_zero_bind_got_keeps_its_sockets",
            why,
        );
        return;
    };
    assert!(before.len() >= 2, "{before:?}");
    std::fs::write(r.config_path(), with(&addr.to_string())).unwrap();
    r.reload_and_wait();
    let after = defer_of_listeners(pid, addr).expect("pidfd_getfd worked before");
    assert_eq!(after.len(), before.len(), "listening sockets on {addr}");
    let mut c = Client::connect(addr);
    assert_eq!(c.get("/after").0, 200);
}
