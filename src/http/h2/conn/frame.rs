//! HTTP/2 frames (RFC 9113 §4, §6): the 9-byte header, each type's payload checked as
//! §6 says (a size or stream that is wrong for the type is the error §6 names), and
//! the frames a server writes. Borrowed from the read buffer; nothing allocated.

use super::{H2Error, Reason};

/// The frame header's size.
pub const HEADER: usize = 9;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

/// SETTINGS parameters (§6.5.2).
pub const HEADER_TABLE_SIZE: u16 = 0x1;
pub const ENABLE_PUSH: u16 = 0x2;
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const MAX_FRAME_SIZE: u16 = 0x5;
pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// The largest window (§6.9.1) and the bounds of SETTINGS_MAX_FRAME_SIZE (§6.5.2).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;
pub const MIN_FRAME_SIZE: u32 = 16_384;
pub const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;

/// One frame, its payload checked for its type.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `len` is the whole payload, padding included: what flow control counts.
    Data {
        id: u32,
        data: &'a [u8],
        end: bool,
        len: u32,
    },
    Headers {
        id: u32,
        block: &'a [u8],
        end_stream: bool,
        end_headers: bool,
    },
    Priority,
    Reset {
        id: u32,
        reason: Reason,
    },
    Settings {
        ack: bool,
        params: &'a [u8],
    },
    Ping {
        ack: bool,
        payload: [u8; 8],
    },
    GoAway {
        last: u32,
        reason: Reason,
    },
    WindowUpdate {
        id: u32,
        increment: u32,
    },
    Continuation {
        id: u32,
        block: &'a [u8],
        end_headers: bool,
    },
    /// A type §5.5 says to ignore.
    Unknown,
    /// A frame that is a stream error (§5.4.2) as it stands: a PRIORITY frame of the
    /// wrong size or on its own stream, a WINDOW_UPDATE of 0 on a stream.
    Invalid {
        id: u32,
        reason: Reason,
    },
}

/// The first frame in `buf` and its size; `Ok(None)`: not all of it is there yet.
/// `max` is the largest payload this side advertised (SETTINGS_MAX_FRAME_SIZE).
pub fn parse(buf: &[u8], max: u32) -> Result<Option<(Frame<'_>, usize)>, H2Error> {
    let Some(head) = buf.get(..HEADER) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]);
    if len > max {
        return Err(H2Error::Conn(Reason::FRAME_SIZE_ERROR));
    }
    let size = HEADER + len as usize;
    let Some(payload) = buf.get(HEADER..size) else {
        return Ok(None);
    };
    let (kind, flags) = (head[3], head[4]);
    let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & MAX_WINDOW;
    let frame = match payload_of(kind, flags, id, payload) {
        Ok(f) => f,
        Err(H2Error::Stream(id, reason)) => Frame::Invalid { id, reason },
        Err(e) => return Err(e),
    };
    Ok(Some((frame, size)))
}

fn payload_of<'a>(kind: u8, flags: u8, id: u32, p: &'a [u8]) -> Result<Frame<'a>, H2Error> {
    let on_stream = |f: Frame<'a>| match id {
        0 => Err(H2Error::Conn(Reason::PROTOCOL_ERROR)),
        _ => Ok(f),
    };
    let on_conn = |f: Frame<'a>| match id {
        0 => Ok(f),
        _ => Err(H2Error::Conn(Reason::PROTOCOL_ERROR)),
    };
    let sized = |n: usize| match p.len() == n {
        true => Ok(()),
        false => Err(H2Error::Conn(Reason::FRAME_SIZE_ERROR)),
    };
    match kind {
        DATA => {
            let data = unpad(flags, p)?;
            let len = p.len() as u32;
            let end = flags & END_STREAM != 0;
            on_stream(Frame::Data { id, data, end, len })
        }
        HEADERS => {
            let mut block = unpad(flags, p)?;
            if flags & PRIORITY_FLAG != 0 {
                let Some((dep, rest)) = block.split_first_chunk::<5>() else {
                    return Err(H2Error::Conn(Reason::PROTOCOL_ERROR));
                };
                // (A stream error, §5.3.1; a connection error here: the block could
                // not be skipped without decoding it.)
                if u32::from_be_bytes([dep[0], dep[1], dep[2], dep[3]]) & MAX_WINDOW == id {
                    return Err(H2Error::Conn(Reason::PROTOCOL_ERROR));
                }
                block = rest;
            }
            on_stream(Frame::Headers {
                id,
                block,
                end_stream: flags & END_STREAM != 0,
                end_headers: flags & END_HEADERS != 0,
            })
        }
        PRIORITY => {
            if id == 0 {
                return Err(H2Error::Conn(Reason::PROTOCOL_ERROR));
            }
            if p.len() != 5 {
                return Err(H2Error::Stream(id, Reason::FRAME_SIZE_ERROR));
            }
            if u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & MAX_WINDOW == id {
                return Err(H2Error::Stream(id, Reason::PROTOCOL_ERROR));
            }
            Ok(Frame::Priority)
        }
        RST_STREAM => {
            sized(4)?;
            let reason = Reason(u32::from_be_bytes([p[0], p[1], p[2], p[3]]));
            on_stream(Frame::Reset { id, reason })
        }
        SETTINGS => {
            let ack = flags & ACK != 0;
            if (ack && !p.is_empty()) || p.len() % 6 != 0 {
                return Err(H2Error::Conn(Reason::FRAME_SIZE_ERROR));
            }
            on_conn(Frame::Settings { ack, params: p })
        }
        // A client must not push (§8.4).
        PUSH_PROMISE => Err(H2Error::Conn(Reason::PROTOCOL_ERROR)),
        PING => {
            sized(8)?;
            let mut payload = [0; 8];
            payload.copy_from_slice(p);
            on_conn(Frame::Ping {
                ack: flags & ACK != 0,
                payload,
            })
        }
        GOAWAY => {
            if p.len() < 8 {
                return Err(H2Error::Conn(Reason::FRAME_SIZE_ERROR));
            }
            let last = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & MAX_WINDOW;
            let reason = Reason(u32::from_be_bytes([p[4], p[5], p[6], p[7]]));
            on_conn(Frame::GoAway { last, reason })
        }
        WINDOW_UPDATE => {
            sized(4)?;
            let increment = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & MAX_WINDOW;
            match (increment, id) {
                (0, 0) => Err(H2Error::Conn(Reason::PROTOCOL_ERROR)),
                (0, id) => Err(H2Error::Stream(id, Reason::PROTOCOL_ERROR)),
                _ => Ok(Frame::WindowUpdate { id, increment }),
            }
        }
        CONTINUATION => on_stream(Frame::Continuation {
            id,
            block: p,
            end_headers: flags & END_HEADERS != 0,
        }),
        _ => Ok(Frame::Unknown),
    }
}

