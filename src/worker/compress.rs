//! Response compression in the HTTP session (docs/configuration.md,
//! `[frontend.compression]`): the request's coding is negotiated when it is routed
//! (and `Accept-Encoding` removed with `offload`), the response head decides and is
//! rewritten, and the body streams through an encoder taken from this worker's pool,
//! one piece per read: what a response holds is its encoder and two relay buffers.
//! A request without compression configured on its frontend or backend costs two
//! `Option` checks; one whose client accepts no offered coding, one field scan.

use crate::config::{Backend, CompressAlgo, Compression, Frontend, DEFAULT_COMPRESSION_LEVEL};
use crate::http::compress::{
    compressible, negotiate, rewrite_head, Coding, Encoder, ResponseFacts,
};
use crate::http::edit::{append_field, remove_fields};
use crate::http::{BodyFraming, ChunkedValidator, Response};
use crate::tls::{ClientStream, ServerStream};

use super::body::{read_more, write_front, BodyError, End};
use super::error::Side;
use super::state::Worker;

/// Idle encoders a worker keeps for reuse (each holds deflate's window and tables,
/// a few hundred KiB); more at once are made and dropped.
const ENCODERS_KEPT: usize = 4;

/// How one response is compressed.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    coding: Coding,
    level: u32,
    /// Chunked for the client (HTTP/1.1); else the body ends with the connection.
    chunked: bool,
}

/// Which compression settings apply: a backend's where it sets them, else its
/// frontend's (HAProxy's order).
fn pick<'a, T: ?Sized>(
    fe: &'a Frontend,
    be: &'a Backend,
    get: impl Fn(&'a Compression) -> Option<&'a T>,
) -> Option<&'a T> {
    be.compression
        .as_ref()
        .and_then(&get)
        .or_else(|| fe.compression.as_ref().and_then(get))
}

/// A routed request: the coding its response may be compressed with; when there is
/// one and `offload` is set, `Accept-Encoding` is removed from the server's `head`.
pub fn on_request(
    fe: &Frontend,
    be: &Backend,
    headers: &[httparse::Header<'_>],
    head: &mut Vec<u8>,
) -> Option<Coding> {
    if fe.compression.is_none() && be.compression.is_none() {
        return None;
    }
    let algos = pick(fe, be, |c| {
        Some(&c.algorithms[..]).filter(|a| !a.is_empty())
    })?;
    let mut offered = [Coding::Gzip; 3];
    for (slot, a) in offered.iter_mut().zip(algos) {
        *slot = match a {
            CompressAlgo::Gzip => Coding::Gzip,
            CompressAlgo::Deflate => Coding::Deflate,
            CompressAlgo::RawDeflate => Coding::RawDeflate,
        };
    }
    let fields = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("accept-encoding"))
        .map(|h| h.value);
    let coding = negotiate(fields, &offered[..algos.len().min(3)])?;
    // As HAProxy: only when ringlb compresses (else the server may still encode in a
    // coding the client takes and ringlb does not offer).
    let offload = |c: &Option<Compression>| c.as_ref().is_some_and(|c| c.offload);
    if offload(&fe.compression) || offload(&be.compression) {
        remove_fields(head, b"accept-encoding");
    }
    Some(coding)
}

/// The final response `res` to a request that accepts `coding`: whether its body is
/// compressed, and if so the edits to `out` (the head written for the client). An
/// HTTP/1.0 client (`client_10`) gets a body that ends with the connection.
pub fn on_response(
    fe: &Frontend,
    be: &Backend,
    coding: Coding,
    res: &Response<'_, '_>,
    client_10: bool,
    out: &mut Vec<u8>,
) -> Option<Plan> {
    if res.version == 0 {
        // An HTTP/1.0 server's response: HAProxy leaves it alone too.
        return None;
    }
    let facts = ResponseFacts {
        status: res.status,
        headers: res.headers,
        framing: res.framing,
    };
    let types = pick(fe, be, |c| c.types.as_deref()).unwrap_or(&[]);
    let min_size = pick(fe, be, |c| c.min_size.as_ref()).copied().unwrap_or(0);
    compressible(&facts, types, min_size).ok()?;
    rewrite_head(out, facts.headers, coding, !client_10);
    if client_10 {
        remove_fields(out, b"connection");
        append_field(out, b"connection", b"close");
    }
    let level = pick(fe, be, |c| c.level.as_ref()).copied();
    Some(Plan {
        coding,
        level: level.unwrap_or(DEFAULT_COMPRESSION_LEVEL),
        chunked: !client_10,
    })
}

