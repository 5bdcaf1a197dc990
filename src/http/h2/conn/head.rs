//! A header block decoded (HPACK, `hpack.rs`) into one buffer kept from block to
//! block: the request's pseudo-header fields apart, its regular fields in order, and
//! the header list's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it (§6.5.2). Past
//! the limit nothing more is kept, but the block is still decoded to its end: the
//! dynamic table must stay in step with the client's.

use std::ops::Range;

use super::super::request::{Malformed, Pseudo};
use super::hpack::Decoder;
use super::Reason;

/// A decoded header block (a request head, or trailers).
#[derive(Default)]
pub struct Head {
    bytes: Vec<u8>,
    fields: Vec<(Range<u32>, Range<u32>)>,
    method: Option<Range<u32>>,
    scheme: Option<Range<u32>>,
    authority: Option<Range<u32>>,
    path: Option<Range<u32>>,
    protocol: bool,
    size: usize,
    too_large: bool,
    malformed: Option<Malformed>,
}

/// Kept from block to block up to this size (a rare huge head's buffer is freed).
const KEEP: usize = 16 * 1024;

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Head")
            .field("pseudo", &self.pseudo())
            .field("fields", &self.fields.len())
            .field("size", &self.size)
            .finish()
    }
}

impl Head {
    /// The pseudo-header fields (a missing `:method` is empty, which is refused).
    pub fn pseudo(&self) -> Pseudo<'_> {
        Pseudo {
            method: self.method.clone().map_or(&[], |r| self.at(r)),
            scheme: self.scheme.clone().map(|r| self.at(r)),
            authority: self.authority.clone().map(|r| self.at(r)),
            path: self.path.clone().map(|r| self.at(r)),
            protocol: self.protocol,
        }
    }

    /// The regular fields, in order (a pseudo-header field after one of them is among
    /// them: the translation refuses it).
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone + '_ {
        self.fields
            .iter()
            .map(|(n, v)| (self.at(n.clone()), self.at(v.clone())))
    }

    /// The header list's size (§6.5.2: each name and value, plus 32).
    pub fn list_size(&self) -> usize {
        self.size
    }

    /// Past the limit it was decoded with: what is kept is only a part.
    pub fn too_large(&self) -> bool {
        self.too_large
    }

    /// A misuse of pseudo-header fields seen while decoding (a duplicate, an unknown
    /// one, one in trailers).
    pub fn malformed(&self) -> Option<Malformed> {
        self.malformed
    }

    fn at(&self, r: Range<u32>) -> &[u8] {
        &self.bytes[r.start as usize..r.end as usize]
    }

    fn clear(&mut self) {
        if self.bytes.capacity() > KEEP {
            self.bytes = Vec::new();
        }
        self.bytes.clear();
        self.fields.clear();
        self.method = None;
        self.scheme = None;
        self.authority = None;
        self.path = None;
        self.protocol = false;
        self.size = 0;
        self.too_large = false;
        self.malformed = None;
    }

    /// Decode `block` into this head (cleared first). `trailers`: no pseudo-header
    /// field may be there. `Err`: the block does not decode (COMPRESSION_ERROR, a
    /// connection error: the dynamic table is out of step).
    pub(super) fn decode(
        &mut self,
        decoder: &mut Decoder,
        block: &[u8],
        limit: usize,
        trailers: bool,
    ) -> Result<(), Reason> {
        self.clear();
        let mut regular = false;
        let result = decoder.decode(block, |name, value| {
            self.size += name.len() + value.len() + 32;
            if self.size > limit {
                self.too_large = true;
            }
            if self.too_large {
                return;
            }
            if name.first() == Some(&b':') && !regular {
                if trailers {
                    self.malformed = Some(Malformed::PseudoField);
                    return;
                }
                self.pseudo_field(name, value);
                return;
            }
            regular = true;
            let n = self.push(name);
            let v = self.push(value);
            self.fields.push((n, v));
        });
        result.map_err(|_| Reason::COMPRESSION_ERROR)
    }

    fn pseudo_field(&mut self, name: &[u8], value: &[u8]) {
        if name == b":protocol" {
            self.protocol = true;
            return;
        }
        let r = self.push(value);
        let slot = match name {
            b":method" => &mut self.method,
            b":scheme" => &mut self.scheme,
            b":authority" => &mut self.authority,
            b":path" => &mut self.path,
            _ => {
                self.malformed = Some(Malformed::PseudoField);
                return;
            }
        };
        if slot.is_some() {
            self.malformed = Some(Malformed::PseudoField);
        }
        *slot = Some(r);
    }

    fn push(&mut self, s: &[u8]) -> Range<u32> {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s);
        start..self.bytes.len() as u32
    }
}
