//! Per-client limits are exact across workers: a frontend that tracks clients steers
//! every connection of one client to one worker (steering = "source" by default), so
//! one worker's table sees all of that client's requests.

mod common;

use std::net::SocketAddr;
use std::thread;

use common::http::{client_from, http_config, Backend};
use common::Ringlb;

const RULES: &str = r#"
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

/// `conns` connections from `src`, `each` requests on each: (allowed, refused with 429).
fn hammer(addr: SocketAddr, src: &'static str, conns: usize, each: usize) -> (usize, usize) {
    let handles: Vec<_> = (0..conns)
        .map(|_| {
            thread::spawn(move || {
                let mut c = client_from(src, addr);
                (0..each).map(|_| c.get("/").0).collect::<Vec<u16>>()
            })
        })
        .collect();
    let all: Vec<u16> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let ok = all.iter().filter(|s| **s == 200).count();
    let limited = all.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + limited, conns * each, "{all:?}");
    (ok, limited)
}

#[test]
fn a_rate_limit_is_exact_with_two_workers() {
    let backend = Backend::start();
    let tables = "\n[[table]]\nname = \"per_ip\"\nkey = \"src\"\nperiod = \"10s\"\n";
    let config = http_config(backend.addr, tables, RULES).replace("workers = 1", "workers = 2");
    let mut r = Ringlb::start(&config);
    // No steering key: a frontend with track rules is steered by source address.
    r.wait_logged("steering=\"source\"");
    let addr = r.addr();
    // Two clients at once, 16 connections each: each gets its own 100, exactly.
    let a = thread::spawn(move || hammer(addr, "127.0.0.2", 16, 15));
    let b = thread::spawn(move || hammer(addr, "127.0.0.3", 16, 15));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for (ok, _) in [a, b] {
        assert!((99..=101).contains(&ok), "{ok} allowed, {a:?} {b:?}");
    }
    assert_eq!(backend.requests(), a.0 + b.0, "no 429 reached the backend");
}

