//! Named ACLs (HAProxy's `acl <name> <fetch> [-m method] [-i] <values…>`): a test of
//! one kind over a list of values, true when any value matches. Every occurrence of a
//! repeated header is looked at; a comma-separated value is one value (not split).

use super::auth::Userlist;
use super::cidr::IpSet;
use super::counter::{Counter, Slots, SLOTS};
use super::facts::{cookie_pairs, host_without_port, query_pairs, Facts};
use super::path::{split_target, LazyPath};
use super::pattern::{Method, Patterns};
use super::table::Table;
use super::RuleError;

/// Comparison of a counter with a value (`gt`, `ge`, `lt`, `le`, `eq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

impl Cmp {
    fn holds(self, a: u64, b: u64) -> bool {
        match self {
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Eq => a == b,
        }
    }
}

/// What an ACL tests. Host and SNI patterns must ignore case.
#[derive(Debug, Clone)]
pub enum Test {
    /// Client address in a set of networks (`src`).
    Src(IpSet),
    /// Local port in one of the inclusive ranges (`dst_port`).
    DstPort(Box<[(u16, u16)]>),
    /// TLS server name sent by the client (`ssl_fc_sni`), `Exact` or `Domain`.
    Sni(Patterns),
    /// TLS version, `"TLSv1.2"`, `"TLSv1.3"` (`ssl_fc_protocol`).
    TlsVersion(Patterns),
    /// Negotiated ALPN protocol (`ssl_fc_alpn`).
    Alpn(Patterns),
    /// Request method, case-sensitive (`method`).
    Method(Patterns),
    /// Host without port or final dot (`hdr(host)`, `req.hdr_dom`).
    Host(Patterns),
    /// The normalized path (`path`, `path_beg`, `path_end`, `path_reg`).
    Path(Patterns),
    /// A query parameter, present, or with a value matching (`urlp`); raw, not decoded.
    Query {
        name: Box<[u8]>,
        values: Option<Patterns>,
    },
    /// A request header, present, or with any occurrence matching (`req.hdr`).
    Header {
        name: Box<[u8]>,
        values: Option<Patterns>,
    },
    /// A cookie in any Cookie header, present, or with a value matching (`req.cook`).
    Cookie {
        name: Box<[u8]>,
        values: Option<Patterns>,
    },
    /// HTTP versions: 0 = HTTP/1.0, 1 = HTTP/1.1, 2 = HTTP/2 (`req.ver`).
    HttpVersion(Box<[u8]>),
    /// The request's `Authorization: Basic` names a user of the list with the right
    /// password, in one of `groups` when given (`http_auth`, `http_auth_group`).
    Auth {
        list: std::sync::Arc<Userlist>,
        groups: Option<Box<[Box<str>]>>,
    },
    /// Response status in one of the inclusive ranges (`status`), response rules only.
    Status(Box<[(u16, u16)]>),
    /// A counter of the entry tracked in `slot` (`sc_http_req_rate(0) gt 100`); false
    /// when nothing is tracked in the slot.
    Counter {
        slot: u8,
        counter: Counter,
        cmp: Cmp,
        value: u64,
    },
    /// The usable servers of a backend (by the index rules give backends) compared
    /// with a number (`nbsrv(app) lt 1`); false when the count is not known.
    Nbsrv { backend: u32, cmp: Cmp, value: u64 },
}

/// When the data a test needs is first known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// At accept: address, port, counters.
    Connection,
    /// After the TLS handshake.
    Tls,
    /// With the request head.
    Http,
    /// With the response head.
    Response,
}

impl Test {
    pub fn layer(&self) -> Layer {
        match self {
            Test::Src(_) | Test::DstPort(_) | Test::Counter { .. } | Test::Nbsrv { .. } => {
                Layer::Connection
            }
            Test::Sni(_) | Test::TlsVersion(_) | Test::Alpn(_) => Layer::Tls,
            Test::Status(_) => Layer::Response,
            _ => Layer::Http,
        }
    }

