//! A backend's own rules end to end (docs/rules.md, "Rules in a backend"): real
//! binary, real sockets, HTTP/1.1 and HTTP/2 clients. Request rules run after the
//! frontend's once the backend is chosen, response rules before the frontend's;
//! `use_server` pins requests (and TCP sessions) to a server unless it is down.

mod common;

use std::io::{Read, Write};
use std::process::Command;

use common::http::{client_from, Backend, Client};
use common::{admin, Echo, Ringlb, TempConfig, BIN};
use ringlb::config::Config;

/// A frontend routing `/b/...` to backend "b" (by a rule) and the rest to "a"; both
/// backends have rules, `frontend` adds to the frontend's (`h2c`: HTTP/2 prior
/// knowledge instead of HTTP/1.1).
fn two_backends(a: &Backend, b: &Backend, h2c: bool, frontend: &str) -> String {
    let h2c = if h2c { "h2c = \"prior-knowledge\"" } else { "" };
    format!(
        r#"[global]
workers = 1
pin_workers = false
admin_bind = "127.0.0.1:0"

[[frontend]]
name = "web"
bind = ["127.0.0.1:0"]
mode = "http"
{h2c}
default_backend = "a"
[[frontend.acl]]
name = "to_b"
path_prefix = ["/b/"]
[[frontend.http_rule]]
action = "set_header"
name = "X-Order"
value = "frontend"
[[frontend.http_rule]]
action = "use_backend"
backend = "b"
if = "to_b"
[[frontend.response_rule]]
action = "set_header"
name = "X-Resp"
value = "frontend"
{frontend}

[[backend]]
name = "a"
[[backend.server]]
name = "a1"
address = "{}"

[[backend]]
name = "b"
[[backend.acl]]
name = "missing_slash"
path_regex = ["^/[^/]*/[^/]*$"]
[[backend.acl]]
name = "secret"
path_prefix = ["/b/secret"]
[[backend.http_rule]]
action = "set_header"
name = "X-Forwarded-Host"
value = "example.org"
[[backend.http_rule]]
action = "set_header"
name = "X-Forwarded-Port"
format = "%[dst_port]"
[[backend.http_rule]]
action = "set_header"
name = "X-Order"
value = "backend"
[[backend.http_rule]]
action = "del_header"
name = "X-Drop"
[[backend.http_rule]]
action = "deny"
status = 403
if = "secret"
[[backend.http_rule]]
action = "redirect"
status = 301
prefix = "/new"
if = "missing_slash"
[[backend.response_rule]]
action = "set_header"
name = "X-Resp"
value = "backend"
[[backend.response_rule]]
action = "set_header"
name = "X-Backend"
value = "b"
[[backend.server]]
name = "b1"
address = "{}"
"#,
        a.addr, b.addr
    )
}

fn header<'h>(head: &'h str, name: &str) -> Vec<&'h str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

