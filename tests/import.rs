//! `ringlb import`: the real binary on realistic configurations (tests/corpus/import/,
//! and inline ones aimed at real backends). Exit statuses 0 / 3 / 1, the
//! `FILE:LINE: directive: not translated: why` lines, `--allow-partial`, and that the
//! output passes `ringlb check` and serves traffic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::http::{Backend, Client};
use common::{Ringlb, TempConfig, BIN};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/import")
        .join(name)
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringlb-import-{}-{name}", std::process::id()))
}

fn import(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("import")
        .args(args)
        .output()
        .expect("run ringlb import")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every "not translated" line has the documented shape.
fn lost_lines(err: &str, file: &str) -> Vec<String> {
    let lines: Vec<String> = err
        .lines()
        .filter(|l| l.contains(": not translated: "))
        .map(String::from)
        .collect();
    for l in &lines {
        let rest = l
            .strip_prefix(&format!("{file}:"))
            .unwrap_or_else(|| panic!("{l}"));
        let (line, rest) = rest.split_once(": ").unwrap();
        assert!(line.parse::<usize>().is_ok(), "{l}");
        let (directive, why) = rest.split_once(": not translated: ").unwrap();
        assert!(!directive.is_empty() && !why.is_empty(), "{l}");
    }
    lines
}

fn check(path: &Path) {
    let o = Command::new(BIN)
        .arg("check")
        .arg("-c")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ringlb check failed:\n{}\n{}",
        stderr(&o),
        std::fs::read_to_string(path).unwrap()
    );
}

#[test]
fn complete_translation_exits_0_passes_check_and_serves() {
    let b1 = Backend::start();
    let b2 = Backend::start();
    let cfg = format!(
        "global\n    maxconn 1000\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\nfrontend web\n    bind 127.0.0.1:0\n    acl is_api path_beg /api\n    http-request set-header X-From \"ringlb import\"\n    use_backend api if is_api\n    default_backend app\n\nbackend app\n    balance roundrobin\n    server a1 {} check inter 500ms\n\nbackend api\n    server b1 {} check\n",
        b1.addr, b2.addr
    );
    let input = TempConfig::new(&cfg);
    let out = temp("complete.toml");
    let o = import(&[
        "haproxy",
        input.0.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("ringlb import: complete"));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(&format!("# {}:19: balance roundrobin", input.0.display())),
        "{text}"
    );
    check(&out);
    let mut r = Ringlb::start(&text);
    let mut c = Client::connect(r.addr());
    let (status, _, body) = c.get("/api/x");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("/api/x"));
    assert_eq!(b2.requests(), 1);
    assert!(b2
        .last_head()
        .to_ascii_lowercase()
        .contains("x-from: ringlb import"));
    c.get("/");
    assert_eq!(b1.requests(), 1);
    r.signal(libc::SIGTERM);
    r.wait_exit();
    let _ = std::fs::remove_file(out);
}

