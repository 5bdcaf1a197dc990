//! Rules end to end (docs/rules.md): real binary, real sockets. ACLs and http rules
//! (deny, allow, return, redirect, tarpit, use_backend), connection rules in tcp
//! mode, and a per-client rate limit answered with 429 that never reaches a backend.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::http::{client_from, http_config, Backend, Client};
use common::{Echo, Ringlb};

fn start(backend: &Backend, global: &str, frontend: &str) -> Ringlb {
    Ringlb::start(&http_config(backend.addr, global, frontend))
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    Client::connect(addr).get(path)
}

const ADMIN: &str = r#"
[[frontend.acl]]
name = "admin_path"
path_prefix = ["/admin"]
[[frontend.acl]]
name = "office"
src = ["127.0.0.1/32"]
[[frontend.http_rule]]
action = "deny"
if = "admin_path !office"
"#;

#[test]
fn deny_by_path_prefix_cannot_be_bypassed_and_allows_the_office() {
    let backend = Backend::start();
    let rl = start(&backend, "admin_bind = \"127.0.0.1:0\"", ADMIN);
    for path in [
        "/admin",
        "/%61dmin",
        "/./admin",
        "//admin",
        "/x/../admin",
        "/admin/users",
    ] {
        let (status, _, _) = client_from("127.0.0.2", rl.addr()).get(path);
        assert_eq!(status, 403, "{path} from 127.0.0.2");
    }
    assert_eq!(backend.requests(), 0);
    let (status, _, _) = client_from("127.0.0.2", rl.addr()).get("/public");
    assert_eq!(status, 200);
    let (status, _, body) = client_from("127.0.0.1", rl.addr()).get("/admin");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(backend.requests(), 2);
    let (_, metrics) = common::admin(rl.admin_addr(), "GET", "/metrics", "", None);
    assert!(
        metrics.contains("ringlb_rule_hits_total{frontend=\"web\",rule=\"http_rule 1\"} 6"),
        "{metrics}"
    );
}

#[test]
fn return_redirect_and_use_backend() {
    let backend = Backend::start();
    let other = Backend::start();
    let rules = format!(
        r#"
[[frontend.acl]]
name = "maint"
path = ["/maint"]
[[frontend.acl]]
name = "plain"
path_prefix = ["/secure"]
[[frontend.acl]]
name = "api"
path_prefix = ["/api/"]
[[frontend.http_rule]]
action = "return"
status = 503
content_type = "text/html"
body = "<p>back soon</p>"
if = "maint"
[[frontend.http_rule]]
action = "redirect"
scheme = "https"
if = "plain"
[[frontend.http_rule]]
action = "use_backend"
backend = "other"
if = "api"
[[backend]]
name = "other"
[[backend.server]]
name = "o1"
address = "{}"
"#,
        other.addr
    );
    let rl = start(&backend, "", &rules);
    let mut c = Client::connect(rl.addr());
    let (status, head, body) = c.get("/maint");
    assert_eq!(status, 503);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{head}"
    );
    assert_eq!(body, b"<p>back soon</p>");
    // Keep-alive after a rule's answer: the same connection goes on.
    c.send(b"GET /secure/x?a=1 HTTP/1.1\r\nHost: example.com:80\r\n\r\n");
    let (status, head, _) = c.response(false);
    assert_eq!(status, 302);
    assert!(
        head.contains("location: https://example.com/secure/x?a=1"),
        "{head}"
    );
    let (status, _, body) = c.get("/api/users");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("/api/users"));
    assert_eq!((backend.requests(), other.requests()), (0, 1));
}

