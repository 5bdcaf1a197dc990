//! A streaming validator for chunked bodies (RFC 9112 §7.1). ringlb forwards chunked
//! bodies verbatim, so it need not decode them; it must make sure every byte it
//! forwards is well-formed, and find where the body ends (the next pipelined message
//! starts right after). Fed any slicing of the bytes, it gives the same verdict.

/// Longest chunk extension accepted, per chunk.
const MAX_EXTENSION: usize = 4096;
/// Longest trailer section accepted.
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunk size")]
    BadSize,
    #[error("chunk size overflows")]
    SizeOverflow,
    #[error("invalid chunk extension")]
    BadExtension,
    #[error("chunk extension too long")]
    ExtensionTooLong,
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
    #[error("invalid trailer section")]
    BadTrailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SizeStart,
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

#[derive(Debug, Clone)]
pub struct ChunkedValidator {
    state: State,
    size: u64,
    digits: u8,
    extension: usize,
    trailers: usize,
}

impl Default for ChunkedValidator {
    fn default() -> Self {
        ChunkedValidator {
            state: State::SizeStart,
            size: 0,
            digits: 0,
            extension: 0,
            trailers: 0,
        }
    }
}

impl ChunkedValidator {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Validate the next bytes of the body. Returns how many of them belong to it: all
    /// of them, or fewer when the body ended inside `data`.
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, ChunkError> {
        self.feed_into(data, None, None)
    }

    /// As [`feed`](Self::feed), and append the chunks' data to `payload` (decoding,
    /// for an HTTP/2 client: its DATA frames carry the payload, not the chunks).
    pub fn decode(&mut self, data: &[u8], payload: &mut Vec<u8>) -> Result<usize, ChunkError> {
        self.feed_into(data, Some(payload), None)
    }

    /// As [`decode`](Self::decode), and append the trailer section's field lines (each
    /// ending in CRLF, the final empty line left out) to `trailers`: an HTTP/2 peer
    /// gets them as a trailing HEADERS frame.
    pub fn decode_with_trailers(
        &mut self,
        data: &[u8],
        payload: &mut Vec<u8>,
        trailers: &mut Vec<u8>,
    ) -> Result<usize, ChunkError> {
        self.feed_into(data, Some(payload), Some(trailers))
    }

