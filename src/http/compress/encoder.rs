//! A streaming encoder for one response at a time, reused across responses (`reset`):
//! flate2's deflate (the pure-Rust miniz_oxide backend) with the gzip header and
//! trailer written here (10 + 8 bytes; flate2's own gzip writer cannot be reset onto a
//! new output) and the zlib wrapper left to flate2. Output goes into the caller's
//! buffer, piece by piece: the caller writes it out before feeding more, so what one
//! response holds is the compressor's own state plus one output piece.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use super::Coding;

/// The gzip header: magic, deflate, no flags, no time, no extra flags, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

pub struct Encoder {
    coding: Coding,
    level: u32,
    z: Compress,
    /// gzip only: CRC-32 and length of the input so far.
    crc: Crc,
}

#[derive(Debug, thiserror::Error)]
#[error("compressor failed: {0}")]
pub struct EncodeError(#[from] flate2::CompressError);

impl Encoder {
    /// A fresh encoder; `level` 1 (fastest) to 9 (smallest).
    pub fn new(coding: Coding, level: u32) -> Self {
        Encoder {
            coding,
            level,
            z: Compress::new(Compression::new(level), coding == Coding::Deflate),
            crc: Crc::new(),
        }
    }

    /// Whether this encoder makes `coding` at `level` (so it can be reused for it).
    pub fn fits(&self, coding: Coding, level: u32) -> bool {
        self.coding == coding && self.level == level
    }

    /// Ready for a new response (the compressor's memory is kept).
    pub fn reset(&mut self) {
        self.z.reset();
        self.crc.reset();
    }

    /// Compress `input` onto the end of `out`. With `last`, the stream ends there (the
    /// gzip trailer included); otherwise what was given is flushed to a byte boundary
    /// (a sync flush), so a slowly streamed body reaches the client as it comes.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, last: bool) -> Result<(), EncodeError> {
        if self.z.total_in() == 0 && self.z.total_out() == 0 && self.coding == Coding::Gzip {
            out.extend_from_slice(&GZIP_HEADER);
        }
        if self.coding == Coding::Gzip {
            self.crc.update(input);
        }
        let flush = if last {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        let mut rest = input;
        loop {
            // Deflate output can exceed its input slightly; grow in steps.
            if out.capacity() - out.len() < 64 + rest.len() / 2 {
                out.reserve(rest.len() / 2 + 1024);
            }
            let before = self.z.total_in();
            let status = self.z.compress_vec(rest, out, flush)?;
            rest = &rest[(self.z.total_in() - before) as usize..];
            let room_left = out.len() < out.capacity();
            let done = match status {
                Status::StreamEnd => true,
                _ if last => false,
                _ => rest.is_empty() && room_left,
            };
            if done {
                break;
            }
        }
        if last && self.coding == Coding::Gzip {
            out.extend_from_slice(&self.crc.sum().to_le_bytes());
            out.extend_from_slice(&self.crc.amount().to_le_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        let mut x = 7u32;
        while v.len() < n {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let word: &[u8] = match x >> 29 {
                0 => b"<div class=\"row\">",
                1 => b"hello ",
                2 => b"world\n",
                3 => &[(x >> 8) as u8, (x >> 16) as u8],
                _ => b"</div>",
            };
            v.extend_from_slice(word);
        }
        v.truncate(n);
        v
    }

    fn encode(enc: &mut Encoder, data: &[u8], piece: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut pieces = data.chunks(piece.max(1)).peekable();
        if data.is_empty() {
            enc.feed(&[], &mut out, true).unwrap();
        }
        while let Some(p) = pieces.next() {
            enc.feed(p, &mut out, pieces.peek().is_none()).unwrap();
        }
        out
    }

    fn decode(coding: Coding, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            Coding::Gzip => flate2::read::GzDecoder::new(bytes).read_to_end(&mut out),
            Coding::Deflate => flate2::read::ZlibDecoder::new(bytes).read_to_end(&mut out),
            Coding::RawDeflate => flate2::read::DeflateDecoder::new(bytes).read_to_end(&mut out),
        }
        .unwrap();
        out
    }

    #[test]
    fn every_coding_round_trips_in_pieces_and_after_reset() {
        let (small, large) = (sample(3_000), sample(200_000));
        for coding in [Coding::Gzip, Coding::Deflate, Coding::RawDeflate] {
            let mut enc = Encoder::new(coding, 1);
            for piece in [1, 1000, 16 * 1024, 300_000] {
                let data = if piece == 1 { &small } else { &large };
                let z = encode(&mut enc, data, piece);
                assert_eq!(&decode(coding, &z), data, "{coding:?} piece {piece}");
                enc.reset();
            }
            assert!(encode(&mut enc, &large, 16384).len() < large.len() / 2);
        }
    }

    #[test]
    fn empty_body_is_a_valid_stream() {
        for coding in [Coding::Gzip, Coding::Deflate, Coding::RawDeflate] {
            let mut enc = Encoder::new(coding, 6);
            assert_eq!(decode(coding, &encode(&mut enc, b"", 1)), b"");
        }
    }

    #[test]
    fn gzip_header_and_trailer() {
        let mut enc = Encoder::new(Coding::Gzip, 1);
        let z = encode(&mut enc, b"abcabcabc", 4);
        assert_eq!(&z[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(&z[z.len() - 4..], &9u32.to_le_bytes());
    }

    #[test]
    fn each_piece_is_flushed_for_streaming() {
        let mut enc = Encoder::new(Coding::RawDeflate, 1);
        let mut out = Vec::new();
        enc.feed(b"first line\n", &mut out, false).unwrap();
        let mut d = flate2::Decompress::new(false);
        let mut plain = Vec::with_capacity(100);
        d.decompress_vec(&out, &mut plain, flate2::FlushDecompress::Sync)
            .unwrap();
        assert_eq!(plain, b"first line\n");
    }

    #[test]
    fn fits_only_its_coding_and_level() {
        let enc = Encoder::new(Coding::Gzip, 1);
        assert!(enc.fits(Coding::Gzip, 1));
        assert!(!enc.fits(Coding::Gzip, 6));
        assert!(!enc.fits(Coding::Deflate, 1));
    }
}
