//! `global.syslog_copy` (HAProxy's second `log` line, e.g. `log /dev/log local1
//! notice`) through the real binary: ringlb's own lines at `syslog_copy_level` and
//! above also go to that syslog target, with its facility, while the main target
//! (stderr here) keeps them all.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;

/// A TCP proxy whose only server is never reachable (its check fails at once: a
/// DOWN line, logged at info), copying own lines to a UDP syslog at `level`.
fn config(copy: &UdpSocket, level: &str) -> String {
    let servers = [(closed_port(), 1)];
    let global = format!(
        "syslog_copy = {{ address = \"udp://{}\", format = \"rfc3164\", facility = \"local1\" }}\nsyslog_copy_level = \"{level}\"\n",
        copy.local_addr().unwrap()
    );
    tcp_config(1, &servers, "")
        .replace("[global]\n", &format!("[global]\n{global}"))
        .replace(
            "weight = 1\n",
            "weight = 1\ncheck = true\n[backend.check]\nkind = \"tcp\"\ninterval = \"100ms\"\nfall = 1\nrise = 1\n",
        )
}

/// Every datagram that arrives within `wait`.
fn frames(sock: &UdpSocket, wait: Duration) -> Vec<String> {
    let until = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => break,
        }
    }
    out
}

#[test]
fn own_lines_at_the_level_reach_the_copy_with_its_facility() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut r = Ringlb::start(&config(&sock, "info"));
    r.wait_logged("back/s0 DOWN");
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while !seen.iter().any(|f: &String| f.contains("back/s0 DOWN")) {
        assert!(
            Instant::now() < deadline,
            "no DOWN line in the copy: {seen:?}"
        );
        seen.extend(frames(&sock, Duration::from_millis(200)));
    }
    let down = seen.iter().find(|f| f.contains("back/s0 DOWN")).unwrap();
    // local1 (17) * 8 + info (6)
    assert!(down.starts_with("<142>"), "{down}");
}

#[test]
fn lines_below_the_level_stay_out_of_the_copy() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut r = Ringlb::start(&config(&sock, "warn"));
    r.wait_logged("back/s0 DOWN");
    // The DOWN line is in the main log already; the copy never gets it.
    let got = frames(&sock, Duration::from_millis(500));
    assert!(
        got.iter()
            .all(|f| !f.contains("DOWN") && !f.contains("ready")),
        "{got:?}"
    );
}