    fn feed_into(
        &mut self,
        data: &[u8],
        mut payload: Option<&mut Vec<u8>>,
        mut trailers: Option<&mut Vec<u8>>,
    ) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < data.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = (self.size.min((data.len() - i) as u64)) as usize;
                if let Some(p) = payload.as_deref_mut() {
                    p.extend_from_slice(&data[i..i + take]);
                }
                i += take;
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            let before = self.state;
            self.step(data[i])?;
            let field_line = matches!(
                before,
                State::TrailerStart | State::TrailerLine | State::TrailerLf
            ) && self.state != State::FinalLf;
            if let Some(t) = trailers.as_deref_mut().filter(|_| field_line) {
                t.push(data[i]);
            }
            i += 1;
        }
        Ok(i)
    }

    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        use State::*;
        self.state = match self.state {
            SizeStart | Size => match (b as char).to_digit(16) {
                Some(d) => {
                    if self.state == SizeStart {
                        self.size = 0;
                        self.digits = 0;
                    }
                    self.digits += 1;
                    if self.digits > 16 {
                        return Err(ChunkError::SizeOverflow);
                    }
                    self.size = (self.size << 4) | u64::from(d);
                    Size
                }
                None if self.state == Size && b == b';' => {
                    self.extension = 0;
                    Extension
                }
                None if self.state == Size && b == b'\r' => SizeLf,
                None => return Err(ChunkError::BadSize),
            },
            Extension => {
                if b == b'\r' {
                    SizeLf
                } else if b == b'\n' || (b < 0x20 && b != b'\t') || b == 0x7f {
                    return Err(ChunkError::BadExtension);
                } else {
                    self.extension += 1;
                    if self.extension > MAX_EXTENSION {
                        return Err(ChunkError::ExtensionTooLong);
                    }
                    Extension
                }
            }
            SizeLf => match b {
                b'\n' if self.size == 0 => TrailerStart,
                b'\n' => Data,
                _ => return Err(ChunkError::BadSize),
            },
            DataCr => match b {
                b'\r' => DataLf,
                _ => return Err(ChunkError::MissingCrlf),
            },
            DataLf => match b {
                b'\n' => SizeStart,
                _ => return Err(ChunkError::MissingCrlf),
            },
            TrailerStart => match b {
                b'\r' => FinalLf,
                b'\n' | 0 => return Err(ChunkError::BadTrailer),
                _ => self.trailer_byte()?,
            },
            TrailerLine => match b {
                b'\r' => TrailerLf,
                b'\n' | 0 => return Err(ChunkError::BadTrailer),
                _ => self.trailer_byte()?,
            },
            TrailerLf | FinalLf if b != b'\n' => return Err(ChunkError::BadTrailer),
            TrailerLf => TrailerStart,
            FinalLf => Done,
            Data | Done => unreachable!("handled by feed"),
        };
        Ok(())
    }

    fn trailer_byte(&mut self) -> Result<State, ChunkError> {
        self.trailers += 1;
        if self.trailers > MAX_TRAILERS {
            return Err(ChunkError::BadTrailer);
        }
        Ok(State::TrailerLine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_yields_the_payload_in_any_slicing() {
        let body = b"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\nNEXT";
        let mut whole = (ChunkedValidator::default(), Vec::new());
        assert_eq!(whole.0.decode(body, &mut whole.1), Ok(body.len() - 4));
        assert_eq!(whole.1, b"hello world");
        let mut bytes = (ChunkedValidator::default(), Vec::new());
        for b in body.chunks(1) {
            if !bytes.0.is_done() {
                bytes.0.decode(b, &mut bytes.1).unwrap();
            }
        }
        assert!(bytes.0.is_done());
        assert_eq!(bytes.1, b"hello world");
    }

    #[test]
    fn trailers_are_kept_apart_in_any_slicing() {
        let body = b"3\r\nabc\r\n0\r\ngrpc-status: 0\r\nx-t: a b\r\n\r\nNEXT";
        for step in [1, 2, 5, body.len()] {
            let (mut v, mut payload, mut trailers) =
                (ChunkedValidator::default(), Vec::new(), Vec::new());
            let mut used = 0;
            for b in body.chunks(step) {
                if !v.is_done() {
                    used += v
                        .decode_with_trailers(b, &mut payload, &mut trailers)
                        .unwrap();
                }
            }
            assert_eq!(used, body.len() - 4);
            assert_eq!(payload, b"abc");
            assert_eq!(trailers, b"grpc-status: 0\r\nx-t: a b\r\n");
        }
        let (mut v, mut payload, mut trailers) =
            (ChunkedValidator::default(), Vec::new(), Vec::new());
        v.decode_with_trailers(b"0\r\n\r\n", &mut payload, &mut trailers)
            .unwrap();
        assert!(v.is_done() && trailers.is_empty());
    }

    fn check(body: &[u8]) -> Result<usize, ChunkError> {
        // Whole, and one byte at a time: same verdict.
        let mut whole = ChunkedValidator::default();
        let a = whole.feed(body);
        let mut bytewise = ChunkedValidator::default();
        let mut used = 0;
        let mut b = Ok(0);
        for chunk in body.chunks(1) {
            match bytewise.feed(chunk) {
                Ok(n) => {
                    used += n;
                    b = Ok(used);
                    if bytewise.is_done() {
                        break;
                    }
                }
                Err(e) => {
                    b = Err(e);
                    break;
                }
            }
        }
        assert_eq!(a, b, "{:?}", String::from_utf8_lossy(body));
        if a.is_ok() {
            assert!(
                whole.is_done(),
                "incomplete: {:?}",
                String::from_utf8_lossy(body)
            );
        }
        a
    }

    #[test]
    fn valid_bodies_and_where_they_end() {
        assert_eq!(check(b"0\r\n\r\n"), Ok(5));
        assert_eq!(check(b"5\r\nhello\r\n0\r\n\r\nGET /next"), Ok(15));
        assert_eq!(check(b"A;name=value\r\n0123456789\r\n0\r\n\r\n"), Ok(31));
        assert_eq!(check(b"1\r\nx\r\n0\r\nX-Trailer: 1\r\n\r\n"), Ok(25));
    }

    #[test]
    fn invalid_bodies() {
        assert_eq!(check(b"g\r\n"), Err(ChunkError::BadSize));
        assert_eq!(check(b"-1\r\n"), Err(ChunkError::BadSize));
        assert_eq!(check(b"+1\r\n"), Err(ChunkError::BadSize));
        assert_eq!(check(b" 1\r\n"), Err(ChunkError::BadSize));
        assert_eq!(check(b"1 \r\n"), Err(ChunkError::BadSize));
        assert_eq!(check(b"1\n"), Err(ChunkError::BadSize));
        assert_eq!(check(b"\r\n"), Err(ChunkError::BadSize));
        assert_eq!(
            check(b"11111111111111111\r\n"),
            Err(ChunkError::SizeOverflow)
        );
        assert_eq!(check(b"1;a\nb\r\n"), Err(ChunkError::BadExtension));
        assert_eq!(check(b"1;a\x01\r\n"), Err(ChunkError::BadExtension));
        let long = format!("1;{}\r\n", "x".repeat(5000));
        assert_eq!(check(long.as_bytes()), Err(ChunkError::ExtensionTooLong));
        assert_eq!(check(b"3\r\nabcX\r\n"), Err(ChunkError::MissingCrlf));
        assert_eq!(check(b"3\r\nabc\rX"), Err(ChunkError::MissingCrlf));
        assert_eq!(check(b"0\r\nX: 1\n\r\n"), Err(ChunkError::BadTrailer));
        assert_eq!(check(b"0\r\n\rX"), Err(ChunkError::BadTrailer));
    }

    #[test]
    fn large_chunk_is_skipped_not_scanned() {
        let mut v = ChunkedValidator::default();
        assert_eq!(v.feed(b"100000\r\n"), Ok(8));
        let data = vec![0u8; 0x100000];
        assert_eq!(v.feed(&data), Ok(data.len()));
        assert_eq!(v.feed(b"\r\n0\r\n\r\n"), Ok(7));
        assert!(v.is_done());
    }
}
