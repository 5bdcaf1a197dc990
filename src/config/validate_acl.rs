//! `[[frontend.acl]]` → [`Test`]s of the rule engine: exactly one condition kind per
//! ACL, values ORed; CIDR lists inline or from files (errors name the list file's
//! line), regexes compiled once, counters resolved to tracking slots.

use super::raw::S;
use super::raw_rules::{RawAcl, RawCounter, RawHeaderMatch, RawHttpAuth, RawNamed, RawNbsrv};
use super::validate::Validator;
use super::validate_rules::RuleCx;
use crate::rules::{Cmp, Counter, IpSetBuilder, Method, Patterns, RuleError, Test};

/// The kinds of condition an ACL may name, for messages.
const KINDS: &str = "src, src_file, dst_port, sni, sni_suffix, tls_version, alpn, method, host, host_suffix, host_regex, path, path_prefix, path_suffix, path_regex, query, header, http_version, cookie, counter, nbsrv, http_auth";

impl Validator {
    /// The test of one ACL; `None` after recording an error.
    pub(super) fn acl_test(&mut self, a: &S<RawAcl>, cx: &RuleCx<'_>, what: &str) -> Option<Test> {
        let r = a.get_ref();
        let kinds = acl_kinds(r);
        if kinds.len() != 1 {
            let found = if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(", ")
            };
            self.error(
                a.span(),
                format!("{what}: an acl needs exactly one condition kind ({KINDS}); found {found}"),
            );
            return None;
        }
        let ic = r.ignore_case.unwrap_or(false);
        let extra = match &r.values_file {
            Some(f) => self.values_file(f, kinds[0], what)?,
            None => Vec::new(),
        };
        let pats = |v: &Option<S<Vec<String>>>, m: Method, ic: bool| {
            v.as_ref().map(|v| {
                let all = v.get_ref().iter().chain(&extra);
                (v.span(), Patterns::new(m, all, ic))
            })
        };
        let test = if r.src.is_some() || r.src_file.is_some() {
            return self.src_test(r, what);
        } else if let Some(p) = &r.dst_port {
            return self.dst_port_test(p, what);
        } else if let Some(h) = &r.http_version {
            return self.http_version_test(h, what);
        } else if let Some(c) = &r.counter {
            return self.counter_test(c, cx, what);
        } else if let Some(n) = &r.nbsrv {
            return self.nbsrv_test(n, cx, what);
        } else if let Some(a) = &r.http_auth {
            return self.auth_test(a, what);
        } else if let Some(q) = &r.query {
            (
                q.span(),
                named(q.get_ref(), ic).map(|(name, values)| Test::Query { name, values }),
            )
        } else if let Some(c) = &r.cookie {
            (
                c.span(),
                named(c.get_ref(), ic).map(|(name, values)| Test::Cookie { name, values }),
            )
        } else if let Some(h) = &r.header {
            (
                h.span(),
                header(h.get_ref(), &extra, ic).map(|(name, values)| Test::Header { name, values }),
            )
        } else {
            let (span, p, make): (_, _, fn(Patterns) -> Test) = [
                (
                    pats(&r.sni, Method::Exact, true),
                    Test::Sni as fn(Patterns) -> Test,
                ),
                (pats(&r.sni_suffix, Method::Domain, true), Test::Sni),
                (pats(&r.tls_version, Method::Exact, false), Test::TlsVersion),
                (pats(&r.alpn, Method::Exact, false), Test::Alpn),
                (pats(&r.method, Method::Exact, false), Test::Method),
                (pats(&r.host, Method::Exact, true), Test::Host),
                (pats(&r.host_suffix, Method::Domain, true), Test::Host),
                (pats(&r.host_regex, Method::Regex, true), Test::Host),
                (pats(&r.path, Method::Exact, ic), Test::Path),
                (pats(&r.path_prefix, Method::Prefix, ic), Test::Path),
                (pats(&r.path_suffix, Method::Suffix, ic), Test::Path),
                (pats(&r.path_regex, Method::Regex, ic), Test::Path),
            ]
            .into_iter()
            .find_map(|(p, make)| p.map(|(span, p)| (span, p, make)))?;
            (span, p.map(make))
        };
        match test {
            (_, Ok(t)) => Some(t),
            (span, Err(e)) => {
                self.error(span, format!("{what}: {e}"));
                None
            }
        }
    }

    /// `http_auth = { userlist, groups }`: a defined `[[userlist]]`.
    fn auth_test(&mut self, a: &S<RawHttpAuth>, what: &str) -> Option<Test> {
        let r = a.get_ref();
        let Some(list) = self.userlist_named(&r.userlist) else {
            self.error(
                a.span(),
                format!(
                    "{what}: http_auth: userlist {:?} is not defined",
                    r.userlist
                ),
            );
            return None;
        };
        let groups = r
            .groups
            .as_ref()
            .map(|g| g.iter().map(|g| g.as_str().into()).collect());
        Some(Test::Auth { list, groups })
    }

    /// The lines of `values_file` (blank lines and `#` comments skipped), for the
    /// list kinds and `header`; `None` after recording an error.
    fn values_file(&mut self, file: &S<String>, kind: &str, what: &str) -> Option<Vec<String>> {
        let takes_none = [
            "src",
            "dst_port",
            "http_version",
            "query",
            "cookie",
            "counter",
            "nbsrv",
            "http_auth",
        ];
        if takes_none.contains(&kind) {
            let why = format!("{what}: values_file adds to a list (host, path_prefix..., header); {kind} takes none (src has src_file)");
            self.error(file.span(), why);
            return None;
        }
        let text = self.read_text(file, &format!("{what}: values_file"))?;
        let lines = text.lines().map(str::trim);
        Some(
            lines
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect(),
        )
    }

    /// `src` and `src_file` (both may be given: one set).
    fn src_test(&mut self, r: &RawAcl, what: &str) -> Option<Test> {
        let mut set = IpSetBuilder::default();
        let mut ok = true;
        for item in r.src.iter().flat_map(|s| s.get_ref()) {
            if let Err(e) = set.add_str(item.get_ref()) {
                self.error(item.span(), format!("{what}: src: {e}"));
                ok = false;
            }
        }
        if let Some(file) = &r.src_file {
            let key = format!("{what}: src_file");
            let text = self.read_text(file, &key)?;
            if let Err(e) = set.add_text(&text) {
                let msg = match e {
                    RuleError::AtLine { line, source } => {
                        format!("{key}: {}:{line}: {source}", file.get_ref())
                    }
                    e => format!("{key}: {}: {e}", file.get_ref()),
                };
                self.error(file.span(), msg);
                ok = false;
            }
        }
        ok.then(|| Test::Src(set.build()))
    }

    fn dst_port_test(&mut self, ports: &S<Vec<S<i64>>>, what: &str) -> Option<Test> {
        let mut ranges = Vec::new();
        for p in ports.get_ref() {
            let n = self.int_in(Some(p), 0, 1..=65535, &format!("{what}: dst_port")) as u16;
            ranges.push((n, n));
        }
        if ranges.is_empty() {
            self.error(ports.span(), format!("{what}: dst_port is empty"));
            return None;
        }
        Some(Test::DstPort(ranges.into()))
    }

    fn http_version_test(&mut self, v: &S<Vec<String>>, what: &str) -> Option<Test> {
        let mut minors = Vec::new();
        for s in v.get_ref() {
            // "HTTP/1.1" as well as "1.1"; HTTP/2 streams are version 2.
            match s.strip_prefix("HTTP/").unwrap_or(s) {
                "1.0" => minors.push(0),
                "1.1" => minors.push(1),
                "2" | "2.0" => minors.push(2),
                _ => {
                    self.error(
                        v.span(),
                        format!("{what}: http_version {s:?}: \"1.0\", \"1.1\" or \"2\""),
                    );
                    return None;
                }
            }
        }
        if minors.is_empty() {
            self.error(v.span(), format!("{what}: http_version is empty"));
            return None;
        }
        Some(Test::HttpVersion(minors.into()))
    }

    fn counter_test(&mut self, c: &S<RawCounter>, cx: &RuleCx<'_>, what: &str) -> Option<Test> {
        let r = c.get_ref();
        let Some(counter) = counter_named(&r.name) else {
            self.error(c.span(), format!("{what}: counter name {:?} is not one of conn_cur, conn_total, conn_rate, http_req_total, http_req_rate, http_err_total, http_err_rate, bytes_in, bytes_out", r.name));
            return None;
        };
        let Some(table) = cx.table_index(&r.table) else {
            self.error(
                c.span(),
                format!(
                    "{what}: counter table {:?} is not a defined [[table]]",
                    r.table
                ),
            );
            return None;
        };
        let Some(slot) = cx.slot_of(table) else {
            self.error(c.span(), format!("{what}: counter table {:?} is not tracked by any rule of this frontend (add a tcp_rule or http_rule with action = \"track\")", r.table));
            return None;
        };
        if r.above < 0 {
            self.error(
                c.span(),
                format!("{what}: counter above {} is negative", r.above),
            );
            return None;
        }
        Some(Test::Counter {
            slot,
            counter,
            cmp: Cmp::Gt,
            value: r.above as u64,
        })
    }
}