    /// The test on `cx`'s facts.
    pub(super) fn eval(&self, cx: &mut Ctx<'_, '_>) -> bool {
        let f = cx.facts;
        let http = f.http.as_ref();
        match self {
            Test::Src(set) => set.contains(f.client),
            Test::DstPort(r) => in_ranges(r, f.dst_port),
            Test::Sni(p) => f
                .sni
                .is_some_and(|s| p.matches(host_without_port(s.as_bytes()))),
            Test::TlsVersion(p) => f.tls_version.is_some_and(|v| p.matches(v.as_bytes())),
            Test::Alpn(p) => f.alpn.is_some_and(|a| p.matches(a)),
            Test::Status(r) => f.status.is_some_and(|s| in_ranges(r, s)),
            Test::Counter {
                slot,
                counter,
                cmp,
                value,
            } => cx.tracked[usize::from(*slot)]
                .and_then(|t| {
                    cx.tables
                        .get(usize::from(t.table))?
                        .read(t.entry, *counter, cx.now_ms)
                })
                .is_some_and(|v| cmp.holds(v, *value)),
            Test::Nbsrv {
                backend,
                cmp,
                value,
            } => f
                .backends
                .and_then(|b| b.up(*backend))
                .is_some_and(|n| cmp.holds(u64::from(n), *value)),
            _ => http.is_some_and(|h| {
                let h = *h;
                match self {
                    Test::Method(p) => p.matches(h.method.as_bytes()),
                    Test::Host(p) => h
                        .host
                        .is_some_and(|v| p.matches(host_without_port(v.as_bytes()))),
                    Test::Path(p) => p.matches(cx.path.get(h.target)),
                    Test::Query { name, values } => split_target(h.target).1.is_some_and(|q| {
                        query_pairs(q).any(|(k, v)| *k == **name && any(values, v))
                    }),
                    Test::Header { name, values } => h.headers.values(name).any(|v| any(values, v)),
                    Test::Cookie { name, values } => h
                        .headers
                        .values(b"cookie")
                        .flat_map(cookie_pairs)
                        .any(|(k, v)| *k == **name && any(values, v)),
                    Test::HttpVersion(minors) => minors.contains(&h.version),
                    Test::Auth { list, groups } => h
                        .headers
                        .values(b"authorization")
                        .next()
                        .is_some_and(|v| list.authenticates(v, groups.as_deref())),
                    _ => false,
                }
            }),
        }
    }

    fn check(&self) -> Result<(), String> {
        let ignores_case = |p: &Patterns| p.ignores_case() || p.method() == Method::Domain;
        match self {
            Test::Host(p) | Test::Sni(p) if !ignores_case(p) => {
                Err("host and SNI patterns must ignore case".into())
            }
            Test::Counter { slot, .. } if usize::from(*slot) >= SLOTS => {
                Err(format!("tracking slot {slot} (0..{SLOTS})"))
            }
            Test::DstPort(r) | Test::Status(r) if r.is_empty() || r.iter().any(|(a, b)| a > b) => {
                Err("ranges must be non-empty, low to high".into())
            }
            Test::HttpVersion(v) if v.is_empty() || v.iter().any(|m| *m > 2) => {
                Err("HTTP versions are 1.0, 1.1 and 2".into())
            }
            Test::Auth {
                list,
                groups: Some(groups),
            } if groups.iter().any(|g| !list.has_group(g)) => Err(format!(
                "userlist {:?} has no group {:?}",
                list.name(),
                groups.iter().find(|g| !list.has_group(g)).map_or("", |g| g)
            )),
            Test::Query { name, .. } | Test::Header { name, .. } | Test::Cookie { name, .. }
                if name.is_empty() =>
            {
                Err("a name is needed".into())
            }
            _ => Ok(()),
        }
    }
}

fn in_ranges(r: &[(u16, u16)], v: u16) -> bool {
    r.iter().any(|&(lo, hi)| lo <= v && v <= hi)
}

/// No patterns: present is enough; else any pattern.
fn any(values: &Option<Patterns>, v: &[u8]) -> bool {
    values.as_ref().is_none_or(|p| p.matches(v))
}

/// A named test.
#[derive(Debug, Clone)]
pub struct Acl {
    name: Box<str>,
    test: Test,
}

impl Acl {
    /// Names are words: letters, digits, `-_.:`, not `or`.
    pub fn new(name: &str, test: Test) -> Result<Self, RuleError> {
        let word = !name.is_empty()
            && name != "or"
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if !word {
            return Err(RuleError::Invalid(format!(
                "ACL name {name:?}: letters, digits and -_.: only"
            )));
        }
        test.check()
            .map_err(|m| RuleError::Invalid(format!("ACL {name:?}: {m}")))?;
        Ok(Acl {
            name: name.into(),
            test,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn test(&self) -> &Test {
        &self.test
    }
}

/// What a test is evaluated against.
pub(super) struct Ctx<'c, 'a> {
    pub facts: &'c Facts<'a>,
    pub path: &'c mut LazyPath,
    pub tables: &'c [Table],
    pub tracked: &'c Slots,
    pub now_ms: u64,
}

#[cfg(test)]
#[path = "cond_tests.rs"]
mod tests;
