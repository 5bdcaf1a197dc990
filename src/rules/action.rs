//! What rules do, by phase (HAProxy's `tcp-request connection`, `http-request`,
//! `use_backend`, `http-response`). Every value is checked when the action is built:
//! statuses in range, header names tokens, values free of CR, LF and NUL, replacement
//! groups that exist in their regex.

use regex::bytes::Regex;

use super::format::Format;
use super::pattern::regex;
use super::RuleError;

/// On accept, before TLS (also in tcp mode). `Accept` and `Reject` end the list; no
/// rule acting means accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnAction {
    Accept,
    /// Close at once.
    Reject,
    /// Track the client in a table (address or network keys only): its
    /// `conn_cur`/`conn_total`/`conn_rate` count this connection, and its HTTP
    /// counters every request on it.
    Track {
        slot: u8,
        table: u16,
    },
}

/// A header field of a [`Reply`]: name, value.
pub type ExtraHeader = (Box<str>, Box<[u8]>);

/// A response ringlb sends itself (`deny`, `return`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<Box<str>>,
    pub body: Box<[u8]>,
    /// Extra header fields (`Retry-After` with a 429).
    pub headers: Box<[ExtraHeader]>,
}

impl Reply {
    /// `deny`: 403 and no body unless told otherwise.
    pub fn deny() -> Self {
        Reply::new(403)
    }

    pub fn new(status: u16) -> Self {
        Reply {
            status,
            content_type: None,
            body: Box::default(),
            headers: Box::default(),
        }
    }

    fn check(&self) -> Result<(), RuleError> {
        status_in(self.status, 200..=599)?;
        if let Some(ct) = &self.content_type {
            field_value(ct.as_bytes())?;
        }
        for (n, v) in self.headers.iter() {
            field_name(n)?;
            field_value(v)?;
        }
        Ok(())
    }
}

/// Where a redirect goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectTo {
    /// This location, as is.
    Location(Box<[u8]>),
    /// This prefix followed by the request's path and query (`redirect prefix`).
    Prefix(Box<[u8]>),
    /// A location from a log-format string (see [`Format`]), rendered per request.
    LocationFormat(Format),
    /// A prefix from a log-format string, followed by the path and query; a prefix
    /// that renders as `/` alone adds nothing (as HAProxy).
    PrefixFormat(Format),
    /// The same host, path and query with this scheme (`redirect scheme https`). The
    /// port is dropped when it is the old scheme's default (`:80` going to https,
    /// `:443` going to http). Without a Host the rule does not act.
    Scheme(Box<str>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub to: RedirectTo,
    /// 301, 302 (default), 303, 307 or 308.
    pub status: u16,
    /// Leave the query out (`drop-query`), for `Prefix` and `Scheme`.
    pub drop_query: bool,
    /// A path not ending with `/` gets one (`append-slash`), for `Prefix` and
    /// `Scheme`: added to the path, before a query that is kept.
    pub append_slash: bool,
}

/// A header change, for requests and responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderEdit {
    pub op: HeaderOp,
    pub name: Box<str>,
    /// Empty for `Del`, and when `format` gives the value.
    pub value: Box<[u8]>,
    /// A value computed per evaluation (HAProxy's `%[fetch,converter]`), rendered
    /// into the scratch space; `None` when the value is the literal `value`.
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderOp {
    /// Remove every field of that name, then add this one.
    Set,
    /// Add a field, keeping those already there.
    Add,
    /// Remove every field of that name.
    Del,
}

impl HeaderEdit {
    pub fn new(op: HeaderOp, name: &str, value: &[u8]) -> Result<Self, RuleError> {
        field_name(name)?;
        field_value(value)?;
        Ok(HeaderEdit {
            op,
            name: name.into(),
            value: if op == HeaderOp::Del { &[][..] } else { value }.into(),
            format: None,
        })
    }

    /// A `Set` or `Add` whose value is a log-format string (see [`Format`]); one
    /// without samples is a literal value.
    pub fn with_format(op: HeaderOp, name: &str, format: Format) -> Result<Self, RuleError> {
        if let Some(lit) = format.literal() {
            return HeaderEdit::new(op, name, lit);
        }
        if op == HeaderOp::Del {
            return Err(RuleError::Invalid("del_header takes no value".into()));
        }
        let mut e = HeaderEdit::new(op, name, b"")?;
        e.format = Some(format);
        Ok(e)
    }
}

