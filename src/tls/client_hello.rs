//! The server name (SNI) of a TLS ClientHello, read without terminating TLS (TCP
//! mode passthrough routed by SNI, HAProxy's `req.ssl_sni`). Pure and bounded: give
//! it the bytes received so far from the start of the connection; it says whether it
//! needs more, the name the client asked for, or why the bytes are no ClientHello.
//! The hello may come in several reads and span several TLS records.

use std::ops::Range;

/// The most bytes of a connection's start read for a ClientHello (records and all).
pub const MAX_HELLO: usize = 16 * 1024;

/// What the bytes so far are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// A valid beginning of a ClientHello: read more.
    NeedMore,
    /// A whole ClientHello. `sni`: the server name, lower case, when it sent one.
    Done { sni: Option<Range<usize>> },
    /// Not a TLS ClientHello ringlb can read.
    Error(HelloError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The first bytes are not a TLS handshake record (plain HTTP, SSLv2...).
    #[error("not TLS")]
    NotTls,
    /// A TLS record or handshake message that breaks the format.
    #[error("malformed ClientHello")]
    Malformed,
    /// Longer than [`MAX_HELLO`].
    #[error("ClientHello too long")]
    TooLong,
}

/// Read the ClientHello at the start of `buf`. `scratch` is the caller's reused
/// buffer: the handshake message is put back together there when it spans records,
/// and the SNI range of `Done` points into `scratch` (the name, lower-cased, is
/// always copied there, so the answer does not borrow `buf`).
pub fn client_hello(buf: &[u8], scratch: &mut Vec<u8>) -> Hello {
    scratch.clear();
    let msg_len = match reassemble(buf, scratch) {
        Ok(Some(n)) => n,
        Ok(None) if buf.len() >= MAX_HELLO => return Hello::Error(HelloError::TooLong),
        Ok(None) => return Hello::NeedMore,
        Err(e) => return Hello::Error(e),
    };
    match sni_of(&scratch[..msg_len]) {
        Ok(None) => Hello::Done { sni: None },
        Ok(Some(r)) => {
            // Copy the name after the message, lower case.
            let start = scratch.len();
            scratch.extend_from_within(r);
            scratch[start..].make_ascii_lowercase();
            Hello::Done {
                sni: Some(start..scratch.len()),
            }
        }
        Err(e) => Hello::Error(e),
    }
}

/// Append the handshake fragments of the records in `buf` to `out` until it holds one
/// whole handshake message; `Some(len)`: it does (its length, header included).
fn reassemble(buf: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, HelloError> {
    let mut rest = buf;
    loop {
        // The record header: type 22 (handshake), version 3.x, length.
        if let Some(&t) = rest.first() {
            if t != 0x16 {
                return Err(if out.is_empty() {
                    HelloError::NotTls
                } else {
                    HelloError::Malformed
                });
            }
        }
        if let Some(&major) = rest.get(1) {
            if major != 3 {
                return Err(HelloError::NotTls);
            }
        }
        if rest.len() < 5 {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if len == 0 || len > 16384 + 2048 {
            return Err(HelloError::Malformed);
        }
        let body = &rest[5..];
        let take = body.len().min(len);
        out.extend_from_slice(&body[..take]);
        if let Some(n) = whole_message(out)? {
            return Ok(Some(n));
        }
        if take < len {
            return Ok(None);
        }
        rest = &body[len..];
    }
}

/// The message in `m` (handshake header: type 1 = ClientHello, 24-bit length).
fn whole_message(m: &[u8]) -> Result<Option<usize>, HelloError> {
    if let Some(&t) = m.first() {
        if t != 1 {
            return Err(HelloError::Malformed);
        }
    }
    if m.len() < 4 {
        return Ok(None);
    }
    let len = 4 + (usize::from(m[1]) << 16 | usize::from(m[2]) << 8 | usize::from(m[3]));
    if len > MAX_HELLO {
        return Err(HelloError::TooLong);
    }
    Ok((m.len() >= len).then_some(len))
}

/// A cursor over a ClientHello that fails with `Malformed` past its end.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<Range<usize>, HelloError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or(HelloError::Malformed)?;
        let r = self.at..end;
        self.at = end;
        Ok(r)
    }

    fn u8(&mut self) -> Result<usize, HelloError> {
        let r = self.take(1)?;
        Ok(usize::from(self.b[r.start]))
    }

    fn u16(&mut self) -> Result<usize, HelloError> {
        let r = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([
            self.b[r.start],
            self.b[r.start + 1],
        ])))
    }

    fn done(&self) -> bool {
        self.at == self.b.len()
    }
}

/// The range of the host name in the ClientHello message `m` (header included).
fn sni_of(m: &[u8]) -> Result<Option<Range<usize>>, HelloError> {
    let mut r = Reader { b: m, at: 4 };
    r.take(2 + 32)?; // legacy_version, random
    let n = r.u8()?;
    if n > 32 {
        return Err(HelloError::Malformed);
    }
    r.take(n)?; // session id
    let n = r.u16()?;
    if n == 0 || n % 2 == 1 {
        return Err(HelloError::Malformed);
    }
    r.take(n)?; // cipher suites
    let n = r.u8()?;
    if n == 0 {
        return Err(HelloError::Malformed);
    }
    r.take(n)?; // compression methods
    if r.done() {
        return Ok(None); // no extensions
    }
    let n = r.u16()?;
    let exts = r.take(n)?;
    if !r.done() {
        return Err(HelloError::Malformed);
    }
    let mut e = Reader {
        b: &m[..exts.end],
        at: exts.start,
    };
    let mut sni = None;
    while !e.done() {
        let kind = e.u16()?;
        let n = e.u16()?;
        let data = e.take(n)?;
        if kind == 0 {
            if sni.is_some() {
                return Err(HelloError::Malformed); // the extension twice
            }
            sni = Some(host_name(m, data)?);
        }
    }
    Ok(sni)
}

/// The server_name extension's host name (RFC 6066: one name of type 0).
fn host_name(m: &[u8], data: Range<usize>) -> Result<Range<usize>, HelloError> {
    let mut r = Reader {
        b: &m[..data.end],
        at: data.start,
    };
    let list = r.u16()?;
    let list = r.take(list)?;
    if !r.done() {
        return Err(HelloError::Malformed);
    }
    let mut l = Reader {
        b: &m[..list.end],
        at: list.start,
    };
    if l.u8()? != 0 {
        return Err(HelloError::Malformed);
    }
    let n = l.u16()?;
    let name = l.take(n)?;
    let valid = (1..=255).contains(&n)
        && m[name.clone()]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_');
    if !valid {
        return Err(HelloError::Malformed);
    }
    Ok(name)
}

#[cfg(test)]
#[path = "client_hello_tests.rs"]
mod tests;
