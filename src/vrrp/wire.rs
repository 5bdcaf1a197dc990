//! The frames around an advertisement, as pure functions: the IPv4 header ringlb
//! writes itself (the socket has `IP_HDRINCL`, so TTL 255 and the source address are
//! exactly what the RFC and the peer's pseudo-header checksum expect) and reads back
//! on receive, the gratuitous ARP frame that announces an IPv4 virtual IP, and the
//! unsolicited neighbour advertisement that announces an IPv6 one (RFC 4861 §7.2.6).
//! Over IPv6 the kernel writes the header (a raw IPv6 socket never sees it): the
//! hop limit and addresses come with each datagram instead.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::packet::PROTOCOL;

/// Adverts must leave with TTL 255 and arrive with it (one hop, RFC 9568 §5.1.1.3).
pub const TTL: u8 = 255;
const IPV4_HEADER: usize = 20;
/// DSCP "network control", as keepalived sends.
const TOS_NETWORK_CONTROL: u8 = 0xc0;

/// A packet as received on the raw socket: the IP header's fields and the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4's TTL or IPv6's hop limit.
    pub ttl: u8,
    pub protocol: u8,
    pub payload: &'a [u8],
}

/// Split a received packet into its header fields and payload; `None` when it is not
/// a whole IPv4 packet.
pub fn parse_ipv4(packet: &[u8]) -> Option<Packet<'_>> {
    if packet.len() < IPV4_HEADER || packet[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if ihl < IPV4_HEADER || total < ihl || packet.len() < total {
        return None;
    }
    let addr =
        |at: usize| IpAddr::from([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]]);
    Some(Packet {
        src: addr(12),
        dst: addr(16),
        ttl: packet[8],
        protocol: packet[9],
        payload: &packet[ihl..total],
    })
}

/// A VRRP packet: an IPv4 header (TTL 255, protocol 112, header checksum filled in)
/// followed by `message`.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, message: &[u8]) -> Vec<u8> {
    let total = (IPV4_HEADER + message.len()) as u16;
    let mut p = Vec::with_capacity(usize::from(total));
    p.extend_from_slice(&[0x45, TOS_NETWORK_CONTROL]);
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]); // identification (the kernel fills it), no fragments
    p.extend_from_slice(&[TTL, PROTOCOL, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = super::packet::internet_checksum(&p, 0);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(message);
    p
}

/// Length of an Ethernet frame carrying an ARP packet for IPv4.
pub const ARP_FRAME: usize = 42;

/// A gratuitous ARP request for `ip` from `mac`, broadcast (what keepalived sends): the
/// sender and target protocol addresses are both `ip`, so every host on the segment
/// that has `ip` in its neighbour table updates it to `mac`.
pub fn gratuitous_arp(mac: [u8; 6], ip: Ipv4Addr) -> [u8; ARP_FRAME] {
    let mut f = [0u8; ARP_FRAME];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes()); // ARP
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[32..38].copy_from_slice(&[0xff; 6]);
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// Length of an unsolicited neighbour advertisement with its link-layer option.
pub const NA_LEN: usize = 32;
/// ICMPv6 type of a neighbour advertisement.
const NEIGHBOUR_ADVERT: u8 = 136;
/// Its Override flag: replace the cached link-layer address (RFC 4861 §4.4).
const OVERRIDE: u8 = 0x20;

/// The ICMPv6 message announcing that `target` is at `mac` (what keepalived sends,
/// sent to ff02::1 with hop limit 255): Override set, neither Router nor Solicited, a
/// target link-layer address option. The checksum is left 0: the kernel fills it in
/// on ICMPv6 raw sockets.
pub fn neighbour_advert(mac: [u8; 6], target: Ipv6Addr) -> [u8; NA_LEN] {
    let mut m = [0u8; NA_LEN];
    m[0] = NEIGHBOUR_ADVERT;
    m[4] = OVERRIDE;
    m[8..24].copy_from_slice(&target.octets());
    m[24] = 2; // target link-layer address
    m[25] = 1; // in units of 8 bytes
    m[26..32].copy_from_slice(&mac);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

    #[test]
    fn packet_round_trips_with_ttl_255_and_a_valid_header_checksum() {
        let msg = [
            0x31, 0x33, 0xc8, 0x01, 0x00, 0x64, 0x44, 0x02, 192, 0, 2, 100,
        ];
        let p = ipv4_packet(SRC, GROUP, &msg);
        assert_eq!(
            &p[..12],
            &[0x45, 0xc0, 0, 32, 0, 0, 0, 0, 255, 112, p[10], p[11]]
        );
        assert_eq!(super::super::packet::internet_checksum(&p[..20], 0), 0);
        let ip = parse_ipv4(&p).unwrap();
        assert_eq!(
            (ip.src, ip.dst, ip.ttl, ip.protocol),
            (SRC.into(), GROUP.into(), 255, 112)
        );
        assert_eq!(ip.payload, &msg);
    }

    #[test]
    fn parse_refuses_what_is_not_a_whole_ipv4_packet() {
        let p = ipv4_packet(SRC, GROUP, &[0; 12]);
        assert!(parse_ipv4(&p[..19]).is_none(), "short header");
        assert!(
            parse_ipv4(&p[..31]).is_none(),
            "shorter than its total length"
        );
        let mut v6 = p.clone();
        v6[0] = 0x60;
        assert!(parse_ipv4(&v6).is_none());
        let mut bad_ihl = p.clone();
        bad_ihl[0] = 0x44;
        assert!(parse_ipv4(&bad_ihl).is_none());
        // Options: a 24-byte header, the payload starts after them.
        let mut opts = p[..20].to_vec();
        opts[0] = 0x46;
        opts.extend_from_slice(&[1, 1, 1, 1]);
        opts.extend_from_slice(&p[20..]);
        opts[3] = 36;
        assert_eq!(parse_ipv4(&opts).unwrap().payload, &p[20..]);
    }

    #[test]
    fn gratuitous_arp_frame_bytes() {
        let mac = [0x02, 0, 0, 0, 0, 0x0a];
        let f = gratuitous_arp(mac, Ipv4Addr::new(192, 0, 2, 100));
        let expected: [u8; ARP_FRAME] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x0a, 0x08,
            0x06, // Ethernet
            0, 1, 0x08, 0, 6, 4, 0, 1, // ARP request, Ethernet/IPv4
            0x02, 0, 0, 0, 0, 0x0a, 192, 0, 2, 100, // sender
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 192, 0, 2, 100, // target
        ];
        assert_eq!(f, expected);
    }

    #[test]
    fn neighbour_advert_bytes_are_keepalived_s() {
        // keepalived 2.2.7's for 2001:db8::100 from 76:41:ba:e1:94:94, as a raw ICMPv6
        // socket read it in a test namespace, checksum (33 76) cleared.
        let mac = [0x76, 0x41, 0xba, 0xe1, 0x94, 0x94];
        let na = neighbour_advert(mac, "2001:db8::100".parse().unwrap());
        let mut seen = [0u8; NA_LEN];
        let hex = "880000002000000020010db800000000000000000000010002017641bae19494";
        for (i, b) in seen.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        assert_eq!(na, seen);
    }
}