#[test]
fn backend_rules_run_after_the_frontends_and_only_for_their_backend() {
    let (a, b) = (Backend::start(), Backend::start());
    let r = Ringlb::start(&two_backends(&a, &b, false, ""));
    let port = r.addr().port();
    // Routed to b: the frontend's edits, then the backend's (the last set wins).
    let mut c = Client::connect(r.addr());
    c.send(b"GET /b/x/ HTTP/1.1\r\nHost: h\r\nX-Drop: 1\r\n\r\n");
    let (status, head, _) = c.response(false);
    assert_eq!(status, 200, "{head}");
    assert_eq!(header(&head, "x-resp"), ["frontend"], "{head}");
    assert_eq!(header(&head, "x-backend"), ["b"], "{head}");
    let seen = b.last_head();
    assert_eq!(header(&seen, "x-order"), ["backend"], "{seen}");
    assert_eq!(header(&seen, "x-forwarded-host"), ["example.org"], "{seen}");
    assert_eq!(
        header(&seen, "x-forwarded-port"),
        [port.to_string().as_str()],
        "{seen}"
    );
    assert!(header(&seen, "x-drop").is_empty(), "{seen}");
    // Routed to a: none of b's rules.
    c.send(b"GET /other HTTP/1.1\r\nHost: h\r\nX-Drop: 1\r\n\r\n");
    let (status, head, _) = c.response(false);
    assert_eq!(status, 200);
    assert!(header(&head, "x-backend").is_empty(), "{head}");
    let seen = a.last_head();
    assert_eq!(header(&seen, "x-order"), ["frontend"], "{seen}");
    assert_eq!(header(&seen, "x-drop"), ["1"], "{seen}");
    assert!(header(&seen, "x-forwarded-host").is_empty(), "{seen}");
    // b's deny and redirect answer without reaching a server; the connection stays.
    let before = b.requests();
    c.send(b"GET /b/secret/x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(c.response(false).0, 403);
    c.send(b"GET /b/page?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    let (status, head, _) = c.response(false);
    assert_eq!(status, 301, "{head}");
    assert_eq!(header(&head, "location"), ["/new/b/page?q=1"], "{head}");
    assert_eq!(b.requests(), before);
    // A frontend deny comes first: b's rules never see the request.
    let r2 = Ringlb::start(&two_backends(
        &a,
        &b,
        false,
        "[[frontend.http_rule]]\naction = \"deny\"\nstatus = 429\nif = \"to_b\"",
    ));
    assert_eq!(Client::connect(r2.addr()).get("/b/secret/x").0, 429);
}

/// curl, when installed (CI installs it).
fn curl_installed(test: &str) -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok();
    if !found {
        assert_ne!(
            std::env::var("RINGLB_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "curl is required"
        );
        common::say_skipped(
            test,
            "curl not installed (RINGLB_REQUIRE_TOOLS=1 makes this a failure)",
        );
    }
    found
}

/// curl over HTTP/2 (prior knowledge): the status line, the response head.
fn curl_h2(url: &str, extra: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "--http2-prior-knowledge",
            "-D",
            "-",
        ])
        .args(["-o", "/dev/null", "-w", "%{http_code} %{http_version}"])
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, meta) = text.rsplit_once("\r\n\r\n").unwrap_or((&text, ""));
    (meta.to_string(), head.to_string())
}

#[test]
fn backend_rules_apply_to_http2_streams() {
    if !curl_installed("backend_rules_h2") {
        return;
    }
    let (a, b) = (Backend::start(), Backend::start());
    let r = Ringlb::start(&two_backends(&a, &b, true, ""));
    let base = format!("http://127.0.0.1:{}", r.addr().port());
    let (meta, head) = curl_h2(&format!("{base}/b/x/"), &["-H", "x-drop: 1"]);
    assert_eq!(meta, "200 2", "{head}");
    assert_eq!(header(&head, "x-resp"), ["frontend"], "{head}");
    assert_eq!(header(&head, "x-backend"), ["b"], "{head}");
    let seen = b.last_head();
    assert_eq!(header(&seen, "x-order"), ["backend"], "{seen}");
    assert_eq!(header(&seen, "x-forwarded-host"), ["example.org"], "{seen}");
    assert!(header(&seen, "x-drop").is_empty(), "{seen}");
    let before = b.requests();
    let (meta, _) = curl_h2(&format!("{base}/b/secret/"), &[]);
    assert_eq!(meta, "403 2");
    let (meta, head) = curl_h2(&format!("{base}/b/page"), &[]);
    assert_eq!(meta, "301 2", "{head}");
    assert_eq!(header(&head, "location"), ["/new/b/page"], "{head}");
    assert_eq!(b.requests(), before);
}

/// Backend "app" with servers s0 and s1 (recording backends) and `rules` added.
fn pinned(s0: &Backend, s1: &Backend, rules: &str) -> String {
    with_servers(&[("s0", s0), ("s1", s1)], rules)
}

/// Backend "app" with these servers, in this order, and `rules` added.
fn with_servers(servers: &[(&str, &Backend)], rules: &str) -> String {
    let mut c = format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\n\n[[backend]]\nname = \"app\"\n{rules}\n"
    );
    for (name, b) in servers {
        c.push_str(&format!(
            "[[backend.server]]\nname = \"{name}\"\naddress = \"{}\"\n",
            b.addr
        ));
    }
    c
}

const PIN: &str = r#"
[[backend.acl]]
name = "pin"
path_prefix = ["/pin"]
[[backend.use_server]]
server = "s1"
if = "pin"
"#;