/// The payload without its padding (§6.1): a pad length that leaves nothing is a
/// connection error.
fn unpad(flags: u8, p: &[u8]) -> Result<&[u8], H2Error> {
    if flags & PADDED == 0 {
        return Ok(p);
    }
    let Some((&pad, rest)) = p.split_first() else {
        return Err(H2Error::Conn(Reason::PROTOCOL_ERROR));
    };
    match rest.len().checked_sub(usize::from(pad)) {
        Some(n) => Ok(&rest[..n]),
        None => Err(H2Error::Conn(Reason::PROTOCOL_ERROR)),
    }
}

/// Each (identifier, value) of a SETTINGS payload.
pub fn settings(params: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    params.chunks_exact(6).map(|p| {
        (
            u16::from_be_bytes([p[0], p[1]]),
            u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
        )
    })
}

/// A frame header.
pub fn write_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, id: u32) {
    let l = (len as u32).to_be_bytes();
    out.extend_from_slice(&[l[1], l[2], l[3], kind, flags]);
    out.extend_from_slice(&id.to_be_bytes());
}

pub fn write_settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    write_head(out, params.len() * 6, SETTINGS, 0, 0);
    for (k, v) in params {
        out.extend_from_slice(&k.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }
}

pub fn write_settings_ack(out: &mut Vec<u8>) {
    write_head(out, 0, SETTINGS, ACK, 0);
}

pub fn write_ping(out: &mut Vec<u8>, ack: bool, payload: [u8; 8]) {
    write_head(out, 8, PING, if ack { ACK } else { 0 }, 0);
    out.extend_from_slice(&payload);
}

pub fn write_goaway(out: &mut Vec<u8>, last: u32, reason: Reason) {
    write_head(out, 8, GOAWAY, 0, 0);
    out.extend_from_slice(&last.to_be_bytes());
    out.extend_from_slice(&reason.0.to_be_bytes());
}

pub fn write_reset(out: &mut Vec<u8>, id: u32, reason: Reason) {
    write_head(out, 4, RST_STREAM, 0, id);
    out.extend_from_slice(&reason.0.to_be_bytes());
}

pub fn write_window_update(out: &mut Vec<u8>, id: u32, increment: u32) {
    write_head(out, 4, WINDOW_UPDATE, 0, id);
    out.extend_from_slice(&increment.to_be_bytes());
}

/// A header block as HEADERS and, past `max` bytes, CONTINUATION frames.
pub fn write_headers(out: &mut Vec<u8>, id: u32, block: &[u8], end_stream: bool, max: usize) {
    let mut chunks = block.chunks(max.max(1));
    let first = chunks.next().unwrap_or(&[]);
    let rest = block.len() - first.len();
    let mut flags = if end_stream { END_STREAM } else { 0 };
    if rest == 0 {
        flags |= END_HEADERS;
    }
    write_head(out, first.len(), HEADERS, flags, id);
    out.extend_from_slice(first);
    let mut left = rest;
    for chunk in chunks {
        left -= chunk.len();
        let flags = if left == 0 { END_HEADERS } else { 0 };
        write_head(out, chunk.len(), CONTINUATION, flags, id);
        out.extend_from_slice(chunk);
    }
}

/// One DATA frame.
pub fn write_data(out: &mut Vec<u8>, id: u32, data: &[u8], end: bool) {
    write_head(out, data.len(), DATA, if end { END_STREAM } else { 0 }, id);
    out.extend_from_slice(data);
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