#[test]
fn a_100k_line_cidr_file_is_loaded_and_matched() {
    let backend = Backend::start();
    let dir = std::env::temp_dir().join(format!("ringlb-cidr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("blocked.lst");
    let mut text = String::from("# 100,000 networks, one per line\n");
    for i in 0..100_000u32 {
        text.push_str(&format!("10.{}.{}.0/24\n", i >> 8 & 0xff, i & 0xff));
    }
    text.push_str("127.0.0.2/32\n");
    std::fs::write(&list, text).unwrap();
    let rules = format!(
        "[[frontend.acl]]\nname = \"blocked\"\nsrc_file = \"{}\"\n\
         [[frontend.http_rule]]\naction = \"deny\"\nif = \"blocked\"\n",
        list.display()
    );
    let r = Ringlb::start(&http_config(backend.addr, "", &rules));
    assert_eq!(client_from("127.0.0.2", r.addr()).get("/").0, 403);
    assert_eq!(client_from("127.0.0.3", r.addr()).get("/").0, 200);
    assert_eq!(backend.requests(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reload_keeps_the_counters_of_a_table() {
    let backend = Backend::start();
    let tables = "\n[[table]]\nname = \"per_ip\"\nkey = \"src\"\nperiod = \"60s\"\n";
    let rules = RULES.replace("above = 100", "above = 10");
    let mut r = Ringlb::start(&http_config(backend.addr, tables, &rules));
    let addr = r.addr();
    let mut c = client_from("127.0.0.4", addr);
    for _ in 0..6 {
        assert_eq!(c.get("/").0, 200);
    }
    r.reload_and_wait();
    // 6 counted before the reload: 4 more are allowed, then 429.
    let mut c = client_from("127.0.0.4", addr);
    let after: Vec<u16> = (0..6).map(|_| c.get("/").0).collect();
    assert_eq!(
        after,
        [200, 200, 200, 200, 429, 429],
        "the reload reset the table"
    );
}

#[test]
fn the_admin_api_lists_a_tables_busiest_clients_and_clears_one() {
    let backend = Backend::start();
    let tables = "admin_bind = \"127.0.0.1:0\"\n[[table]]\nname = \"per_ip\"\nkey = \"src\"\n";
    let config = http_config(backend.addr, tables, RULES).replace("workers = 1", "workers = 2");
    let r = Ringlb::start(&config);
    let (addr, adm) = (r.addr(), r.admin_addr());
    {
        let mut c = client_from("127.0.0.5", addr);
        for _ in 0..7 {
            assert_eq!(c.get("/").0, 200);
        }
        let mut c = client_from("127.0.0.6", addr);
        assert_eq!(c.get("/").0, 200);
    }
    let (status, json) = common::admin(adm, "GET", "/api/tables", "", None);
    assert_eq!(status, 200, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let t = &v["tables"][0];
    assert_eq!(t["name"], "per_ip", "{json}");
    assert_eq!(t["entries"], 2, "{json}");
    assert_eq!(t["top"][0]["key"], "127.0.0.5", "busiest first: {json}");
    assert_eq!(t["top"][0]["http_req_total"], 7, "{json}");
    let (_, metrics) = common::admin(adm, "GET", "/metrics", "", None);
    assert!(
        metrics.contains("ringlb_table_entries{table=\"per_ip\"} 2"),
        "{metrics}"
    );
    // Clear one client: gone from the table, the other stays.
    let (status, body) = common::admin(adm, "POST", "/api/tables/per_ip/clear", "127.0.0.5", None);
    assert_eq!(status, 200, "{body}");
    let (_, json) = common::admin(adm, "GET", "/api/tables", "", None);
    assert!(
        !json.contains("127.0.0.5") && json.contains("127.0.0.6"),
        "{json}"
    );
    // Bad requests say why.
    assert_eq!(
        common::admin(adm, "POST", "/api/tables/nope/clear", "1.2.3.4", None).0,
        404
    );
    assert_eq!(
        common::admin(adm, "POST", "/api/tables/per_ip/clear", "not-an-ip", None).0,
        400
    );
}

#[test]
fn sni_and_alpn_conditions_see_the_tls_handshake() {
    use common::tls::{connect, CertDir, Hello};
    let backend = Backend::start();
    let dir = CertDir::new();
    dir.write("site", &["blocked.test", "ok.test"]);
    let rules = format!(
        "[frontend.tls]\ncertificates = [{}]\n\
         [[frontend.acl]]\nname = \"blocked_name\"\nsni = [\"blocked.test\"]\n\
         [[frontend.acl]]\nname = \"h1\"\nalpn = [\"http/1.1\"]\n\
         [[frontend.acl]]\nname = \"probe\"\npath = [\"/alpn\"]\n\
         [[frontend.http_rule]]\naction = \"deny\"\nif = \"blocked_name\"\n\
         [[frontend.http_rule]]\naction = \"return\"\nstatus = 200\nbody = \"h1\"\nif = \"probe h1\"\n\
         [[frontend.acl]]\nname = \"v13\"\ntls_version = [\"TLSv1.3\"]\n\
         [[frontend.acl]]\nname = \"tlsprobe\"\npath = [\"/tls\"]\n\
         [[frontend.http_rule]]\naction = \"return\"\nstatus = 200\nbody = \"tls13\"\nif = \"tlsprobe v13\"\n\
         [[frontend.acl]]\nname = \"allowed\"\npath = [\"/allowed\"]\n\
         [[frontend.http_rule]]\naction = \"allow\"\nif = \"allowed\"\n\
         [[frontend.http_rule]]\naction = \"deny\"\nif = \"allowed\"\n",
        dir.entry("site")
    );
    let r = Ringlb::start(&http_config(backend.addr, "", &rules));
    let hello = |sni| Hello {
        sni: Some(sni),
        ..Hello::default()
    };
    let mut c = connect(r.addr(), &hello("blocked.test")).unwrap();
    assert_eq!(c.get("/").0, 403);
    let mut c = connect(r.addr(), &hello("ok.test")).unwrap();
    assert_eq!(c.get("/").0, 200);
    let (status, body) = c.get("/alpn");
    assert_eq!((status, body.as_slice()), (200, &b"h1"[..]));
    let (status, body) = c.get("/tls");
    assert_eq!((status, body.as_slice()), (200, &b"tls13"[..]));
    // `allow` is final: the deny after it never acts.
    assert_eq!(c.get("/allowed").0, 200);
    let mut c12 = connect(
        r.addr(),
        &Hello {
            sni: Some("ok.test"),
            version: 12,
            ..Hello::default()
        },
    )
    .unwrap();
    assert_eq!(c12.get("/tls").0, 200, "forwarded: TLS 1.2 is not v13");
    assert_eq!(
        backend.requests(),
        3,
        "only allowed requests reached the backend"
    );
}

/// One probe per condition kind: `/k/<kind>` answered by ringlb itself with the kind's
/// name when the condition holds, else forwarded to the backend.
const KINDS: &[(&str, &str)] = &[
    ("method", "method = [\"DELETE\"]"),
    ("host", "host = [\"exact.test\"]"),
    ("host_suffix", "host_suffix = [\".example.test\"]"),
    ("host_regex", "host_regex = [\"^api[0-9]+\\\\.\"]"),
    ("path_suffix", "path_suffix = [\".css\"]"),
    ("path_regex", "path_regex = [\"/v[0-9]+/\"]"),
    ("query", "query = { name = \"debug\", value = [\"1\"] }"),
    (
        "header",
        "header = { name = \"X-Team\", prefix = [\"blue\"] }",
    ),
    ("http_version", "http_version = [\"1.0\"]"),
    ("cookie", "cookie = { name = \"beta\", value = [\"yes\"] }"),
    ("dst_port", "dst_port = [1]"),
];

#[test]
fn each_condition_kind_acts_end_to_end() {
    let backend = Backend::start();
    let mut rules = String::new();
    for (kind, cond) in KINDS {
        rules.push_str(&format!(
            "[[frontend.acl]]\nname = \"is_{kind}\"\n{cond}\n\
             [[frontend.acl]]\nname = \"probe_{kind}\"\npath_prefix = [\"/k/{kind}\"]\n\
             [[frontend.http_rule]]\naction = \"return\"\nstatus = 200\nbody = \"{kind}\"\nif = \"probe_{kind} is_{kind}\"\n"
        ));
    }
    let r = Ringlb::start(&http_config(backend.addr, "", &rules));
    let ask = |req: String| {
        let mut c = common::http::Client::connect(r.addr());
        c.send(req.as_bytes());
        let (status, _, body) = c.response(false);
        assert_eq!(status, 200);
        String::from_utf8_lossy(&body).into_owned()
    };
    let get = |path: &str, extra: &str| {
        ask(format!(
            "GET {path} HTTP/1.1\r\nHost: t.test\r\n{extra}\r\n"
        ))
    };
    let matching = [
        (
            "method",
            ask("DELETE /k/method HTTP/1.1\r\nHost: t\r\n\r\n".into()),
        ),
        (
            "host",
            ask("GET /k/host HTTP/1.1\r\nHost: EXACT.test:8080\r\n\r\n".into()),
        ),
        (
            "host_suffix",
            ask("GET /k/host_suffix HTTP/1.1\r\nHost: a.example.test\r\n\r\n".into()),
        ),
        (
            "host_regex",
            ask("GET /k/host_regex HTTP/1.1\r\nHost: api7.test\r\n\r\n".into()),
        ),
        ("path_suffix", get("/k/path_suffix/site.css", "")),
        ("path_regex", get("/k/path_regex/v2/x", "")),
        ("query", get("/k/query?a=b&debug=1", "")),
        (
            "header",
            get("/k/header", "X-Team: red\r\nX-Team: blue-2\r\n"),
        ),
        (
            "http_version",
            ask("GET /k/http_version HTTP/1.0\r\nHost: t\r\n\r\n".into()),
        ),
        ("cookie", get("/k/cookie", "Cookie: a=1; beta=yes\r\n")),
    ];
    for (kind, body) in &matching {
        assert_eq!(body, kind, "{kind} should have matched");
    }
    // Not matching: forwarded to the backend (`ok METHOD PATH ...`).
    let missing = [
        ("method", get("/k/method", "")),
        ("host", get("/k/host", "")),
        (
            "host_suffix",
            ask("GET /k/host_suffix HTTP/1.1\r\nHost: example.test.evil\r\n\r\n".into()),
        ),
        ("host_regex", get("/k/host_regex", "")),
        ("path_suffix", get("/k/path_suffix/site.css.map", "")),
        ("path_regex", get("/k/path_regex/vx/", "")),
        ("query", get("/k/query?debug=0", "")),
        ("header", get("/k/header", "X-Team: red\r\n")),
        ("http_version", get("/k/http_version", "")),
        ("cookie", get("/k/cookie", "Cookie: beta=no\r\n")),
        // dst_port 1 is never ours: the probe always goes on.
        ("dst_port", get("/k/dst_port", "")),
    ];
    for (kind, body) in &missing {
        assert!(
            body.starts_with("ok "),
            "{kind} matched when it should not: {body}"
        );
    }
}

#[test]
fn a_connection_limit_per_client_closes_the_extra_connection_in_tcp_mode() {
    use std::io::{Read, Write};
    let echo = common::Echo::start();
    let config = format!(
        "[global]\nworkers = 2\npin_workers = false\n\n\
         [[table]]\nname = \"conns\"\nkey = \"src\"\n\n\
         [[frontend]]\nname = \"db\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"db\"\n\
         [[frontend.acl]]\nname = \"too_many\"\ncounter = {{ table = \"conns\", name = \"conn_cur\", above = 3 }}\n\
         [[frontend.tcp_rule]]\naction = \"track\"\ntable = \"conns\"\n\
         [[frontend.tcp_rule]]\naction = \"reject\"\nif = \"too_many\"\n\n\
         [[backend]]\nname = \"db\"\n[[backend.server]]\nname = \"e\"\naddress = \"{}\"\n",
        echo.addr
    );
    let r = Ringlb::start(&config);
    // Three connections of one client are served (whichever worker: it is steered).
    let mut held: Vec<_> = (0..3)
        .map(|i| {
            let mut c = client_from("127.0.0.8", r.addr());
            let msg = format!("hello {i}");
            c.stream.write_all(msg.as_bytes()).unwrap();
            let mut back = vec![0u8; msg.len()];
            c.stream.read_exact(&mut back).unwrap();
            c
        })
        .collect();
    // The fourth is closed at once, and never reaches the server.
    let mut extra = client_from("127.0.0.8", r.addr());
    let _ = extra.stream.write_all(b"x");
    let mut buf = [0u8; 8];
    assert!(
        matches!(extra.stream.read(&mut buf), Ok(0) | Err(_)),
        "a 4th connection was served"
    );
    assert_eq!(echo.count(), 3);
    // Another client is not affected; and once one closes, the first client may again.
    assert_eq!(
        common::echo_roundtrip(r.addr(), b"other".to_vec()),
        b"other"
    );
    drop(held.pop());
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        let mut c = client_from("127.0.0.8", r.addr());
        let _ = c.stream.write_all(b"again");
        let mut back = [0u8; 5];
        if c.stream.read_exact(&mut back).is_ok() {
            assert_eq!(&back, b"again");
            break;
        }
        // The closed connection's count may take a moment to be given back.
        assert!(
            std::time::Instant::now() < deadline,
            "the client stayed refused"
        );
        thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn table_entries_expire_after_their_idle_time() {
    let backend = Backend::start();
    let tables = "admin_bind = \"127.0.0.1:0\"\n[[table]]\nname = \"per_ip\"\nkey = \"src\"\nexpire = \"1s\"\n";
    let r = Ringlb::start(&http_config(backend.addr, tables, RULES));
    let (addr, adm) = (r.addr(), r.admin_addr());
    {
        let mut c = client_from("127.0.0.9", addr);
        assert_eq!(c.get("/").0, 200);
    }
    let entries = || {
        let (_, json) = common::admin(adm, "GET", "/api/tables", "", None);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["tables"][0]["entries"].as_u64().unwrap()
    };
    assert_eq!(entries(), 1);
    // Idle past `expire` (1 s), the entry goes at the next once-a-second sweep.
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while entries() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the entry never expired"
        );
        thread::sleep(std::time::Duration::from_millis(100));
    }
}
