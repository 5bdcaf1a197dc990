//! The response head the session wrote into the pipe, read back as an HTTP/2
//! response: interim heads sent on as HTTP/2 interim responses, the final one made
//! the HEADERS the stream sends. A head the session noted as its own is split
//! (`crate::http::h2::parse_own_response`), not parsed again.

use super::super::http_heads::MAX_HEADERS;
use super::link::Link;
use super::stream::Cut;
use crate::http::h2::{encode_interim, encode_response_with, parse_own_response};
use crate::http::{parse_response, BodyFraming, HttpError, Response};
use crate::tls::pipe::PipePeer;

/// The final response head at the start of `buf` sent as the stream's HEADERS and
/// taken out of `buf`; interim heads before it (103 Early Hints, 100 Continue) go to
/// the client as HTTP/2 interim responses. `Ok(None)`: more bytes needed; `Err`: a
/// head HTTP/2 cannot carry (`Cut::Failed`), or the stream is gone (`Cut::Reset`). A head the session noted
/// as its own (most: all but its error answers) is split, not parsed again.
pub(super) fn response_head(
    peer: &PipePeer,
    buf: &mut Vec<u8>,
    head_method: bool,
    link: &Link,
) -> Result<Option<Final>, Cut> {
    loop {
        // (Nothing read yet: no need to ready the parser's field slots.)
        if buf.is_empty() {
            return Ok(None);
        }
        let own = peer.own_head(buf.len());
        // A head of ours is split into a few slots first: readying all MAX_HEADERS
        // (4 KiB) cost ~220 instructions per stream more than 24 do.
        let mut few = [httparse::EMPTY_HEADER; FEW];
        let step = match own.and_then(|len| parse_own_response(buf, len, head_method, &mut few)) {
            Some(r) => head_step(r.map(Some), buf, link)?,
            None => {
                // Past FEW fields, or not ours: with every slot.
                let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let parsed = match own
                    .and_then(|len| parse_own_response(buf, len, head_method, &mut storage))
                {
                    Some(r) => r.map(Some),
                    None => parse_response(buf, head_method, &mut storage),
                };
                head_step(parsed, buf, link)?
            }
        };
        let Some((len, got)) = step else {
            return Ok(None);
        };
        buf.drain(..len);
        if got.is_some() {
            return Ok(got);
        }
    }
}

/// The final head, sent already as the stream's HEADERS (HPACK encoded:
/// `crate::http::h2::encode_response_with`): how its body is framed, and whether all
/// of the body is in the buffer already (a length-delimited one read with the head).
pub(super) type Final = (BodyFraming, bool);

/// Fields a head of ours is split into before all MAX_HEADERS slots are readied.
const FEW: usize = 24;

/// What a parsed head (at the start of `buf`) gives: its length and, for a final
/// head, the HTTP/2 response (an interim one is sent here); `Ok(None)`: incomplete.
fn head_step(
    parsed: Result<Option<Response<'_, '_>>, HttpError>,
    buf: &[u8],
    link: &Link,
) -> Result<Option<(usize, Option<Final>)>, Cut> {
    match parsed {
        Ok(Some(r)) if r.is_interim() => {
            // (One that cannot be sent, or a 101, is dropped: it is only a hint.)
            if let Ok(block) = encode_interim(r.status, r.headers) {
                let _ = link.send_headers(&block, false);
            }
            Ok(Some((r.head_len, None)))
        }
        Ok(Some(r)) => {
            // A body read whole with the head (most responses) goes out from the
            // buffer at once, its DATA after the HEADERS.
            let whole = match r.framing {
                BodyFraming::Length(n) => (buf.len() - r.head_len) as u64 == n,
                _ => false,
            };
            // Debug builds: the block says what the `HeaderMap` way would have.
            #[cfg(debug_assertions)]
            crate::http::h2::hpack_agrees(r.status, r.headers, r.framing);
            // Sent from where it was encoded; END_STREAM with it when there is no body.
            let empty = r.framing == BodyFraming::Length(0);
            let send = |block: &[u8]| link.send_headers(block, empty);
            encode_response_with(r.status, r.headers, r.framing, send)
                .map_err(|_| Cut::Failed)?
                .map_err(|_| Cut::Reset)?;
            Ok(Some((r.head_len, Some((r.framing, whole)))))
        }
        Ok(None) => Ok(None),
        Err(_) => Err(Cut::Failed),
    }
}
