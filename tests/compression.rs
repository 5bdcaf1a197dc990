//! Response compression end to end: the real binary between real clients (curl, a
//! Python client, raw HTTP/1.0 and HTTP/1.1 sockets, curl over HTTP/2) and a test
//! server that answers by path. What is compressed must decode to the server's body
//! byte for byte; what must not be compressed must arrive untouched.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;

use common::{Ringlb, PATIENCE};

/// The body the server sends for `n` bytes: text that compresses, but not trivially.
fn body(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while v.len() < n {
        i += 1;
        let x = i.wrapping_mul(2_654_435_761) % 1000;
        v.extend_from_slice(format!("<li id=\"{i}\">item {x} of the list</li>\n").as_bytes());
    }
    v.truncate(n);
    v
}

/// The test server. Paths: `/len/N`, `/chunked/N` (chunks of up to 5000 bytes),
/// `/small` (10 bytes), `/png/N`, `/notransform/N`, `/encoded/N` (already `br`),
/// `/304`, `/ae` (the request's Accept-Encoding as the body, or `none`). HEAD answers
/// the head of the same GET.
fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for s in listener.incoming().map_while(Result::ok) {
            thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut r = BufReader::new(s.try_clone().unwrap());
                while let Some((method, path, ae)) = read_head(&mut r) {
                    if answer(&s, &method, &path, ae.as_deref()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn read_head(r: &mut impl BufRead) -> Option<(String, String, Option<String>)> {
    let mut line = String::new();
    r.read_line(&mut line).ok().filter(|&n| n > 0)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut ae = None;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok().filter(|&n| n > 0)?;
        let h = h.trim_end();
        if h.is_empty() {
            return Some((method, path, ae));
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("accept-encoding") {
                ae = Some(v.trim().to_string());
            }
        }
    }
}

fn answer(mut s: &TcpStream, method: &str, path: &str, ae: Option<&str>) -> std::io::Result<()> {
    let mut seg = path.trim_start_matches('/').split('/');
    let kind = seg.next().unwrap_or("");
    let n: usize = seg.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let (mut extra, data) = match kind {
        "304" => {
            return s.write_all(b"HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\n\r\n");
        }
        "small" => (String::new(), body(10)),
        "png" => ("content-type: image/png\r\n".into(), body(n)),
        "notransform" => ("cache-control: public, no-transform\r\n".into(), body(n)),
        "encoded" => ("content-encoding: br\r\n".into(), body(n)),
        "ae" => (String::new(), ae.unwrap_or("none").as_bytes().to_vec()),
        _ => (String::new(), body(n)),
    };
    if !extra.contains("content-type") {
        extra.push_str("content-type: text/html; charset=utf-8\r\n");
    }
    let head_only = method == "HEAD";
    if kind == "chunked" {
        let mut out =
            format!("HTTP/1.1 200 OK\r\n{extra}etag: \"v1\"\r\ntransfer-encoding: chunked\r\n\r\n")
                .into_bytes();
        if !head_only {
            for c in data.chunks(5000) {
                out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                out.extend_from_slice(c);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        return s.write_all(&out);
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\n{extra}etag: \"v1\"\r\ncontent-length: {}\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes())?;
    if !head_only {
        s.write_all(&data)?;
    }
    Ok(())
}

/// Two frontends with the same compression table on one backend (with `compression`
/// added to it): "web" (HTTP/1.x, the first address) and "h2" (HTTP/2 prior knowledge).
fn config(server: SocketAddr, compression: &str) -> String {
    let table = "[frontend.compression]\nalgorithms = [\"gzip\", \"deflate\"]\n\
                 types = [\"text/\", \"application/json\"]\nmin_size = 100\n";
    format!(
        "[global]\nworkers = 1\npin_workers = false\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\n{table}\n\
         [[frontend]]\nname = \"h2\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\nh2c = \"prior-knowledge\"\n{table}\n\
         [[backend]]\nname = \"app\"\n{compression}\n\
         [[backend.server]]\nname = \"s\"\naddress = \"{server}\"\n"
    )
}

/// A response read off a raw socket: head (lower-cased names) and body (de-chunked).
struct Resp {
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn field(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Send `req` on a fresh connection and read one response (`head_only`: a HEAD).
fn exchange(addr: SocketAddr, req: &str, head_only: bool) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    read_resp(&mut BufReader::new(s), head_only)
}

/// Read one response off `r`.
fn read_resp(r: &mut BufReader<TcpStream>, head_only: bool) -> Resp {
    let mut head = String::new();
    loop {
        let mut l = String::new();
        assert!(
            r.read_line(&mut l).unwrap() > 0,
            "closed in the head: {head}"
        );
        if l == "\r\n" {
            break;
        }
        head.push_str(&l);
    }
    let mut resp = Resp {
        head,
        body: Vec::new(),
    };
    let status = resp
        .head
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    if head_only || status == "304" {
        return resp;
    }
    if resp.field("transfer-encoding") == Some("chunked") {
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            let n = usize::from_str_radix(l.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = resp.field("content-length") {
        resp.body = vec![0; n.parse().unwrap()];
        r.read_exact(&mut resp.body).unwrap();
    } else {
        r.read_to_end(&mut resp.body).unwrap();
    }
    resp
}

fn get(addr: SocketAddr, path: &str, ae: Option<&str>) -> Resp {
    let ae = ae
        .map(|v| format!("accept-encoding: {v}\r\n"))
        .unwrap_or_default();
    exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nhost: t\r\n{ae}\r\n"),
        false,
    )
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn inflate(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid zlib");
    out
}

#[test]
fn compressed_bodies_decode_byte_exact_from_both_framings() {
    let r = Ringlb::start(&config(server(), ""));
    for path in [
        "/len/300000",
        "/chunked/300000",
        "/len/101",
        "/chunked/3000000",
    ] {
        let n: usize = path.rsplit('/').next().unwrap().parse().unwrap();
        let g = get(r.addr(), path, Some("gzip, deflate"));
        assert_eq!(
            g.field("content-encoding"),
            Some("gzip"),
            "{path}: {}",
            g.head
        );
        assert_eq!(g.field("content-length"), None, "{path}");
        assert_eq!(g.field("transfer-encoding"), Some("chunked"), "{path}");
        assert_eq!(g.field("vary"), Some("Accept-Encoding"), "{path}");
        assert_eq!(g.field("etag"), Some("W/\"v1\""), "{path}");
        assert_eq!(gunzip(&g.body), body(n), "{path}");
        if n > 1000 {
            assert!(g.body.len() < n / 2, "{path}: {} bytes", g.body.len());
        }
        let d = get(r.addr(), path, Some("gzip;q=0.5, deflate"));
        assert_eq!(d.field("content-encoding"), Some("deflate"), "{path}");
        assert_eq!(inflate(&d.body), body(n), "{path}");
    }
}

#[test]
fn what_must_not_be_compressed_arrives_untouched() {
    let r = Ringlb::start(&config(server(), ""));
    let same = |path: &str, ae: Option<&str>, n: usize| {
        let g = get(r.addr(), path, ae);
        assert_eq!(
            g.field("content-encoding").filter(|e| *e != "br"),
            None,
            "{path} {ae:?}"
        );
        assert_eq!(g.field("vary"), None, "{path}");
        assert_eq!(g.field("etag"), Some("\"v1\""), "{path}");
        assert_eq!(g.body, body(n), "{path} {ae:?}");
    };
    same("/len/5000", None, 5000);
    same("/chunked/5000", None, 5000);
    same("/len/5000", Some(""), 5000);
    same("/len/5000", Some("br, gzip;q=0, identity"), 5000);
    same("/len/5000", Some("*;q=0"), 5000);
    same("/notransform/5000", Some("gzip"), 5000);
    same("/encoded/5000", Some("gzip"), 5000);
    same("/png/5000", Some("gzip"), 5000);
    same("/small", Some("gzip"), 10);
    let head = exchange(
        r.addr(),
        "HEAD /len/5000 HTTP/1.1\r\nhost: t\r\naccept-encoding: gzip\r\n\r\n",
        true,
    );
    assert_eq!(head.field("content-encoding"), None, "{}", head.head);
    assert_eq!(head.field("content-length"), Some("5000"));
    let nm = get(r.addr(), "/304", Some("gzip"));
    assert!(nm.head.starts_with("HTTP/1.1 304"), "{}", nm.head);
    assert_eq!(nm.field("content-encoding"), None);
    // `*` stands for the coding configured last (deflate), as in HAProxy.
    let star = get(r.addr(), "/len/5000", Some("*"));
    assert_eq!(star.field("content-encoding"), Some("deflate"));
    assert_eq!(inflate(&star.body), body(5000));
}

#[test]
fn http10_clients_get_a_body_that_ends_with_the_connection() {
    let r = Ringlb::start(&config(server(), ""));
    for path in ["/len/200000", "/chunked/200000"] {
        let g = exchange(
            r.addr(),
            &format!(
                "GET {path} HTTP/1.0\r\nconnection: keep-alive\r\naccept-encoding: gzip\r\n\r\n"
            ),
            false,
        );
        assert_eq!(g.field("content-encoding"), Some("gzip"), "{}", g.head);
        assert_eq!(g.field("transfer-encoding"), None);
        assert_eq!(g.field("connection"), Some("close"));
        assert_eq!(gunzip(&g.body), body(200000), "{path}");
    }
}

#[test]
fn keep_alive_carries_compressed_and_plain_responses_in_turn() {
    let r = Ringlb::start(&config(server(), ""));
    let mut s = TcpStream::connect(r.addr()).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reqs = String::new();
    for i in 0..6 {
        let ae = if i % 2 == 0 {
            "accept-encoding: gzip\r\n"
        } else {
            ""
        };
        reqs.push_str(&format!(
            "GET /chunked/{} HTTP/1.1\r\nhost: t\r\n{ae}\r\n",
            20000 + i
        ));
    }
    reqs.push_str("GET /len/7 HTTP/1.1\r\nhost: t\r\n\r\n");
    // Pipelined: the responses come back in order on the one connection.
    s.write_all(reqs.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    for i in 0..6 {
        let resp = read_resp(&mut r, false);
        if i % 2 == 0 {
            assert_eq!(resp.field("content-encoding"), Some("gzip"), "{i}");
            assert_eq!(gunzip(&resp.body), body(20000 + i), "{i}");
        } else {
            assert_eq!(resp.field("content-encoding"), None, "{i}");
            assert_eq!(resp.body, body(20000 + i), "{i}");
        }
    }
    assert_eq!(read_resp(&mut r, false).body, body(7));
}

#[test]
fn offload_removes_accept_encoding_towards_the_server() {
    let srv = server();
    let plain = Ringlb::start(&config(srv, ""));
    let seen = get(plain.addr(), "/ae", Some("gzip, br"));
    assert_eq!(seen.body, b"gzip, br");
    let off = Ringlb::start(&config(srv, "[backend.compression]\noffload = true"));
    let seen = get(off.addr(), "/ae", Some("gzip, br"));
    assert_eq!(seen.body, b"none");
    // No coding ringlb offers: the server still gets the field, as with HAProxy.
    let seen = get(off.addr(), "/ae", Some("br"));
    assert_eq!(seen.body, b"br");
    // The backend's table keeps the frontend's algorithms: still compressed.
    let g = get(off.addr(), "/len/5000", Some("gzip"));
    assert_eq!(gunzip(&g.body), body(5000));
}

#[test]
fn backend_settings_take_precedence_over_the_frontends() {
    let r = Ringlb::start(&config(
        server(),
        "[backend.compression]\nalgorithms = [\"deflate\"]\ntypes = [\"image/png\"]\nlevel = 9",
    ));
    let png = get(r.addr(), "/png/5000", Some("gzip, deflate"));
    assert_eq!(png.field("content-encoding"), Some("deflate"));
    assert_eq!(inflate(&png.body), body(5000));
    let html = get(r.addr(), "/len/5000", Some("gzip, deflate"));
    assert_eq!(html.field("content-encoding"), None);
}

#[test]
fn curl_compressed_over_http1_and_http2() {
    if !common::tool_installed("compression_curl", "curl") {
        return;
    }
    let r = Ringlb::start(&config(server(), ""));
    for (version, addr) in [
        ("--http1.1", r.addrs[0]),
        ("--http2-prior-knowledge", r.addrs[1]),
    ] {
        for path in ["/len/250000", "/chunked/250000"] {
            let url = format!("http://{addr}{path}");
            let out = Command::new("curl")
                .args([
                    "-s",
                    "--max-time",
                    "20",
                    "--compressed",
                    version,
                    "-D",
                    "/dev/stderr",
                ])
                .arg(&url)
                .output()
                .unwrap();
            let head = String::from_utf8_lossy(&out.stderr).to_lowercase();
            assert!(
                // curl lists deflate first: the client's order decides, as in HAProxy.
                head.contains("content-encoding: deflate"),
                "{version} {path}: {head}"
            );
            assert_eq!(out.stdout, body(250000), "{version} {path}");
        }
    }
}

#[test]
fn python_client_decodes_gzip_and_deflate() {
    if !common::have_python("compression_python", "http.client, zlib") {
        return;
    }
    let r = Ringlb::start(&config(server(), ""));
    let script = r#"
import http.client, sys, zlib
host, port = sys.argv[1].rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=20)
out = []
for path in ("/len/123457", "/chunked/123457"):
    for coding, wbits in (("gzip", 16 + zlib.MAX_WBITS), ("deflate", zlib.MAX_WBITS)):
        c.request("GET", path, headers={"Accept-Encoding": coding})
        r = c.getresponse()
        data = r.read()
        assert r.getheader("Content-Encoding") == coding, (path, coding, r.getheaders())
        out.append(zlib.decompress(data, wbits))
sys.stdout.buffer.write(b"".join(out))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &r.addr().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, body(123457).repeat(4));
}
