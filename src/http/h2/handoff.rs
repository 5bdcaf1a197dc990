//! The structured hand-off of an HTTP/2 stream's request to the HTTP/1.1 session:
//! `to_h1` notes, as it writes the head, where its request line and each field line
//! end, and what it checked (Host, target, framing); the session builds its parsed
//! [`Request`] from these marks, with neither the lines split again nor the checks
//! `parse_request` ends with run a second time. Only the limits, which are the
//! session's, are checked here. A head too large or with too many fields to be
//! marked is split as before (`parse_translated`). Debug builds (the tests) parse
//! every head taken from marks in full too, and the two must agree.

use super::super::{BodyFraming, HttpError, Limits, Request};
use super::trusted::parse_translated;

/// Field lines marked at most (a request with more is split instead).
const MARKS: usize = 32;

/// What `to_h1` knows of the head it wrote: carried with the stream's start to the
/// session. Offsets are from the head's start.
#[derive(Debug, Clone, Copy)]
pub struct Translated {
    /// The head's length (its final empty line included).
    pub len: usize,
    /// The method's length (a space follows it).
    method: u16,
    /// The request line's length, without its CRLF.
    line: u16,
    /// Per field line: where its name ends (": " follows) and where its value ends
    /// (CRLF follows). The first is the Host line.
    marks: [(u16, u16); MARKS],
    /// Field lines marked; `None`: more than `MARKS` or past 64 KiB, not marked.
    count: Option<u8>,
    framing: BodyFraming,
    expect_continue: bool,
}

impl Default for Translated {
    fn default() -> Self {
        Translated {
            len: 0,
            method: 0,
            line: 0,
            marks: [(0, 0); MARKS],
            count: Some(0),
            framing: BodyFraming::Length(0),
            expect_continue: false,
        }
    }
}

impl Translated {
    /// A head written whole into `out` (the only thing in it): its length, the
    /// framing and whether it asks for 100-continue (both as `to_h1` decided).
    pub(super) fn finish(&mut self, out: &[u8], framing: BodyFraming, expect_continue: bool) {
        self.len = out.len();
        self.framing = framing;
        self.expect_continue = expect_continue;
        if out.len() > usize::from(u16::MAX) {
            self.count = None;
        }
    }

    /// The request line ends at `at`, its method at `method`.
    pub(super) fn line(&mut self, method: usize, at: usize) {
        match (u16::try_from(method), u16::try_from(at)) {
            (Ok(m), Ok(l)) => (self.method, self.line) = (m, l),
            _ => self.count = None,
        }
    }

    /// A field line whose name ends at `name` and value at `value`.
    pub(super) fn field(&mut self, name: usize, value: usize) {
        let Some(n) = self.count else { return };
        let (Ok(name), Ok(value)) = (u16::try_from(name), u16::try_from(value)) else {
            self.count = None;
            return;
        };
        match self.marks.get_mut(usize::from(n)) {
            Some(slot) => {
                *slot = (name, value);
                self.count = Some(n + 1);
            }
            None => self.count = None,
        }
    }
}

/// The request head at the start of `buf`, which `to_h1` wrote and marked in `t`,
/// as `parse_request` would give it within `limits` (`None`: not in the form
/// written, to be parsed in full).
pub fn translated_request<'h, 'b>(
    buf: &'b [u8],
    t: &Translated,
    limits: &Limits,
    storage: &'h mut [httparse::Header<'b>],
) -> Option<Result<Request<'h, 'b>, HttpError>> {
    let Some(count) = t.count else {
        return parse_translated(buf, t.len, limits, storage);
    };
    #[cfg(debug_assertions)]
    let slots = storage.len();
    let got = from_marks(buf, t, usize::from(count), limits, storage)?;
    #[cfg(debug_assertions)]
    {
        let mut again = vec![httparse::EMPTY_HEADER; slots];
        let full = super::super::parse_request(buf, limits, &mut again);
        let got = got.as_ref().map(|r| Some(format!("{r:?}"))).map_err(|e| *e);
        let full = full.map(|r| r.map(|r| format!("{r:?}")));
        assert_eq!(got, full, "a translated head differs from its full parse");
    }
    Some(got)
}

fn from_marks<'h, 'b>(
    buf: &'b [u8],
    t: &Translated,
    count: usize,
    limits: &Limits,
    storage: &'h mut [httparse::Header<'b>],
) -> Option<Result<Request<'h, 'b>, HttpError>> {
    let head = buf.get(..t.len)?;
    let line = usize::from(t.line);
    // The limits, in `parse_request`'s order: the request line (up to its LF), then
    // the number of fields and the head's size (both "too large").
    if line + 1 > limits.max_request_line {
        return Some(Err(HttpError::UriTooLong));
    }
    if count > limits.max_headers.min(storage.len()) || t.len > limits.max_header_bytes {
        return Some(Err(HttpError::HeadersTooLarge));
    }
    let method = usize::from(t.method);
    let target = head.get(method + 1..line.checked_sub(b" HTTP/1.1".len())?)?;
    let method = std::str::from_utf8(head.get(..method)?).ok()?;
    let target = std::str::from_utf8(target).ok()?;
    let mut start = line + 2;
    for (slot, &(name, value)) in storage.iter_mut().zip(&t.marks[..count]) {
        let (name, value) = (usize::from(name), usize::from(value));
        *slot = httparse::Header {
            name: std::str::from_utf8(head.get(start..name)?).ok()?,
            value: head.get(name + 2..value)?,
        };
        start = value + 2;
    }
    let headers: &'h [httparse::Header<'b>] = &storage[..count];
    let host = std::str::from_utf8(headers.first()?.value).ok()?;
    Some(Ok(Request {
        head_len: t.len,
        method,
        target,
        version: 1,
        headers,
        host: Some(host),
        framing: t.framing,
        // (`to_h1` refuses `connection`, `upgrade` and `transfer-encoding`.)
        keep_alive: true,
        upgrade: false,
        expect_continue: t.expect_continue,
    }))
}