/// Stream a response body framed by `framing` from `src` to `dst`, compressed as
/// `plan` says. `buf` holds what was read after the head; on return, what the server
/// sent after the body. Returns the bytes written to the client.
pub async fn pump(
    worker: &Worker,
    src: &mut End<'_, ServerStream>,
    dst: &mut End<'_, ClientStream>,
    buf: &mut Vec<u8>,
    framing: BodyFraming,
    plan: Plan,
) -> Result<u64, BodyError> {
    let mut enc = worker.take_encoder(plan.coding, plan.level);
    let mut payload = worker.take_buffer();
    let mut out = worker.take_buffer();
    let res = pump_through(
        src,
        dst,
        buf,
        framing,
        plan,
        &mut enc,
        &mut payload,
        &mut out,
    )
    .await;
    worker.give_encoder(enc);
    worker.give_buffer(payload);
    worker.give_buffer(out);
    res
}

#[allow(clippy::too_many_arguments)]
async fn pump_through(
    src: &mut End<'_, ServerStream>,
    dst: &mut End<'_, ClientStream>,
    buf: &mut Vec<u8>,
    framing: BodyFraming,
    plan: Plan,
    enc: &mut Encoder,
    payload: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<u64, BodyError> {
    let mut remaining = match framing {
        BodyFraming::Length(n) => n,
        _ => u64::MAX,
    };
    let mut chunks = ChunkedValidator::default();
    let mut sent = 0u64;
    loop {
        payload.clear();
        let (input, done) = match framing {
            BodyFraming::Chunked => {
                let take = chunks
                    .decode(buf, payload)
                    .map_err(|e| BodyError::Chunked(Side::Server, e))?;
                buf.drain(..take);
                (&payload[..], chunks.is_done())
            }
            _ => {
                let take = remaining.min(buf.len() as u64) as usize;
                remaining -= take as u64;
                payload.extend_from_slice(&buf[..take]);
                buf.drain(..take);
                (&payload[..], remaining == 0)
            }
        };
        if !input.is_empty() || done {
            frame(enc, input, out, plan.chunked, done)?;
            let n = out.len();
            sent += n as u64;
            write_front(dst, out, n).await?;
        }
        if done {
            return Ok(sent);
        }
        if read_more(src, buf).await? == 0 {
            return Err(BodyError::Truncated(Side::Server));
        }
    }
}

/// Compress `input` into `out` (emptied first), as one chunk when `chunked` (the
/// size line is written as eight hex digits, filled in afterwards), with the last
/// chunk after it when `last`.
fn frame(
    enc: &mut Encoder,
    input: &[u8],
    out: &mut Vec<u8>,
    chunked: bool,
    last: bool,
) -> Result<(), BodyError> {
    const SIZE_LINE: usize = 10;
    out.clear();
    if chunked {
        out.extend_from_slice(b"00000000\r\n");
    }
    enc.feed(input, out, last)
        .map_err(|e| BodyError::Io(Side::Client, std::io::Error::other(e)))?;
    if chunked {
        let n = out.len() - SIZE_LINE;
        if n == 0 {
            out.clear();
        } else {
            let hex = format!("{n:08x}");
            out[..8].copy_from_slice(hex.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if last {
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
    Ok(())
}

impl Worker {
    /// An encoder for `coding` at `level`, reused when one is idle.
    fn take_encoder(&self, coding: Coding, level: u32) -> Encoder {
        let mut kept = self.encoders.borrow_mut();
        match kept.iter().position(|e| e.fits(coding, level)) {
            Some(i) => kept.swap_remove(i),
            None => Encoder::new(coding, level),
        }
    }

    /// Give an encoder back (reset; dropped when enough are idle).
    fn give_encoder(&self, mut enc: Encoder) {
        let mut kept = self.encoders.borrow_mut();
        if kept.len() < ENCODERS_KEPT {
            enc.reset();
            kept.push(enc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn frames_are_chunks_that_decode_to_the_body() {
        let mut enc = Encoder::new(Coding::Gzip, 1);
        let mut wire = Vec::new();
        let mut out = Vec::new();
        let parts: [&[u8]; 3] = [b"hello, ", b"", b"world"];
        for (i, p) in parts.iter().enumerate() {
            frame(&mut enc, p, &mut out, true, i == 2).unwrap();
            wire.extend_from_slice(&out);
        }
        let mut v = ChunkedValidator::default();
        let mut body = Vec::new();
        assert_eq!(v.decode(&wire, &mut body).unwrap(), wire.len());
        assert!(v.is_done());
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "hello, world");
    }

    #[test]
    fn unchunked_frames_are_the_bare_stream() {
        let mut enc = Encoder::new(Coding::Deflate, 9);
        let mut out = Vec::new();
        frame(&mut enc, b"abc", &mut out, false, true).unwrap();
        let mut plain = Vec::new();
        flate2::read::ZlibDecoder::new(&out[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, b"abc");
    }
}
