//! One request through a proxy and what came of it, and the comparison of what the
//! two proxies did with the same requests.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use crate::common::named::{parse_body, read_response};
use crate::common::tls::{connect_over, Hello};
use crate::common::PATIENCE;

use super::script::{names, Step};

/// What a client saw, and what the server that answered had received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Status, or the connection error.
    pub status: Result<u16, String>,
    /// The test backend that answered (none: the proxy answered itself).
    pub server: Option<String>,
    pub location: Option<String>,
    /// Request headers the server received.
    pub seen: Vec<(String, String)>,
    /// Response headers the client received.
    pub headers: Vec<(String, String)>,
    /// The connection ended cleanly (over TLS: with close_notify).
    pub clean_end: bool,
}

impl Observed {
    pub fn ok(&self) -> bool {
        matches!(self.status, Ok(200..=399))
    }

    fn values(list: &[(String, String)], name: &str) -> Option<String> {
        let v: Vec<&str> = list
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    }

    pub fn seen_value(&self, name: &str) -> Option<String> {
        Self::values(&self.seen, name)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        Self::values(&self.headers, name)
    }
}

/// The `i`-th client address of a step (its `source`, or 127.0.0.1, .2, ...).
pub fn client(step: &Step, i: usize) -> String {
    if let Some(s) = &step.source {
        return s.clone();
    }
    let n = step.clients.unwrap_or(1).max(1);
    format!("127.0.0.{}", 1 + i % n)
}

/// Send the step's request once from `src` to `to` on a new connection.
pub fn send(step: &Step, src: &str, to: SocketAddr) -> Observed {
    match exchange(step, src, to) {
        Ok(o) => o,
        Err(e) => Observed {
            status: Err(e.to_string()),
            server: None,
            location: None,
            seen: Vec::new(),
            headers: Vec::new(),
            clean_end: false,
        },
    }
}

fn exchange(step: &Step, src: &str, to: SocketAddr) -> std::io::Result<Observed> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let from: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&from.into())?;
    sock.connect_timeout(&to.into(), PATIENCE)?;
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(PATIENCE))?;
    s.set_write_timeout(Some(PATIENCE))?;
    let method = step.method.as_deref().unwrap_or("GET");
    let mut req = format!(
        "{method} {} HTTP/1.1\r\n",
        step.path.as_deref().unwrap_or("/")
    );
    req.push_str(&format!(
        "Host: {}\r\n",
        step.host.as_deref().unwrap_or("www.example.com")
    ));
    for h in &step.headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("Connection: close\r\n\r\n");
    let resp = if step.tls {
        let host = step.host.as_deref().unwrap_or("www.example.com");
        let sni = host.split(':').next().unwrap_or(host);
        let hello = Hello {
            sni: Some(sni),
            alpn: &["http/1.1"],
            version: 0,
        };
        let mut t = connect_over(s, &hello)
            .map_err(|e| std::io::Error::other(format!("TLS handshake: {e}")))?;
        t.stream.write_all(req.as_bytes())?;
        t.stream.flush()?;
        read_response(t.stream)?
    } else {
        s.write_all(req.as_bytes())?;
        read_response(s)?
    };
    let seen = parse_body(&resp.body);
    Ok(Observed {
        status: Ok(resp.status),
        server: seen.server,
        location: Observed::values(&resp.headers, "location"),
        seen: seen.headers,
        headers: resp.headers,
        clean_end: resp.clean_end,
    })
}

