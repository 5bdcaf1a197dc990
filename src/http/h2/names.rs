//! The response field names met most, known without the `http` crate's general
//! parse of a name (a table lookup per byte into a scratch buffer, then a match):
//! up to 16 bytes are read as two words, case folded, and matched with the name's
//! length. What a name is for the HTTP/2 response comes with it: connection-specific
//! (dropped), `content-length`, or the field name. Anything else (longer, rarer)
//! gets `None` and takes the general way.

use http_types::header::{self, HeaderName};

/// What a known response field name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Known {
    /// Connection-specific (RFC 9113 §8.2.2): never sent in HTTP/2.
    Hop,
    /// `content-length`: kept only for a length-delimited body.
    ContentLength,
    /// Any other field, kept (unless `connection` names it), with its name's index
    /// in HPACK's static table (RFC 7541 Appendix A; 0: not there).
    Field(HeaderName, u8),
}

/// A name's length and its bytes as two case-folded words.
type Key = (usize, u64, u64);

/// Folds ASCII upper case into lower case for the characters of a field name (RFC
/// 9110 tokens: httparse refuses others). Setting bit 0x20 makes two different
/// tokens equal only where one has an upper-case letter and the other the same
/// letter in lower case, or one has `^` and the other `~` (0x5e, 0x7e): no name in
/// the table has either.
const FOLD: u64 = 0x2020_2020_2020_2020;

/// What `name` (a field name the HTTP/1.1 parser accepted) is, if it is in the table.
pub(super) fn known(name: &[u8]) -> Option<Known> {
    let k = key(name)?;
    let field = |n: HeaderName, index: u8| Some(Known::Field(n, index));
    match k {
        CONTENT_LENGTH => Some(Known::ContentLength),
        CONTENT_TYPE => field(header::CONTENT_TYPE, 31),
        DATE => field(header::DATE, 33),
        SERVER => field(header::SERVER, 54),
        CACHE_CONTROL => field(header::CACHE_CONTROL, 24),
        ETAG => field(header::ETAG, 34),
        LAST_MODIFIED => field(header::LAST_MODIFIED, 44),
        SET_COOKIE => field(header::SET_COOKIE, 55),
        LOCATION => field(header::LOCATION, 46),
        VARY => field(header::VARY, 59),
        EXPIRES => field(header::EXPIRES, 36),
        CONTENT_ENCODING => field(header::CONTENT_ENCODING, 26),
        ACCEPT_RANGES => field(header::ACCEPT_RANGES, 18),
        AGE => field(header::AGE, 21),
        VIA => field(header::VIA, 60),
        LINK => field(header::LINK, 45),
        PRAGMA => field(header::PRAGMA, 0),
        ALT_SVC => field(header::ALT_SVC, 0),
        RETRY_AFTER => field(header::RETRY_AFTER, 53),
        CONTENT_LANGUAGE => field(header::CONTENT_LANGUAGE, 27),
        CONTENT_LOCATION => field(header::CONTENT_LOCATION, 29),
        WWW_AUTHENTICATE => field(header::WWW_AUTHENTICATE, 61),
        X_FRAME_OPTIONS => field(header::X_FRAME_OPTIONS, 0),
        CONNECTION | KEEP_ALIVE | PROXY_CONNECTION | TE | TRAILER | UPGRADE => Some(Known::Hop),
        _ => None,
    }
}

/// `name`'s key: up to 16 bytes as two words (overlapping when shorter), folded.
fn key(name: &[u8]) -> Option<Key> {
    let len = name.len();
    let (lo, hi) = match len {
        8..=16 => (word8(name, 0), word8(name, len - 8)),
        4..=7 => (word4(name, 0), word4(name, len - 4)),
        1..=3 => (short(name), 0),
        _ => return None,
    };
    Some((len, lo | FOLD, hi | FOLD))
}

fn word8(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

fn word4(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}

/// One to three bytes: the first, the middle and the last (repeated when fewer).
fn short(b: &[u8]) -> u64 {
    let n = b.len();
    u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16
}

/// [`key`] at compile time, for the table (`name` in lower case, 1 to 16 bytes).
const fn key_of(name: &[u8]) -> Key {
    let len = name.len();
    let (lo, hi) = if len >= 8 {
        (le(name, 0, 8), le(name, len - 8, 8))
    } else if len >= 4 {
        (le(name, 0, 4), le(name, len - 4, 4))
    } else {
        let s = name[0] as u64 | (name[len / 2] as u64) << 8 | (name[len - 1] as u64) << 16;
        (s, 0)
    };
    (len, lo | FOLD, hi | FOLD)
}

/// `n` bytes of `b` from `at`, little-endian.
const fn le(b: &[u8], at: usize, n: usize) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < n {
        w |= (b[at + i] as u64) << (8 * i);
        i += 1;
    }
    w
}

