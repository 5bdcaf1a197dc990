//! An HTTP/2 request checked (RFC 9113 §8.1.1, §8.2, §8.3) and written as an HTTP/1.1
//! request head (RFC 9113 §8.2.2: no connection-specific fields; §8.3.1: `:authority`
//! becomes Host; §8.2.3: cookie crumbs joined with "; "). Any request this refuses is
//! malformed: a stream error of type PROTOCOL_ERROR, and nothing of it is written.
//!
//! The HTTP/2 library checks much of this too (lower-case names, field values without
//! CR, LF or NUL, connection-specific fields, `te`); this layer checks it again on
//! the bytes it writes, so that what goes to an HTTP/1.1 server never depends on
//! another crate's rules alone.

use super::super::authority::valid_authority;
use super::super::BodyFraming;
use super::handoff::Translated;

/// The pseudo-header fields of a request, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pseudo<'a> {
    pub method: &'a [u8],
    pub scheme: Option<&'a [u8]>,
    pub authority: Option<&'a [u8]>,
    pub path: Option<&'a [u8]>,
    /// `:protocol` (extended CONNECT, RFC 8441): never enabled, so always refused.
    pub protocol: bool,
}

/// How the request body is sent on to the HTTP/1.1 server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// No body (END_STREAM on the HEADERS frame), or `content-length: n`: the DATA
    /// frames must add up to exactly `n` bytes.
    Length(u64),
    /// No content-length and more to come: sent chunked.
    Chunked,
}

/// Why a request is malformed (RFC 9113 §8.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("invalid method")]
    Method,
    #[error("CONNECT is not supported")]
    Connect,
    #[error(":protocol is not supported")]
    Protocol,
    #[error("missing or invalid :scheme")]
    Scheme,
    #[error("missing or invalid :path")]
    Path,
    #[error("no :authority and no host")]
    NoAuthority,
    #[error("invalid :authority or host")]
    Authority,
    #[error(":authority and host disagree")]
    AuthorityHost,
    #[error("pseudo-header field among regular fields")]
    PseudoField,
    #[error("invalid field name (upper case or not a token)")]
    FieldName,
    #[error("invalid field value (CR, LF, NUL, control byte, or edge whitespace)")]
    FieldValue,
    #[error("connection-specific field")]
    ConnectionSpecific,
    #[error("te other than \"trailers\"")]
    Te,
    #[error("invalid content-length")]
    ContentLength,
    #[error("content-length disagrees with the end of the stream")]
    ContentLengthEnd,
}

/// Fields RFC 9113 §8.2.2 forbids in HTTP/2.
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

/// Check the request and write it as an HTTP/1.1 head into `out` (cleared first).
/// `fields` are the regular fields in order (it is walked twice: cookies are joined
/// after the others); `end_stream`: the HEADERS frame ended the stream (no body).
pub fn to_h1<'a, I>(
    p: &Pseudo<'_>,
    fields: I,
    end_stream: bool,
    out: &mut Vec<u8>,
) -> Result<RequestBody, Malformed>
where
    I: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
{
    to_h1_marked(p, fields, end_stream, out, &mut Translated::default())
}

