//! HPACK decoding (RFC 7541) of the client's header blocks: integers, strings (raw or
//! Huffman-coded, `huffman.rs`), the static table and this connection's dynamic
//! table, size updates bounded by what this side advertised. Each field is handed to
//! a callback as borrowed bytes: nothing is allocated for an indexed field or a raw
//! literal; a Huffman-coded one is decoded into a buffer kept from block to block;
//! only a field added to the dynamic table is copied into it.

use std::collections::VecDeque;

use super::huffman::{self, HuffmanError};

/// Why a block does not decode (a COMPRESSION_ERROR for the connection: the dynamic
/// table is out of step with the client's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("block ends inside a field")]
    Truncated,
    #[error("integer too large")]
    Integer,
    #[error("index {0} not in the tables")]
    Index(usize),
    #[error("{0}")]
    Huffman(#[from] HuffmanError),
    #[error("dynamic table size update past the advertised size, or after a field")]
    SizeUpdate,
}

/// A dynamic table entry: name, value.
type Entry = (Box<[u8]>, Box<[u8]>);

/// One connection's decoder.
pub struct Decoder {
    table: VecDeque<Entry>,
    /// The table's size as §4.1 counts it (each entry: name, value, 32).
    size: usize,
    /// Its maximum now (the client's last size update).
    max: usize,
    /// The largest the client may set it to (SETTINGS_HEADER_TABLE_SIZE).
    allowed: usize,
    name: Vec<u8>,
    value: Vec<u8>,
}

/// The initial maximum, until the client updates it (§4.2; SETTINGS' default).
const DEFAULT_SIZE: usize = 4096;
/// The largest integer taken (a length or an index past it cannot be in a block).
const INT_MAX: usize = 1 << 28;
/// Huffman buffers are kept from block to block up to this size.
const KEEP: usize = 4096;

impl Decoder {
    /// A decoder whose table the client may grow up to `allowed` bytes.
    pub fn new(allowed: usize) -> Decoder {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max: DEFAULT_SIZE.min(allowed),
            allowed,
            name: Vec::new(),
            value: Vec::new(),
        }
    }

    /// The largest size the client may set the table to from now on (this side's
    /// SETTINGS_HEADER_TABLE_SIZE, once acknowledged). A table larger than it now must
    /// be shrunk by the client's next size update.
    pub fn allow(&mut self, allowed: usize) {
        self.allowed = allowed;
    }

    /// Decode `block`, giving each field to `field` in order.
    pub fn decode(
        &mut self,
        mut block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), DecodeError> {
        let mut fields = 0;
        while let Some(&first) = block.first() {
            if first & 0xe0 == 0x20 {
                // A dynamic table size update: only before the block's fields (§4.2).
                let size = integer(&mut block, 5)?;
                if fields > 0 || size > self.allowed {
                    return Err(DecodeError::SizeUpdate);
                }
                self.max = size;
                self.evict(0);
                continue;
            }
            fields += 1;
            if first & 0x80 != 0 {
                let index = integer(&mut block, 7)?;
                let (name, value) = self.entry(index)?;
                field(name, value);
                continue;
            }
            // A literal: with incremental indexing (01), or without (0000) or never
            // (0001) indexed.
            let (prefix, indexing) = match first & 0x40 != 0 {
                true => (6, true),
                false => (4, false),
            };
            let index = integer(&mut block, prefix)?;
            self.literal(&mut block, index, indexing, &mut field)?;
        }
        if self.name.capacity() > KEEP {
            self.name = Vec::new();
        }
        if self.value.capacity() > KEEP {
            self.value = Vec::new();
        }
        Ok(())
    }

    fn literal(
        &mut self,
        block: &mut &[u8],
        index: usize,
        indexing: bool,
        field: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<(), DecodeError> {
        let name_raw = match index {
            0 => Some(string(block, &mut self.name)?),
            _ => None,
        };
        let value_raw = string(block, &mut self.value)?;
        let value: &[u8] = value_raw.unwrap_or(&self.value);
        let name: &[u8] = match (index, name_raw) {
            (0, Some(raw)) => raw.unwrap_or(&self.name),
            (i, _) => self.entry(i)?.0,
        };
        field(name, value);
        if indexing {
            let entry: Entry = (name.into(), value.into());
            self.insert(entry);
        }
        Ok(())
    }

    /// Entry `index` of the static table then the dynamic one (1 is the first).
    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), DecodeError> {
        if let Some(&(n, v)) = index.checked_sub(1).and_then(|i| STATIC.get(i)) {
            return Ok((n.as_bytes(), v.as_bytes()));
        }
        match index
            .checked_sub(STATIC.len() + 1)
            .and_then(|i| self.table.get(i))
        {
            Some((n, v)) => Ok((n, v)),
            None => Err(DecodeError::Index(index)),
        }
    }

    /// Add an entry (§4.4): older ones evicted to make room; one larger than the
    /// whole table empties it and is not added.
    fn insert(&mut self, entry: Entry) {
        let size = entry.0.len() + entry.1.len() + 32;
        self.evict(size);
        if size <= self.max {
            self.size += size;
            self.table.push_front(entry);
        }
    }

    /// Evict until `room` more bytes fit (or the table is empty).
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            let Some((n, v)) = self.table.pop_back() else {
                break;
            };
            self.size -= n.len() + v.len() + 32;
        }
    }

    /// Entries in the dynamic table (tests).
    #[cfg(test)]
    pub fn dynamic(&self) -> Vec<(&[u8], &[u8])> {
        self.table.iter().map(|(n, v)| (&n[..], &v[..])).collect()
    }

    /// The dynamic table's size (tests).
    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.size
    }
}

/// An integer with an `n`-bit prefix (§5.1), taken from the front of `block`.
fn integer(block: &mut &[u8], n: u32) -> Result<usize, DecodeError> {
    let (&first, mut rest) = block.split_first().ok_or(DecodeError::Truncated)?;
    let max = (1usize << n) - 1;
    let mut value = usize::from(first) & max;
    if value == max {
        let mut shift = 0;
        loop {
            let (&b, more) = rest.split_first().ok_or(DecodeError::Truncated)?;
            rest = more;
            // (Past 28 bits of shift no value can stay under INT_MAX; zero bytes
            // would otherwise go on without one.)
            if shift > 28 {
                return Err(DecodeError::Integer);
            }
            value += usize::from(b & 0x7f) << shift;
            if value > INT_MAX {
                return Err(DecodeError::Integer);
            }
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
    }
    *block = rest;
    Ok(value)
}

/// A string (§5.2) from the front of `block`: `Some(raw)` as it is in the block, or
/// `None` when it was Huffman-coded and is decoded into `buf`.
fn string<'b>(block: &mut &'b [u8], buf: &mut Vec<u8>) -> Result<Option<&'b [u8]>, DecodeError> {
    let huffman = block.first().ok_or(DecodeError::Truncated)? & 0x80 != 0;
    let len = integer(block, 7)?;
    if len > block.len() {
        return Err(DecodeError::Truncated);
    }
    let (s, rest) = block.split_at(len);
    *block = rest;
    if !huffman {
        return Ok(Some(s));
    }
    buf.clear();
    huffman::decode(s, buf)?;
    Ok(None)
}

/// RFC 7541 Appendix A.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

#[cfg(test)]
#[path = "hpack_tests.rs"]
mod tests;
