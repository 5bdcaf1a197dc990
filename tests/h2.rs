//! HTTP/2 clients end to end (issue 18): real curl and h2load against the real binary,
//! over TLS with ALPN `h2` and over cleartext with prior knowledge, to HTTP/1.1
//! servers (the recording test backend): the translation (Host from `:authority`,
//! cookie crumbs joined, bodies with and without content-length), streams of one
//! connection spread over servers, rules with the same answers as for HTTP/1.1, the
//! access log and the statistics. Hostile clients: tests/h2_attacks.rs.

mod common;

use std::process::Command;

use common::http::Backend;
use common::tls::CertDir;
use common::Ringlb;

/// curl and h2load, when installed (CI installs them: curl, nghttp2-client).
fn tool(test: &str, name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        assert_ne!(
            std::env::var("RINGLB_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "{name} is required"
        );
        common::say_skipped(
            test,
            &format!("{name} not installed (RINGLB_REQUIRE_TOOLS=1 makes this a failure)"),
        );
    }
    found
}

/// Two frontends on one backend of `servers`: "clear" (h2c prior knowledge) and
/// "tls" (ALPN h2, http/1.1), with `frontend` added to both.
fn config(servers: &[&Backend], certs: &CertDir, frontend: &str) -> String {
    let mut c = format!(
        "[global]\nworkers = 1\npin_workers = false\naccess_log = true\nadmin_bind = \"127.0.0.1:0\"\n\n\
         [[frontend]]\nname = \"clear\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\nh2c = \"prior-knowledge\"\n{frontend}\n\n\
         [[frontend]]\nname = \"tls\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\n{frontend}\n\
         [frontend.tls]\ncertificates = [{}]\nalpn = [\"h2\", \"http/1.1\"]\n\n\
         [[backend]]\nname = \"app\"\n",
        certs.entry("site")
    );
    for (i, s) in servers.iter().enumerate() {
        c.push_str(&format!(
            "\n[[backend.server]]\nname = \"s{i}\"\naddress = \"{}\"\n",
            s.addr
        ));
    }
    c
}

fn start(servers: &[&Backend], frontend: &str) -> (Ringlb, CertDir) {
    let certs = CertDir::new();
    certs.write("site", &["www.example.test"]);
    let r = Ringlb::start(&config(servers, &certs, frontend));
    (r, certs)
}

/// curl with `args`; (the `-w` output, the body).
fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args([
            "-sk",
            "--max-time",
            "20",
            "-w",
            "\n%{http_code} %{http_version}",
        ])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, meta) = text.rsplit_once('\n').unwrap_or(("", &text));
    (meta.to_string(), body.to_string())
}

fn clear_url(r: &Ringlb, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", r.addrs[0].port())
}

fn tls_args(r: &Ringlb, path: &str) -> Vec<String> {
    let port = r.addrs[1].port();
    vec![
        "--resolve".into(),
        format!("www.example.test:{port}:127.0.0.1"),
        format!("https://www.example.test:{port}{path}"),
    ]
}

/// curl on the TLS frontend with `version` (`--http2`, `--http1.1`) and no other option.
fn curl_tls(r: &Ringlb, version: &str, path: &str) -> (String, String) {
    let mut args = vec![version.to_string()];
    args.extend(tls_args(r, path));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&args)
}