/// [`to_h1`], noting in `marks` where the head's lines are and what was checked, for
/// the session to take the request from (`translated_request`) without parsing it.
pub fn to_h1_marked<'a, I>(
    p: &Pseudo<'_>,
    fields: I,
    end_stream: bool,
    out: &mut Vec<u8>,
    marks: &mut Translated,
) -> Result<RequestBody, Malformed>
where
    I: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
{
    out.clear();
    *marks = Translated::default();
    check_pseudo(p)?;
    let mut host: Option<&[u8]> = None;
    let mut length: Option<u64> = None;
    let mut expect_continue = false;
    for (name, value) in fields.clone() {
        check_field(name, value)?;
        match name {
            b"expect" => expect_continue |= value.eq_ignore_ascii_case(b"100-continue"),
            b"host" => {
                if host.is_some_and(|h| h != value) {
                    return Err(Malformed::AuthorityHost);
                }
                host = Some(value);
            }
            b"content-length" => {
                let n = parse_length(value)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Malformed::ContentLength);
                }
                length = Some(n);
            }
            _ => {}
        }
    }
    let authority = match (p.authority, host) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => return Err(Malformed::AuthorityHost),
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) => return Err(Malformed::NoAuthority),
    };
    if !valid_authority(authority) {
        return Err(Malformed::Authority);
    }
    let body = match (end_stream, length) {
        (true, Some(n)) if n > 0 => return Err(Malformed::ContentLengthEnd),
        (true, _) => RequestBody::Length(0),
        (false, Some(n)) => RequestBody::Length(n),
        (false, None) => RequestBody::Chunked,
    };
    // Checked above: `path` is there.
    let path = p.path.unwrap_or(b"/");
    out.extend_from_slice(p.method);
    out.push(b' ');
    out.extend_from_slice(path);
    out.extend_from_slice(b" HTTP/1.1");
    marks.line(p.method.len(), out.len());
    field(out, marks, b"host", authority);
    for (name, value) in fields.clone() {
        // (`te` can only be "trailers" here: the session code learns from it that
        // the client takes trailers, and drops it as it does every hop-by-hop field.)
        if matches!(name, b"host" | b"content-length" | b"cookie") {
            continue;
        }
        field(out, marks, name, value);
    }
    let mut crumbs = fields.filter(|(n, _)| *n == b"cookie").map(|(_, v)| v);
    if let Some(first) = crumbs.next() {
        out.extend_from_slice(b"\r\ncookie");
        let name = out.len();
        out.extend_from_slice(b": ");
        out.extend_from_slice(first);
        for c in crumbs {
            out.extend_from_slice(b"; ");
            out.extend_from_slice(c);
        }
        marks.field(name, out.len());
    }
    let framing = match body {
        RequestBody::Length(0) if !has_body_semantics(p.method) => BodyFraming::Length(0),
        RequestBody::Length(n) => {
            field(out, marks, b"content-length", n.to_string().as_bytes());
            BodyFraming::Length(n)
        }
        RequestBody::Chunked => {
            field(out, marks, b"transfer-encoding", b"chunked");
            BodyFraming::Chunked
        }
    };
    out.extend_from_slice(b"\r\n\r\n");
    marks.finish(out, framing, expect_continue);
    Ok(body)
}

/// Methods whose empty body is worth stating (`content-length: 0`), as clients do.
fn has_body_semantics(method: &[u8]) -> bool {
    matches!(method, b"POST" | b"PUT" | b"PATCH")
}

/// A field line, after the line before it (whose CRLF it writes first), marked.
fn field(out: &mut Vec<u8>, marks: &mut Translated, name: &[u8], value: &[u8]) {
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(name);
    let end = out.len();
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    marks.field(end, out.len());
}

fn check_pseudo(p: &Pseudo<'_>) -> Result<(), Malformed> {
    if p.method.is_empty() || !p.method.iter().all(|&b| is_tchar(b)) {
        return Err(Malformed::Method);
    }
    if p.method == b"CONNECT" {
        return Err(Malformed::Connect);
    }
    if p.protocol {
        return Err(Malformed::Protocol);
    }
    if !matches!(p.scheme, Some(b"http" | b"https")) {
        return Err(Malformed::Scheme);
    }
    let Some(path) = p.path else {
        return Err(Malformed::Path);
    };
    let asterisk = path == b"*" && p.method == b"OPTIONS";
    if !(asterisk || path.first() == Some(&b'/')) {
        return Err(Malformed::Path);
    }
    // What an HTTP/1.1 request-target may hold: visible ASCII, no '#'.
    if !path.iter().all(|&b| b > 0x20 && b < 0x7f && b != b'#') {
        return Err(Malformed::Path);
    }
    Ok(())
}

