//! Table keys: what a table is keyed by, the borrowed key used for lookups (no
//! allocation), and the stored form (an address inline, a header value boxed).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::facts::Headers;
use super::RuleError;

/// Longest header-value key a table may be configured with.
pub const MAX_KEY_LEN: u16 = 1024;

/// What a table is keyed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// The client address (`track-sc0 src`).
    Addr,
    /// The client's network: the address cut to `v4` / `v6` bits (/24 and /64 are
    /// the usual choice, [`KeyKind::NETWORK`]).
    Prefix { v4: u8, v6: u8 },
    /// The value of a request header (an API key), cut to `max_len` bytes. With the
    /// header repeated, the last occurrence counts (HAProxy's `req.hdr`); without it,
    /// the request is not tracked.
    Header { name: Box<str>, max_len: u16 },
}

impl KeyKind {
    /// Client networks: /24 for IPv4, /64 for IPv6.
    pub const NETWORK: KeyKind = KeyKind::Prefix { v4: 24, v6: 64 };

    pub(super) fn validate(&self) -> Result<(), RuleError> {
        let ok = match self {
            KeyKind::Addr => true,
            KeyKind::Prefix { v4, v6 } => *v4 <= 32 && *v6 <= 128,
            KeyKind::Header { name, max_len } => {
                !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                    && (1..=MAX_KEY_LEN).contains(max_len)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(RuleError::Invalid(format!(
                "table key {self:?}: prefix lengths up to 32/128, header keys a header name and 1..={MAX_KEY_LEN} bytes"
            )))
        }
    }

    /// The key of a client (address kinds only).
    pub fn addr_key(&self, client: IpAddr) -> Option<Key<'static>> {
        let (v4_bits, v6_bits) = match self {
            KeyKind::Addr => (32, 128),
            KeyKind::Prefix { v4, v6 } => (*v4, *v6),
            KeyKind::Header { .. } => return None,
        };
        Some(match client.to_canonical() {
            IpAddr::V4(a) => Key::V4(u32::from(a) & mask32(v4_bits)),
            IpAddr::V6(a) => Key::V6(u128::from(a) & mask128(v6_bits)),
        })
    }

    /// The key of a connection or request (`headers`: `None` before the request).
    pub fn key_of<'a>(&self, client: IpAddr, headers: Option<&Headers<'a>>) -> Option<Key<'a>> {
        match self {
            KeyKind::Header { name, max_len } => {
                let mut last = None;
                for (n, v) in headers?.iter() {
                    if n.eq_ignore_ascii_case(name.as_bytes()) {
                        last = Some(v);
                    }
                }
                let v = last?;
                Some(Key::Bytes(&v[..v.len().min(usize::from(*max_len))]))
            }
            _ => self.addr_key(client),
        }
    }

    /// The key an operator typed (admin API): an address for address kinds (cut to
    /// the prefix), the value itself for header kinds.
    pub fn parse_key<'s>(&self, s: &'s str) -> Result<Key<'s>, RuleError> {
        match self {
            KeyKind::Header { max_len, .. } if s.len() <= usize::from(*max_len) => {
                Ok(Key::Bytes(s.as_bytes()))
            }
            KeyKind::Header { .. } => Err(RuleError::Invalid(format!("key {s:?} is too long"))),
            _ => {
                let ip: IpAddr = s.parse().map_err(|_| RuleError::BadCidr {
                    value: s.to_string(),
                    reason: "not an IP address",
                })?;
                self.addr_key(ip)
                    .ok_or_else(|| RuleError::Invalid("not an address table".into()))
            }
        }
    }
}

fn mask32(bits: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(bits.min(32)))
        .unwrap_or(0)
}

fn mask128(bits: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(bits.min(128)))
        .unwrap_or(0)
}

/// A table key, borrowed: lookups allocate nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key<'a> {
    V4(u32),
    V6(u128),
    Bytes(&'a [u8]),
}

