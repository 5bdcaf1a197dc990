//! Tests and debug builds: a block [`super::encode_response`] wrote, decoded back (the
//! forms it writes only: indexed `:status`, literals with or without a static name,
//! no Huffman, no dynamic table), and compared with what [`super::to_h2`]
//! gives the `h2` crate for the same head. The integration tests run debug binaries,
//! so every response they get over HTTP/2 is checked this way.

use http_types::Response;

use super::super::BodyFraming;
use super::hpack::encode_response;
use super::to_h2;

/// RFC 7541 Appendix A, names only; index 1 is the first.
const STATIC: [&str; 61] = [
    ":authority",
    ":method",
    ":method",
    ":path",
    ":path",
    ":scheme",
    ":scheme",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    ":status",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
];

/// The `:status` values of static entries 8 to 14.
const STATUSES: [u16; 7] = [200, 204, 206, 304, 400, 404, 500];

/// A decoded block: the status and the fields in order; `Err`: a form this file does
/// not expect to meet.
pub type Decoded = (u16, Vec<(String, Vec<u8>)>);

pub fn decode(mut b: &[u8]) -> Result<Decoded, String> {
    let mut status = None;
    let mut fields = Vec::new();
    while let Some(&first) = b.first() {
        if first & 0x80 != 0 {
            let i = int(&mut b, 7)?;
            let s = i.checked_sub(8).and_then(|k| STATUSES.get(k));
            status = Some(*s.ok_or(format!("indexed entry {i}"))?);
            continue;
        }
        if first & 0xe0 != 0 {
            return Err(format!("representation {first:#x}"));
        }
        let index = int(&mut b, 4)?;
        let name = match index {
            0 => String::from_utf8(string(&mut b)?).map_err(|e| e.to_string())?,
            i => STATIC
                .get(i - 1)
                .ok_or(format!("name index {i}"))?
                .to_string(),
        };
        let value = string(&mut b)?;
        if name == ":status" {
            let s = std::str::from_utf8(&value).map_err(|e| e.to_string())?;
            status = Some(s.parse().map_err(|_| format!("status {s}"))?);
        } else {
            fields.push((name, value));
        }
    }
    Ok((status.ok_or("no :status")?, fields))
}

fn int(b: &mut &[u8], n: u32) -> Result<usize, String> {
    let max = (1usize << n) - 1;
    let (&first, rest) = b.split_first().ok_or("short integer")?;
    *b = rest;
    let mut v = usize::from(first) & max;
    if v < max {
        return Ok(v);
    }
    let mut shift = 0;
    loop {
        let (&next, rest) = b.split_first().ok_or("short integer")?;
        *b = rest;
        v += usize::from(next & 0x7f) << shift;
        shift += 7;
        if next & 0x80 == 0 {
            return Ok(v);
        }
    }
}

fn string(b: &mut &[u8]) -> Result<Vec<u8>, String> {
    if b.first().is_some_and(|&f| f & 0x80 != 0) {
        return Err("Huffman".into());
    }
    let len = int(b, 7)?;
    let s = b.get(..len).ok_or("short string")?.to_vec();
    *b = &b[len..];
    Ok(s)
}

/// `response`'s status and fields, in the block's order within each name (the
/// `HeaderMap` groups a name's values): sorted by name, stably, as `decoded` is
/// before they are compared.
fn fields_of(response: &Response<()>) -> Decoded {
    let fields = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    (response.status().as_u16(), fields)
}

/// Panics when the block for this head says other than `to_h2` does (both refused
/// counts as agreeing).
pub fn agree(status: u16, headers: &[httparse::Header<'_>], framing: BodyFraming) {
    let ours = encode_response(status, headers, framing);
    let theirs = to_h2(status, headers, framing, &[]);
    match (ours, theirs) {
        (Ok((code, block)), Ok(response)) => {
            let mut got = decode(&block).unwrap_or_else(|e| panic!("{e}: {block:?}"));
            assert_eq!(code, response.status());
            let mut want = fields_of(&response);
            got.1.sort_by(|a, b| a.0.cmp(&b.0));
            want.1.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(got, want, "HPACK block and HeaderMap disagree");
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("encode_response {a:?}, to_h2 {b:?}"),
    }
}