#[test]
fn tarpit_holds_the_request_without_holding_the_worker() {
    let backend = Backend::start();
    let rules = r#"
[[frontend.acl]]
name = "bot"
header = { name = "User-Agent", prefix = ["badbot"] }
[[frontend.http_rule]]
action = "tarpit"
delay = "1s"
status = 403
if = "bot"
"#;
    let rl = start(&backend, "", rules);
    let addr = rl.addr();
    let t = std::thread::spawn(move || {
        let started = Instant::now();
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: badbot/1\r\n\r\n");
        (c.response(false).0, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    // Meanwhile the (only) worker answers others at once.
    let started = Instant::now();
    assert_eq!(get(addr, "/").0, 200);
    assert!(started.elapsed() < Duration::from_millis(700));
    let (status, held) = t.join().unwrap();
    assert_eq!(status, 403);
    assert!(held >= Duration::from_millis(950), "{held:?}");
    assert_eq!(backend.requests(), 1);
}

#[test]
fn tcp_rule_rejects_in_tcp_mode() {
    let echo = Echo::start();
    let config = format!(
        "[global]\nworkers = 1\npin_workers = false\n\n\
         [[frontend]]\nname = \"db\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"db\"\n\
         [[frontend.acl]]\nname = \"bad\"\nsrc = [\"127.0.0.2\"]\n\
         [[frontend.tcp_rule]]\naction = \"reject\"\nif = \"bad\"\n\n\
         [[backend]]\nname = \"db\"\n[[backend.server]]\nname = \"e\"\naddress = \"{}\"\n",
        echo.addr
    );
    let rl = Ringlb::start(&config);
    let mut bad = client_from("127.0.0.2", rl.addr());
    let mut buf = [0u8; 16];
    let _ = std::io::Write::write_all(&mut bad.stream, b"hello");
    assert!(
        matches!(bad.stream.read(&mut buf), Ok(0) | Err(_)),
        "rejected connection must close"
    );
    let good = common::echo_roundtrip(rl.addr(), b"hello".to_vec());
    assert_eq!(good, b"hello");
    assert_eq!(echo.count(), 1);
}

#[test]
fn rate_limit_answers_429_beyond_the_limit_and_spares_the_backend() {
    let backend = Backend::start();
    let global = "\n[[table]]\nname = \"per_ip\"\nkey = \"src\"\nperiod = \"10s\"\n";
    let rules = r#"
[[frontend.tcp_rule]]
action = "track"
table = "per_ip"
[[frontend.acl]]
name = "too_fast"
counter = { table = "per_ip", name = "http_req_rate", above = 100 }
[[frontend.http_rule]]
action = "deny"
status = 429
if = "too_fast"
"#;
    let rl = start(&backend, global, rules);
    let addr = rl.addr();
    let handles: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut out = Vec::new();
                for _ in 0..15 {
                    let (status, head, _) = c.get("/");
                    out.push((status, head));
                }
                out
            })
        })
        .collect();
    let all: Vec<(u16, String)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let ok = all.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<_> = all.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(ok + limited.len(), 240);
    assert!((99..=101).contains(&ok), "{ok} allowed");
    for (_, head) in &limited {
        assert!(
            head.to_ascii_lowercase().contains("retry-after: 10"),
            "{head}"
        );
    }
    assert_eq!(backend.requests(), ok, "no 429 reached the backend");
}

const EDITS: &str = r#"
[[frontend.acl]]
name = "api"
path_prefix = ["/api/"]
[[frontend.acl]]
name = "old"
path = ["/old"]
[[frontend.http_rule]]
action = "del_header"
name = "X-Secret"
[[frontend.http_rule]]
action = "set_header"
name = "X-Env"
value = "prod"
[[frontend.http_rule]]
action = "add_header"
name = "X-Added"
value = "1"
[[frontend.http_rule]]
action = "replace_path"
regex = "^/api/(.*)$"
replacement = "/v2/\\1"
if = "api"
[[frontend.http_rule]]
action = "set_path"
value = "/new"
if = "old"
"#;

#[test]
fn request_edits_reach_the_backend() {
    let backend = Backend::start();
    let rl = start(&backend, "", EDITS);
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /api/users?id=7 HTTP/1.1\r\nHost: test\r\nX-Env: dev\r\nX-Secret: s\r\nx-env: dev2\r\nAccept: */*\r\n\r\n");
    let (status, _, body) = c.response(false);
    assert_eq!(status, 200);
    assert_eq!(body, b"ok GET /v2/users?id=7 0");
    let head = backend.last_head();
    let lower = head.to_ascii_lowercase();
    assert!(
        head.starts_with("GET /v2/users?id=7 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nX-Env: prod\r\n"), "{head}");
    assert_eq!(lower.matches("x-env:").count(), 1, "{head}");
    assert!(!lower.contains("x-secret"), "{head}");
    assert!(head.contains("\r\nX-Added: 1\r\n"), "{head}");
    assert!(head.contains("\r\nAccept: */*\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "{head}");
    // A body after the edited head keeps its framing; the connection goes on.
    c.send(b"POST /old?x=1 HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello");
    let (status, _, body) = c.response(false);
    assert_eq!(status, 200);
    assert_eq!(body, b"ok POST /new?x=1 5");
    let head = backend.last_head();
    assert!(head.starts_with("POST /new?x=1 HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nX-Added: 1\r\n"), "{head}");
    let (status, _, body) = c.get("/plain");
    assert_eq!((status, &body[..]), (200, &b"ok GET /plain 0"[..]));
    assert_eq!(backend.requests(), 3);
}

