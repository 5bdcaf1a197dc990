//! The access log (`global.access_log = true`) through the real binary: one line per
//! HTTP request (status, bytes, request line, TLS version and cipher) and per TCP
//! connection, on stdout; refused requests are logged too; off by default. In
//! HAProxy's `httplog` format, the lines are read by goaccess (a real HAProxy-log
//! analyzer) with the counts, statuses and bytes ringlb logged.

mod common;

use std::io::{Read, Write};

use common::http::{http_config, Backend, Client};
use common::tls::{connect, CertDir, Hello};
use common::{Echo, Ringlb};

/// The logged line containing `needle` (waits for the once-a-second hand-over).
fn line(r: &mut Ringlb, needle: &str) -> Vec<String> {
    let l = r.wait_for(needle);
    l.split_whitespace().map(str::to_string).collect()
}

#[test]
fn http_requests_are_logged_one_line_each_with_status_bytes_and_request() {
    let backend = Backend::start();
    let mut r = Ringlb::start(&http_config(backend.addr, "access_log = true", ""));
    let mut c = Client::connect(r.addr());
    let (status, _, body) = c.get("/len/1000");
    assert_eq!((status, body.len()), (200, 1000));
    let (status, _, _) = c.get("/second?q=1");
    assert_eq!(status, 200);
    // A malformed request: logged with its status, the connection closed.
    let mut bad = Client::connect(r.addr());
    bad.send(
        b"GET /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(bad.response(false).0, 400);

    let f = line(&mut r, "\"GET /len/1000 HTTP/1.1\"");
    // time client frontend backend/server status bytes_in bytes_out duration "request" tls
    assert!(f[0].ends_with('Z') && f[0].len() == 24, "timestamp: {f:?}");
    assert!(f[1].starts_with("127.0.0.1:"), "client: {f:?}");
    assert_eq!(&f[2..5], ["web", "app/a1", "200"], "{f:?}");
    let bytes_in: u64 = f[5].parse().unwrap();
    let bytes_out: u64 = f[6].parse().unwrap();
    assert!(bytes_in > 20 && bytes_out > 1000, "{f:?}");
    assert!(f[7].ends_with("ms"), "{f:?}");
    assert_eq!(f.last().map(String::as_str), Some("-"), "no TLS: {f:?}");
    line(&mut r, "\"GET /second?q=1 HTTP/1.1\"");
    let f = line(&mut r, "\"GET /bad HTTP/1.1\"");
    assert_eq!(&f[2..5], ["web", "-/-", "400"], "{f:?}");
}

#[test]
fn a_request_without_a_server_is_logged_with_503() {
    let backend = common::closed_port();
    let mut r = Ringlb::start(&http_config(backend, "access_log = true", ""));
    let mut c = Client::connect(r.addr());
    assert_eq!(c.get("/nobody").0, 503);
    let f = line(&mut r, "\"GET /nobody HTTP/1.1\"");
    assert_eq!(
        &f[2..5],
        ["web", "app/-", "503"],
        "no connection made: {f:?}"
    );
}

#[test]
fn tcp_connections_are_logged_with_bytes_both_ways() {
    let echo = Echo::start();
    let config = common::tcp_config(1, &[(echo.addr, 1)], "")
        .replace("[global]", "[global]\naccess_log = true");
    let mut r = Ringlb::start(&config);
    let mut s = common::connect(r.addr());
    s.write_all(&[7u8; 3000]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back.len(), 3000);
    let f = line(&mut r, "\"TCP\"");
    assert_eq!(&f[4..7], ["-", "3000", "3000"], "{f:?}");
}

#[test]
fn tcp_connections_that_send_nothing_are_not_logged_when_asked() {
    let echo = Echo::start();
    let config = common::tcp_config(1, &[(echo.addr, 1)], "")
        .replace("[global]", "[global]\naccess_log = true")
        .replace(
            "mode = \"tcp\"",
            "mode = \"tcp\"\nlog_empty_connections = false",
        );
    let mut r = Ringlb::start(&config);
    // Connect and close without a byte (an upstream balancer's probe), twice; then a
    // connection that sends 5 bytes. Only the last is logged.
    for _ in 0..2 {
        let mut s = common::connect(r.addr());
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        assert!(back.is_empty());
    }
    let mut s = common::connect(r.addr());
    s.write_all(b"hello").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"hello");
    let f = line(&mut r, "\"TCP\"");
    assert_eq!(&f[4..7], ["-", "5", "5"], "{f:?}");
    // Lines are handed over in order: the empty connections came first.
    let tcp = r.log.iter().filter(|l| l.contains("\"TCP\"")).count();
    assert_eq!(tcp, 1, "{:#?}", r.log);
}

#[test]
fn https_requests_carry_the_tls_version_and_cipher() {
    let dir = CertDir::new();
    dir.write("site", &["site.test"]);
    let backend = Backend::start();
    let config = format!(
        "[global]\nworkers = 1\npin_workers = false\naccess_log = true\n\
         [[frontend]]\nname = \"tls\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [frontend.tls]\ncertificates = [{}]\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a\"\naddress = \"{}\"\n",
        dir.entry("site"),
        backend.addr
    );
    let mut r = Ringlb::start(&config);
    let mut c = connect(
        r.addr(),
        &Hello {
            sni: Some("site.test"),
            ..Hello::default()
        },
    )
    .unwrap();
    assert_eq!(c.get("/secure").0, 200);
    let f = line(&mut r, "\"GET /secure HTTP/1.1\"");
    let tls = f.last().unwrap();
    assert!(tls.starts_with("TLSv1.3/TLS13_"), "{f:?}");
}