/// Differences between HAProxy's (`h`) and ringlb's (`r`) answers to the same
/// requests, by the step's rules. Empty: they agree.
pub fn compare(step: &Step, h: &[Observed], r: &[Observed]) -> Vec<String> {
    let mut d = Vec::new();
    let statuses = |v: &[Observed]| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for o in v {
            *m.entry(format!("{:?}", o.status)).or_default() += 1;
        }
        m
    };
    if statuses(h) != statuses(r) {
        d.push(format!(
            "status: haproxy {:?}, ringlb {:?}",
            statuses(h),
            statuses(r)
        ));
    }
    servers(step, h, r, &mut d);
    let unclean = |v: &[Observed]| {
        v.iter()
            .filter(|o| o.status.is_ok() && !o.clean_end)
            .count()
    };
    if unclean(h) != unclean(r) {
        d.push(format!(
            "connections that ended without a clean close (over TLS: no close_notify): haproxy {}, ringlb {}",
            unclean(h),
            unclean(r)
        ));
    }
    for (i, (a, b)) in h.iter().zip(r).enumerate() {
        let at = if h.len() > 1 {
            format!(" (request {})", i + 1)
        } else {
            String::new()
        };
        if a.location != b.location {
            d.push(format!(
                "Location{at}: haproxy {:?}, ringlb {:?}",
                a.location, b.location
            ));
        }
        for name in &step.seen_headers {
            let (x, y) = (a.seen_value(name), b.seen_value(name));
            if x != y {
                d.push(format!(
                    "{name} as received by the server{at}: haproxy {x:?}, ringlb {y:?}"
                ));
            }
        }
        for name in &step.response_headers {
            let (x, y) = (a.header(name), b.header(name));
            if x != y {
                d.push(format!(
                    "{name} in the response{at}: haproxy {x:?}, ringlb {y:?}"
                ));
            }
        }
        if !d.is_empty() {
            // One request's worth of header differences is enough to show.
            break;
        }
    }
    d
}

fn count(v: &[Observed]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for o in v {
        let k = o.server.clone().unwrap_or_else(|| "(none)".into());
        *m.entry(k).or_default() += 1;
    }
    m
}

fn servers(step: &Step, h: &[Observed], r: &[Observed], d: &mut Vec<String>) {
    match step.server_mode() {
        "exact" => {
            let (a, b): (Vec<_>, Vec<_>) = (
                h.iter().map(|o| &o.server).collect(),
                r.iter().map(|o| &o.server).collect(),
            );
            if a != b {
                d.push(format!("server: haproxy {a:?}, ringlb {b:?}"));
            }
        }
        "backend" => {
            let backend = |v: &[Observed]| -> Vec<Option<String>> {
                v.iter()
                    .map(|o| {
                        o.server
                            .as_ref()
                            .map(|s| s.split('/').next().unwrap_or("").to_string())
                    })
                    .collect()
            };
            let (a, b) = (backend(h), backend(r));
            if a != b {
                d.push(format!("backend: haproxy {a:?}, ringlb {b:?}"));
            }
        }
        "distribution" => {
            let (a, b) = (count(h), count(r));
            let tol = (step.tolerance.unwrap_or(0.2) * h.len() as f64).ceil() as usize;
            let tol = tol.max(2);
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            let off = keys.iter().any(|k| {
                let (x, y) = (
                    a.get(*k).copied().unwrap_or(0),
                    b.get(*k).copied().unwrap_or(0),
                );
                x.abs_diff(y) > tol
            });
            if off {
                d.push(format!(
                    "distribution over servers (tolerance {tol}): haproxy {a:?}, ringlb {b:?}"
                ));
            }
        }
        "sticky" => {
            for (who, v) in [("haproxy", h), ("ringlb", r)] {
                let mut by_client: BTreeMap<String, std::collections::BTreeSet<String>> =
                    BTreeMap::new();
                for (i, o) in v.iter().enumerate() {
                    by_client
                        .entry(client(step, i))
                        .or_default()
                        .insert(o.server.clone().unwrap_or_default());
                }
                if let Some((c, s)) = by_client.iter().find(|(_, s)| s.len() > 1) {
                    d.push(format!("{who} sent client {c} to several servers: {s:?}"));
                }
            }
        }
        _ => {}
    }
}

/// HAProxy against the step's expectations: a script error (or a HAProxy change)
/// rather than a difference.
pub fn expectations(step: &Step, h: &[Observed]) -> Vec<String> {
    let mut e = Vec::new();
    for o in h {
        if let Some(s) = step.expect_status {
            if o.status != Ok(s) {
                e.push(format!("expected status {s}, haproxy gave {:?}", o.status));
            }
        }
        if let Some(s) = &step.expect_server {
            if !o.server.as_deref().is_some_and(|x| names(x, s)) {
                e.push(format!("expected server {s}, haproxy chose {:?}", o.server));
            }
        }
        if let Some(l) = &step.expect_location {
            if o.location.as_deref() != Some(l.as_str()) {
                e.push(format!(
                    "expected Location {l}, haproxy sent {:?}",
                    o.location
                ));
            }
        }
        if !e.is_empty() {
            break;
        }
    }
    let got = count(h);
    for s in &step.expect_servers {
        if !got.keys().any(|k| names(k, s)) {
            e.push(format!(
                "expected {s} among the servers, haproxy used {got:?}"
            ));
        }
    }
    e
}
