//! A final response's HEADERS block, HPACK-encoded (RFC 7541) straight from its
//! HTTP/1.1 head: `:status` and the names from the static table where it has them,
//! other names and every value as literals "without indexing" (`set-cookie` "never
//! indexed"), no Huffman, no dynamic table: HAProxy's encoder does the same. What
//! goes in is what [`super::to_h2`] gives the `h2` crate (the same fields dropped,
//! the same checks), without a `HeaderMap` built for the crate to encode again
//! (about 3,000 instructions per response). The crate sends the block as it is
//! (`SendResponse::send_response_encoded`, a patch of ours: vendor/PATCHES.md).

use std::cell::RefCell;

use bytes::{BufMut, Bytes};
use http_types::StatusCode;

use super::super::headers::{dropped_by_connection, is_hop_by_hop};
use super::super::BodyFraming;
use super::names::{known, Known};
use super::ResponseError;

/// The block for a final response: `:status`, then the fields the HTTP/2 response
/// keeps, as [`super::to_h2`] keeps them. An interim status (1xx) or a field HTTP/2
/// cannot carry is refused as there.
pub fn encode_response(
    status: u16,
    headers: &[httparse::Header<'_>],
    framing: BodyFraming,
) -> Result<(StatusCode, Bytes), ResponseError> {
    let code = StatusCode::from_u16(status).map_err(|_| ResponseError::Status)?;
    encode_response_with(status, headers, framing, |block| {
        (code, Bytes::copy_from_slice(block))
    })
}

/// [`encode_response`]'s block handed to `send` where it was written (a buffer of
/// this thread's): nothing allocated for it.
pub fn encode_response_with<R>(
    status: u16,
    headers: &[httparse::Header<'_>],
    framing: BodyFraming,
    send: impl FnOnce(&[u8]) -> R,
) -> Result<R, ResponseError> {
    SCRATCH.with_borrow_mut(|dst| {
        dst.clear();
        let sent = encode_into(status, headers, framing, dst).map(|_| send(dst));
        if dst.capacity() > SCRATCH_KEEP {
            *dst = Vec::new();
        }
        sent
    })
}

/// The block for an interim response (103 Early Hints, 100 Continue): its status and
/// fields as a final response's; 101 has no HTTP/2 form (RFC 9113 §8.6).
pub fn encode_interim(
    status: u16,
    headers: &[httparse::Header<'_>],
) -> Result<Bytes, ResponseError> {
    if !(100..200).contains(&status) || status == 101 {
        return Err(ResponseError::Status);
    }
    SCRATCH.with_borrow_mut(|dst| {
        dst.clear();
        encode_status(status, dst);
        encode_fields(headers, BodyFraming::UntilClose, dst)?;
        Ok(Bytes::copy_from_slice(dst))
    })
}

/// A trailer section as a block: each field a literal (lower-case name), without
/// pseudo-header fields. The caller left out the fields trailers must not carry.
pub fn encode_trailers<'a>(
    fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Bytes, ResponseError> {
    SCRATCH.with_borrow_mut(|dst| {
        dst.clear();
        for (name, value) in fields {
            if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) || !field_value(value) {
                return Err(ResponseError::Field);
            }
            dst.put_u8(0);
            encode_int(name.len(), 7, 0, dst);
            dst.extend(name.iter().map(u8::to_ascii_lowercase));
            encode_int(value.len(), 7, 0, dst);
            dst.extend_from_slice(value);
        }
        Ok(Bytes::copy_from_slice(dst))
    })
}

thread_local! {
    /// Where a block is written before it is copied out whole, into a `Bytes` of its
    /// exact size: one allocation per response. (A `BytesMut` frozen with room left
    /// allocates the `Bytes`' shared header as well: two.)
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The scratch buffer is kept up to this size (a larger one, for a rare huge head,
/// is freed after it).
const SCRATCH_KEEP: usize = 16 * 1024;

/// [`encode_response`]'s block, appended to `dst`.
fn encode_into(
    status: u16,
    headers: &[httparse::Header<'_>],
    framing: BodyFraming,
    dst: &mut Vec<u8>,
) -> Result<StatusCode, ResponseError> {
    let code = StatusCode::from_u16(status).map_err(|_| ResponseError::Status)?;
    if code.is_informational() {
        return Err(ResponseError::Status);
    }
    // Each field takes at most its name, its value and 6 bytes of lengths (a name or
    // value past 16 KiB needs 3 length bytes, one past 2 MiB 4: past any head ringlb
    // reads): room made once.
    let size: usize = headers
        .iter()
        .map(|h| h.name.len() + h.value.len() + 8)
        .sum();
    dst.reserve(size + 5);
    encode_status(status, dst);
    encode_fields(headers, framing, dst)?;
    Ok(code)
}

/// The fields of a response head, as the HTTP/2 response keeps them.
fn encode_fields(
    headers: &[httparse::Header<'_>],
    framing: BodyFraming,
    dst: &mut Vec<u8>,
) -> Result<(), ResponseError> {
    let connection = headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("connection"));
    let length = matches!(framing, BodyFraming::Length(_));
    for h in headers {
        let name = h.name.as_bytes();
        match known(name) {
            Some(Known::Hop) => continue,
            Some(Known::ContentLength) if !length => continue,
            Some(Known::ContentLength) => literal_indexed(CONTENT_LENGTH, dst),
            Some(Known::Field(..)) if connection && dropped_by_connection(headers, h.name) => {
                continue
            }
            Some(Known::Field(n, 0)) => literal_named(n.as_str().as_bytes(), dst),
            Some(Known::Field(_, SET_COOKIE)) => never_indexed(SET_COOKIE, dst),
            Some(Known::Field(_, index)) => literal_indexed(index, dst),
            None => {
                let dropped = is_hop_by_hop(h.name)
                    || h.name.eq_ignore_ascii_case("transfer-encoding")
                    || (h.name.eq_ignore_ascii_case("content-length") && !length)
                    || (connection && dropped_by_connection(headers, h.name));
                if dropped {
                    continue;
                }
                if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
                    return Err(ResponseError::Field);
                }
                dst.put_u8(0);
                encode_int(name.len(), 7, 0, dst);
                dst.extend(name.iter().map(u8::to_ascii_lowercase));
            }
        }
        if !field_value(h.value) {
            return Err(ResponseError::Field);
        }
        encode_int(h.value.len(), 7, 0, dst);
        dst.extend_from_slice(h.value);
    }
    Ok(())
}

/// A value as the `http` crate's `HeaderValue` takes it: visible ASCII, space, tab and
/// obs-text; no control character.
fn field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

/// Static table indices (RFC 7541 Appendix A) of the names this file writes itself.
const STATUS: usize = 8;
const CONTENT_LENGTH: u8 = 28;
const SET_COOKIE: u8 = 55;

/// `:status`: one byte for the seven statuses in the static table (200, 204, 206,
/// 304, 400, 404, 500: indices 8 to 14), otherwise a literal with its name indexed.
fn encode_status(status: u16, dst: &mut Vec<u8>) {
    let indexed = match status {
        200 => 8,
        204 => 9,
        206 => 10,
        304 => 11,
        400 => 12,
        404 => 13,
        500 => 14,
        _ => 0,
    };
    if indexed > 0 {
        dst.put_u8(0x80 | indexed);
        return;
    }
    encode_int(STATUS, 4, 0, dst);
    dst.put_u8(3);
    // (`StatusCode` took it: three digits, 100 to 999.)
    dst.put_slice(&[
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]);
}

/// A literal field without indexing whose name is static entry `index` (§6.2.2);
/// its value follows.
fn literal_indexed(index: u8, dst: &mut Vec<u8>) {
    encode_int(usize::from(index), 4, 0, dst);
}

/// The same, never indexed (§6.2.3): intermediaries re-encoding it must keep it out
/// of their tables (a cookie).
fn never_indexed(index: u8, dst: &mut Vec<u8>) {
    encode_int(usize::from(index), 4, 0x10, dst);
}

/// A literal field without indexing with a literal name (lower case already).
fn literal_named(name: &[u8], dst: &mut Vec<u8>) {
    dst.put_u8(0);
    encode_int(name.len(), 7, 0, dst);
    dst.put_slice(name);
}

/// An integer with an `n`-bit prefix (§5.1), the byte's other bits `first`.
fn encode_int(value: usize, n: u32, first: u8, dst: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if value < max {
        dst.put_u8(first | value as u8);
        return;
    }
    dst.put_u8(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        dst.put_u8(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.put_u8(rest as u8);
}

/// A token character (RFC 9110 §5.6.2): what a field name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "hpack_tests.rs"]
mod tests;