impl Validator {
    /// `nbsrv = { backend, below | above | equals }`.
    fn nbsrv_test(&mut self, n: &S<RawNbsrv>, cx: &RuleCx<'_>, what: &str) -> Option<Test> {
        let r = n.get_ref();
        let Some(&backend) = cx.backends.get(r.backend.as_str()) else {
            let msg = format!(
                "{what}: nbsrv backend {:?} is not a defined [[backend]]",
                r.backend
            );
            self.error(n.span(), msg);
            return None;
        };
        let (cmp, value) = match (r.below, r.above, r.equals) {
            (Some(v), None, None) => (Cmp::Lt, v),
            (None, Some(v), None) => (Cmp::Gt, v),
            (None, None, Some(v)) => (Cmp::Eq, v),
            _ => {
                let msg = format!("{what}: nbsrv needs exactly one of below, above, equals");
                self.error(n.span(), msg);
                return None;
            }
        };
        if value < 0 {
            self.error(n.span(), format!("{what}: nbsrv {value} is negative"));
            return None;
        }
        Some(Test::Nbsrv {
            backend: backend as u32,
            cmp,
            value: value as u64,
        })
    }
}

/// The condition kinds set in an ACL (`src` and `src_file` count as one).
fn acl_kinds(r: &RawAcl) -> Vec<&'static str> {
    let lists = [
        ("sni", &r.sni),
        ("sni_suffix", &r.sni_suffix),
        ("tls_version", &r.tls_version),
        ("alpn", &r.alpn),
        ("method", &r.method),
        ("host", &r.host),
        ("host_suffix", &r.host_suffix),
        ("host_regex", &r.host_regex),
        ("path", &r.path),
        ("path_prefix", &r.path_prefix),
        ("path_suffix", &r.path_suffix),
        ("path_regex", &r.path_regex),
        ("http_version", &r.http_version),
    ];
    let mut kinds: Vec<&'static str> = lists
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| *k)
        .collect();
    let others = [
        ("src", r.src.is_some() || r.src_file.is_some()),
        ("dst_port", r.dst_port.is_some()),
        ("query", r.query.is_some()),
        ("header", r.header.is_some()),
        ("cookie", r.cookie.is_some()),
        ("counter", r.counter.is_some()),
        ("nbsrv", r.nbsrv.is_some()),
        ("http_auth", r.http_auth.is_some()),
    ];
    kinds.extend(others.iter().filter(|(_, set)| *set).map(|(k, _)| *k));
    kinds
}

