//! VRRPv3 advertisements for IPv4 and IPv6 (RFC 9568 §5.1), as pure functions:
//! encode, decode and the checksum in the forms seen in the wild. RFC 9568 sums the
//! VRRP message alone for IPv4; keepalived (2.x, `vrrp_version 3`) also sums an IPv4
//! pseudo-header (source, destination, zero, protocol 112, length), as IPv6 does.
//! ringlb sends the form configured and accepts both. Over IPv6 there is one form:
//! the IPv6 pseudo-header (RFC 8200 §8.1: source, destination, 32-bit length, 24 zero
//! bits, next header 112), and 16-byte addresses.
//!
//! ```text
//!  0                   1                   2                   3
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! |                     IPvX Address(es)                          |
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// The VRRP multicast group.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The VRRP multicast group for IPv6 (link-local scope).
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// The group of `family`'s family.
pub fn group(family: IpAddr) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::V4(GROUP),
        IpAddr::V6(_) => IpAddr::V6(GROUP_V6),
    }
}
const VERSION_TYPE: u8 = 0x31; // version 3, type 1 (advertisement)
const HEADER: usize = 8;

/// Which bytes the checksum covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumForm {
    /// The VRRP message and an IPv4 pseudo-header (keepalived).
    Keepalived,
    /// The VRRP message only (RFC 9568 for IPv4).
    Rfc9568,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub vrid: u8,
    pub priority: u8,
    /// Centiseconds, 12 bits.
    pub interval_cs: u16,
    /// All of the family of the packet's addresses.
    pub addresses: Vec<IpAddr>,
}

/// Why an advertisement was dropped (counted, and logged at a limited rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Drop {
    #[error("shorter than its header or its address count")]
    Truncated,
    #[error("not a VRRPv3 advertisement (version/type byte {0:#04x})")]
    Version(u8),
    #[error("bad checksum")]
    Checksum,
    #[error("IP TTL (hop limit) {0}, must be 255")]
    Ttl(u8),
    #[error("virtual router {0}, not ours")]
    OtherVrid(u8),
    #[error("advertisement interval 0")]
    Interval,
    #[error("unicast from {0}, which is not in unicast_peers")]
    Peer(IpAddr),
}

impl Drop {
    /// Every reason, in the order of [`Drop::index`] (counters, metrics labels).
    pub const REASONS: [&'static str; 7] = [
        "truncated",
        "version",
        "checksum",
        "ttl",
        "vrid",
        "interval",
        "peer",
    ];

    pub fn index(self) -> usize {
        match self {
            Drop::Truncated => 0,
            Drop::Version(_) => 1,
            Drop::Checksum => 2,
            Drop::Ttl(_) => 3,
            Drop::OtherVrid(_) => 4,
            Drop::Interval => 5,
            Drop::Peer(_) => 6,
        }
    }
}