/// `replace_path`: when the regex matches the (normalized) path, the whole path
/// becomes the replacement, with `\1`..`\9` standing for the regex's groups and `\\`
/// for a backslash, as HAProxy's `replace-path`.
#[derive(Debug, Clone)]
pub struct PathRewrite {
    pub(super) regex: Regex,
    pub(super) parts: Box<[Part]>,
    /// Position among the set's rewrites (its capture buffer in the scratch space).
    pub(super) ordinal: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    Literal(Box<[u8]>),
    Group(usize),
}

impl PathRewrite {
    pub fn new(pattern: &str, replacement: &str) -> Result<Self, RuleError> {
        let regex = regex(pattern, false)?;
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let mut bytes = replacement.bytes();
        while let Some(b) = bytes.next() {
            if b != b'\\' {
                lit.push(b);
                continue;
            }
            match bytes.next() {
                Some(b'\\') => lit.push(b'\\'),
                Some(d @ b'0'..=b'9') => {
                    let group = usize::from(d - b'0');
                    if group >= regex.captures_len() {
                        return Err(RuleError::Invalid(format!(
                            "replacement {replacement:?}: the regex has no group {group}"
                        )));
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut lit).into()));
                    }
                    parts.push(Part::Group(group));
                }
                _ => {
                    return Err(RuleError::Invalid(format!(
                        "replacement {replacement:?}: `\\` must be followed by a digit or `\\`"
                    )))
                }
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit.into()));
        }
        field_value(replacement.as_bytes())?;
        if replacement.contains(['?', '#']) {
            return Err(RuleError::Invalid(format!(
                "replacement {replacement:?}: a path holds no ? or #"
            )));
        }
        Ok(PathRewrite {
            regex,
            parts: parts.into(),
            ordinal: 0,
        })
    }
}

/// On request (and, in tcp mode, once after the TLS handshake: then only `Allow`,
/// `Deny`, `Track` and `UseBackend` apply). Terminal, as in HAProxy's
/// `http-request`: `Allow`, `Deny`, `Return`, `Redirect`, `Tarpit`. `UseBackend` is
/// HAProxy's separate `use_backend` list kept in the same ordered list: the first
/// matching one picks the backend and later `UseBackend` rules are skipped, but it
/// does not stop filtering (a later `Deny` still refuses), and after `Allow` only
/// `UseBackend` rules are still looked at.
#[derive(Debug, Clone)]
pub enum ReqAction {
    Allow,
    Deny(Reply),
    Return(Reply),
    Redirect(Redirect),
    /// Hold the request for `delay_ms`, then answer `status` (HAProxy: 500).
    Tarpit {
        delay_ms: u64,
        status: u16,
    },
    /// Index of a backend, as the caller numbers them.
    UseBackend(u32),
    /// A backend named by a value computed per request.
    UseBackendNamed(Box<super::route::NamedBackend>),
    Header(HeaderEdit),
    SetPath(Box<[u8]>),
    ReplacePath(PathRewrite),
    /// Track the request in a table: its `http_req_total`/`http_req_rate` count it.
    /// A slot already tracked (on connect, or by an earlier rule) is left as it is.
    Track {
        slot: u8,
        table: u16,
    },
}