pub(super) fn counter_named(name: &str) -> Option<Counter> {
    Some(match name {
        "conn_cur" => Counter::ConnCur,
        "conn_total" => Counter::ConnTotal,
        "conn_rate" => Counter::ConnRate,
        "http_req_total" => Counter::HttpReqTotal,
        "http_req_rate" => Counter::HttpReqRate,
        "http_err_total" => Counter::HttpErrTotal,
        "http_err_rate" => Counter::HttpErrRate,
        "bytes_in" => Counter::BytesIn,
        "bytes_out" => Counter::BytesOut,
        _ => return None,
    })
}

type NamedTest = (Box<[u8]>, Option<Patterns>);

/// `query`/`cookie`: a name and exact values (absent: present is enough).
fn named(n: &RawNamed, ic: bool) -> Result<NamedTest, RuleError> {
    let values = n
        .value
        .as_ref()
        .map(|v| Patterns::new(Method::Exact, v, ic))
        .transpose()?;
    Ok((n.name.as_bytes().into(), values))
}

/// `header`: a name and at most one of equals/prefix/regex (with `extra`, the lines
/// of `values_file`, added to it).
fn header(h: &RawHeaderMatch, extra: &[String], ic: bool) -> Result<NamedTest, RuleError> {
    let given = [
        (Method::Exact, &h.equals),
        (Method::Prefix, &h.prefix),
        (Method::Regex, &h.regex),
    ];
    let mut set = given.iter().filter(|(_, v)| v.is_some());
    let values =
        match (set.next(), set.next()) {
            (Some(_), Some(_)) => {
                return Err(RuleError::Invalid(
                    "header: one of equals, prefix, regex".into(),
                ))
            }
            (Some((m, Some(v))), None) => Some(Patterns::new(*m, v.iter().chain(extra), ic)?),
            (None, _) if !extra.is_empty() => return Err(RuleError::Invalid(
                "header: values_file needs one of equals, prefix, regex (an empty list will do)"
                    .into(),
            )),
            _ => None,
        };
    Ok((h.name.as_bytes().into(), values))
}
