//! Header values computed per request: a subset of HAProxy's log-format strings
//! (`X-Client: %[src]`, `%[req.hdr(host),lower]`, `%ci`, `%%` for a percent sign),
//! parsed once at load into literal pieces and samples, and rendered per evaluation
//! into the scratch space's reused buffer (no allocation once it has grown).
//!
//! What a sample renders to was checked against HAProxy 2.6 (tests/differential.rs):
//! a missing sample (no such header, no TLS, no query) renders as nothing, not `-`;
//! `hdr()` is the last comma-separated value of the last field, `fhdr()` the whole
//! last field; `req.cook()` the last cookie of that name, `urlp()` the first parameter.

use std::io::Write;

use super::cond::Layer;
use super::convert::{Conv, MapLoader};
use super::facts::{cookie_pairs, query_pairs, Facts};
use super::path::split_target;
use super::RuleError;

/// The fetches and converters a value may use (for error messages and docs).
pub const FETCHES: &str = "src, dst_port, ssl_fc, ssl_fc_sni, ssl_fc_protocol, ssl_fc_alpn, method, path, query, url, capture.req.uri, capture.req.method, base, req.ver, req.hdr(name[,occ]), req.fhdr(name[,occ]), req.cook(name), urlp(name), status";
pub const ALIASES: &str = "%ci, %fp, %HM, %HP, %HQ, %HU, %HV, %ST";

/// A value: literal pieces and samples, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pieces: Box<[Piece]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(Box<[u8]>),
    Sample(Fetch, Box<[Conv]>),
}

/// What a sample reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fetch {
    Src,
    DstPort,
    SslFc,
    Sni,
    TlsVersion,
    Alpn,
    Method,
    Path,
    Query,
    /// `%HQ`: `?` and the query, or nothing.
    QueryMark,
    Url,
    /// `capture.req.uri`: the path and query as received (before any rewrite).
    RawUri,
    Base,
    /// `req.ver` (`1.1`), or with `full` `%HV` (`HTTP/1.1`).
    Ver {
        full: bool,
    },
    /// `req.hdr` (`full` false: comma-separated values count apart) or `req.fhdr`;
    /// `occ` 1-based from the first, negative from the last.
    Hdr {
        name: Box<[u8]>,
        occ: i32,
        full: bool,
    },
    Cook(Box<[u8]>),
    Urlp(Box<[u8]>),
    Status,
}

impl Format {
    /// Parse a log-format string. Unknown fetches, converters, aliases and options
    /// (`%{+Q}`) are refused, naming what is supported. Map converters are refused:
    /// they need [`Format::parse_with`] and a loader.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        Self::parse_with(text, &mut |_, file| {
            Err(format!("map file {file:?}: maps are not read here"))
        })
    }

    /// Parse a log-format string whose map converters' files `maps` reads.
    pub fn parse_with(text: &str, maps: &mut MapLoader<'_>) -> Result<Self, RuleError> {
        let bad = |m: String| RuleError::Invalid(format!("value {text:?}: {m}"));
        let b = text.as_bytes();
        let mut pieces = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'%' {
                lit.push(b[i]);
                i += 1;
                continue;
            }
            let rest = &text[i + 1..];
            let (piece, used) = if rest.starts_with('%') {
                lit.push(b'%');
                i += 2;
                continue;
            } else if let Some(expr) = rest.strip_prefix('[') {
                let end = closing(expr).ok_or_else(|| bad("`%[` without its `]`".into()))?;
                (sample(&expr[..end], maps).map_err(bad)?, end + 2)
            } else {
                let n = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
                (alias(&rest[..n]).map_err(bad)?, n)
            };
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit).into()));
            }
            pieces.push(piece);
            i += 1 + used;
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit.into()));
        }
        Ok(Format {
            pieces: pieces.into(),
        })
    }

    /// The whole value when it has no sample.
    pub fn literal(&self) -> Option<&[u8]> {
        match &*self.pieces {
            [] => Some(b""),
            [Piece::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// When the data its samples need is first known.
    pub fn layer(&self) -> Layer {
        self.samples()
            .map(Fetch::layer)
            .max()
            .unwrap_or(Layer::Connection)
    }

    /// It reads the request head (refused in response rules, as HAProxy does:
    /// there `hdr()` means the response's header, which ringlb cannot fetch).
    pub fn reads_request(&self) -> bool {
        self.samples().any(|f| f.layer() == Layer::Http)
    }

    fn samples(&self) -> impl Iterator<Item = &Fetch> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Sample(f, _) => Some(f),
            Piece::Lit(_) => None,
        })
    }

    /// Append the value for `facts` to `out`; `path`: the path as rewritten by an
    /// earlier rule, if any. Bytes that would split a head (CR, LF, NUL) become spaces.
    pub fn render(&self, facts: &Facts<'_>, path: Option<&[u8]>, out: &mut Vec<u8>) {
        for p in self.pieces.iter() {
            match p {
                Piece::Lit(l) => out.extend_from_slice(l),
                Piece::Sample(f, convs) => {
                    let start = out.len();
                    // A missing sample is not converted (a map's default included).
                    let found = f.render(facts, path, out);
                    if !found || !convs.iter().all(|c| c.apply(out, start)) {
                        out.truncate(start);
                    }
                    for b in out[start..]
                        .iter_mut()
                        .filter(|b| matches!(b, b'\r' | b'\n' | 0))
                    {
                        *b = b' ';
                    }
                }
            }
        }
    }
}