impl ReqAction {
    pub(super) fn check(&self) -> Result<(), RuleError> {
        match self {
            ReqAction::Deny(r) | ReqAction::Return(r) => r.check(),
            ReqAction::Redirect(r) => {
                if ![301, 302, 303, 307, 308].contains(&r.status) {
                    return Err(RuleError::Invalid(format!(
                        "redirect status {}: 301, 302, 303, 307 or 308",
                        r.status
                    )));
                }
                match &r.to {
                    RedirectTo::Location(v) | RedirectTo::Prefix(v) => field_value(v),
                    RedirectTo::LocationFormat(f) | RedirectTo::PrefixFormat(f) => {
                        if f.layer() > super::cond::Layer::Http {
                            Err(RuleError::Invalid(
                                "a redirect cannot read the response".into(),
                            ))
                        } else {
                            Ok(())
                        }
                    }
                    RedirectTo::Scheme(s) => {
                        let ok = !s.is_empty()
                            && s.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
                        if ok {
                            Ok(())
                        } else {
                            Err(RuleError::Invalid(format!("redirect scheme {s:?}")))
                        }
                    }
                }
            }
            ReqAction::Tarpit { status, .. } => status_in(*status, 200..=599),
            ReqAction::SetPath(p)
                if !p.starts_with(b"/") || p.contains(&b'?') || p.contains(&b'#') =>
            {
                Err(RuleError::Invalid(
                    "set_path: a path starts with / and holds no ? or #".into(),
                ))
            }
            ReqAction::SetPath(p) => field_value(p),
            ReqAction::UseBackendNamed(n) if n.reads_response() => Err(RuleError::Invalid(
                "use_backend: a backend is chosen before there is a response".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Meaningful in HTTP mode only (everything but allow, deny, track, use_backend).
    pub fn http_only(&self) -> bool {
        match self {
            ReqAction::UseBackendNamed(n) => n.reads_http(),
            _ => !matches!(
                self,
                ReqAction::Allow
                    | ReqAction::Deny(_)
                    | ReqAction::Track { .. }
                    | ReqAction::UseBackend(_)
            ),
        }
    }

    /// A `use_backend` rule (fixed or named).
    pub fn routes(&self) -> bool {
        matches!(
            self,
            ReqAction::UseBackend(_) | ReqAction::UseBackendNamed(_)
        )
    }
}

fn status_in(status: u16, range: std::ops::RangeInclusive<u16>) -> Result<(), RuleError> {
    if range.contains(&status) {
        Ok(())
    } else {
        Err(RuleError::Invalid(format!(
            "status {status} out of {}..={}",
            range.start(),
            range.end()
        )))
    }
}

/// A header name is a token (RFC 9110 5.6.2).
fn field_name(name: &str) -> Result<(), RuleError> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !name.is_empty() && name.bytes().all(tchar) {
        Ok(())
    } else {
        Err(RuleError::Invalid(format!("header name {name:?}")))
    }
}

/// A value that cannot split a head: no CR, LF or NUL.
fn field_value(v: &[u8]) -> Result<(), RuleError> {
    if v.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        Err(RuleError::Invalid(format!(
            "value {:?} holds CR, LF or NUL",
            v.escape_ascii().to_string()
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_edits_are_checked() {
        assert!(HeaderEdit::new(HeaderOp::Set, "Strict-Transport-Security", b"max-age=1").is_ok());
        assert!(HeaderEdit::new(HeaderOp::Set, "Bad Name", b"x").is_err());
        assert!(HeaderEdit::new(HeaderOp::Set, "", b"x").is_err());
        assert!(HeaderEdit::new(HeaderOp::Add, "X", b"a\r\nInjected: 1").is_err());
        let del = HeaderEdit::new(HeaderOp::Del, "Server", b"ignored").expect("valid");
        assert!(del.value.is_empty());
    }

    #[test]
    fn replacements_parse_groups() {
        let r = PathRewrite::new("^/api(/.*)$", "/v2\\1\\\\x").expect("valid");
        assert_eq!(
            &*r.parts,
            [
                Part::Literal((*b"/v2").into()),
                Part::Group(1),
                Part::Literal((*b"\\x").into())
            ]
        );
        assert!(
            PathRewrite::new("^/api(/.*)$", "\\2").is_err(),
            "no group 2"
        );
        assert!(PathRewrite::new("^/a$", "\\x").is_err());
        assert!(PathRewrite::new("(", "/").is_err());
        assert!(PathRewrite::new("^/a$", "/b?x=1").is_err());
    }

    #[test]
    fn statuses_and_values_are_checked() {
        assert!(ReqAction::Deny(Reply::deny()).check().is_ok());
        assert!(ReqAction::Deny(Reply::new(99)).check().is_err());
        assert!(ReqAction::Return(Reply::new(600)).check().is_err());
        let redirect = |to, status| {
            ReqAction::Redirect(Redirect {
                to,
                status,
                drop_query: false,
                append_slash: false,
            })
        };
        assert!(redirect(RedirectTo::Scheme("https".into()), 301)
            .check()
            .is_ok());
        assert!(redirect(RedirectTo::Scheme("https".into()), 200)
            .check()
            .is_err());
        assert!(redirect(RedirectTo::Scheme("ht tp".into()), 302)
            .check()
            .is_err());
        assert!(redirect(RedirectTo::Location((*b"/x\r\n").into()), 302)
            .check()
            .is_err());
        assert!(ReqAction::SetPath((*b"x").into()).check().is_err());
        assert!(ReqAction::SetPath((*b"/x?y").into()).check().is_err());
        assert!(ReqAction::SetPath((*b"/x").into()).check().is_ok());
        assert!(ReqAction::Tarpit {
            delay_ms: 1,
            status: 500
        }
        .check()
        .is_ok());
        assert!(ReqAction::Allow.check().is_ok());
        assert!(!ReqAction::Deny(Reply::deny()).http_only());
        assert!(ReqAction::Redirect(Redirect {
            to: RedirectTo::Prefix(Box::default()),
            status: 302,
            drop_query: true,
            append_slash: false,
        })
        .http_only());
    }
}
