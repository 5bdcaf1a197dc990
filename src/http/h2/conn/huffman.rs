//! HPACK's Huffman code (RFC 7541 §5.2, Appendix B), decoded. The code is canonical
//! (within a length, codes rise with the symbols; each length's first code follows
//! the last of the length before), so two small tables give it whole: how many
//! symbols each length has, and the symbols in code order. A symbol is found from the
//! next 30 bits by comparing them with each length's last code (most symbols are 5 to
//! 8 bits long: a few comparisons), not bit by bit.

/// Symbols with a code of each length (index: length in bits; 1 to 30).
const COUNT: [u32; 31] = [
    0, 0, 0, 0, 0, 10, 26, 32, 6, 0, 5, 3, 2, 6, 2, 3, 0, 0, 0, 3, 8, 13, 26, 29, 12, 4, 15, 19,
    29, 0, 4,
];

/// The 257 symbols (256 is EOS) in code order: by length, then by value.
const SYMBOLS: [u16; 257] = [
    48, 49, 50, 97, 99, 101, 105, 111, 115, 116, 32, 37, 45, 46, 47, 51, 52, 53, 54, 55, 56, 57,
    61, 65, 95, 98, 100, 102, 103, 104, 108, 109, 110, 112, 114, 117, 58, 66, 67, 68, 69, 70, 71,
    72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 89, 106, 107, 113, 118, 119,
    120, 121, 122, 38, 42, 44, 59, 88, 90, 33, 34, 40, 41, 63, 39, 43, 124, 35, 62, 0, 36, 64, 91,
    93, 126, 94, 125, 60, 96, 123, 92, 195, 208, 128, 130, 131, 162, 184, 194, 224, 226, 153, 161,
    167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230, 129, 132, 133, 134, 136, 146, 154, 156,
    160, 163, 164, 169, 170, 173, 178, 181, 185, 186, 187, 189, 190, 196, 198, 228, 232, 233, 1,
    135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155, 157, 158, 165, 166, 168, 174,
    175, 180, 182, 183, 188, 191, 197, 231, 239, 9, 142, 144, 145, 148, 159, 171, 206, 215, 225,
    236, 237, 199, 207, 234, 235, 192, 193, 200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242,
    243, 255, 203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245, 246, 247, 248, 250, 251, 252,
    253, 254, 2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28,
    29, 30, 31, 127, 220, 249, 10, 13, 22, 256,
];

/// For each length: its first code, the index of its first symbol in `SYMBOLS`, and
/// the bound (exclusive) of its codes, left-aligned in 30 bits.
struct Length {
    first: u32,
    index: u32,
    limit: u32,
}

const LENGTHS: [Length; 31] = lengths();

const fn lengths() -> [Length; 31] {
    let mut out = [const {
        Length {
            first: 0,
            index: 0,
            limit: 0,
        }
    }; 31];
    let (mut code, mut index, mut len) = (0u32, 0u32, 1);
    while len < 31 {
        out[len] = Length {
            first: code,
            index,
            limit: (code + COUNT[len]) << (30 - len),
        };
        index += COUNT[len];
        code = (code + COUNT[len]) << 1;
        len += 1;
    }
    out
}

/// Why a string does not decode (a COMPRESSION_ERROR for the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HuffmanError {
    #[error("EOS in a Huffman-coded string")]
    Eos,
    #[error("Huffman padding longer than 7 bits or not all ones")]
    Padding,
}

/// Decode `src`, appending to `dst`.
pub fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), HuffmanError> {
    const MASK: u64 = (1 << 30) - 1;
    dst.reserve(src.len() * 8 / 5);
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    let mut at = 0;
    loop {
        while bits <= 56 && at < src.len() {
            acc = (acc << 8) | u64::from(src[at]);
            bits += 8;
            at += 1;
        }
        if bits == 0 {
            return Ok(());
        }
        // The next 30 bits, left-aligned; past the end, ones (as padding is).
        let next = match bits >= 30 {
            true => (acc >> (bits - 30)) & MASK,
            false => ((acc << (30 - bits)) | ((1 << (30 - bits)) - 1)) & MASK,
        } as u32;
        let mut len = 5;
        while len < 30 && next >= LENGTHS[len].limit {
            len += 1;
        }
        if len as u32 > bits {
            // What is left is padding: fewer than 8 bits, all ones (§5.2).
            let ones = (1u64 << bits) - 1;
            return match bits < 8 && acc & ones == ones {
                true => Ok(()),
                false => Err(HuffmanError::Padding),
            };
        }
        let l = &LENGTHS[len];
        let symbol = SYMBOLS[(l.index + (next >> (30 - len)) - l.first) as usize];
        if symbol == 256 {
            return Err(HuffmanError::Eos);
        }
        dst.push(symbol as u8);
        bits -= len as u32;
        acc &= (1u64 << bits) - 1;
    }
}

#[cfg(test)]
#[path = "huffman_tests.rs"]
mod tests;