#[test]
fn use_server_pins_matching_requests_unless_the_server_is_down() {
    let (s0, s1) = (Backend::start(), Backend::start());
    let r = Ringlb::start(&pinned(&s0, &s1, PIN));
    let mut c = Client::connect(r.addr());
    for _ in 0..6 {
        assert_eq!(c.get("/pin/x").0, 200);
    }
    assert_eq!((s0.requests(), s1.requests()), (0, 6));
    // The others are balanced over both.
    for _ in 0..6 {
        assert_eq!(Client::connect(r.addr()).get("/other").0, 200);
    }
    assert_eq!((s0.requests(), s1.requests()), (3, 9));
    // s1 in maintenance: the rule is passed over, the balancer picks s0.
    let adm = r.admin_addr();
    let (status, body) = admin(adm, "POST", "/api/servers/app/s1/state", "maint", None);
    assert_eq!(status, 200, "{body}");
    for _ in 0..3 {
        assert_eq!(Client::connect(r.addr()).get("/pin/y").0, 200);
    }
    assert_eq!((s0.requests(), s1.requests()), (6, 9));
    // Draining still takes it (as with a persistence cookie, like HAProxy).
    let (status, body) = admin(adm, "POST", "/api/servers/app/s1/state", "drain", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(Client::connect(r.addr()).get("/pin/z").0, 200);
    assert_eq!((s0.requests(), s1.requests()), (6, 10));
}

/// Workers keep servers in slots across reloads: a reload that reorders the servers
/// (the pinned one first now, a new one next) still pins to the server by its name.
#[test]
fn use_server_follows_its_server_across_a_reload() {
    let (s0, s1, s2) = (Backend::start(), Backend::start(), Backend::start());
    let mut r = Ringlb::start(&pinned(&s0, &s1, PIN));
    assert_eq!(Client::connect(r.addr()).get("/pin/a").0, 200);
    assert_eq!((s0.requests(), s1.requests()), (0, 1));
    let reordered = with_servers(&[("s1", &s1), ("s2", &s2), ("s0", &s0)], PIN);
    std::fs::write(r.config_path(), &reordered).unwrap();
    r.reload_and_wait();
    for _ in 0..4 {
        assert_eq!(Client::connect(r.addr()).get("/pin/b").0, 200);
    }
    assert_eq!((s0.requests(), s1.requests(), s2.requests()), (0, 5, 0));
}

#[test]
fn use_server_rules_check_their_server_and_condition() {
    let (s0, s1) = (Backend::start(), Backend::start());
    let cfg = TempConfig::new(&pinned(&s0, &s1, PIN));
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&cfg.0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "backend \"app\": 1 acl(s), 0 http_rule(s), 0 response_rule(s), 1 use_server rule(s)"
        ),
        "{stdout}"
    );
    for (rules, want) in [
        (
            "[[backend.use_server]]\nserver = \"nope\"",
            "backend \"app\": use_server 1: server \"nope\" is not a server of this backend",
        ),
        (
            "[[backend.use_server]]\nserver = \"s1\"\nif = \"undefined_acl\"",
            "backend \"app\": use_server 1:",
        ),
        (
            "[[backend.http_rule]]\naction = \"use_backend\"\nbackend = \"app\"",
            "belongs to a frontend's rules, not a backend's",
        ),
    ] {
        let err = match Config::parse(&pinned(&s0, &s1, rules), "t.toml") {
            Ok(_) => panic!("accepted: {rules}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(want), "{rules}: {err}");
    }
}

#[test]
fn use_server_in_tcp_mode_by_client_address() {
    let (e0, e1) = (Echo::start(), Echo::start());
    let config = format!(
        r#"[global]
workers = 1
pin_workers = false

[[frontend]]
name = "tcp"
bind = ["127.0.0.1:0"]
mode = "tcp"
default_backend = "app"

[[backend]]
name = "app"
[[backend.acl]]
name = "from_two"
src = ["127.0.0.2/32"]
[[backend.use_server]]
server = "e1"
if = "from_two"
[[backend.server]]
name = "e0"
address = "{}"
[[backend.server]]
name = "e1"
address = "{}"
"#,
        e0.addr, e1.addr
    );
    let r = Ringlb::start(&config);
    let echo_once = |src: &str| {
        let mut c = client_from(src, r.addr());
        let s = &mut c.stream;
        s.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
    };
    for _ in 0..4 {
        echo_once("127.0.0.2");
    }
    assert_eq!((e0.count(), e1.count()), (0, 4));
    for _ in 0..4 {
        echo_once("127.0.0.3");
    }
    assert_eq!((e0.count(), e1.count()), (2, 6));
}