#[test]
fn response_rules_edit_the_head_the_client_gets() {
    let backend = Backend::start();
    let rules = r#"
[[frontend.acl]]
name = "api"
path_prefix = ["/api/"]
[[frontend.response_rule]]
action = "set_header"
name = "Strict-Transport-Security"
value = "max-age=31536000"
[[frontend.response_rule]]
action = "del_header"
name = "Server"
[[frontend.response_rule]]
action = "add_header"
name = "X-Api"
value = "yes"
if = "api"
"#;
    let rl = start(&backend, "", rules);
    let mut c = Client::connect(rl.addr());
    let (status, head, body) = c.get("/with-server");
    assert_eq!((status, &body[..]), (200, &b"ok"[..]));
    let lower = head.to_ascii_lowercase();
    assert!(
        head.contains("\r\nStrict-Transport-Security: max-age=31536000\r\n"),
        "{head}"
    );
    assert!(!lower.contains("server:"), "{head}");
    assert!(!lower.contains("x-api"), "{head}");
    // Conditions see the request: its path.
    let (status, head, body) = c.get("/api/x");
    assert_eq!((status, &body[..]), (200, &b"ok GET /api/x 0"[..]));
    assert!(head.contains("\r\nX-Api: yes\r\n"), "{head}");
    assert!(head.contains("Strict-Transport-Security"), "{head}");
}

/// A raw response file in the temp directory (absolute path for the configuration).
fn page_file(name: &str, text: &str) -> String {
    let p = std::env::temp_dir().join(format!("ringlb-page-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn error_pages_replace_ringlbs_own_responses() {
    let p503 = page_file(
        "503.http",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<p>sorry</p>\n",
    );
    let p400 = page_file(
        "400.http",
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 9\r\nConnection: close\r\n\r\nbad input",
    );
    let pages = format!(
        "[[frontend.error_page]]\nstatus = 503\nfile = \"{p503}\"\n\
         [[frontend.error_page]]\nstatus = 400\nfile = \"{p400}\"\n"
    );
    let dead = common::closed_port();
    let rl = Ringlb::start(&http_config(dead, "", &pages));
    let (status, head, body) = get(rl.addr(), "/");
    assert_eq!(status, 503);
    assert!(head.contains("Content-Type: text/html"), "{head}");
    assert_eq!(body, b"<p>sorry</p>\n");
    let mut c = Client::connect(rl.addr());
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    let (status, _, body) = c.response(false);
    assert_eq!((status, &body[..]), (400, &b"bad input"[..]));
    assert!(c.closed());
}

/// `format` values (docs/rules.md, "Values computed per request") reach the server
/// and the client rendered for each request, and an `nbsrv` ACL follows the
/// backend's servers as the worker learns of them (here: maintenance set through
/// the admin API, then lifted).
#[test]
fn values_from_samples_and_a_maintenance_page_while_no_server_is_usable() {
    let backend = Backend::start();
    let rules = r#"
[[frontend.acl]]
name = "dead"
nbsrv = { backend = "app", below = 1 }
[[frontend.http_rule]]
action = "return"
status = 503
body = "maintenance"
if = "dead"
[[frontend.http_rule]]
action = "set_header"
name = "X-Client"
format = "%[src] %[req.hdr(host),lower] %[path] id=%[urlp(id),upper] [%[req.hdr(x-none)]]"
[[frontend.response_rule]]
action = "add_header"
name = "X-Status"
format = "status=%[status] %ci"
"#;
    let rl = start(&backend, "admin_bind = \"127.0.0.1:0\"", rules);
    for (src, id) in [("127.0.0.3", "x7"), ("127.0.0.4", "y8")] {
        let mut c = client_from(src, rl.addr());
        let req = format!("GET /a/b?id={id} HTTP/1.1\r\nHost: WWW.Example.com\r\n\r\n");
        c.send(req.as_bytes());
        let (status, head, _) = c.response(false);
        assert_eq!(status, 200);
        let want = format!("x-status: status=200 {src}");
        assert!(head.to_ascii_lowercase().contains(&want), "{head}");
        let seen = backend.last_head();
        let want = format!(
            "X-Client: {src} www.example.com /a/b id={} []",
            id.to_uppercase()
        );
        assert!(seen.contains(&want), "{seen}");
    }
    assert_eq!(backend.requests(), 2);
    let adm = rl.admin_addr();
    let set = |state: &str| {
        let (status, body) = common::admin(adm, "POST", "/api/servers/app/a1/state", state, None);
        assert_eq!(status, 200, "{body}");
    };
    // The worker hears of the change by message: poll, bounded.
    let until = |want: u16| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, _, body) = get(rl.addr(), "/");
            if status == want {
                return body;
            }
            assert!(Instant::now() < deadline, "still {status}, not {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    set("maint");
    assert_eq!(until(503), b"maintenance");
    let served = backend.requests();
    assert_eq!(get(rl.addr(), "/x").0, 503);
    assert_eq!(backend.requests(), served, "answered by the rule");
    set("ready");
    until(200);
}