/// The `]` closing a sample expression (brackets inside parentheses do not count).
fn closing(expr: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in expr.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ']' if depth <= 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// `fetch[(args)][,conv[(args)]]...`
fn sample(expr: &str, maps: &mut MapLoader<'_>) -> Result<Piece, String> {
    let mut parts = split_top(expr).into_iter();
    let fetch = fetch(parts.next().unwrap_or("").trim())?;
    let convs = parts
        .map(|c| Conv::parse(c.trim(), maps))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Piece::Sample(fetch, convs.into()))
}

/// Split on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut from) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[from..]);
    out
}

fn fetch(text: &str) -> Result<Fetch, String> {
    let (name, args) = match text.split_once('(') {
        Some((n, a)) => (
            n,
            Some(
                a.strip_suffix(')')
                    .ok_or_else(|| format!("{text}: `(` without `)`"))?,
            ),
        ),
        None => (text, None),
    };
    let args: Vec<&str> = args.map_or(Vec::new(), |a| a.split(',').map(str::trim).collect());
    let one = |what: &str| -> Result<Box<[u8]>, String> {
        match args.as_slice() {
            [n] if !n.is_empty() => Ok(n.as_bytes().into()),
            _ => Err(format!("{name}() takes one argument: {what}")),
        }
    };
    let plain = |f: Fetch| {
        if args.is_empty() {
            Ok(f)
        } else {
            Err(format!("{name} takes no argument"))
        }
    };
    match name {
        "src" => plain(Fetch::Src),
        "dst_port" => plain(Fetch::DstPort),
        "ssl_fc" => plain(Fetch::SslFc),
        "ssl_fc_sni" => plain(Fetch::Sni),
        "ssl_fc_protocol" => plain(Fetch::TlsVersion),
        "ssl_fc_alpn" => plain(Fetch::Alpn),
        "method" => plain(Fetch::Method),
        "path" => plain(Fetch::Path),
        "query" => plain(Fetch::Query),
        "url" => plain(Fetch::Url),
        "capture.req.uri" => plain(Fetch::RawUri),
        "capture.req.method" => plain(Fetch::Method),
        "base" => plain(Fetch::Base),
        "req.ver" | "req_ver" => plain(Fetch::Ver { full: false }),
        "status" => plain(Fetch::Status),
        "hdr" | "req.hdr" | "fhdr" | "req.fhdr" => {
            let occ = match args.get(1) {
                None => -1,
                Some(o) => o
                    .parse::<i32>()
                    .ok()
                    .filter(|&o| o != 0)
                    .ok_or_else(|| format!("{name}(): occurrence {o:?} is not a number"))?,
            };
            match args.as_slice() {
                [n] | [n, _] if !n.is_empty() => Ok(Fetch::Hdr {
                    name: n.as_bytes().into(),
                    occ,
                    full: name.ends_with("fhdr"),
                }),
                _ => Err(format!("{name}() takes a header name")),
            }
        }
        "cook" | "req.cook" => Ok(Fetch::Cook(one("a cookie name")?)),
        "urlp" | "url_param" => Ok(Fetch::Urlp(one("a parameter name")?)),
        other => Err(format!(
            "fetch {other:?} is not supported (supported: {FETCHES})"
        )),
    }
}

