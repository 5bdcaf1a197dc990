//! `global.user`: started as root, ringlb binds, then runs as that user with only
//! the capabilities it still needs (CapEff in /proc/PID/status), serves, and
//! reloads. Without `user`, root is warned about unless `global.allow_root = true`.
//! Needs root: skips visibly otherwise (fails under RINGLB_REQUIRE_PRIVILEGED=1).

mod common;

use std::net::{SocketAddr, TcpListener};

use common::*;

fn is_root(test: &str) -> bool {
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    common::netns::skip(test, "not running as root (switching user needs it)");
    false
}

/// A free port below 1024 on loopback (root can bind it).
fn low_port() -> SocketAddr {
    (600..1000)
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .find(|a| TcpListener::bind(a).is_ok())
        .expect("no free port below 1024 on 127.0.0.1")
}

/// `(Uid line, CapEff, CapBnd)` of a process.
fn status(pid: u32) -> (String, u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim()
            .to_string()
    };
    let hex = |name: &str| u64::from_str_radix(&field(name), 16).unwrap();
    (field("Uid:"), hex("CapEff:"), hex("CapBnd:"))
}

trait LineWith {
    fn line_with(&mut self, needle: &str) -> String;
}

impl LineWith for Ringlb {
    /// The logged line containing `needle` (waiting for it if it is not there yet).
    fn line_with(&mut self, needle: &str) -> String {
        self.wait_logged(needle);
        self.log
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
            .unwrap()
    }
}

fn nobody_uid() -> String {
    let out = std::process::Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn user_nobody_on_a_low_port_keeps_only_net_bind_service() {
    if !is_root("privileges::user_nobody_on_a_low_port_keeps_only_net_bind_service") {
        return;
    }
    let echo = Echo::start();
    let addr = low_port();
    let cfg = tcp_config(2, &[(echo.addr, 1)], "")
        .replace(
            "pin_workers = false",
            "pin_workers = false\nuser = \"nobody\"",
        )
        .replace("127.0.0.1:0", &addr.to_string());
    let mut rl = Ringlb::start(&cfg);
    let said = rl.line_with("running as user nobody");
    assert!(
        said.contains("capabilities kept: CAP_NET_BIND_SERVICE"),
        "{said}"
    );
    assert_eq!(
        echo_roundtrip(addr, b"as nobody".to_vec()),
        b"as nobody".to_vec()
    );

    let (uid, eff, bnd) = status(rl.child.id());
    let nobody = nobody_uid();
    assert_eq!(
        uid.split_whitespace().collect::<Vec<_>>(),
        vec![nobody.as_str(); 4],
        "real, effective, saved and fs uid"
    );
    assert_eq!(eff, 1 << 10, "CapEff {eff:#x}: only CAP_NET_BIND_SERVICE");
    assert_eq!(bnd, 1 << 10, "CapBnd {bnd:#x}");

    // A reload still works as nobody (the file is world-readable), and keeps serving.
    rl.reload_and_wait();
    assert_eq!(
        echo_roundtrip(addr, b"reloaded".to_vec()),
        b"reloaded".to_vec()
    );
    rl.signal(libc::SIGTERM);
    assert!(rl.wait_exit().success());
}

#[test]
fn user_nobody_on_a_high_port_keeps_no_capability() {
    if !is_root("privileges::user_nobody_on_a_high_port_keeps_no_capability") {
        return;
    }
    let echo = Echo::start();
    let cfg = tcp_config(1, &[(echo.addr, 1)], "").replace(
        "pin_workers = false",
        "pin_workers = false\nuser = \"nobody\"\ngroup = \"nogroup\"",
    );
    let mut rl = Ringlb::start(&cfg);
    let said = rl.line_with("running as user nobody");
    assert!(
        said.contains("group nogroup") && said.contains("kept: none"),
        "{said}"
    );
    assert_eq!(echo_roundtrip(rl.addr(), b"x".to_vec()), b"x".to_vec());
    let (_, eff, _) = status(rl.child.id());
    assert_eq!(eff, 0, "CapEff {eff:#x}");
    assert!(!rl.logged("running as root"));
}

#[test]
fn root_without_user_is_warned_about_unless_allowed() {
    if !is_root("privileges::root_without_user_is_warned_about_unless_allowed") {
        return;
    }
    let echo = Echo::start();
    let mut rl = Ringlb::start(&tcp_config(1, &[(echo.addr, 1)], ""));
    assert!(rl.logged("running as root: set global.user"));
    let cfg = tcp_config(1, &[(echo.addr, 1)], "").replace(
        "pin_workers = false",
        "pin_workers = false\nallow_root = true",
    );
    let mut rl = Ringlb::start(&cfg);
    assert!(!rl.logged("running as root"));
}