/// One request to `path` through a ringlb started with `global` lines, then a clean
/// stop: every worker hands its buffer over before exiting.
fn one_request_then_stop(global: &str, path: &str) -> Ringlb {
    let backend = Backend::start();
    let mut r = Ringlb::start(&http_config(backend.addr, global, ""));
    let mut c = Client::connect(r.addr());
    assert_eq!(c.get(path).0, 200);
    drop(c);
    r.signal(libc::SIGTERM);
    assert!(r.wait_exit().success());
    r
}

#[test]
fn nothing_is_logged_by_default() {
    let mut r = one_request_then_stop("", "/quiet");
    assert!(!r.logged("/quiet"), "{}", r.log.join("\n"));
}

#[test]
fn lines_still_buffered_at_exit_are_written() {
    let mut r = one_request_then_stop("access_log = true", "/last");
    assert!(r.logged("\"GET /last HTTP/1.1\""), "{}", r.log.join("\n"));
}

/// goaccess's format for HAProxy's `httplog` lines (no syslog header): client,
/// `[date:time.ms]`, frontend, backend/server, the five timers (`%L`: the total, ms),
/// status, bytes, cookies, termination state, the five counts, the two queues,
/// the request line.
const GOACCESS_HTTPLOG: &str =
    "%h:%^ [%d:%t.%^] %^ %^/%^ %^/%^/%^/%^/%L %s %b %^ %^ %^ %^/%^/%^/%^/%^ %^/%^ \"%r\"";

#[test]
fn goaccess_reads_httplog_lines() {
    let found = std::process::Command::new("goaccess")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        assert_ne!(
            std::env::var("RINGLB_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "goaccess is required"
        );
        common::say_skipped(
            "goaccess_reads_httplog_lines",
            "goaccess not installed (RINGLB_REQUIRE_TOOLS=1 makes this a failure)",
        );
        return;
    }
    let backend = Backend::start();
    let global = "access_log = true\naccess_log_format = \"httplog\"";
    let mut r = Ringlb::start(&http_config(backend.addr, global, ""));
    let mut c = Client::connect(r.addr());
    for _ in 0..3 {
        assert_eq!(c.get("/len/100").0, 200);
    }
    let mut bad = Client::connect(r.addr());
    bad.send(
        b"GET /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(bad.response(false).0, 400);
    r.wait_for_n("\"GET /len/100 HTTP/1.1\"", 3);
    r.wait_for("\"GET /bad HTTP/1.1\"");
    let lines: Vec<String> = r
        .log
        .iter()
        .filter(|l| l.contains("] web ") && l.ends_with('"'))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    // Bytes to the client: the 7th field of each line.
    let bytes: u64 = lines
        .iter()
        .map(|l| l.split(' ').nth(6).unwrap().parse::<u64>().unwrap())
        .sum();

    let dir = std::env::temp_dir().join(format!("ringlb-goaccess-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let report = dir.join("report.json");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = std::process::Command::new("goaccess")
        .arg(&log)
        .arg(format!("--log-format={GOACCESS_HTTPLOG}"))
        .arg("--date-format=%d/%b/%Y")
        .arg("--time-format=%H:%M:%S")
        .arg("-o")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let g = &json["general"];
    assert_eq!(g["total_requests"], 4, "{g}");
    assert_eq!(g["valid_requests"], 4, "every line parsed: {g}");
    assert_eq!(g["failed_requests"], 0, "{g}");
    assert_eq!(g["bandwidth"], bytes, "{g}");
    let hits = |panel: &str, key: &str| -> u64 {
        json[panel]["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["data"] == key)
            .map_or(0, |d| d["hits"]["count"].as_u64().unwrap())
    };
    assert_eq!(hits("status_codes", "2xx Success"), 3);
    assert_eq!(hits("status_codes", "4xx Client Errors"), 1);
    assert_eq!(hits("requests", "/len/100"), 3);
    assert_eq!(hits("requests", "/bad"), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reload_changes_a_frontends_format() {
    let backend = Backend::start();
    let mut r = Ringlb::start(&http_config(backend.addr, "access_log = true", ""));
    let mut c = Client::connect(r.addr());
    assert_eq!(c.get("/before").0, 200);
    let f = line(&mut r, "\"GET /before HTTP/1.1\"");
    assert_eq!(&f[2..5], ["web", "app/a1", "200"], "ringlb's line: {f:?}");

    let custom = "access_log_format = \"%ci [%t] %ft %b/%s %ST %tsc %{+Q}r\"";
    let text = http_config(backend.addr, "access_log = true", custom);
    std::fs::write(r.config_path(), text).unwrap();
    r.reload_and_wait();
    assert_eq!(c.get("/after").0, 200);
    let f = line(&mut r, "\"GET /after HTTP/1.1\"");
    assert_eq!(f[0], "127.0.0.1", "{f:?}");
    assert!(f[1].starts_with('[') && f[1].ends_with(']'), "date: {f:?}");
    assert_eq!(&f[2..6], ["web", "app/a1", "200", "----"], "{f:?}");
}