fn alias(name: &str) -> Result<Piece, String> {
    let f = match name {
        "ci" => Fetch::Src,
        "fp" => Fetch::DstPort,
        "HM" => Fetch::Method,
        "HP" => Fetch::Path,
        "HQ" => Fetch::QueryMark,
        "HU" => Fetch::Url,
        "HV" => Fetch::Ver { full: true },
        "ST" => Fetch::Status,
        "" => return Err("a lone `%` (write `%%` for a percent sign)".into()),
        other => {
            return Err(format!(
                "%{other} is not supported (supported: {ALIASES}, %[fetch,converter])"
            ))
        }
    };
    Ok(Piece::Sample(f, Box::default()))
}

impl Fetch {
    fn layer(&self) -> Layer {
        match self {
            Fetch::Src | Fetch::DstPort => Layer::Connection,
            Fetch::SslFc | Fetch::Sni | Fetch::TlsVersion | Fetch::Alpn => Layer::Tls,
            Fetch::Status => Layer::Response,
            _ => Layer::Http,
        }
    }

    /// Append the sample to `out`; false when it is missing (no such header, cookie
    /// or parameter, no query, no TLS, no request), which renders as nothing.
    fn render(&self, f: &Facts<'_>, rewritten: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
        let some = |v: Option<&[u8]>, out: &mut Vec<u8>| {
            out.extend_from_slice(v.unwrap_or(b""));
            v.is_some()
        };
        match self {
            Fetch::Src => {
                let _ = write!(out, "{}", f.client.to_canonical());
                true
            }
            Fetch::DstPort => {
                let _ = write!(out, "{}", f.dst_port);
                true
            }
            Fetch::SslFc => {
                out.push(if f.tls_version.is_some() { b'1' } else { b'0' });
                true
            }
            Fetch::Sni => some(f.sni.map(str::as_bytes), out),
            Fetch::TlsVersion => some(f.tls_version.map(str::as_bytes), out),
            Fetch::Alpn => some(f.alpn, out),
            Fetch::Status => {
                if let Some(s) = f.status {
                    let _ = write!(out, "{s}");
                }
                f.status.is_some()
            }
            _ => match f.http.as_ref() {
                Some(h) => self.render_http(h, rewritten, out),
                None => false,
            },
        }
    }

    fn render_http(
        &self,
        h: &super::HttpFacts<'_>,
        rewritten: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) -> bool {
        let (raw_path, query) = split_target(h.target);
        let path = rewritten.unwrap_or(raw_path);
        let found = match self {
            Fetch::Method => Some(h.method.as_bytes()),
            Fetch::Path => Some(path),
            Fetch::Query => query,
            Fetch::QueryMark => {
                if let Some(q) = query {
                    out.push(b'?');
                    out.extend_from_slice(q);
                }
                Some(&b""[..])
            }
            Fetch::Url => {
                out.extend_from_slice(path);
                if let Some(q) = query {
                    out.push(b'?');
                    out.extend_from_slice(q);
                }
                Some(&b""[..])
            }
            Fetch::RawUri => Some(h.target),
            Fetch::Base => {
                out.extend_from_slice(h.host.unwrap_or("").as_bytes());
                Some(path)
            }
            Fetch::Ver { full } => {
                if *full {
                    out.extend_from_slice(b"HTTP/");
                }
                Some(match h.version {
                    0 => &b"1.0"[..],
                    1 => b"1.1",
                    _ => b"2.0",
                })
            }
            Fetch::Hdr { name, occ, full } => {
                // `fhdr`: one piece per field (splitn(1) keeps the value whole).
                let pieces = if *full { 1 } else { usize::MAX };
                let values = || {
                    h.headers
                        .values(name)
                        .flat_map(move |v| v.splitn(pieces, |&b| b == b','))
                        .map(<[u8]>::trim_ascii)
                };
                let n = if *occ > 0 {
                    Some(*occ as usize - 1)
                } else {
                    values().count().checked_sub(occ.unsigned_abs() as usize)
                };
                n.and_then(|n| values().nth(n))
            }
            Fetch::Cook(name) => h
                .headers
                .values(b"cookie")
                .flat_map(cookie_pairs)
                .filter(|(k, _)| *k == &name[..])
                .last()
                .map(|(_, v)| v),
            Fetch::Urlp(name) => query
                .and_then(|q| query_pairs(q).find(|(k, _)| *k == &name[..]))
                .map(|(_, v)| v),
            _ => None,
        };
        if let Some(v) = found {
            out.extend_from_slice(v);
        }
        found.is_some()
    }
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