#[test]
fn partial_translation_exits_3_and_writes_only_when_allowed() {
    // The corpus file with a third log target, which ringlb cannot carry.
    let text = std::fs::read_to_string(corpus("k8s-apiserver.cfg")).unwrap();
    let file = temp("k8s-partial.cfg");
    let third = text.replacen("    daemon\n", "    log 10.0.0.9 local2\n    daemon\n", 1);
    std::fs::write(&file, third).unwrap();
    let f = file.to_str().unwrap();
    let out = temp("partial.toml");
    let _ = std::fs::remove_file(&out);
    let o = import(&["haproxy", f, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    let lost = lost_lines(&err, f);
    assert!(
        lost.contains(&format!(
            "{f}:7: log: not translated: ringlb sends its logs to one target (the first `log` line's, as global.log_target/syslog), and a copy of its own lines to at most one more (global.syslog_copy): send a copy elsewhere with a syslog relay"
        )),
        "{err}"
    );
    assert!(err.contains("--allow-partial"));
    assert!(!out.exists(), "output written without --allow-partial");

    let o = import(&["haproxy", f, "-o", out.to_str().unwrap(), "--allow-partial"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(lost_lines(&stderr(&o), f), lost);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("NOT translated"), "{text}");
    // The frontend is in tcp mode: dontlognull becomes its key.
    assert!(
        text.contains("dontlognull\nlog_empty_connections = false"),
        "{text}"
    );
    check(&out);
    let _ = std::fs::remove_file(out);
    let _ = std::fs::remove_file(file);
}

#[test]
fn unparsable_input_exits_1_with_file_and_line() {
    let input = TempConfig::new("global\n    maxconn 10\nfrontend f\n    bind \"127.0.0.1:80\n");
    let o = import(&["haproxy", input.0.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        format!("{}:4: unmatched double quote", input.0.display())
    );
    let input = TempConfig::new("  maxconn 10\n");
    let o = import(&["haproxy", input.0.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(":1: unknown keyword 'maxconn' out of section"));
    let input = TempConfig::new("vrrp_instance VI_1 {\n  interface eth0\n");
    let o = import(&["keepalived", input.0.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(":1: block not closed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn corpus_files_translate_and_pass_check() {
    for (name, complete) in [
        ("webshop.cfg", true),
        // Complete since on-marked-down shutdown-sessions translates.
        ("patroni.cfg", true),
        // Complete since a second, events-only `log` line becomes global.syslog_copy.
        ("k8s-apiserver.cfg", true),
    ] {
        let file = corpus(name);
        let out = temp(name);
        let o = import(&[
            "haproxy",
            file.to_str().unwrap(),
            "--allow-partial",
            "-o",
            out.to_str().unwrap(),
        ]);
        let expect = if complete { 0 } else { 3 };
        assert_eq!(o.status.code(), Some(expect), "{name}: {}", stderr(&o));
        lost_lines(&stderr(&o), file.to_str().unwrap());
        check(&out);
        let _ = std::fs::remove_file(out);
    }
}

#[test]
fn haproxy_and_keepalived_into_one_file() {
    let h = corpus("patroni.cfg");
    let k = corpus("keepalived.conf");
    let out = temp("pair.toml");
    let o = import(&[
        "haproxy",
        h.to_str().unwrap(),
        "--keepalived",
        k.to_str().unwrap(),
        "--allow-partial",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    let v = &t["vrrp"];
    assert_eq!(v["virtual_router_id"].as_integer(), Some(51));
    assert_eq!(v["virtual_ips"][0].as_str(), Some("192.168.10.100/24"));
    assert_eq!(v["track_frontends"].as_bool(), Some(true));
    assert_eq!(v["track_weight"].as_integer(), Some(2));
    assert_eq!(t["global"]["admin_bind"].as_str(), Some("127.0.0.1:7000"));
    check(&out);
    // keepalived alone: the [vrrp] table, complete for this file.
    let o = import(&["keepalived", k.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\n[vrrp]\n"));
    let _ = std::fs::remove_file(out);
}

/// The corpus is HAProxy's own syntax: `haproxy -c` accepts every file.
#[test]
fn corpus_files_are_valid_haproxy() {
    if !common::pp_peers::have("corpus_files_are_valid_haproxy", "/usr/sbin/haproxy") {
        return;
    }
    for name in ["webshop.cfg", "patroni.cfg", "k8s-apiserver.cfg"] {
        let o = Command::new("/usr/sbin/haproxy")
            .arg("-c")
            .arg("-f")
            .arg(corpus(name))
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
}

/// A backslash at the end of a line is no continuation, for HAProxy as for the
/// importer: both see the next line as a directive of its own.
#[test]
fn trailing_backslash_is_read_as_haproxy_reads_it() {
    let cfg = "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nfrontend f\n  bind 127.0.0.1:0\n  default_backend b\nbackend b\n  server s 127.0.0.1:80 \\\n    check\n";
    let input = TempConfig::new(cfg);
    let f = input.0.display().to_string();
    let o = import(&["haproxy", &f]);
    assert_eq!(o.status.code(), Some(3));
    let lost = lost_lines(&stderr(&o), &f);
    assert!(
        lost.iter()
            .any(|l| l.starts_with(&format!("{f}:10: server \\: "))),
        "{lost:?}"
    );
    assert!(
        lost.iter().any(|l| l.starts_with(&format!("{f}:10: \\: "))),
        "{lost:?}"
    );
    assert!(
        lost.iter()
            .any(|l| l.starts_with(&format!("{f}:11: check: "))),
        "{lost:?}"
    );
    if !common::pp_peers::have(
        "trailing_backslash_is_read_as_haproxy_reads_it",
        "/usr/sbin/haproxy",
    ) {
        return;
    }
    let o = Command::new("/usr/sbin/haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&input.0)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(":10] : 'server b/s' : unknown keyword '\\'"),
        "{err}"
    );
    assert!(err.contains(":11] : unknown keyword 'check'"), "{err}");
}

/// `bind ... ssl crt FILE` with HAProxy's combined PEM (chain and key in one file):
/// plain and TLS binds become two frontends, h2 is left out of ALPN, and the result
/// loads the certificate.
#[test]
fn tls_binds_with_a_combined_pem() {
    let dir = temp("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    let o = Command::new(BIN)
        .args([
            "gen-cert",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let pem = dir.join("site.pem");
    let both = std::fs::read_to_string(&cert).unwrap() + &std::fs::read_to_string(&key).unwrap();
    std::fs::write(&pem, both).unwrap();
    let cfg = format!(
        "frontend web\n  mode http\n  bind 127.0.0.1:0\n  bind 127.0.0.1:0 ssl crt {} alpn h2,http/1.1\n  default_backend app\nbackend app\n  server s 127.0.0.1:9\n",
        pem.display()
    );
    let input = dir.join("haproxy.cfg");
    std::fs::write(&input, cfg).unwrap();
    let out = dir.join("ringlb.toml");
    let o = import(&[
        "haproxy",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(t["frontend"][1]["name"].as_str(), Some("web-tls"));
    // ringlb's http mode speaks h2 too: `alpn h2,http/1.1` is kept as written.
    let alpn: Vec<&str> = t["frontend"][1]["tls"]["alpn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(alpn, ["h2", "http/1.1"]);
    check(&out);
    let _ = std::fs::remove_dir_all(dir);
}

/// Several `vrrp_instance`s become `[[vrrp]]` routers named after them, with their sync
/// group and tracking tables; an address listed twice is written once.
#[test]
fn keepalived_instances_become_routers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/keepalived");
    let file = dir.join("keepalived-samples-vrrp-scripts.conf");
    let o = import(&["keepalived", file.to_str().unwrap(), "--allow-partial"]);
    // Complete: its smtp_alert, with no smtp_server, mails nothing in keepalived either.
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(lost_lines(&stderr(&o), file.to_str().unwrap()).is_empty());
    let t: toml::Table = toml::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    let routers = t["vrrp"].as_array().unwrap();
    let names: Vec<&str> = routers
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["VI_1", "VI_2", "VI_3"]);
    let group = &t["vrrp_sync_group"][0];
    assert_eq!(group["name"].as_str(), Some("G1"));
    assert_eq!(group["routers"].as_array().unwrap().len(), 2);

    let file = dir.join("keepalived-samples-vrrp.conf");
    let o = import(&["keepalived", file.to_str().unwrap(), "--allow-partial"]);
    let t: toml::Table = toml::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    let vips = t["vrrp"][0]["virtual_ips"].as_array().unwrap();
    assert_eq!(vips.len(), 3, "192.168.200.18 once: {vips:?}");
    assert_eq!(t["vrrp"].as_array().unwrap().len(), 4);

    let file = dir.join("keepalived-samples-vrrp-localcheck.conf");
    let o = import(&["keepalived", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t: toml::Table = toml::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    let first = &t["vrrp"][0];
    assert_eq!(first["track_interface"].as_array().unwrap().len(), 3);
    let script = &first["track_script"][0];
    assert_eq!(script["name"].as_str(), Some("chk_sshd"));
    assert_eq!(script["command"][0].as_str(), Some("/bin/sh"));
    assert_eq!(script["weight"].as_integer(), Some(-4));
}

/// `ringlb import keepalived INPUT -o OUT`, complete (exit 0): the text and its table.
fn keepalived_complete(input: &Path, out: &Path) -> (String, toml::Table) {
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    let run = import(&["keepalived", i, "-o", o]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let text = std::fs::read_to_string(out).unwrap();
    let t = toml::from_str(&text).unwrap();
    (text, t)
}

/// IPv6 instances (keepalived's family rules): an IPv6 instance keeps its addresses and
/// peers and passes `ringlb check` as an IPv6 router; IPv4 and IPv6 instances sharing an
/// id in a sync group become two routers; an address of the other family in one
/// instance is reported, as keepalived ignores it.
#[test]
fn keepalived_ipv6_instances_keep_their_family() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/keepalived");
    let file = dir.join("kolla-openstack-ipv6.conf");
    let out = temp("kolla6.toml");
    let (text, t) = keepalived_complete(&file, &out);
    let v = &t["vrrp"];
    let vips: Vec<&str> = v["virtual_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(vips, ["2001:db8:10::250", "2001:db8:203::250 dev eth1"]);
    assert_eq!(v["unicast_peers"].as_array().unwrap().len(), 2);
    assert!(v.get("checksum").is_none(), "{text}");
    assert!(text.contains("link-local address"), "{text}");
    check(&out);
    let _ = std::fs::remove_file(&out);

    let conf = temp("dual.conf");
    std::fs::write(
        &conf,
        "global_defs {\n  vrrp_version 3\n}\nvrrp_sync_group svc {\n  group {\n    VI_4\n    VI_6\n  }\n}\nvrrp_instance VI_4 {\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\nvrrp_instance VI_6 {\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  native_ipv6\n  virtual_ipaddress {\n    2001:db8::100/64\n  }\n}\n",
    )
    .unwrap();
    let out = temp("dual.toml");
    let (_, t) = keepalived_complete(&conf, &out);
    let routers = t["vrrp"].as_array().unwrap();
    assert_eq!(routers.len(), 2);
    assert_eq!(
        routers[1]["virtual_ips"][0].as_str(),
        Some("2001:db8::100/64")
    );
    assert_eq!(
        t["vrrp_sync_group"][0]["routers"].as_array().unwrap().len(),
        2
    );
    check(&out);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&conf);

    let file = dir.join("tripleo-mixed-family.conf");
    let f = file.to_str().unwrap();
    let o = import(&["keepalived", f]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let lost = lost_lines(&stderr(&o), f);
    assert!(
        lost.iter().any(|l| l.contains(
            ":23: fe80::5cc1:afff:fe58:143b/64: not translated: keepalived ignores it too"
        )),
        "{lost:?}"
    );
}

/// `ringlb import haproxy CFG -o OUT --allow-partial`: exit status, lost lines, text, table.
fn haproxy_partial(name: &str, cfg: &str) -> (i32, Vec<String>, String, toml::Table) {
    let input = temp(&format!("{name}.cfg"));
    std::fs::write(&input, cfg).unwrap();
    let out = temp(&format!("{name}.toml"));
    let i = input.to_str().unwrap();
    let o = import(&["haproxy", i, "-o", out.to_str().unwrap(), "--allow-partial"]);
    let lost = lost_lines(&stderr(&o), i);
    let text = std::fs::read_to_string(&out).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    check(&out);
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&out);
    (o.status.code().unwrap_or(-1), lost, text, t)
}

fn backend<'a>(t: &'a toml::Table, name: &str) -> &'a toml::Value {
    t["backend"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no backend {name}"))
}

const H2: &str = "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\nfrontend grpc\n  bind 127.0.0.1:0 proto h2\n  default_backend grpc\n\nbackend grpc\n  option httpchk GET /health\n  server g1 127.0.0.1:50051 proto h2 check id 3 init-addr last,libc,none\n  server g2 127.0.0.1:50052 proto h2 check\n\nbackend asked\n  option httpchk\n  default-server check-proto h2\n  server a1 127.0.0.1:1 check\n  server a2 127.0.0.1:2 check check-proto h1\n\nbackend plain\n  option httpchk\n  server p1 127.0.0.1:3 check check-proto h1\n\nbackend tlsh2\n  server t1 127.0.0.1:4 ssl verify none alpn h2 no-tlsv11 ssl-min-ver TLSv1.2\n\nbackend tcpchk\n  option tcp-check\n  server c1 127.0.0.1:5 check check-proto h2\n";

/// HTTP/2 from HAProxy: `server ... proto h2` (and `ssl ... alpn h2`) → `proto = "h2"`;
/// the http check follows the servers' protocol (`check-proto`, else `proto`) into
/// `[backend.check] proto` when they agree and is reported when they do not;
/// `bind ... proto h2` → `h2c = "prior-knowledge"`; options with no key are said in
/// comments, never dropped silently; the output passes `ringlb check`.
#[test]
fn http2_servers_checks_and_binds() {
    let (code, lost, text, t) = haproxy_partial("h2", H2);
    assert_eq!(code, 3, "{lost:?}");
    let fe = &t["frontend"][0];
    assert_eq!(fe["h2c"].as_str(), Some("prior-knowledge"), "{text}");

    let grpc = backend(&t, "grpc");
    assert_eq!(grpc["check"]["kind"].as_str(), Some("http"));
    assert_eq!(grpc["check"]["proto"].as_str(), Some("h2"), "{text}");
    for s in grpc["server"].as_array().unwrap() {
        assert_eq!(s["proto"].as_str(), Some("h2"));
    }
    assert!(
        text.contains("proto h2: HAProxy checks the server over HTTP/2"),
        "{text}"
    );
    assert!(text.contains("(id: HAProxy's numeric server id"), "{text}");
    assert!(text.contains("(init-addr: differs:"), "{text}");

    // default-server check-proto h2, one server back to h1: one proto per backend.
    let asked = backend(&t, "asked");
    assert_eq!(asked["check"]["proto"].as_str(), Some("h2"), "{text}");
    assert!(
        lost.iter().any(|l| l.contains(
            ":20: server check over h1: not translated: ringlb has one check proto per backend"
        )),
        "{lost:?}"
    );
    assert!(
        backend(&t, "plain")["check"].get("proto").is_none(),
        "{text}"
    );
    assert!(
        text.contains("check-proto h1: ringlb's default check proto"),
        "{text}"
    );

    let tls = &backend(&t, "tlsh2")["server"][0];
    assert_eq!(tls["tls"].as_bool(), Some(true));
    assert_eq!(tls["proto"].as_str(), Some("h2"));
    assert!(
        text.contains("(no-tlsv11: ringlb (rustls) speaks TLS 1.2 and 1.3 only)"),
        "{text}"
    );
    assert!(
        text.contains("(ssl-min-ver: ringlb (rustls) speaks TLS 1.2 and 1.3 only: the same floor)"),
        "{text}"
    );

    assert!(
        lost.iter().any(|l| l.contains(":31: server check-proto h2: not translated: ringlb's check proto applies to http checks")),
        "{lost:?}"
    );
    assert_eq!(lost.len(), 2, "{lost:?}");

    // A real one: gRPC servers over h2, checked over HTTP/1.1 on another port through
    // `http-check connect` (the documented reason: the health server has no h2).
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/haproxy/canton-participant-ha.cfg");
    let o = import(&["haproxy", file.to_str().unwrap(), "--allow-partial"]);
    // Complete since `option logasap` translates (`log_asap`).
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let t: toml::Table = toml::from_str(&text).unwrap();
    for fe in t["frontend"].as_array().unwrap() {
        assert_eq!(fe["h2c"].as_str(), Some("prior-knowledge"), "{text}");
        assert_eq!(fe["log_asap"].as_bool(), Some(true), "{text}");
    }
    for be in t["backend"].as_array().unwrap() {
        assert!(be["check"].get("proto").is_none(), "{text}");
        for s in be["server"].as_array().unwrap() {
            assert_eq!(s["proto"].as_str(), Some("h2"));
            assert_eq!(s["check_port"].as_integer(), Some(8080));
        }
    }
}

/// keepalived's `global_defs { script_user USER GROUP; enable_script_security }` →
/// `[global]`, joined to HAProxy's `[global]` when both are imported; without
/// `script_user` the output says whom keepalived would run the programs as.
#[test]
fn keepalived_script_user_becomes_global() {
    let conf = "global_defs {\n  router_id lb1\n  script_user nobody nogroup\n  enable_script_security\n}\nvrrp_script chk {\n  script \"/bin/true\"\n  interval 2\n}\nvrrp_instance VI_1 {\n  interface lo\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    192.0.2.10/32\n  }\n  track_script {\n    chk\n  }\n}\n";
    let input = temp("su.conf");
    std::fs::write(&input, conf).unwrap();
    let out = temp("su.toml");
    let (text, t) = keepalived_complete(&input, &out);
    let g = &t["global"];
    assert_eq!(g["script_user"].as_str(), Some("nobody"), "{text}");
    assert_eq!(g["script_group"].as_str(), Some("nogroup"));
    assert_eq!(g["enable_script_security"].as_bool(), Some(true));
    assert!(!text.contains("keepalived_script"), "{text}");
    check(&out);

    // With HAProxy's file: one [global] table holding both.
    let cfg = temp("su.cfg");
    std::fs::write(&cfg, "global\n  maxconn 100\nfrontend f\n  mode http\n  bind 127.0.0.1:0\n  default_backend b\nbackend b\n  server s 127.0.0.1:9\n").unwrap();
    let both = temp("su-both.toml");
    let o = import(&[
        "haproxy",
        cfg.to_str().unwrap(),
        "--keepalived",
        input.to_str().unwrap(),
        "-o",
        both.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&both).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(t["global"]["max_connections"].as_integer(), Some(100));
    assert_eq!(t["global"]["script_user"].as_str(), Some("nobody"));
    check(&both);

    // No script_user: keepalived would look for user keepalived_script; ringlb does not.
    std::fs::write(&input, conf.replace("  script_user nobody nogroup\n", "")).unwrap();
    let (text, t) = keepalived_complete(&input, &out);
    assert!(t["global"].get("script_user").is_none(), "{text}");
    assert!(
        text.contains("no script_user: keepalived runs these programs as user keepalived_script"),
        "{text}"
    );
    for f in [input, out, cfg, both] {
        let _ = std::fs::remove_file(f);
    }
}