impl fmt::Display for Key<'_> {
    /// Addresses as addresses, header values as text with other bytes escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Key::V4(a) => Ipv4Addr::from(a).fmt(f),
            Key::V6(a) => Ipv6Addr::from(a).fmt(f),
            Key::Bytes(b) => b.escape_ascii().fmt(f),
        }
    }
}

/// A key as an entry keeps it. IPv6 as bytes: alignment 8, not 16, keeps this at 24.
#[derive(Debug)]
pub(super) enum StoredKey {
    Vacant,
    V4(u32),
    V6([u8; 16]),
    Bytes(Box<[u8]>),
}

impl StoredKey {
    pub(super) fn new(key: Key<'_>) -> Self {
        match key {
            Key::V4(a) => StoredKey::V4(a),
            Key::V6(a) => StoredKey::V6(a.to_be_bytes()),
            Key::Bytes(b) => StoredKey::Bytes(b.into()),
        }
    }

    pub(super) fn as_key(&self) -> Key<'_> {
        match self {
            StoredKey::V4(a) => Key::V4(*a),
            StoredKey::V6(a) => Key::V6(u128::from_be_bytes(*a)),
            StoredKey::Bytes(b) => Key::Bytes(b),
            // Never in the index; a key no lookup can produce.
            StoredKey::Vacant => Key::Bytes(&[]),
        }
    }

    pub(super) fn is_vacant(&self) -> bool {
        matches!(self, StoredKey::Vacant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn prefix_keys_group_a_network() {
        let k = KeyKind::NETWORK;
        assert_eq!(k.addr_key(ip("192.0.2.7")), k.addr_key(ip("192.0.2.200")));
        assert_ne!(k.addr_key(ip("192.0.2.7")), k.addr_key(ip("192.0.3.7")));
        assert_eq!(k.addr_key(ip("192.0.2.7")), Some(Key::V4(0xC000_0200)));
        assert_eq!(
            k.addr_key(ip("2001:db8:1:2:aaaa::1")),
            k.addr_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            k.addr_key(ip("2001:db8:1:2::1")),
            k.addr_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            k.addr_key(ip("::ffff:192.0.2.9")),
            k.addr_key(ip("192.0.2.1"))
        );
        let zero = KeyKind::Prefix { v4: 0, v6: 0 };
        assert_eq!(zero.addr_key(ip("1.2.3.4")), Some(Key::V4(0)));
        assert_eq!(
            KeyKind::Addr.addr_key(ip("1.2.3.4")),
            Some(Key::V4(0x0102_0304))
        );
    }

    #[test]
    fn header_keys_take_the_last_occurrence_cut_to_length() {
        let k = KeyKind::Header {
            name: "x-api-key".into(),
            max_len: 4,
        };
        let pairs: [(&[u8], &[u8]); 2] = [(b"X-Api-Key", b"first"), (b"x-api-key", b"secret")];
        let h = Headers::Pairs(&pairs);
        assert_eq!(k.key_of(ip("1.1.1.1"), Some(&h)), Some(Key::Bytes(b"secr")));
        assert_eq!(k.key_of(ip("1.1.1.1"), None), None);
        assert_eq!(k.addr_key(ip("1.1.1.1")), None);
        assert_eq!(k.parse_key("abcd").ok(), Some(Key::Bytes(b"abcd")));
        assert!(k.parse_key("abcde").is_err());
    }

    #[test]
    fn keys_display_and_validate() {
        assert_eq!(Key::V4(0x0A00_0001).to_string(), "10.0.0.1");
        assert_eq!(Key::V6(1).to_string(), "::1");
        assert_eq!(Key::Bytes(b"k\x01\"").to_string(), "k\\x01\\\"");
        assert_eq!(
            KeyKind::NETWORK.parse_key("10.1.2.3").ok(),
            Some(Key::V4(0x0A01_0200))
        );
        assert!(KeyKind::Prefix { v4: 33, v6: 64 }.validate().is_err());
        let bad = KeyKind::Header {
            name: "a b".into(),
            max_len: 8,
        };
        assert!(bad.validate().is_err());
    }
}
