//! The IPv6 sockets of a virtual router (RFC 9568 over IPv6), thin: the kernel writes
//! the IPv6 header, so what IPv4 carries in the header ringlb writes and reads
//! (`wire.rs`) travels beside each datagram here:
//!
//! - a raw socket for next header 112, bound to the interface, joined to ff02::12
//!   there (unless unicast), hop limit 255 out; on receive the hop limit
//!   (`IPV6_RECVHOPLIMIT`) and the destination (`IPV6_RECVPKTINFO`, for the
//!   pseudo-header checksum) come as ancillary data;
//! - a raw ICMPv6 socket, send only (its receive filter blocks everything), for
//!   unsolicited neighbour advertisements to ff02::1, hop limit 255 as RFC 4861
//!   requires (the kernel fills in the ICMPv6 checksum);
//!
//! and both send with an explicit source and interface (`IPV6_PKTINFO`): the
//! link-local address for adverts (the peers' tie-break and checksum use it), the
//! virtual IP for neighbour advertisements (as keepalived does).

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

use super::netlink::Interface;
use super::packet::{GROUP_V6, PROTOCOL};
use super::wire::TTL;

/// All nodes on the link: where neighbour advertisements go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// `ICMP6_FILTER` (linux/icmpv6.h), not in the libc crate.
const ICMP6_FILTER: libc::c_int = 1;

/// What came with a datagram in place of its IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// 0 when the kernel did not say (such a packet is dropped).
    pub hop_limit: u8,
}

/// The advertisement socket on `iface`.
pub fn advert(iface: &Interface, multicast: bool) -> io::Result<Socket> {
    let s = Socket::new(
        Domain::IPV6,
        Type::RAW,
        Some(Protocol::from(i32::from(PROTOCOL))),
    )?;
    s.bind_device(Some(iface.name.as_bytes()))?;
    s.set_multicast_hops_v6(u32::from(TTL))?;
    s.set_unicast_hops_v6(u32::from(TTL))?;
    set_opt(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &1i32)?;
    set_opt(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &1i32)?;
    if multicast {
        s.join_multicast_v6(&GROUP_V6, iface.index)?;
        s.set_multicast_loop_v6(false)?;
        s.set_multicast_if_v6(iface.index)?;
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

/// The send-only ICMPv6 socket for neighbour advertisements.
pub fn announce() -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    s.set_multicast_hops_v6(u32::from(TTL))?;
    s.set_multicast_loop_v6(false)?;
    // Every bit set blocks every ICMPv6 type: nothing queues up unread.
    set_opt(&s, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &[u32::MAX; 8])?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn set_opt<T>(s: &Socket, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is valid for size_of::<T>() bytes for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr(addr: Ipv6Addr, index: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all-zero is a valid value to fill in.
    let mut sa: libc::sockaddr_in6 = unsafe { MaybeUninit::zeroed().assume_init() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = addr.octets();
    // Link-local unicast and link-scope multicast need the interface.
    if addr.is_unicast_link_local() || addr.segments()[0] & 0xff0f == 0xff02 {
        sa.sin6_scope_id = index;
    }
    sa
}

/// Ancillary data room: one in6_pktinfo and one int, with their headers.
type Control = [u64; 16];

/// A message header over one buffer, an address and ancillary data room; the
/// pointers must stay valid until the sendmsg or recvmsg call that takes it returns.
fn header(
    addr: &mut libc::sockaddr_in6,
    iov: &mut libc::iovec,
    control: &mut Control,
) -> libc::msghdr {
    // SAFETY: msghdr is plain data; all-zero is a valid value to fill in.
    let mut hdr: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    hdr.msg_name = (addr as *mut libc::sockaddr_in6).cast();
    hdr.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    hdr.msg_iov = iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control.as_mut_ptr().cast();
    hdr.msg_controllen = size_of::<Control>() as _;
    hdr
}

/// Send `msg` from `src` (an address of ours) to `dst` out of interface `index`.
pub fn send_from(
    fd: RawFd,
    msg: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    index: u32,
) -> io::Result<()> {
    let mut to = sockaddr(dst, index);
    let mut iov = libc::iovec {
        iov_base: msg.as_ptr() as *mut libc::c_void,
        iov_len: msg.len(),
    };
    let mut control: Control = [0; 16];
    let mut hdr = header(&mut to, &mut iov, &mut control);
    let info = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr {
            s6_addr: src.octets(),
        },
        ipi6_ifindex: index,
    };
    // SAFETY: the control buffer holds CMSG_SPACE(in6_pktinfo) bytes (well under its
    // 128), so the first header and its data are inside it; every pointer in `hdr`
    // stays valid for the whole sendmsg call.
    let sent = unsafe {
        let data_len = size_of::<libc::in6_pktinfo>() as libc::c_uint;
        hdr.msg_controllen = libc::CMSG_SPACE(data_len) as _;
        let c = libc::CMSG_FIRSTHDR(&hdr);
        (*c).cmsg_level = libc::IPPROTO_IPV6;
        (*c).cmsg_type = libc::IPV6_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(data_len) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>(), info);
        libc::sendmsg(fd, &hdr, 0)
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One datagram (the VRRP message, no IPv6 header) and what came with it, or `None`
/// when nothing is waiting.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<(usize, Meta)>> {
    // SAFETY: plain data; all-zero is a valid value to fill in.
    let mut from: libc::sockaddr_in6 = unsafe { MaybeUninit::zeroed().assume_init() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control: Control = [0; 16];
    let mut hdr = header(&mut from, &mut iov, &mut control);
    // SAFETY: every pointer in `hdr` is valid for the lengths given during the call.
    let n = unsafe { libc::recvmsg(fd, &mut hdr, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(e),
        };
    }
    let mut meta = Meta {
        src: Ipv6Addr::from(from.sin6_addr.s6_addr),
        dst: Ipv6Addr::UNSPECIFIED,
        hop_limit: 0,
    };
    // SAFETY: the kernel filled `hdr.msg_controllen` bytes of `control` with
    // well-formed headers; CMSG_NXTHDR stops inside them, and each read is of the
    // type the (level, type) pair says the data holds.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&hdr);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                    let hops = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    meta.hop_limit = u8::try_from(hops).unwrap_or(0);
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    meta.dst = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&hdr, c);
        }
    }
    Ok(Some((n as usize, meta)))
}