const CONTENT_LENGTH: Key = key_of(b"content-length");
const CONTENT_TYPE: Key = key_of(b"content-type");
const DATE: Key = key_of(b"date");
const SERVER: Key = key_of(b"server");
const CACHE_CONTROL: Key = key_of(b"cache-control");
const ETAG: Key = key_of(b"etag");
const LAST_MODIFIED: Key = key_of(b"last-modified");
const SET_COOKIE: Key = key_of(b"set-cookie");
const LOCATION: Key = key_of(b"location");
const VARY: Key = key_of(b"vary");
const EXPIRES: Key = key_of(b"expires");
const CONTENT_ENCODING: Key = key_of(b"content-encoding");
const ACCEPT_RANGES: Key = key_of(b"accept-ranges");
const AGE: Key = key_of(b"age");
const VIA: Key = key_of(b"via");
const LINK: Key = key_of(b"link");
const PRAGMA: Key = key_of(b"pragma");
const ALT_SVC: Key = key_of(b"alt-svc");
const RETRY_AFTER: Key = key_of(b"retry-after");
const CONTENT_LANGUAGE: Key = key_of(b"content-language");
const CONTENT_LOCATION: Key = key_of(b"content-location");
const WWW_AUTHENTICATE: Key = key_of(b"www-authenticate");
const X_FRAME_OPTIONS: Key = key_of(b"x-frame-options");
const CONNECTION: Key = key_of(b"connection");
const KEEP_ALIVE: Key = key_of(b"keep-alive");
const PROXY_CONNECTION: Key = key_of(b"proxy-connection");
const TE: Key = key_of(b"te");
const TRAILER: Key = key_of(b"trailer");
const UPGRADE: Key = key_of(b"upgrade");

#[cfg(test)]
pub(super) mod tests {
    use super::super::super::headers::is_hop_by_hop;
    use super::*;

    /// Every name in the table.
    pub(in crate::http::h2) const TABLE: [&str; 29] = [
        "content-length",
        "content-type",
        "date",
        "server",
        "cache-control",
        "etag",
        "last-modified",
        "set-cookie",
        "location",
        "vary",
        "expires",
        "content-encoding",
        "accept-ranges",
        "age",
        "via",
        "link",
        "pragma",
        "alt-svc",
        "retry-after",
        "content-language",
        "content-location",
        "www-authenticate",
        "x-frame-options",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ];

    /// Every name in the table, in any case, is what the general parse makes of it;
    /// the connection-specific ones are the hop-by-hop ones.
    #[test]
    fn the_table_agrees_with_the_general_parse() {
        for name in TABLE {
            let upper = name.to_ascii_uppercase();
            let mixed: String = name
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            for spelled in [name, upper.as_str(), mixed.as_str()] {
                let got = known(spelled.as_bytes());
                let want = if is_hop_by_hop(name) {
                    Known::Hop
                } else if name == "content-length" {
                    Known::ContentLength
                } else {
                    Known::Field(HeaderName::from_bytes(name.as_bytes()).unwrap(), 0)
                };
                let got = got.map(|k| match k {
                    Known::Field(n, _) => Known::Field(n, 0),
                    k => k,
                });
                assert_eq!(got, Some(want), "{spelled}");
            }
        }
    }

    /// Names near the table's (one byte off, other lengths, `~` for `^`...) are not
    /// taken for them.
    #[test]
    fn other_names_are_not_known() {
        for name in [
            "",
            "t",
            "tf",
            "ta",
            "dat",
            "datex",
            "dote",
            "content-lengtx",
            "xontent-length",
            "content_length",
            "content-lengths",
            "x-content-type",
            "transfer-encoding",
            "proxy-authenticate",
            "strict-transport-security",
            "x-custom",
            "set-cookie2",
            "etag~",
            "et^g",
        ] {
            assert_eq!(known(name.as_bytes()), None, "{name}");
        }
        // Each name with one byte changed (in the middle, where the words overlap
        // for most) is unknown.
        for name in TABLE {
            for at in 0..name.len() {
                let mut b = name.as_bytes().to_vec();
                b[at] = if b[at] == b'z' { b'y' } else { b'z' };
                assert_eq!(known(&b), None, "{name} at {at}");
            }
        }
    }
}
