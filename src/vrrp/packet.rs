//! VRRPv3 advertisements for IPv4 (RFC 9568 §5.1), as pure functions: encode, decode
//! and the checksum in both forms seen in the wild. RFC 9568 sums the VRRP message
//! alone for IPv4; keepalived (2.x, `vrrp_version 3`) also sums an IPv4 pseudo-header
//! (source, destination, zero, protocol 112, length), as IPv6 does. ringlb sends the
//! form configured and accepts both.
//!
//! ```text
//!  0                   1                   2                   3
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! |                       IPv4 Address(es)                        |
//! ```

use std::net::Ipv4Addr;

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// The VRRP multicast group.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
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
    pub addresses: Vec<Ipv4Addr>,
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
    #[error("IP TTL {0}, must be 255")]
    Ttl(u8),
    #[error("virtual router {0}, not ours")]
    OtherVrid(u8),
    #[error("advertisement interval 0")]
    Interval,
    #[error("unicast from {0}, which is not in unicast_peers")]
    Peer(Ipv4Addr),
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
    /// The message bytes, checksum included. `src`/`dst` feed the pseudo-header of the
    /// keepalived form.
    pub fn encode(&self, form: ChecksumForm, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 4 * self.addresses.len());
        out.push(VERSION_TYPE);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(self.addresses.len().min(255) as u8);
        out.extend_from_slice(&(self.interval_cs & 0x0fff).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        for a in self.addresses.iter().take(255) {
            out.extend_from_slice(&a.octets());
        }
        let sum = internet_checksum(&out, pseudo(form, src, dst, out.len()));
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        out
    }

    /// Parse and check a message (the IP payload) received from `src` to `dst`.
    pub fn decode(msg: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<Advert, Drop> {
        if msg.len() < HEADER {
            return Err(Drop::Truncated);
        }
        if msg[0] != VERSION_TYPE {
            return Err(Drop::Version(msg[0]));
        }
        let count = usize::from(msg[3]);
        let len = HEADER + 4 * count;
        if msg.len() < len {
            return Err(Drop::Truncated);
        }
        let msg = &msg[..len];
        let valid = |form| internet_checksum(msg, pseudo(form, src, dst, len)) == 0;
        if !valid(ChecksumForm::Keepalived) && !valid(ChecksumForm::Rfc9568) {
            return Err(Drop::Checksum);
        }
        Ok(Advert {
            vrid: msg[1],
            priority: msg[2],
            interval_cs: u16::from_be_bytes([msg[4], msg[5]]) & 0x0fff,
            addresses: msg[HEADER..]
                .chunks_exact(4)
                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                .collect(),
        })
    }
}

/// The 16-bit sum the pseudo-header adds (0 for the RFC 9568 form).
fn pseudo(form: ChecksumForm, src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> u32 {
    match form {
        ChecksumForm::Rfc9568 => 0,
        ChecksumForm::Keepalived => {
            let words = |a: Ipv4Addr| {
                let o = a.octets();
                u32::from(u16::from_be_bytes([o[0], o[1]]))
                    + u32::from(u16::from_be_bytes([o[2], o[3]]))
            };
            words(src) + words(dst) + u32::from(PROTOCOL) + len as u32
        }
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

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

    fn example() -> Advert {
        Advert {
            vrid: 51,
            priority: 200,
            interval_cs: 100,
            addresses: vec![Ipv4Addr::new(192, 0, 2, 100)],
        }
    }

    #[test]
    fn the_rfc_form_matches_the_known_vector() {
        let bytes = example().encode(ChecksumForm::Rfc9568, SRC, GROUP);
        assert_eq!(
            bytes,
            [0x31, 0x33, 0xc8, 0x01, 0x00, 0x64, 0x44, 0x02, 0xc0, 0x00, 0x02, 0x64]
        );
    }

    #[test]
    fn both_forms_decode_and_differ() {
        let rfc = example().encode(ChecksumForm::Rfc9568, SRC, GROUP);
        let ka = example().encode(ChecksumForm::Keepalived, SRC, GROUP);
        assert_ne!(rfc[6..8], ka[6..8]);
        assert_eq!(Advert::decode(&rfc, SRC, GROUP), Ok(example()));
        assert_eq!(Advert::decode(&ka, SRC, GROUP), Ok(example()));
        // The pseudo-header form depends on the addresses: another source breaks it.
        let other = Ipv4Addr::new(192, 0, 2, 11);
        assert_eq!(Advert::decode(&ka, other, GROUP), Err(Drop::Checksum));
    }

    #[test]
    fn hostile_messages_are_refused() {
        let good = example().encode(ChecksumForm::Keepalived, SRC, GROUP);
        assert_eq!(Advert::decode(&good[..7], SRC, GROUP), Err(Drop::Truncated));
        assert_eq!(
            Advert::decode(&good[..11], SRC, GROUP),
            Err(Drop::Truncated)
        );
        let mut v2 = good.clone();
        v2[0] = 0x21;
        assert_eq!(Advert::decode(&v2, SRC, GROUP), Err(Drop::Version(0x21)));
        let mut flipped = good.clone();
        flipped[2] ^= 1;
        assert_eq!(Advert::decode(&flipped, SRC, GROUP), Err(Drop::Checksum));
    }

    #[test]
    fn several_addresses_and_trailing_bytes() {
        let a = Advert {
            vrid: 1,
            priority: 255,
            interval_cs: 4095,
            addresses: vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
        };
        let mut bytes = a.encode(ChecksumForm::Rfc9568, SRC, GROUP);
        bytes.extend_from_slice(&[9, 9, 9]); // padding after the message is ignored
        assert_eq!(Advert::decode(&bytes, SRC, GROUP), Ok(a));
    }
}