#[test]
fn curl_over_alpn_h2_and_prior_knowledge_reaches_http11_servers() {
    if !tool("h2_curl", "curl") {
        return;
    }
    let backend = Backend::start();
    let (mut r, _certs) = start(&[&backend], "");
    // Cleartext, prior knowledge: a GET, with cookie crumbs joined into one field.
    let url = clear_url(&r, "/hello?x=1");
    let (meta, body) = curl(&[
        "--http2-prior-knowledge",
        "-H",
        "cookie: a=1",
        "-H",
        "cookie: b=2",
        &url,
    ]);
    assert_eq!(meta, "200 2");
    assert_eq!(body, "ok GET /hello?x=1 0");
    let head = backend.last_head().to_ascii_lowercase();
    assert!(head.starts_with("get /hello?x=1 http/1.1\r\n"), "{head}");
    let port = r.addrs[0].port();
    assert!(
        head.contains(&format!("host: 127.0.0.1:{port}\r\n")),
        "{head}"
    );
    assert!(head.contains("cookie: a=1; b=2\r\n"), "{head}");
    // TLS with ALPN h2: a POST with content-length, and one without (chunked).
    let mut args = vec!["--http2".to_string(), "-d".into(), "abcdef".into()];
    args.extend(tls_args(&r, "/post"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (meta, body) = curl(&args);
    assert_eq!((meta.as_str(), body.as_str()), ("200 2", "ok POST /post 6"));
    let head = backend.last_head().to_ascii_lowercase();
    assert!(head.contains("content-length: 6\r\n"), "{head}");
    let mut args = vec![
        "--http2".to_string(),
        "-H".into(),
        "transfer-encoding: chunked".into(),
        "--data-binary".into(),
        "0123456789".into(),
    ];
    args.extend(tls_args(&r, "/chunked-in"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (meta, body) = curl(&args);
    assert_eq!(
        (meta.as_str(), body.as_str()),
        ("200 2", "ok POST /chunked-in 10")
    );
    // Responses: chunked from the server, a large length-delimited one, HEAD, 204.
    let (meta, body) = curl(&["--http2-prior-knowledge", &clear_url(&r, "/chunked/20000")]);
    assert_eq!((meta.as_str(), body.len()), ("200 2", 20000));
    let (meta, body) = curl(&["--http2-prior-knowledge", &clear_url(&r, "/len/300000")]);
    assert_eq!((meta.as_str(), body.len()), ("200 2", 300000));
    let (meta, _) = curl(&["--http2-prior-knowledge", "-I", &clear_url(&r, "/head")]);
    assert_eq!(meta, "200 2");
    let (meta, _) = curl(&["--http2-prior-knowledge", &clear_url(&r, "/204")]);
    assert_eq!(meta, "204 2");
    let mut args = vec!["--http2".to_string()];
    args.extend(tls_args(&r, "/chunked/100000"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (meta, body) = curl(&args);
    assert_eq!((meta.as_str(), body.len()), ("200 2", 100000));
    // HTTP/1.1 still works on the TLS frontend (ALPN http/1.1).
    let mut args = vec!["--http1.1".to_string()];
    args.extend(tls_args(&r, "/one"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(curl(&args).0, "200 1.1");
    // The access log says HTTP/2.0; the frontends count the requests.
    r.wait_for("\"GET /hello?x=1 HTTP/2.0\"");
    r.wait_for("\"POST /post HTTP/2.0\"");
    let (_, metrics) = common::admin(r.admin_addr(), "GET", "/metrics", "", None);
    assert!(
        metrics.contains("ringlb_frontend_requests_total{frontend=\"clear\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ringlb_frontend_requests_total{frontend=\"tls\"} 4"),
        "{metrics}"
    );
    // Per protocol: all of "clear", all but the HTTP/1.1 one of "tls".
    assert!(
        metrics.contains("ringlb_frontend_h2_requests_total{frontend=\"clear\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ringlb_frontend_h2_requests_total{frontend=\"tls\"} 3"),
        "{metrics}"
    );
}

#[test]
fn a_request_with_many_fields_reaches_the_server_whole() {
    if !tool("h2_many_fields", "curl") {
        return;
    }
    let backend = Backend::start();
    let (r, _certs) = start(&[&backend], "");
    // More fields than ringlb lists on the stack while it checks them (32).
    let fields: Vec<String> = (0..40).map(|i| format!("x-f{i}: v{i}")).collect();
    let url = clear_url(&r, "/many");
    let mut args = vec!["--http2-prior-knowledge"];
    for f in &fields {
        args.extend(["-H", f.as_str()]);
    }
    args.push(&url);
    let (meta, body) = curl(&args);
    assert_eq!((meta.as_str(), body.as_str()), ("200 2", "ok GET /many 0"));
    let head = backend.last_head().to_ascii_lowercase();
    let mut from = 0;
    for f in &fields {
        let line = format!("{f}\r\n");
        let at = head[from..]
            .find(&line)
            .unwrap_or_else(|| panic!("{line:?} in {head}"));
        from += at + line.len();
    }
}

#[test]
fn streams_of_one_connection_go_to_different_servers() {
    if !tool("h2_streams", "h2load") {
        return;
    }
    let (a, b) = (Backend::start(), Backend::start());
    let (r, _certs) = start(&[&a, &b], "");
    // One connection, 40 requests, up to 10 streams at once.
    let out = Command::new("h2load")
        .args(["-n", "40", "-c", "1", "-m", "10"])
        .arg(clear_url(&r, "/spread"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("40 succeeded, 0 failed"),
        "h2load said:\n{text}"
    );
    assert!(text.contains("40 2xx"), "h2load said:\n{text}");
    assert_eq!(a.requests() + b.requests(), 40);
    assert!(
        a.requests() > 0 && b.requests() > 0,
        "round robin over both"
    );
    let (_, metrics) = common::admin(r.admin_addr(), "GET", "/metrics", "", None);
    for want in [
        "ringlb_frontend_connections_total{frontend=\"clear\"} 1",
        "ringlb_frontend_h2_connections_total{frontend=\"clear\"} 1",
        "ringlb_frontend_h2_requests_total{frontend=\"clear\"} 40",
        "ringlb_frontend_h2_connections_total{frontend=\"tls\"} 0",
    ] {
        assert!(metrics.contains(want), "{want}\n{metrics}");
    }
    // The stats page shows them too: requests, HTTP/2 connections, HTTP/2 streams.
    let (_, page) = common::admin(r.admin_addr(), "GET", "/", "", None);
    let row = page.split("<td class=\"l\">clear</td>").nth(1).unwrap();
    assert!(row.contains("<td>40</td><td>1</td><td>40</td>"), "{row}");
}

const RULES: &str = r#"
[[frontend.acl]]
name = "admin_path"
path_prefix = ["/admin"]
[[frontend.http_rule]]
action = "deny"
if = "admin_path"
[[frontend.http_rule]]
action = "set_header"
name = "x-via-rule"
value = "yes"
"#;

#[test]
fn rules_answer_h2_requests_as_they_answer_http11_ones() {
    if !tool("h2_rules", "curl") {
        return;
    }
    let backend = Backend::start();
    let (r, _certs) = start(&[&backend], RULES);
    // HTTP/1.1 first, on the TLS frontend: the reference.
    let (h1_deny, h1_body) = curl_tls(&r, "--http1.1", "/admin/x");
    assert_eq!(h1_deny, "403 1.1");
    // The same over HTTP/2 (both frontends): same status, same body.
    assert_eq!(
        curl_tls(&r, "--http2", "/admin/x"),
        ("403 2".to_string(), h1_body.clone())
    );
    let url = clear_url(&r, "/admin/x");
    assert_eq!(
        curl(&["--http2-prior-knowledge", &url]),
        ("403 2".to_string(), h1_body)
    );
    assert_eq!(backend.requests(), 0, "denied requests reach no server");
    // set_header: the server sees the field, for HTTP/2 as for HTTP/1.1.
    let url = clear_url(&r, "/open");
    assert_eq!(curl(&["--http2-prior-knowledge", &url]).0, "200 2");
    let head = backend.last_head().to_ascii_lowercase();
    assert!(head.contains("x-via-rule: yes\r\n"), "{head}");
    assert_eq!(backend.requests(), 1);
}

const VERSION_RULES: &str = r#"
[[frontend.acl]]
name = "over_h2"
http_version = ["HTTP/2"]
[[frontend.acl]]
name = "over_h11"
http_version = ["1.1"]
[[frontend.http_rule]]
action = "set_header"
name = "x-h2"
value = "yes"
if = "over_h2"
[[frontend.http_rule]]
action = "deny"
if = "over_h11"
"#;

#[test]
fn http_version_rules_tell_h2_streams_from_http11_requests() {
    if !tool("h2_version_rules", "curl") {
        return;
    }
    let backend = Backend::start();
    let (r, _certs) = start(&[&backend], VERSION_RULES);
    // HTTP/2 over TLS and over cleartext: version 2, not the HTTP/1.1 it is sent on as.
    assert_eq!(curl_tls(&r, "--http2", "/v").0, "200 2");
    let head = backend.last_head().to_ascii_lowercase();
    assert!(head.contains("x-h2: yes\r\n"), "{head}");
    let url = clear_url(&r, "/v");
    assert_eq!(curl(&["--http2-prior-knowledge", &url]).0, "200 2");
    assert!(backend
        .last_head()
        .to_ascii_lowercase()
        .contains("x-h2: yes\r\n"));
    // HTTP/1.1 on the TLS frontend: denied, and never marked.
    assert_eq!(curl_tls(&r, "--http1.1", "/v").0, "403 1.1");
    assert_eq!(backend.requests(), 2);
}

/// The connection's bytes go straight between the socket and the HTTP/2 library
/// (readiness mode, and rustls driven directly over TLS): large bodies both ways,
/// many streams at once whose frames fill the socket's buffer (the writes that would
/// block).
#[test]
fn large_bodies_both_ways_and_busy_streams_over_tls_and_cleartext() {
    if !tool("h2_large", "curl") || !tool("h2_large", "h2load") {
        return;
    }
    let backend = Backend::start();
    let (r, certs) = start(&[&backend], "");
    let upload = certs.0.join("upload.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&upload, &data).unwrap();
    let file = format!("@{}", upload.display());
    for version in ["--http2", "--http2-prior-knowledge"] {
        let mut args = vec![version.to_string(), "--data-binary".into(), file.clone()];
        match version {
            "--http2" => args.extend(tls_args(&r, "/post")),
            _ => args.push(clear_url(&r, "/post")),
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (meta, body) = curl(&args);
        assert_eq!(
            (meta.as_str(), body.as_str()),
            ("200 2", "ok POST /post 3000000"),
            "{version}"
        );
    }
    let tls = format!("https://127.0.0.1:{}/len/300000", r.addrs[1].port());
    for url in [tls, clear_url(&r, "/len/300000")] {
        let out = Command::new("h2load")
            .args(["-n", "60", "-c", "2", "-m", "10", &url])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("60 succeeded, 0 failed"), "{url}:\n{text}");
    }
}

/// The same readiness-mode I/O under the legacy (epoll) driver, which ringlb falls
/// back to where io_uring is refused: a large body each way over TLS and cleartext.
#[test]
fn http2_clients_under_the_legacy_epoll_driver() {
    if !tool("h2_legacy", "curl") {
        return;
    }
    let backend = Backend::start();
    let certs = CertDir::new();
    certs.write("site", &["www.example.test"]);
    let c =
        config(&[&backend], &certs, "").replace("[global]\n", "[global]\nio_driver = \"legacy\"\n");
    let r = Ringlb::start(&c);
    let upload = certs.0.join("upload.bin");
    std::fs::write(&upload, vec![b'x'; 1_000_000]).unwrap();
    let file = format!("@{}", upload.display());
    for version in ["--http2", "--http2-prior-knowledge"] {
        let mut args = vec![version.to_string(), "--data-binary".into(), file.clone()];
        let mut get = vec![version.to_string()];
        match version {
            "--http2" => {
                args.extend(tls_args(&r, "/post"));
                get.extend(tls_args(&r, "/len/300000"));
            }
            _ => {
                args.push(clear_url(&r, "/post"));
                get.push(clear_url(&r, "/len/300000"));
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (meta, answer) = curl(&args);
        assert_eq!(
            (meta.as_str(), answer.as_str()),
            ("200 2", "ok POST /post 1000000")
        );
        let get: Vec<&str> = get.iter().map(String::as_str).collect();
        let (meta, answer) = curl(&get);
        assert_eq!(
            (meta.as_str(), answer.len()),
            ("200 2", 300000),
            "{version}"
        );
    }
    assert!(
        r.log.iter().any(|l| l.contains("legacy (epoll)")),
        "log does not say which driver"
    );
}
