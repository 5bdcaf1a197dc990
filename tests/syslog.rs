//! Logging to syslog through the real binary: access lines in HAProxy's `httplog`
//! and `tcplog` formats, and ringlb's own lines, reach a syslog peer the test binds
//! on loopback (UDP with RFC 5424 frames, TCP with RFC 3164 frames and RFC 6587
//! octet counting); every access line must parse with the published logstash grok
//! patterns for HAProxy logs, with the right values. A TCP peer that never reads
//! costs counted log lines (`ringlb_log_lines_dropped_total`), never requests.

mod common;
mod grok;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread;
use std::time::Instant;

use common::http::{http_config, Backend, Client};
use common::{Echo, Ringlb, TempConfig, BIN, PATIENCE};
use grok::{field, grok};
use regex::Regex;

// ---- Syslog peers on loopback ----

/// A syslog peer: the frames it received, one string each.
struct Peer {
    addr: SocketAddr,
    frames: Receiver<String>,
    seen: Vec<String>,
}

impl Peer {
    fn udp() -> Peer {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let (tx, frames) = channel();
        thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.recv(&mut buf) {
                if tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
                {
                    return;
                }
            }
        });
        Peer {
            addr,
            frames,
            seen: Vec::new(),
        }
    }

    /// A TCP peer reading octet-counted frames on every connection (`read_first_only`:
    /// only the first connection is accepted and read; later ones wait in the
    /// backlog, unread, with a small receive buffer).
    fn tcp(read_first_only: bool) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        if read_first_only {
            let s = socket2::SockRef::from(&listener);
            s.set_recv_buffer_size(4096).unwrap();
        }
        let addr = listener.local_addr().unwrap();
        let (tx, frames) = channel();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let tx = tx.clone();
                thread::spawn(move || read_octet_counted(conn, &tx));
                if read_first_only {
                    // Keep the listener (and the unread connections) open.
                    loop {
                        thread::park();
                    }
                }
            }
        });
        Peer {
            addr,
            frames,
            seen: Vec::new(),
        }
    }

    /// The next frame containing `needle` (earlier ones are kept in `seen`).
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(f) => {
                    self.seen.push(f.clone());
                    if f.contains(needle) {
                        return f;
                    }
                }
                Err(_) => panic!(
                    "no syslog frame containing {needle:?}; frames so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

/// RFC 6587 octet counting: `LEN SP FRAME`, repeated.
fn read_octet_counted(conn: TcpStream, tx: &Sender<String>) {
    let mut r = BufReader::new(conn);
    loop {
        let mut len = Vec::new();
        if r.read_until(b' ', &mut len).unwrap_or(0) == 0 {
            return;
        }
        let n: usize = match std::str::from_utf8(&len[..len.len() - 1]).map(str::parse) {
            Ok(Ok(n)) => n,
            _ => panic!("bad octet count {len:?}"),
        };
        let mut frame = vec![0u8; n];
        if r.read_exact(&mut frame).is_err() {
            return;
        }
        if tx
            .send(String::from_utf8_lossy(&frame).into_owned())
            .is_err()
        {
            return;
        }
    }
}

/// ringlb with its logs going to `peer`: started once "ringlb ready" arrives there.
/// Returns the process, the frontends' addresses and the admin address.
fn start(config: &str, peer: &mut Peer) -> (Ringlb, Vec<SocketAddr>, Option<SocketAddr>) {
    let cfg = TempConfig::new(config);
    let mut cmd = Command::new(BIN);
    cmd.arg("run").arg("-c").arg(&cfg.0);
    let r = Ringlb::spawn(cmd, Some(cfg));
    peer.wait_for("ringlb ready");
    let after = |f: &str, marker: &str| -> Option<SocketAddr> {
        f.split(marker)
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let frontends = peer
        .seen
        .iter()
        .filter(|f| f.contains("frontend="))
        .filter_map(|f| after(f, "listening on "))
        .collect();
    let admin = peer
        .seen
        .iter()
        .find_map(|f| after(f, "admin API listening on "));
    (r, frontends, admin)
}

fn syslog_global(peer: &Peer, scheme: &str, format: &str, facility: &str) -> String {
    format!(
        "access_log = true\nlog_target = \"syslog\"\n\
         syslog = {{ address = \"{scheme}://{}\", format = \"{format}\", facility = \"{facility}\", tag = \"ringlb-t\" }}",
        peer.addr
    )
}

// ---- The tests ----

#[test]
fn httplog_lines_reach_a_udp_syslog_as_rfc5424_and_parse_as_haproxy_httplog() {
    let backend = Backend::start();
    let mut peer = Peer::udp();
    let global =
        syslog_global(&peer, "udp", "rfc5424", "local3") + "\naccess_log_format = \"httplog\"";
    let (r, fronts, _) = start(&http_config(backend.addr, &global, ""), &mut peer);
    let pid = r.child.id().to_string();

    let mut c = Client::connect(fronts[0]);
    let port = c.stream.local_addr().unwrap().port();
    let (status, _, body) = c.get("/len/1000");
    assert_eq!((status, body.len()), (200, 1000));
    let mut bad = Client::connect(fronts[0]);
    bad.send(
        b"GET /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(bad.response(false).0, 400);

    let frame_re = grok("SYSLOG5424LINE");
    let http_re = grok("HAPROXYHTTPBASE");
    let parse = |frame: &str| -> HashMap<String, String> {
        let f = frame_re
            .captures(frame)
            .unwrap_or_else(|| panic!("not an RFC 5424 frame: {frame}"));
        // local3 (19) * 8 + info (6)
        assert_eq!(field(&f, "syslog5424_pri"), "158", "{frame}");
        assert_eq!(field(&f, "syslog5424_ver"), "1");
        assert_eq!(field(&f, "syslog5424_app"), "ringlb-t");
        assert_eq!(field(&f, "syslog5424_proc"), pid);
        let msg = field(&f, "syslog5424_msg");
        let m = http_re
            .captures(msg)
            .unwrap_or_else(|| panic!("HAPROXYHTTPBASE does not match: {msg}"));
        http_re
            .capture_names()
            .flatten()
            .map(|n| (n.to_string(), field(&m, n).to_string()))
            .collect()
    };

    let ok = parse(&peer.wait_for("/len/1000"));
    let want = [
        ("client_ip", "127.0.0.1".to_string()),
        ("client_port", port.to_string()),
        ("frontend_name", "web".into()),
        ("backend_name", "app".into()),
        ("server_name", "a1".into()),
        ("http_status_code", "200".into()),
        ("termination_state", "----".into()),
        ("captured_request_cookie", "-".into()),
        ("http_verb", "GET".into()),
        ("http_request", "/len/1000".into()),
        ("http_version", "1.1".into()),
        ("retries", "0".into()),
        ("time_queue", "0".into()),
    ];
    for (k, v) in &want {
        assert_eq!(&ok[*k], v, "{k} in {ok:?}");
    }
    let bytes: u64 = ok["bytes_read"].parse().unwrap();
    assert!(bytes > 1000, "{ok:?}");
    for t in [
        "time_request",
        "time_backend_connect",
        "time_backend_response",
        "time_duration",
    ] {
        let ms: i64 = ok[t].parse().unwrap();
        assert!(ms >= 0, "{t} in {ok:?}");
    }
    // (grok's SECOND swallows part of the milliseconds: check the date's shape here.)
    let date = Regex::new(r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}\.\d{3}$").unwrap();
    assert!(date.is_match(&ok["accept_date"]), "{ok:?}");

    let refused = parse(&peer.wait_for("/bad"));
    assert_eq!(refused["http_status_code"], "400");
    assert_eq!(refused["termination_state"], "PR--", "refused by the proxy");
    assert_eq!(refused["server_name"], "<NOSRV>");
    assert_eq!(refused["time_backend_connect"], "-1");

    // ringlb's own lines go there too, with their severity.
    let ready = peer
        .seen
        .iter()
        .find(|f| f.contains("ringlb ready"))
        .unwrap();
    assert!(ready.starts_with("<158>1 "), "info: {ready}");
    // Down to the last one, at a clean stop.
    drop((c, bad));
    let mut r = r;
    r.signal(libc::SIGTERM);
    assert!(r.wait_exit().success());
    peer.wait_for("all connections finished: exiting");
}

#[test]
fn tcplog_lines_reach_a_tcp_syslog_as_rfc3164_and_parse_as_haproxy_tcplog() {
    let echo = Echo::start();
    let mut peer = Peer::tcp(false);
    let dead = common::closed_port();
    let global = syslog_global(&peer, "tcp", "rfc3164", "local0");
    let config = format!(
        "[global]\nworkers = 1\npin_workers = false\n{global}\naccess_log_format = \"tcplog\"\n\
         [[frontend]]\nname = \"db\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"pg\"\n\
         [[frontend]]\nname = \"gone\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"nobody\"\n\
         [[backend]]\nname = \"pg\"\n[[backend.server]]\nname = \"pg1\"\naddress = \"{}\"\n\
         [[backend]]\nname = \"nobody\"\nretries = 0\n[[backend.server]]\nname = \"x\"\naddress = \"{dead}\"\n",
        echo.addr
    );
    let (r, fronts, _) = start(&config, &mut peer);
    let pid = r.child.id().to_string();

    let mut s = common::connect(fronts[0]);
    let port = s.local_addr().unwrap().port();
    s.write_all(&[7u8; 3000]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back.len(), 3000);
    let mut refused = common::connect(fronts[1]);
    let mut rest = Vec::new();
    let _ = refused.read_to_end(&mut rest);

    let tcp_re = grok("HAPROXYTCP");
    let parse = |frame: &str| -> HashMap<String, String> {
        let (pri, rest) = frame
            .strip_prefix('<')
            .and_then(|f| f.split_once('>'))
            .unwrap_or_else(|| panic!("no <PRI>: {frame}"));
        // local0 (16) * 8 + info (6)
        assert_eq!(pri, "134", "{frame}");
        let m = tcp_re
            .captures(rest)
            .unwrap_or_else(|| panic!("HAPROXYTCP does not match: {rest}"));
        tcp_re
            .capture_names()
            .flatten()
            .map(|n| (n.to_string(), field(&m, n).to_string()))
            .collect()
    };
    let ok = parse(&peer.wait_for(&format!(":{port} [")));
    assert_eq!(ok["program"], "ringlb-t");
    assert_eq!(ok["pid"], pid);
    assert_eq!(ok["client_ip"], "127.0.0.1");
    assert_eq!(
        (
            ok["frontend_name"].as_str(),
            ok["backend_name"].as_str(),
            ok["server_name"].as_str()
        ),
        ("db", "pg", "pg1")
    );
    assert_eq!(ok["bytes_read"], "3000", "server to client");
    assert_eq!(ok["termination_state"], "--");
    assert!(ok["time_backend_connect"].parse::<i64>().unwrap() >= 0);

    let failed = parse(&peer.wait_for(" gone nobody/"));
    assert_eq!(
        failed["termination_state"], "SC",
        "the server refused: {failed:?}"
    );
    assert_eq!(failed["time_backend_connect"], "-1");
    assert_eq!(failed["bytes_read"], "0");
}

#[test]
fn a_syslog_peer_that_never_reads_costs_counted_lines_not_requests() {
    let backend = Backend::start();
    // The first connection (ringlb's own lines) is read: readiness. The access log's
    // connection is never read.
    let mut peer = Peer::tcp(true);
    let global = syslog_global(&peer, "tcp", "rfc5424", "local0")
        + "\naccess_log_format = \"httplog\"\nadmin_bind = \"127.0.0.1:0\"";
    let (_r, fronts, admin) = start(&http_config(backend.addr, &global, ""), &mut peer);
    let admin = admin.expect("admin address");
    let dropped = || -> u64 {
        let (_, body) = common::admin(admin, "GET", "/metrics", "", None);
        body.lines()
            .find_map(|l| l.strip_prefix("ringlb_log_lines_dropped_total "))
            .unwrap_or_else(|| panic!("no ringlb_log_lines_dropped_total in\n{body}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(dropped(), 0);
    // Long request lines make long log lines: the socket and the queue fill sooner.
    let path = format!("/{}", "x".repeat(900));
    let mut c = Client::connect(fronts[0]);
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let mut sent = 0;
    let mut seen = 0;
    while sent < 40_000 && Instant::now() < deadline {
        let (status, _, _) = c.get(&path);
        assert_eq!(status, 200, "request {sent}: served whatever the log does");
        sent += 1;
        if sent % 500 == 0 {
            seen = dropped();
            if seen > 0 {
                break;
            }
        }
    }
    assert!(seen > 0, "no line counted as dropped after {sent} requests");
    // The proxy still answers at once.
    assert_eq!(Client::connect(fronts[0]).get("/after").0, 200);
}

#[test]
fn a_local_socket_gets_rfc3164_without_host_and_real_timers() {
    let dir = std::env::temp_dir().join(format!("ringlb-syslog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log");
    let _ = std::fs::remove_file(&path);
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let (tx, frames) = channel();
    thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = sock.recv(&mut buf) {
            if tx
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .is_err()
            {
                return;
            }
        }
    });
    let mut peer = Peer {
        addr: "127.0.0.1:9".parse().unwrap(),
        frames,
        seen: Vec::new(),
    };
    let delay = std::time::Duration::from_millis(300);
    let backend = Backend::start_with_delay(delay);
    let global = format!(
        "access_log = true\naccess_log_format = \"httplog\"\nlog_target = \"syslog\"\n\
         syslog = {{ address = \"{}\", facility = \"local0\", tag = \"ringlb-t\" }}",
        path.display()
    );
    let (r, fronts, _) = start(&http_config(backend.addr, &global, ""), &mut peer);
    let mut c = Client::connect(fronts[0]);
    assert_eq!(c.get("/slow").0, 200);

    let frame = peer.wait_for("/slow");
    let header = Regex::new(&format!(
        r"^<134>[A-Z][a-z]{{2}} [ \d]\d \d\d:\d\d:\d\d ringlb-t\[{}\]: (.*)$",
        r.child.id()
    ))
    .unwrap();
    let msg = &header
        .captures(&frame)
        .unwrap_or_else(|| panic!("not RFC 3164 without host: {frame}"))[1];
    let m = grok("HAPROXYHTTPBASE")
        .captures(msg)
        .unwrap_or_else(|| panic!("HAPROXYHTTPBASE does not match: {msg}"));
    let ms = |k: &str| field(&m, k).parse::<i64>().unwrap();
    assert!(ms("time_backend_response") >= 300, "Tr: {msg}");
    assert!(
        ms("time_duration") >= ms("time_backend_response"),
        "Ta: {msg}"
    );
    assert!(
        ms("time_backend_connect") >= 0 && ms("time_request") >= 0,
        "{msg}"
    );
    assert_eq!(field(&m, "http_status_code"), "200");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn logasap_lines_come_before_the_body_ends_and_failures_go_out_at_level_err() {
    let backend = Backend::start();
    let mut peer = Peer::udp();
    let global =
        syslog_global(&peer, "udp", "rfc5424", "local3") + "\naccess_log_format = \"httplog\"";
    let fe = "log_asap = true\nlog_separate_errors = true";
    let (_r, fronts, _) = start(&http_config(backend.addr, &global, fe), &mut peer);
    // 64 MiB the client never reads: the transfer stalls, yet the line comes, at
    // level info (local3 * 8 + 6), with what was known marked `+`.
    let mut c = Client::connect(fronts[0]);
    c.send(b"GET /len/67108864 HTTP/1.1\r\nHost: a\r\n\r\n");
    let early = peer.wait_for("/len/67108864");
    assert!(early.starts_with("<158>1 "), "info: {early}");
    let m = Regex::new(r" -?\d+/-?\d+/-?\d+/-?\d+/\+\d+ 200 \+(\d+) ")
        .unwrap()
        .captures(&early)
        .unwrap_or_else(|| panic!("no +Tt and +bytes: {early}"));
    let bytes: u64 = m[1].parse().unwrap();
    assert!(bytes < 67_108_864, "the bytes known so far: {early}");
    // A failure (the server's response is unusable: 502) at level err (local3 * 8 + 3).
    let mut d = Client::connect(fronts[0]);
    assert_eq!(d.get("/bad-framing").0, 502);
    let err = peer.wait_for("/bad-framing");
    assert!(err.starts_with("<155>1 "), "err: {err}");
    assert!(Regex::new(r" 502 \d+ ").unwrap().is_match(&err), "{err}");
    // An interim response (103) is not the response head the line waits for.
    let mut h = Client::connect(fronts[0]);
    h.send(b"GET /hints-then-close HTTP/1.1\r\nHost: a\r\n\r\n");
    let hints = peer.wait_for("/hints-then-close");
    assert!(!Regex::new(r"/\+\d+ ").unwrap().is_match(&hints), "{hints}");
    drop(h);
    // And a success is info again.
    let mut e = Client::connect(fronts[0]);
    assert_eq!(e.get("/after").0, 200);
    assert!(peer.wait_for("/after").starts_with("<158>1 "));
    drop(c);
}

#[test]
fn a_tcp_logasap_line_comes_while_the_connection_is_open() {
    let echo = Echo::start();
    let mut peer = Peer::udp();
    let global = syslog_global(&peer, "udp", "rfc5424", "local0");
    let config = format!(
        "[global]\nworkers = 1\npin_workers = false\n{global}\naccess_log_format = \"tcplog\"\n\
         [[frontend]]\nname = \"db\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"pg\"\nlog_asap = true\n\
         [[backend]]\nname = \"pg\"\n[[backend.server]]\nname = \"pg1\"\naddress = \"{}\"\n",
        echo.addr
    );
    let (_r, fronts, _) = start(&config, &mut peer);
    let mut s = common::connect(fronts[0]);
    let port = s.local_addr().unwrap().port();
    s.write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    s.read_exact(&mut back).unwrap();
    // Still open: the line is there already, its total time and bytes marked `+`.
    let line = peer.wait_for(&format!(":{port} ["));
    let re = Regex::new(r" db pg/pg1 \d+/\d+/\+\d+ \+\d+ -- ").unwrap();
    assert!(re.is_match(&line), "{line}");
    drop(s);
}