impl Advert {
    /// The message bytes, checksum included. `src`/`dst` (one family: the addresses
    /// written are theirs) feed the pseudo-header.
    pub fn encode(
        &self,
        form: ChecksumForm,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) -> Vec<u8> {
        let (src, dst) = (src.into(), dst.into());
        let width = if src.is_ipv6() { 16 } else { 4 };
        let addresses: Vec<&IpAddr> = self
            .addresses
            .iter()
            .filter(|a| a.is_ipv6() == src.is_ipv6())
            .take(255)
            .collect();
        let mut out = Vec::with_capacity(HEADER + width * addresses.len());
        out.push(VERSION_TYPE);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(addresses.len() as u8);
        out.extend_from_slice(&(self.interval_cs & 0x0fff).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        for a in addresses {
            match a {
                IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
            }
        }
        let sum = internet_checksum(&out, pseudo(form, src, dst, out.len()));
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        out
    }

    /// Parse and check a message (the IP payload) received from `src` to `dst`.
    pub fn decode(
        msg: &[u8],
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
    ) -> Result<Advert, Drop> {
        let (src, dst) = (src.into(), dst.into());
        if msg.len() < HEADER {
            return Err(Drop::Truncated);
        }
        if msg[0] != VERSION_TYPE {
            return Err(Drop::Version(msg[0]));
        }
        let width = if src.is_ipv6() { 16 } else { 4 };
        let len = HEADER + width * usize::from(msg[3]);
        if msg.len() < len {
            return Err(Drop::Truncated);
        }
        let msg = &msg[..len];
        let valid = |form| internet_checksum(msg, pseudo(form, src, dst, len)) == 0;
        if !valid(ChecksumForm::Keepalived) && (src.is_ipv6() || !valid(ChecksumForm::Rfc9568)) {
            return Err(Drop::Checksum);
        }
        Ok(Advert {
            vrid: msg[1],
            priority: msg[2],
            interval_cs: u16::from_be_bytes([msg[4], msg[5]]) & 0x0fff,
            addresses: msg[HEADER..]
                .chunks_exact(width)
                .map(|c| match <[u8; 16]>::try_from(c) {
                    Ok(v6) => IpAddr::from(v6),
                    Err(_) => IpAddr::from([c[0], c[1], c[2], c[3]]),
                })
                .collect(),
        })
    }
}

/// The 16-bit sum the pseudo-header adds (0 for the RFC 9568 form over IPv4; IPv6
/// always has one, RFC 8200 §8.1).
fn pseudo(form: ChecksumForm, src: IpAddr, dst: IpAddr, len: usize) -> u32 {
    let words = |a: IpAddr| -> u32 {
        let octets = match a {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        octets
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum()
    };
    match (form, src) {
        (ChecksumForm::Rfc9568, IpAddr::V4(_)) => 0,
        // The length is 16 bits in IPv4's pseudo-header, 32 in IPv6's: a VRRP
        // message is far below 65536 bytes, so the sum is the same.
        _ => words(src) + words(dst) + u32::from(PROTOCOL) + len as u32,
    }
}

/// The Internet checksum (RFC 1071) of `data` plus `extra`; 0 when a received message
/// (checksum field included) is intact.
pub fn internet_checksum(data: &[u8], extra: u32) -> u16 {
    let mut sum = extra;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    const G: IpAddr = IpAddr::V4(GROUP);

    fn example() -> Advert {
        Advert {
            vrid: 51,
            priority: 200,
            interval_cs: 100,
            addresses: vec![Ipv4Addr::new(192, 0, 2, 100).into()],
        }
    }

    #[test]
    fn the_rfc_form_matches_the_known_vector() {
        let bytes = example().encode(ChecksumForm::Rfc9568, SRC, G);
        assert_eq!(
            bytes,
            [0x31, 0x33, 0xc8, 0x01, 0x00, 0x64, 0x44, 0x02, 0xc0, 0x00, 0x02, 0x64]
        );
    }

    #[test]
    fn both_forms_decode_and_differ() {
        let rfc = example().encode(ChecksumForm::Rfc9568, SRC, G);
        let ka = example().encode(ChecksumForm::Keepalived, SRC, G);
        assert_ne!(rfc[6..8], ka[6..8]);
        assert_eq!(Advert::decode(&rfc, SRC, G), Ok(example()));
        assert_eq!(Advert::decode(&ka, SRC, G), Ok(example()));
        // The pseudo-header form depends on the addresses: another source breaks it.
        let other = IpAddr::from([192, 0, 2, 11]);
        assert_eq!(Advert::decode(&ka, other, G), Err(Drop::Checksum));
    }

    #[test]
    fn hostile_messages_are_refused() {
        let good = example().encode(ChecksumForm::Keepalived, SRC, G);
        assert_eq!(Advert::decode(&good[..7], SRC, G), Err(Drop::Truncated));
        assert_eq!(Advert::decode(&good[..11], SRC, G), Err(Drop::Truncated));
        let mut v2 = good.clone();
        v2[0] = 0x21;
        assert_eq!(Advert::decode(&v2, SRC, G), Err(Drop::Version(0x21)));
        let mut flipped = good.clone();
        flipped[2] ^= 1;
        assert_eq!(Advert::decode(&flipped, SRC, G), Err(Drop::Checksum));
    }

    #[test]
    fn several_addresses_and_trailing_bytes() {
        let a = Advert {
            vrid: 1,
            priority: 255,
            interval_cs: 4095,
            addresses: vec![[10, 0, 0, 1].into(), [10, 0, 0, 2].into()],
        };
        let mut bytes = a.encode(ChecksumForm::Rfc9568, SRC, G);
        bytes.extend_from_slice(&[9, 9, 9]); // padding after the message is ignored
        assert_eq!(Advert::decode(&bytes, SRC, G), Ok(a));
    }

    /// An advertisement keepalived 2.2.7 sent (`native_ipv6`, vrid 61, priority 200,
    /// 1 s, two VIPs), read from a raw socket in a test namespace, with its source
    /// (the sender's link-local address) and destination.
    const KEEPALIVED_V6: &str =
        "313dc8020064e80220010db800000000000000000000010020010db8000000000000000000000101";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn ll(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn keepalived_s_ipv6_advert_decodes_and_encodes_alike() {
        let bytes = unhex(KEEPALIVED_V6);
        let (src, dst) = (ll("fe80::7441:baff:fee1:9494"), IpAddr::V6(GROUP_V6));
        let expected = Advert {
            vrid: 61,
            priority: 200,
            interval_cs: 100,
            addresses: vec![ll("2001:db8::100"), ll("2001:db8::101")],
        };
        assert_eq!(Advert::decode(&bytes, src, dst), Ok(expected.clone()));
        // Both checksum settings give the one IPv6 form, byte for byte keepalived's.
        assert_eq!(expected.encode(ChecksumForm::Keepalived, src, dst), bytes);
        assert_eq!(expected.encode(ChecksumForm::Rfc9568, src, dst), bytes);
        // The pseudo-header covers the source: another sender breaks the checksum.
        let other = ll("fe80::7441:baff:fee1:9495");
        assert_eq!(Advert::decode(&bytes, other, dst), Err(Drop::Checksum));
        // The IPv4 form (no pseudo-header) is not accepted over IPv6.
        let mut bare = bytes.clone();
        bare[6..8].copy_from_slice(&[0, 0]);
        let sum = internet_checksum(&bare, 0);
        bare[6..8].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(Advert::decode(&bare, src, dst), Err(Drop::Checksum));
    }

    #[test]
    fn ipv6_adverts_count_16_byte_addresses() {
        let (src, dst) = (ll("fe80::1"), IpAddr::V6(GROUP_V6));
        let a = Advert {
            vrid: 7,
            priority: 100,
            interval_cs: 10,
            addresses: vec![ll("2001:db8::1")],
        };
        let bytes = a.encode(ChecksumForm::Keepalived, src, dst);
        assert_eq!((bytes.len(), bytes[3]), (8 + 16, 1));
        assert_eq!(Advert::decode(&bytes[..23], src, dst), Err(Drop::Truncated));
        // No addresses at all is a valid advert (RFC 9568 allows a count of 0).
        let empty = Advert {
            addresses: vec![],
            ..a
        };
        let bytes = empty.encode(ChecksumForm::Keepalived, src, dst);
        assert_eq!(Advert::decode(&bytes, src, dst), Ok(empty));
    }
}