fn check_field(name: &[u8], value: &[u8]) -> Result<(), Malformed> {
    if name.first() == Some(&b':') {
        return Err(Malformed::PseudoField);
    }
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b) && !b.is_ascii_uppercase()) {
        return Err(Malformed::FieldName);
    }
    // RFC 9113 §8.2.1: no NUL, CR or LF anywhere, no whitespace at either end; other
    // controls are refused too (RFC 9110 §5.5), as the HTTP/1.1 parser does.
    let ctl = |b: &u8| (*b < 0x20 && *b != b'\t') || *b == 0x7f;
    let edge = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if value.iter().any(ctl) || edge(value.first()) || edge(value.last()) {
        return Err(Malformed::FieldValue);
    }
    if CONNECTION_SPECIFIC.contains(&name) {
        return Err(Malformed::ConnectionSpecific);
    }
    if name == b"te" && value != b"trailers" {
        return Err(Malformed::Te);
    }
    Ok(())
}

fn parse_length(value: &[u8]) -> Result<u64, Malformed> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(Malformed::ContentLength);
    }
    value.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(Malformed::ContentLength)
    })
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get() -> Pseudo<'static> {
        Pseudo {
            method: b"GET",
            scheme: Some(b"https"),
            authority: Some(b"example.com"),
            path: Some(b"/a?b=c"),
            protocol: false,
        }
    }

    fn run(p: &Pseudo<'_>, fields: &[(&[u8], &[u8])], end: bool) -> Result<String, Malformed> {
        let mut out = Vec::new();
        let it = fields.iter().map(|(n, v)| (*n, *v));
        let body = to_h1(p, it, end, &mut out);
        body.map(|_| String::from_utf8(out).unwrap())
    }

    #[test]
    fn simple_get_becomes_an_http11_head() {
        let head = run(&get(), &[(b"accept", b"*/*")], true).unwrap();
        assert_eq!(
            head,
            "GET /a?b=c HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\n\r\n"
        );
    }

    #[test]
    fn cookie_crumbs_are_joined_and_te_trailers_kept() {
        let fields: &[(&[u8], &[u8])] = &[
            (b"cookie", b"a=1"),
            (b"te", b"trailers"),
            (b"x", b"y"),
            (b"cookie", b"b=2"),
        ];
        let head = run(&get(), fields, true).unwrap();
        assert!(
            head.contains("te: trailers\r\nx: y\r\ncookie: a=1; b=2\r\n"),
            "{head}"
        );
    }

    #[test]
    fn bodies_are_length_or_chunked() {
        let mut p = get();
        p.method = b"POST";
        let mut out = Vec::new();
        let fields = [(&b"content-length"[..], &b"5"[..])];
        let b = to_h1(&p, fields.iter().copied(), false, &mut out).unwrap();
        assert_eq!(b, RequestBody::Length(5));
        assert!(String::from_utf8_lossy(&out).contains("content-length: 5\r\n"));
        let b = to_h1(&p, std::iter::empty(), false, &mut out).unwrap();
        assert_eq!(b, RequestBody::Chunked);
        assert!(String::from_utf8_lossy(&out).contains("transfer-encoding: chunked\r\n"));
        let b = to_h1(&p, std::iter::empty(), true, &mut out).unwrap();
        assert_eq!(b, RequestBody::Length(0));
        assert!(String::from_utf8_lossy(&out).contains("content-length: 0\r\n"));
    }

    #[test]
    fn content_length_must_agree() {
        let mut p = get();
        p.method = b"POST";
        let cl = |v: &'static [u8]| vec![(&b"content-length"[..], v)];
        assert_eq!(run(&p, &cl(b"5"), true), Err(Malformed::ContentLengthEnd));
        assert_eq!(run(&p, &cl(b"0"), true).map(|_| ()), Ok(()));
        assert_eq!(run(&p, &cl(b"-1"), false), Err(Malformed::ContentLength));
        assert_eq!(run(&p, &cl(b"1,1"), false), Err(Malformed::ContentLength));
        assert_eq!(
            run(&p, &cl(b"99999999999999999999"), false),
            Err(Malformed::ContentLength)
        );
        let two: &[(&[u8], &[u8])] = &[(b"content-length", b"1"), (b"content-length", b"2")];
        assert_eq!(run(&p, two, false), Err(Malformed::ContentLength));
    }

    #[test]
    fn smuggling_fields_are_refused() {
        let p = get();
        let one = |n: &'static [u8], v: &'static [u8]| run(&p, &[(n, v)], true);
        for n in CONNECTION_SPECIFIC {
            assert_eq!(one(n, b"x"), Err(Malformed::ConnectionSpecific));
        }
        assert_eq!(one(b"te", b"gzip"), Err(Malformed::Te));
        assert_eq!(one(b"X-Up", b"1"), Err(Malformed::FieldName));
        assert_eq!(one(b"a b", b"1"), Err(Malformed::FieldName));
        assert_eq!(one(b"", b"1"), Err(Malformed::FieldName));
        assert_eq!(one(b":path", b"/x"), Err(Malformed::PseudoField));
        assert_eq!(one(b"x", b"a\r\nb: c"), Err(Malformed::FieldValue));
        assert_eq!(one(b"x", b"a\nb"), Err(Malformed::FieldValue));
        assert_eq!(one(b"x", b"a\0b"), Err(Malformed::FieldValue));
        assert_eq!(one(b"x", b" a"), Err(Malformed::FieldValue));
        assert_eq!(one(b"x", b"a\t"), Err(Malformed::FieldValue));
        assert!(one(b"x", b"a\tb").is_ok());
    }

    #[test]
    fn authority_and_host() {
        let mut p = get();
        let h = |v: &'static [u8]| vec![(&b"host"[..], v)];
        assert_eq!(
            run(&p, &h(b"other.com"), true),
            Err(Malformed::AuthorityHost)
        );
        assert!(run(&p, &h(b"EXAMPLE.com"), true).is_ok());
        p.authority = None;
        let head = run(&p, &h(b"h.example"), true).unwrap();
        assert!(head.contains("host: h.example\r\n"));
        assert_eq!(run(&p, &[], true), Err(Malformed::NoAuthority));
        p.authority = Some(b"user@example.com");
        assert_eq!(run(&p, &[], true), Err(Malformed::Authority));
        p.authority = Some(b"a b");
        assert_eq!(run(&p, &[], true), Err(Malformed::Authority));
        p.authority = None;
        let two: &[(&[u8], &[u8])] = &[(b"host", b"a"), (b"host", b"b")];
        assert_eq!(run(&p, two, true), Err(Malformed::AuthorityHost));
    }

    #[test]
    fn pseudo_headers_are_checked() {
        let with = |f: fn(&mut Pseudo<'static>)| {
            let mut p = get();
            f(&mut p);
            run(&p, &[], true)
        };
        assert_eq!(with(|p| p.scheme = None), Err(Malformed::Scheme));
        assert_eq!(with(|p| p.scheme = Some(b"ftp")), Err(Malformed::Scheme));
        assert_eq!(with(|p| p.path = None), Err(Malformed::Path));
        assert_eq!(with(|p| p.path = Some(b"")), Err(Malformed::Path));
        assert_eq!(with(|p| p.path = Some(b"x")), Err(Malformed::Path));
        assert_eq!(with(|p| p.path = Some(b"/a b")), Err(Malformed::Path));
        assert_eq!(with(|p| p.path = Some(b"/a#f")), Err(Malformed::Path));
        assert_eq!(with(|p| p.path = Some(b"*")), Err(Malformed::Path));
        assert!(with(|p| {
            p.method = b"OPTIONS";
            p.path = Some(b"*")
        })
        .is_ok());
        assert_eq!(with(|p| p.method = b"CONNECT"), Err(Malformed::Connect));
        assert_eq!(with(|p| p.method = b"G T"), Err(Malformed::Method));
        assert_eq!(with(|p| p.protocol = true), Err(Malformed::Protocol));
    }
}
